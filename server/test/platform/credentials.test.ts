/** App passwords, API tokens and user management by administrators over REST. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, makeUser, signInHeaders, type TestEnv } from '../support/harness.js';
import { checkDavCredentials } from '../../src/app/accounts.js';

let env: TestEnv;
let h: Record<string, string>;
let hAdmin: Record<string, string>;

beforeAll(async () => {
  env = await createTestEnv({ allowPasswordForDav: false });
  await makeUser(env.ctx, 'dana@example.com', { name: 'Dana' });
  await makeUser(env.ctx, 'eve@example.com');
  await makeUser(env.ctx, 'admin@example.com', { admin: true });
  h = await signInHeaders(env.app, 'dana@example.com');
  hAdmin = await signInHeaders(env.app, 'admin@example.com');
});
afterAll(() => env.close());

describe('app passwords', () => {
  it('are shown once, listed without the secret, work for CalDAV, record last use and can be revoked', async () => {
    const res = await env.app.inject({ method: 'POST', url: '/api/v1/app-passwords', headers: h, payload: { name: 'iPhone' } });
    expect(res.statusCode).toBe(201);
    const created = res.json();
    expect(created.password).toMatch(/^[a-z2-9]{6}(-[a-z2-9]{6}){3}$/);
    expect(created.lastUsedAt).toBeNull();

    const list = (await env.app.inject({ method: 'GET', url: '/api/v1/app-passwords', headers: h })).json().items;
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ id: created.id, name: 'iPhone', lastUsedAt: null, revokedAt: null });
    expect(list[0].password).toBeUndefined();
    expect(JSON.stringify(list)).not.toContain(created.password);
    // Not stored in clear either.
    const stored = await env.ctx.db.selectFrom('app_password').selectAll().execute();
    expect(JSON.stringify(stored)).not.toContain(created.password);

    const user = await checkDavCredentials(env.ctx, 'Dana@Example.com', created.password);
    expect(user.email).toBe('dana@example.com');
    const used = (await env.app.inject({ method: 'GET', url: '/api/v1/app-passwords', headers: h })).json().items[0];
    expect(used.lastUsedAt).not.toBeNull();
    expect(Date.now() - Date.parse(used.lastUsedAt)).toBeLessThan(60_000);

    // Another user's address with this password does not work.
    await expect(checkDavCredentials(env.ctx, 'eve@example.com', created.password)).rejects.toMatchObject({ code: 'INVALID_CREDENTIALS' });
    // The account password is refused when only app passwords are allowed.
    await expect(checkDavCredentials(env.ctx, 'dana@example.com', 'password123')).rejects.toMatchObject({ code: 'INVALID_CREDENTIALS' });
    // App passwords are not web/REST credentials.
    const web = await env.app.inject({ method: 'POST', url: '/api/v1/session', payload: { email: 'dana@example.com', password: created.password } });
    expect(web.statusCode).toBe(401);
    const bearer = await env.app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${created.password}` } });
    expect(bearer.statusCode).toBe(401);

    const del = await env.app.inject({ method: 'DELETE', url: `/api/v1/app-passwords/${created.id}`, headers: h });
    expect(del.statusCode).toBe(204);
    await expect(checkDavCredentials(env.ctx, 'dana@example.com', created.password)).rejects.toMatchObject({ code: 'INVALID_CREDENTIALS' });
    const after = (await env.app.inject({ method: 'GET', url: '/api/v1/app-passwords', headers: h })).json().items[0];
    expect(after.revokedAt).not.toBeNull();
    // Revoking twice: not found.
    expect((await env.app.inject({ method: 'DELETE', url: `/api/v1/app-passwords/${created.id}`, headers: h })).statusCode).toBe(404);
  });

  it('stop working when the account is disabled', async () => {
    const u = await makeUser(env.ctx, 'temp@example.com');
    const ht = await signInHeaders(env.app, 'temp@example.com');
    const ap = (await env.app.inject({ method: 'POST', url: '/api/v1/app-passwords', headers: ht, payload: { name: 'x' } })).json();
    expect((await checkDavCredentials(env.ctx, 'temp@example.com', ap.password)).id).toBe(u.id);
    await env.app.inject({ method: 'PATCH', url: `/api/v1/users/${u.id}`, headers: hAdmin, payload: { disabled: true } });
    await expect(checkDavCredentials(env.ctx, 'temp@example.com', ap.password)).rejects.toBeTruthy();
  });
});

describe('API tokens', () => {
  it('are shown once, work as Bearer, record last use, and are refused after revocation', async () => {
    const res = await env.app.inject({ method: 'POST', url: '/api/v1/tokens', headers: h, payload: { name: 'script', scopes: ['read', 'write'], expiresInDays: 30 } });
    expect(res.statusCode).toBe(201);
    const t = res.json();
    expect(t.token).toMatch(/^cal_[A-Za-z0-9_-]{40,}$/);
    expect(Date.parse(t.expiresAt) - Date.now()).toBeGreaterThan(29 * 86400_000);

    const list = (await env.app.inject({ method: 'GET', url: '/api/v1/tokens', headers: h })).json().items;
    expect(list.find((x: { id: string }) => x.id === t.id)).toMatchObject({ name: 'script', scopes: ['read', 'write'], lastUsedAt: null });
    expect(JSON.stringify(list)).not.toContain(t.token);

    const me = await env.app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${t.token}` } });
    expect(me.statusCode).toBe(200);
    expect(me.json().user.email).toBe('dana@example.com');
    const write = await env.app.inject({ method: 'POST', url: '/api/v1/calendars', headers: { authorization: `Bearer ${t.token}` }, payload: { name: 'Via token' } });
    expect(write.statusCode).toBe(201);
    const used = (await env.app.inject({ method: 'GET', url: '/api/v1/tokens', headers: h })).json().items.find((x: { id: string }) => x.id === t.id);
    expect(used.lastUsedAt).not.toBeNull();

    expect((await env.app.inject({ method: 'DELETE', url: `/api/v1/tokens/${t.id}`, headers: h })).statusCode).toBe(204);
    const refused = await env.app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${t.token}` } });
    expect(refused.statusCode).toBe(401);
    expect(refused.json().error).toBe('UNAUTHENTICATED');
  });

  it('refuses unknown or empty scopes', async () => {
    for (const scopes of [['root'], [], ['read', 'everything']]) {
      const res = await env.app.inject({ method: 'POST', url: '/api/v1/tokens', headers: h, payload: { name: 'x', scopes } });
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toBe('VALIDATION_FAILED');
    }
  });

  it('an administrator can mint a token for another user and revoke anyone\'s', async () => {
    const eve = (await env.app.inject({ method: 'GET', url: '/api/v1/users?limit=500', headers: hAdmin })).json().items.find((u: { email: string }) => u.email === 'eve@example.com');
    const t = await env.app.inject({ method: 'POST', url: '/api/v1/tokens', headers: hAdmin, payload: { name: 'for eve', scopes: ['read'], userId: eve.id } });
    expect(t.statusCode).toBe(201);
    const me = await env.app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${t.json().token}` } });
    expect(me.json().user.email).toBe('eve@example.com');
    expect((await env.app.inject({ method: 'DELETE', url: `/api/v1/tokens/${t.json().id}`, headers: hAdmin })).statusCode).toBe(204);
    expect((await env.app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${t.json().token}` } })).statusCode).toBe(401);
  });
});

describe('user management by administrators', () => {
  it('creates a user who can sign in and gets a default calendar', async () => {
    const res = await env.app.inject({ method: 'POST', url: '/api/v1/users', headers: hAdmin, payload: { email: 'new.person@example.com', name: 'New Person', password: 'initial-pass', language: 'ru', timezone: 'Europe/Moscow' } });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ kind: 'user', email: 'new.person@example.com', isAdmin: false, disabled: false, language: 'ru', timezone: 'Europe/Moscow' });
    const hn = await signInHeaders(env.app, 'new.person@example.com', 'initial-pass');
    const cals = (await env.app.inject({ method: 'GET', url: '/api/v1/calendars', headers: hn })).json().items;
    expect(cals).toHaveLength(1);
    expect(cals[0]).toMatchObject({ isDefault: true, name: 'Календарь', access: 'owner' });
    const dup = await env.app.inject({ method: 'POST', url: '/api/v1/users', headers: hAdmin, payload: { email: 'NEW.PERSON@example.com' } });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().error).toBe('ALREADY_EXISTS');
  });

  it('refuses bad input with stable codes', async () => {
    const bad = await env.app.inject({ method: 'POST', url: '/api/v1/users', headers: hAdmin, payload: { email: 'not-an-address' } });
    expect(bad.json().error).toBe('INVALID_ADDRESS');
    const weak = await env.app.inject({ method: 'POST', url: '/api/v1/users', headers: hAdmin, payload: { email: 'weak@example.com', password: 'short' } });
    expect(weak.statusCode).toBe(400);
    const tz = await env.app.inject({ method: 'POST', url: '/api/v1/users', headers: hAdmin, payload: { email: 'tz@example.com', timezone: 'Mars/Olympus' } });
    expect(tz.statusCode).toBe(400);
    const members = await env.app.inject({ method: 'POST', url: '/api/v1/users', headers: hAdmin, payload: { email: 'u@example.com', members: ['dana@example.com'] } });
    expect(members.statusCode).toBe(400);
    const unknown = await env.app.inject({ method: 'POST', url: '/api/v1/users', headers: hAdmin, payload: { kind: 'group', email: 'g2@example.com', members: ['nobody@example.com'] } });
    expect(unknown.statusCode).toBe(404);
  });

  it('creates a group with members and a room with capacity', async () => {
    const g = await env.app.inject({ method: 'POST', url: '/api/v1/users', headers: hAdmin, payload: { kind: 'group', email: 'sales@example.com', name: 'Sales', members: ['dana@example.com', 'eve@example.com'] } });
    expect(g.statusCode).toBe(201);
    expect(g.json().kind).toBe('group');
    const members = await env.app.inject({ method: 'GET', url: `/api/v1/groups/${g.json().id}/members`, headers: h });
    expect(members.json().items.map((m: { email: string }) => m.email).sort()).toEqual(['dana@example.com', 'eve@example.com']);

    const r = await env.app.inject({ method: 'POST', url: '/api/v1/users', headers: hAdmin, payload: { kind: 'room', email: 'room.blue@example.com', name: 'Blue room', roomCapacity: 8, roomAutoAccept: 'manual' } });
    expect(r.statusCode).toBe(201);
    const row = await env.ctx.db.selectFrom('principal').selectAll().where('id', '=', r.json().id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ kind: 'room', room_capacity: 8, room_auto_accept: 'manual', password_hash: null });
    const dir = (await env.app.inject({ method: 'GET', url: '/api/v1/directory?q=blue&kind=room', headers: h })).json().items;
    expect(dir).toEqual([expect.objectContaining({ email: 'room.blue@example.com', kind: 'room', capacity: 8 })]);
    // A room cannot sign in.
    const s = await env.app.inject({ method: 'POST', url: '/api/v1/session', payload: { email: 'room.blue@example.com', password: 'anything-at-all' } });
    expect(s.statusCode).toBe(401);
  });

  it('lists (with kind filter and paging), disables, resets passwords and promotes', async () => {
    const all = (await env.app.inject({ method: 'GET', url: '/api/v1/users?limit=500', headers: hAdmin })).json().items;
    expect(all.length).toBeGreaterThanOrEqual(5);
    const rooms = (await env.app.inject({ method: 'GET', url: '/api/v1/users?kind=room', headers: hAdmin })).json().items;
    expect(rooms.every((u: { kind: string }) => u.kind === 'room')).toBe(true);
    const page = (await env.app.inject({ method: 'GET', url: '/api/v1/users?limit=2&offset=1', headers: hAdmin })).json().items;
    expect(page).toHaveLength(2);
    expect(page[0].id).toBe(all[1].id);

    const u = await makeUser(env.ctx, 'frank@example.com');
    const hf = await signInHeaders(env.app, 'frank@example.com');
    // Reset password: old sessions end, the new password works, the old one does not.
    const reset = await env.app.inject({ method: 'PATCH', url: `/api/v1/users/${u.id}`, headers: hAdmin, payload: { password: 'brand-new-pass' } });
    expect(reset.statusCode).toBe(200);
    expect((await env.app.inject({ method: 'GET', url: '/api/v1/me', headers: hf })).statusCode).toBe(401);
    expect((await env.app.inject({ method: 'POST', url: '/api/v1/session', payload: { email: 'frank@example.com', password: 'password123' } })).statusCode).toBe(401);
    const hf2 = await signInHeaders(env.app, 'frank@example.com', 'brand-new-pass');

    // Make admin: the user can now reach admin routes.
    expect((await env.app.inject({ method: 'GET', url: '/api/v1/users', headers: hf2 })).statusCode).toBe(403);
    const promote = await env.app.inject({ method: 'PATCH', url: `/api/v1/users/${u.id}`, headers: hAdmin, payload: { isAdmin: true } });
    expect(promote.json().isAdmin).toBe(true);
    expect((await env.app.inject({ method: 'GET', url: '/api/v1/users', headers: hf2 })).statusCode).toBe(200);

    // Disable, then enable.
    const dis = await env.app.inject({ method: 'PATCH', url: `/api/v1/users/${u.id}`, headers: hAdmin, payload: { disabled: true } });
    expect(dis.json().disabled).toBe(true);
    expect((await env.app.inject({ method: 'POST', url: '/api/v1/session', payload: { email: 'frank@example.com', password: 'brand-new-pass' } })).json().error).toBe('ACCOUNT_DISABLED');
    await env.app.inject({ method: 'PATCH', url: `/api/v1/users/${u.id}`, headers: hAdmin, payload: { disabled: false } });
    await signInHeaders(env.app, 'frank@example.com', 'brand-new-pass');
    // An admin cannot disable or demote themselves.
    const self = (await env.app.inject({ method: 'GET', url: '/api/v1/me', headers: hAdmin })).json().user;
    const selfDis = await env.app.inject({ method: 'PATCH', url: `/api/v1/users/${self.id}`, headers: hAdmin, payload: { disabled: true } });
    expect(selfDis.statusCode).toBe(400);
    // Unknown user.
    expect((await env.app.inject({ method: 'PATCH', url: '/api/v1/users/00000000-0000-4000-8000-000000000000', headers: hAdmin, payload: { name: 'x' } })).statusCode).toBe(404);
  });

  it('a non-admin is refused every user-management action', async () => {
    const u = await makeUser(env.ctx, 'gina@example.com');
    for (const [method, url, payload] of [
      ['GET', '/api/v1/users', undefined], ['POST', '/api/v1/users', { email: 'x@example.com' }],
      ['GET', `/api/v1/users/${u.id}`, undefined], ['PATCH', `/api/v1/users/${u.id}`, { isAdmin: true }],
    ] as const) {
      const res = await env.app.inject({ method, url, headers: h, ...(payload ? { payload } : {}) });
      expect(res.statusCode).toBe(403);
      expect(res.json().error).toBe('FORBIDDEN');
    }
    const row = await env.ctx.db.selectFrom('principal').select('is_admin').where('id', '=', u.id).executeTakeFirstOrThrow();
    expect(row.is_admin).toBe(false);
  });
});
