import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, makeUser, signInHeaders, type TestEnv } from '../support/harness.js';

// The short-lived authentication caches are ON here (CALENDULA_AUTH_CACHE_MS): every write in
// the same process must invalidate at once.
let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv({ authCacheMs: 60_000 });
  await makeUser(env.ctx, 'cache@example.com');
  await makeUser(env.ctx, 'admin@example.com', { admin: true });
});
afterAll(() => env.close());

describe('read caches', () => {
  it('sign-out takes effect immediately', async () => {
    const h = await signInHeaders(env.app, 'cache@example.com');
    expect((await env.app.inject({ method: 'GET', url: '/api/v1/me', headers: h })).statusCode).toBe(200);
    await env.app.inject({ method: 'DELETE', url: '/api/v1/session', headers: h });
    expect((await env.app.inject({ method: 'GET', url: '/api/v1/me', headers: h })).statusCode).toBe(401);
  });

  it('a revoked token is refused immediately', async () => {
    const h = await signInHeaders(env.app, 'cache@example.com');
    const t = (await env.app.inject({ method: 'POST', url: '/api/v1/tokens', headers: h, payload: { name: 't', scopes: ['read'] } })).json();
    const bearer = { authorization: `Bearer ${t.token}` };
    expect((await env.app.inject({ method: 'GET', url: '/api/v1/calendars', headers: bearer })).statusCode).toBe(200);
    await env.app.inject({ method: 'DELETE', url: `/api/v1/tokens/${t.id}`, headers: h });
    expect((await env.app.inject({ method: 'GET', url: '/api/v1/calendars', headers: bearer })).statusCode).toBe(401);
  });

  it('disabling a user ends their cached session at once, and settings changes show at once', async () => {
    const u = await makeUser(env.ctx, 'leaving@example.com');
    const h = await signInHeaders(env.app, 'leaving@example.com');
    const p = await env.app.inject({ method: 'PATCH', url: '/api/v1/settings', headers: h, payload: { language: 'ru' } });
    expect(p.statusCode).toBe(200);
    expect((await env.app.inject({ method: 'GET', url: '/api/v1/me', headers: h })).json().user.language).toBe('ru');
    const admin = await signInHeaders(env.app, 'admin@example.com');
    await env.app.inject({ method: 'PATCH', url: `/api/v1/users/${u.id}`, headers: admin, payload: { disabled: true } });
    expect((await env.app.inject({ method: 'GET', url: '/api/v1/me', headers: h })).statusCode).toBe(401);
  });

  it('the calendar list reflects a new calendar at once', async () => {
    const h = await signInHeaders(env.app, 'cache@example.com');
    const before = (await env.app.inject({ method: 'GET', url: '/api/v1/calendars', headers: h })).json().items.length;
    await env.app.inject({ method: 'POST', url: '/api/v1/calendars', headers: h, payload: { name: 'New' } });
    expect((await env.app.inject({ method: 'GET', url: '/api/v1/calendars', headers: h })).json().items.length).toBe(before + 1);
  });
});
