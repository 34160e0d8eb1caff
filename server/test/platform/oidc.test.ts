/**
 * OIDC single sign-on against a real provider (oidc-provider) started inside the test, driven
 * over real HTTP: just-in-time accounts, linking by subject, disabled accounts, forged state.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, makeUser, type TestEnv } from '../support/harness.js';
import { CookieJar, freePort, runCodeFlow, startTestIdp, type TestIdp } from '../support/oidc.js';
import * as principals from '../../src/store/principals.js';

let env: TestEnv;
let idp: TestIdp;
let serverUrl: string;

async function me(jar: CookieJar) {
  const res = await fetch(`${serverUrl}/api/v1/me`, { headers: { cookie: jar.header(serverUrl) } });
  return { status: res.status, body: await res.json() };
}

beforeAll(async () => {
  const port = await freePort();
  serverUrl = `http://127.0.0.1:${port}`;
  idp = await startTestIdp(`${serverUrl}/api/v1/auth/sso/callback`);
  env = await createTestEnv({ oidcIssuer: idp.issuer, oidcClientId: idp.clientId, oidcClientSecret: idp.clientSecret, oidcAllowInsecure: true, publicUrl: serverUrl, port });
  await env.app.listen({ port, host: '127.0.0.1' });
  idp.accounts.set('nina', { sub: 'nina', email: 'Nina.Sso@Example.com', name: 'Nina Single' });
  idp.accounts.set('local', { sub: 'local', email: 'local@example.com', name: 'Local Person' });
  idp.accounts.set('blocked', { sub: 'blocked', email: 'blocked@example.com' });
  idp.accounts.set('noemail', { sub: 'noemail' });
});
afterAll(async () => {
  await env?.close();
  await idp?.close();
});

describe('OIDC sign-in', () => {
  it('reports that SSO is configured', async () => {
    const res = await fetch(`${serverUrl}/api/v1/auth/sso`);
    expect(await res.json()).toEqual({ enabled: true, startUrl: '/api/v1/auth/sso/start' });
  });

  it('start redirects to the provider with PKCE (S256), state and nonce', async () => {
    const res = await fetch(`${serverUrl}/api/v1/auth/sso/start`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    const loc = new URL(res.headers.get('location')!);
    expect(loc.origin).toBe(idp.issuer);
    expect(loc.searchParams.get('code_challenge_method')).toBe('S256');
    expect(loc.searchParams.get('state')).toBeTruthy();
    expect(loc.searchParams.get('nonce')).toBeTruthy();
    expect(loc.searchParams.get('redirect_uri')).toBe(`${serverUrl}/api/v1/auth/sso/callback`);
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('calendula_sso='))!;
    expect(cookie).toMatch(/HttpOnly/i);
  });

  it('creates the account just in time, signs in, and gives it a default calendar', async () => {
    const flow = await runCodeFlow(serverUrl, 'nina');
    expect(flow.final.status, flow.finalBody).toBe(302);
    expect(flow.final.headers.get('location')).toBe('/');
    const m = await me(flow.jar);
    expect(m.status).toBe(200);
    expect(m.body.user).toMatchObject({ email: 'Nina.Sso@Example.com', name: 'Nina Single', isAdmin: false });
    const row = await principals.findPrincipalByEmail(env.ctx.db, 'nina.sso@example.com');
    expect(row!.oidc_subject).toBe(`${idp.issuer}|nina`);
    expect(row!.password_hash).toBeNull();
    const cals = await fetch(`${serverUrl}/api/v1/calendars`, { headers: { cookie: flow.jar.header(serverUrl) } });
    expect((await cals.json()).items).toHaveLength(1);
  });

  it('links by subject on the next sign-in, even when the e-mail claim changed', async () => {
    const before = await principals.findPrincipalByEmail(env.ctx.db, 'nina.sso@example.com');
    idp.accounts.set('nina', { sub: 'nina', email: 'nina.renamed@example.com', name: 'Nina Single' });
    const flow = await runCodeFlow(serverUrl, 'nina');
    expect(flow.final.status, flow.finalBody).toBe(302);
    const m = await me(flow.jar);
    expect(m.body.user.id).toBe(before!.id);
    const count = await env.ctx.db.selectFrom('principal').select((eb) => eb.fn.countAll<string>().as('n')).where('oidc_subject', '=', `${idp.issuer}|nina`).executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(1);
    expect(await principals.findPrincipalByEmail(env.ctx.db, 'nina.renamed@example.com')).toBeUndefined();
  });

  it('links an existing local account by e-mail on first SSO sign-in', async () => {
    const local = await makeUser(env.ctx, 'local@example.com');
    const flow = await runCodeFlow(serverUrl, 'local');
    expect(flow.final.status, flow.finalBody).toBe(302);
    expect((await me(flow.jar)).body.user.id).toBe(local.id);
    expect((await principals.findPrincipalById(env.ctx.db, local.id))!.oidc_subject).toBe(`${idp.issuer}|local`);
  });

  it('refuses a disabled account, whether found by e-mail or by subject', async () => {
    const u = await makeUser(env.ctx, 'blocked@example.com');
    await env.ctx.db.updateTable('principal').set({ disabled: true }).where('id', '=', u.id).execute();
    const flow = await runCodeFlow(serverUrl, 'blocked');
    expect(flow.final.status).toBe(403);
    expect(JSON.parse(flow.finalBody).error).toBe('ACCOUNT_DISABLED');
    expect((await me(flow.jar)).status).toBe(401);

    // Nina is linked by subject; disable her and try again.
    const nina = await env.ctx.db.selectFrom('principal').selectAll().where('oidc_subject', '=', `${idp.issuer}|nina`).executeTakeFirstOrThrow();
    await env.ctx.db.updateTable('principal').set({ disabled: true }).where('id', '=', nina.id).execute();
    const again = await runCodeFlow(serverUrl, 'nina');
    expect(again.final.status).toBe(403);
    expect(JSON.parse(again.finalBody).error).toBe('ACCOUNT_DISABLED');
  });

  it('refuses a forged state', async () => {
    const flow = await runCodeFlow(serverUrl, 'local', { tamper: (u) => { u.searchParams.set('state', 'forged-state'); return u; } });
    expect(flow.callbackUrl).toBeTruthy();
    expect(flow.final.status).toBe(401);
    expect(JSON.parse(flow.finalBody).error).toBe('SSO_FAILED');
    expect((await me(flow.jar)).status).toBe(401);
  });

  it('refuses a callback that did not start here (no state cookie), and a tampered state cookie', async () => {
    const flow = await runCodeFlow(serverUrl, 'local', { tamper: (u) => u });
    // Replay the (already used) callback in a fresh browser: no state cookie.
    const res = await fetch(flow.callbackUrl!, { redirect: 'manual' });
    expect(res.status).toBe(401);
    expect((await res.json()).error).toBe('SSO_FAILED');
    // A cookie whose MAC does not verify.
    const jar = new CookieJar();
    jar.set(serverUrl, 'calendula_sso', 'eyJ2ZXJpZmllciI6IngiLCJzdGF0ZSI6InkiLCJub25jZSI6InoiLCJleHAiOjk5OTk5OTk5OTl9.AAAA');
    const forged = await fetch(flow.callbackUrl!, { redirect: 'manual', headers: { cookie: jar.header(serverUrl) } });
    expect(forged.status).toBe(401);
  });

  it('refuses a replayed authorization code', async () => {
    const jar = new CookieJar();
    const flow = await runCodeFlow(serverUrl, 'local', { jar });
    expect(flow.final.status).toBe(302);
    // Start again to get a fresh, valid state cookie, then present the old code with it.
    const start = await fetch(`${serverUrl}/api/v1/auth/sso/start`, { redirect: 'manual' });
    const j2 = new CookieJar();
    j2.store(serverUrl, start as Response);
    const state = new URL(start.headers.get('location')!).searchParams.get('state')!;
    const replay = new URL(flow.callbackUrl!);
    replay.searchParams.set('state', state);
    const res = await fetch(replay, { redirect: 'manual', headers: { cookie: j2.header(serverUrl) } });
    expect(res.status).toBe(401);
    expect((await res.json()).error).toBe('SSO_FAILED');
  });

  it('refuses an identity without an e-mail address', async () => {
    const flow = await runCodeFlow(serverUrl, 'noemail');
    expect(flow.final.status).toBe(401);
    expect(JSON.parse(flow.finalBody).error).toBe('SSO_FAILED');
  });
});

describe('OIDC not configured', () => {
  it('answers SSO_NOT_CONFIGURED', async () => {
    const plain = await createTestEnv();
    expect((await plain.app.inject({ method: 'GET', url: '/api/v1/auth/sso' })).json()).toEqual({ enabled: false });
    const res = await plain.app.inject({ method: 'GET', url: '/api/v1/auth/sso/start' });
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toBe('SSO_NOT_CONFIGURED');
    await plain.close();
  });
});
