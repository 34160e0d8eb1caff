// CalDAV error descriptions follow Accept-Language (Russian or English), as REST errors do; the
// precondition element (what clients act on) is the same in both.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDavEnv, dav, davUser, vevent, type DavTestEnv, type DavUser } from './support.js';

let env: DavTestEnv;
let anna: DavUser;
beforeAll(async () => {
  env = await createDavEnv();
  anna = await davUser(env, 'anna@example.com');
}, 120_000);
afterAll(async () => { await env?.close(); });

const broken = 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nSUMMARY:no uid, no start\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n';

describe('CalDAV error language', () => {
  it('invalid iCalendar: the same precondition, the description in the asked language', async () => {
    const url = `${anna.defaultCalendar}broken.ics`;
    const en = await dav(env, 'PUT', url, { user: anna, body: broken, headers: { 'content-type': 'text/calendar' } });
    const ru = await dav(env, 'PUT', url, { user: anna, body: broken, headers: { 'content-type': 'text/calendar', 'accept-language': 'ru-RU,ru;q=0.9,en;q=0.5' } });
    expect(en.status).toBe(403);
    expect(ru.status).toBe(403);
    for (const r of [en, ru]) expect(r.text).toMatch(/valid-calendar-(data|object-resource)/);
    expect(ru.text).toContain('Данные iCalendar повреждены или не поддерживаются');
    expect(en.text).not.toMatch(/[а-яё]/i);
  });

  it('a stale If-Match: 412 with a Russian description', async () => {
    const url = `${anna.defaultCalendar}lang-etag.ics`;
    const put = await dav(env, 'PUT', url, { user: anna, body: vevent('lang-etag@example.com'), headers: { 'content-type': 'text/calendar' } });
    expect(put.status).toBe(201);
    const r = await dav(env, 'PUT', url, { user: anna, body: vevent('lang-etag@example.com', { summary: 'changed' }), headers: { 'content-type': 'text/calendar', 'if-match': '"stale"', 'accept-language': 'ru' } });
    expect(r.status).toBe(412);
    expect(r.text).toContain('Ресурс изменился с момента загрузки');
  });
});

describe('CalDAV handler messages in Russian', () => {
  it('every fixed DavHttpError text of the handlers has a Russian description', async () => {
    const { readFileSync, readdirSync } = await import('node:fs');
    const { davTextRu } = await import('../../src/http/dav/error-text-ru.js');
    const dir = new URL('../../src/http/dav/', import.meta.url);
    const files = readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith('.ts'));
    const texts = files.flatMap((f) => [...readFileSync(new URL(f, dir), 'utf8').matchAll(/new DavHttpError\(\s*[^,]+,\s*'([^']+)'/g)].map((m) => m[1]));
    expect(texts.length).toBeGreaterThan(20);
    expect(texts.filter((t) => davTextRu(t) === t)).toEqual([]);
    expect(davTextRu('PROPPATCH is not supported')).toBe('Метод PROPPATCH не поддерживается');
  });
});
