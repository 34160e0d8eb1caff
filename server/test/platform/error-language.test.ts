import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, makeUser, signInHeaders, type TestEnv } from '../support/harness.js';
import { errorText, langFromAcceptLanguage } from '../../src/domain/error-text.js';

let env: TestEnv;
let headers: Record<string, string>;
let calId: string;
beforeAll(async () => {
  env = await createTestEnv({ mailDomains: ['example.com'] });
  await makeUser(env.ctx, 'olga@example.com', { name: 'Olga' });
  headers = await signInHeaders(env.app, 'olga@example.com');
  calId = (await env.app.inject({ method: 'GET', url: '/api/v1/calendars', headers })).json().items[0].id;
});
afterAll(() => env.close());

describe('REST error messages follow Accept-Language', () => {
  it('picks the preferred language we have (RFC 9110 §12.5.4 weights)', () => {
    expect(langFromAcceptLanguage(undefined)).toBe('en');
    expect(langFromAcceptLanguage('ru-RU,ru;q=0.9,en;q=0.8')).toBe('ru');
    expect(langFromAcceptLanguage('de-DE, en;q=0.5, ru;q=0.4')).toBe('en');
    expect(langFromAcceptLanguage('en;q=0.1, ru;q=0.7')).toBe('ru');
    expect(langFromAcceptLanguage('ru;q=0, fr')).toBe('en');
    expect(langFromAcceptLanguage('garbage;;;q=x')).toBe('en');
  });

  it('a wrong password: the same code, a Russian message for ru, English otherwise', async () => {
    const payload = { email: 'olga@example.com', password: 'wrong-password' };
    const ru = await env.app.inject({ method: 'POST', url: '/api/v1/session', headers: { 'accept-language': 'ru' }, payload });
    const en = await env.app.inject({ method: 'POST', url: '/api/v1/session', payload });
    expect(ru.statusCode).toBe(401);
    expect(ru.json().error).toBe(en.json().error);
    expect(ru.json().message).toBe('Неверный адрес или пароль');
    expect(en.json().message).not.toMatch(/[а-я]/i);
  });

  it('an unknown address is named in the Russian text too', async () => {
    const res = await env.app.inject({ method: 'PUT', url: `/api/v1/calendars/${calId}/shares`, headers: { ...headers, 'accept-language': 'ru-RU' }, payload: { email: 'ghost@example.com', access: 'read' } });
    expect(res.statusCode).toBe(422);
    expect(res.json().error).toBe('UNKNOWN_ADDRESS');
    expect(res.json().message).toContain('ghost@example.com');
    expect(res.json().message).toMatch(/адрес/);
  });

  it('schema errors and unknown routes are translated; the details stay as they are', async () => {
    const bad = await env.app.inject({ method: 'POST', url: '/api/v1/calendars', headers: { ...headers, 'accept-language': 'ru' }, payload: { name: 'x', bogus: 1 } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toBe('Неизвестное поле «bogus» в запросе');
    expect(bad.json().details[0].field).toBe('bogus');
    const none = await env.app.inject({ method: 'GET', url: '/api/v1/no-such-thing', headers: { 'accept-language': 'ru' } });
    expect(none.statusCode).toBe(404);
    expect(none.json().message).toBe('Не найдено');
  });

  it('every stable code has a Russian text', () => {
    const codes = ['VALIDATION_FAILED', 'BAD_REQUEST', 'UNAUTHENTICATED', 'INVALID_CREDENTIALS', 'ACCOUNT_DISABLED', 'SIGNIN_LOCKED', 'CSRF_FAILED', 'FORBIDDEN', 'INSUFFICIENT_SCOPE', 'NOT_FOUND', 'ALREADY_EXISTS', 'CONFLICT', 'ETAG_MISMATCH', 'LEASE_HELD', 'UID_CONFLICT', 'INVALID_ICALENDAR', 'UNKNOWN_ADDRESS', 'INVALID_ADDRESS', 'QUOTA_EXCEEDED', 'TOO_LARGE', 'UNSUPPORTED', 'SSO_NOT_CONFIGURED', 'SSO_FAILED', 'INVALID_SYNC_TOKEN', 'RATE_LIMITED'];
    for (const c of codes) expect(errorText(c, 'english', undefined, 'ru'), c).toMatch(/[а-яё]/i);
    expect(errorText('LEASE_HELD', 'x', { holderName: 'Борис' }, 'ru')).toBe('Борис сейчас редактирует это событие');
    expect(errorText('NOT_FOUND', 'Event not found', undefined, 'en')).toBe('Event not found');
    expect(errorText('INTERNAL_ERROR', 'Something went wrong', { requestId: 'req-7' }, 'ru')).toBe('Внутренняя ошибка сервера; идентификатор запроса req-7');
  });
});
