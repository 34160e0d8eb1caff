import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, makeUser, signInHeaders, type TestEnv } from '../support/harness.js';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv({ signinMaxFailures: 3, signinLockoutSeconds: 2 });
  await makeUser(env.ctx, 'anna@example.com', { name: 'Anna Petrova' });
  await makeUser(env.ctx, 'boris@example.com');
});
afterAll(() => env.close());

describe('sign-in and sessions', () => {
  it('signs in, shows me, signs out', async () => {
    const res = await env.app.inject({ method: 'POST', url: '/api/v1/session', payload: { email: 'Anna@Example.com', password: 'password123' } });
    expect(res.statusCode).toBe(200);
    const session = res.cookies.find((c) => c.name === 'calendula_session')!;
    expect(session.httpOnly).toBe(true);
    expect(session.sameSite).toBe('Lax');
    expect(res.json().user.email).toBe('anna@example.com');
    const cookie = res.cookies.map((c) => `${c.name}=${c.value}`).join('; ');
    const me = await env.app.inject({ method: 'GET', url: '/api/v1/me', headers: { cookie } });
    expect(me.statusCode).toBe(200);
    expect(me.json().user.name).toBe('Anna Petrova');
    const out = await env.app.inject({ method: 'DELETE', url: '/api/v1/session', headers: { cookie } });
    expect(out.statusCode).toBe(204);
    const after = await env.app.inject({ method: 'GET', url: '/api/v1/me', headers: { cookie } });
    expect(after.statusCode).toBe(401);
    expect(after.json().error).toBe('UNAUTHENTICATED');
  });

  it('sets Secure cookies behind TLS', async () => {
    const tls = await createTestEnv({ trustProxy: true });
    await makeUser(tls.ctx, 'tls@example.com');
    const res = await tls.app.inject({ method: 'POST', url: '/api/v1/session', headers: { 'x-forwarded-proto': 'https' }, payload: { email: 'tls@example.com', password: 'password123' } });
    expect(res.cookies.find((c) => c.name === 'calendula_session')!.secure).toBe(true);
    await tls.close();
  });

  it('rejects a wrong password with a stable code', async () => {
    const res = await env.app.inject({ method: 'POST', url: '/api/v1/session', payload: { email: 'boris@example.com', password: 'nope-nope' } });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ error: 'INVALID_CREDENTIALS' });
  });

  it('locks an account after repeated failures, and the lockout expires', async () => {
    await makeUser(env.ctx, 'victim@example.com');
    for (let i = 0; i < 3; i++) {
      await env.app.inject({ method: 'POST', url: '/api/v1/session', payload: { email: 'victim@example.com', password: 'wrong-password' } });
    }
    const locked = await env.app.inject({ method: 'POST', url: '/api/v1/session', payload: { email: 'victim@example.com', password: 'password123' } });
    expect(locked.statusCode).toBe(429);
    expect(locked.json().error).toBe('SIGNIN_LOCKED');
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
    // More failures during the lockout do not extend it past the window.
    await env.app.inject({ method: 'POST', url: '/api/v1/session', payload: { email: 'victim@example.com', password: 'wrong-password' } });
    await new Promise((r) => setTimeout(r, 2200));
    const ok = await env.app.inject({ method: 'POST', url: '/api/v1/session', payload: { email: 'victim@example.com', password: 'password123' } });
    expect(ok.statusCode).toBe(200);
  });

  it('requires the CSRF header for cookie-authenticated writes', async () => {
    const h = await signInHeaders(env.app, 'anna@example.com');
    const noCsrf = await env.app.inject({ method: 'POST', url: '/api/v1/calendars', headers: { cookie: h.cookie }, payload: { name: 'Work' } });
    expect(noCsrf.statusCode).toBe(403);
    expect(noCsrf.json().error).toBe('CSRF_FAILED');
    const wrong = await env.app.inject({ method: 'POST', url: '/api/v1/calendars', headers: { cookie: h.cookie, 'x-csrf-token': 'x' }, payload: { name: 'Work' } });
    expect(wrong.statusCode).toBe(403);
    const ok = await env.app.inject({ method: 'POST', url: '/api/v1/calendars', headers: h, payload: { name: 'Work' } });
    expect(ok.statusCode).toBe(201);
  });

  it('treats an expired session as signed out', async () => {
    const h = await signInHeaders(env.app, 'boris@example.com');
    await env.ctx.db.updateTable('session').set({ expires_at: new Date(Date.now() - 1000) }).execute();
    const res = await env.app.inject({ method: 'GET', url: '/api/v1/me', headers: h });
    expect(res.statusCode).toBe(401);
  });

  it('refuses a disabled account and ends its sessions', async () => {
    const u = await makeUser(env.ctx, 'leaver@example.com');
    await makeUser(env.ctx, 'root@example.com', { admin: true });
    const h = await signInHeaders(env.app, 'leaver@example.com');
    const admin = await signInHeaders(env.app, 'root@example.com');
    const dis = await env.app.inject({ method: 'PATCH', url: `/api/v1/users/${u.id}`, headers: admin, payload: { disabled: true } });
    expect(dis.statusCode).toBe(200);
    expect((await env.app.inject({ method: 'GET', url: '/api/v1/me', headers: h })).statusCode).toBe(401);
    const again = await env.app.inject({ method: 'POST', url: '/api/v1/session', payload: { email: 'leaver@example.com', password: 'password123' } });
    expect(again.statusCode).toBe(403);
    expect(again.json().error).toBe('ACCOUNT_DISABLED');
  });
});
