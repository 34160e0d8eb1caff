/** Managed attachments in iMIP to external attendees go out as signed, expiring links (app/attachments.ts withSignedAttachments). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { simpleParser } from 'mailparser';
import { createTestEnv, eventually, startTestWorker, type TestEnv } from '../support/harness.js';
import { create, ev, user, type TestUser } from '../core/_helpers.js';
import { signToken } from '../../src/domain/auth/secrets.js';

const dir = `/tmp/calendula-test-imip-att-${process.pid}`;
let env: TestEnv;
let worker: { stop(): Promise<void> };
let anna: TestUser;

beforeAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  env = await createTestEnv({ mailDomains: ['example.com'], dataDir: dir, mailFrom: 'calendar@example.com', attachmentLinkDays: 7 });
  anna = await user(env, 'anna@example.com', 'Anna');
  worker = await startTestWorker(env);
});
afterAll(async () => {
  await worker.stop();
  await env.close();
  rmSync(dir, { recursive: true, force: true });
});

async function upload(u: TestUser, name: string, content: string) {
  const boundary = '----calendula' + Math.random().toString(16).slice(2);
  const payload = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: text/plain\r\n\r\n${content}\r\n--${boundary}--\r\n`);
  const r = await env.app.inject({ method: 'POST', url: '/api/v1/attachments', headers: { ...u.h, 'content-type': `multipart/form-data; boundary=${boundary}` }, payload });
  expect(r.statusCode, r.body).toBe(201);
  return r.json() as { id: string };
}

/** The calendar part of the iMIP message in the outbox for `to` about `uid`. */
async function outboxCalendar(to: string, uid: string): Promise<string | null> {
  let files: string[] = [];
  try { files = readdirSync(`${dir}/outbox`).filter((f) => f.endsWith('.eml')); } catch { return null; }
  for (const f of files) {
    const m = await simpleParser(readFileSync(`${dir}/outbox/${f}`));
    const addr = Array.isArray(m.to) ? m.to.flatMap((x) => x.value) : m.to?.value ?? [];
    if (!addr.some((a) => a.address === to)) continue;
    const cal = m.attachments.find((a) => a.contentType.startsWith('text/calendar') || a.contentType.startsWith('application/ics'));
    const text = cal ? cal.content.toString('utf8') : '';
    if (text.includes(`UID:${uid}`)) return text.replace(/\r?\n[ \t]/g, '');
  }
  return null;
}

describe('attachments in iMIP', () => {
  it('the external attendee gets a signed, expiring link that works without a login; the stored text keeps the internal link', async () => {
    const att = await upload(anna, 'agenda.txt', 'the agenda');
    const e = await create(anna, ev('With partner', '2033-05-01T10:00:00', '2033-05-01T11:00:00', { attendees: [{ email: 'x@partner.org' }], attachments: [{ id: att.id }] }));
    const cal = await eventually(() => outboxCalendar('x@partner.org', e.uid), 15_000, 'iMIP in the outbox');
    const attach = cal.split(/\r?\n/).find((l) => /^ATTACH[;:]/.test(l))!;
    expect(attach).toMatch(new RegExp(`X-CALENDULA-ID=${att.id}`));
    expect(attach).toMatch(/FILENAME=agenda\.txt/);
    const url = new URL(attach.slice(attach.search(/:https?:\/\//) + 1));
    expect(url.pathname).toBe(`/files/${att.id}`);
    const t = url.searchParams.get('t')!;
    // Valid for CALENDULA_ATTACHMENT_LINK_DAYS (7 here).
    const exp = JSON.parse(Buffer.from(t.split('.')[0], 'base64url').toString()).exp as number;
    expect(Math.abs(exp - (Date.now() / 1000 + 7 * 86400))).toBeLessThan(3600);
    // The stored event keeps the login-protected link.
    const stored = (await env.ctx.db.selectFrom('calendar_object').select('ical').where('id', '=', e.id).executeTakeFirstOrThrow()).ical.replace(/\r?\n[ \t]/g, '');
    expect(stored).toMatch(new RegExp(`/api/v1/attachments/${att.id}`));
    expect(stored).not.toMatch(/\/files\//);
    // No login needed.
    const ok = await env.app.inject({ method: 'GET', url: `${url.pathname}${url.search}` });
    expect(ok.statusCode).toBe(200);
    expect(ok.body).toBe('the agenda');
    // Tampered or expired: 403 LINK_INVALID; an unknown file: 404.
    const tampered = t.slice(0, -2) + (t.endsWith('A') ? 'BB' : 'AA');
    const bad = await env.app.inject({ method: 'GET', url: `/files/${att.id}?t=${tampered}` });
    expect(bad.statusCode).toBe(403);
    expect(bad.json().error).toBe('LINK_INVALID');
    const expired = signToken(env.ctx.secret, 'attachment', { id: att.id }, 60, Date.now() - 3600_000);
    const old = await env.app.inject({ method: 'GET', url: `/files/${att.id}?t=${expired}`, headers: { 'accept-language': 'ru' } });
    expect(old.statusCode).toBe(403);
    expect(old.json().error).toBe('LINK_INVALID');
    expect(old.json().message).toMatch(/Ссылка/);
    expect((await env.app.inject({ method: 'GET', url: `/files/00000000-0000-4000-8000-000000000000?t=${t}` })).statusCode).toBe(404);
  });
});
