/**
 * Authorization for every REST endpoint. The route list comes from the OpenAPI document, so a new
 * route that is not classified below makes this file fail until someone decides who may call it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, makeUser, signInHeaders, type TestEnv } from '../support/harness.js';
import * as principals from '../../src/store/principals.js';
import type { PrincipalRow } from '../../src/store/schema.js';

type Access = 'public' | 'user' | 'admin';

/** Every route under /api/v1, by "METHOD /path" as in the OpenAPI document. */
const CLASSIFIED: Record<string, Access> = {
  'POST /session': 'public',
  'DELETE /session': 'public',
  'GET /auth/sso': 'public',
  'GET /auth/sso/start': 'public',
  'GET /auth/sso/callback': 'public',
  'GET /me': 'user',
  'GET /users': 'admin',
  'POST /users': 'admin',
  'GET /users/{id}': 'admin',
  'PATCH /users/{id}': 'admin',
  'GET /groups/{id}/members': 'user',
  'GET /calendars': 'user',
  'POST /calendars': 'user',
  'GET /calendars/{id}': 'user',
  'PATCH /calendars/{id}': 'user',
  'DELETE /calendars/{id}': 'user',
  'GET /calendars/{id}/shares': 'user',
  'PUT /calendars/{id}/shares': 'user',
  'DELETE /calendars/{id}/shares/{granteeId}': 'user',
  'GET /settings': 'user',
  'PATCH /settings': 'user',
  'GET /app-passwords': 'user',
  'POST /app-passwords': 'user',
  'DELETE /app-passwords/{id}': 'user',
  'GET /tokens': 'user',
  'POST /tokens': 'user',
  'DELETE /tokens/{id}': 'user',
  'GET /directory': 'user',
  // Calendar core (events, scheduling, import/export, attachments).
  'GET /events': 'user',
  'POST /events': 'user',
  'GET /events/search': 'user',
  'GET /invitations': 'user',
  'GET /trash': 'user',
  'GET /events/{id}': 'user',
  'PATCH /events/{id}': 'user',
  'PUT /events/{id}': 'user',
  'DELETE /events/{id}': 'user',
  'POST /events/{id}/restore': 'user',
  'POST /events/{id}/respond': 'user',
  'POST /events/{id}/propose': 'user',
  'GET /proposals': 'user',
  'POST /proposals/{id}/accept': 'user',
  'POST /proposals/{id}/decline': 'user',
  'POST /events/{id}/move': 'user',
  'POST /events/{id}/duplicate': 'user',
  'POST /events/{id}/lease': 'user',
  'DELETE /events/{id}/lease': 'user',
  'POST /freebusy': 'user',
  'POST /find-time': 'user',
  'GET /imports/{id}': 'user',
  'GET /imports/{id}/items': 'user',
  'GET /calendars/{id}/export': 'user',
  'GET /calendars/{id}/changes': 'user',
  'POST /calendars/{id}/import': 'user',
  'POST /attachments': 'user',
  'GET /attachments/{id}': 'user',
  'DELETE /attachments/{id}': 'user',
  // Answer links in invitation e-mails: authorised by the signed token in the link.
  'GET /answer': 'public',
  // Mail intake: decision log and held invitations (own), admin views, the HTTP intake (admin token).
  'GET /intake/decisions': 'user',
  'GET /intake/decisions/{id}': 'user',
  'GET /intake/held': 'user',
  'POST /intake/held/{id}/accept': 'user',
  'POST /intake/held/{id}/discard': 'user',
  'GET /admin/intake/decisions': 'admin',
  'POST /intake/mail': 'admin',
  // Deliveries and the local outbox.
  'GET /deliveries': 'user',
  'GET /admin/deliveries': 'admin',
  'GET /admin/outbox': 'admin',
  'GET /admin/outbox/{name}': 'admin',
  // VK Teams link state (own) and the admin mapping of a user's VK Teams id.
  'GET /settings/vkteams': 'user',
  'DELETE /settings/vkteams': 'user',
  'GET /users/{id}/vkteams': 'admin',
  'PUT /users/{id}/vkteams': 'admin',
};

/** Plausible bodies and queries so a request passes validation when authorization lets it through. */
const BODIES: Record<string, unknown> = {
  'POST /users': { email: 'made-by-authz@example.com', password: 'password123' },
  'PATCH /users/{id}': { name: 'Renamed' },
  'POST /calendars': { name: 'Authz' },
  'PATCH /calendars/{id}': { name: 'Renamed' },
  'PUT /calendars/{id}/shares': { email: 'other@example.com', access: 'read' },
  'PATCH /settings': { language: 'en' },
  'POST /app-passwords': { name: 'phone' },
  'POST /tokens': { name: 't', scopes: ['read'] },
};
const QUERIES: Record<string, string> = { 'GET /directory': '?q=an', 'GET /users': '' };

interface Route { key: string; method: string; path: string; access: Access }

let env: TestEnv;
let routes: Route[];
let userA: PrincipalRow;
let other: PrincipalRow;
let admin: PrincipalRow;
let hUser: Record<string, string>;
let hAdmin: Record<string, string>;
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

function concrete(path: string, ids: { id: string; granteeId: string; name?: string }) {
  return path.replace('{id}', ids.id).replace('{granteeId}', ids.granteeId).replace('{name}', ids.name ?? 'missing.eml');
}

async function call(r: Route, headers: Record<string, string>, ids: { id: string; granteeId: string; name?: string } = { id: '00000000-0000-4000-8000-000000000000', granteeId: '00000000-0000-4000-8000-000000000001' }) {
  const body = BODIES[r.key];
  return env.app.inject({
    method: r.method as 'GET',
    url: `/api/v1${concrete(r.path, ids)}${QUERIES[r.key] ?? ''}`,
    headers,
    ...(body !== undefined ? { payload: body as object } : {}),
  });
}

beforeAll(async () => {
  env = await createTestEnv();
  userA = await makeUser(env.ctx, 'alice@example.com', { name: 'Alice' });
  other = await makeUser(env.ctx, 'other@example.com');
  admin = await makeUser(env.ctx, 'root@example.com', { admin: true });
  hUser = await signInHeaders(env.app, 'alice@example.com');
  hAdmin = await signInHeaders(env.app, 'root@example.com');
  const doc = env.app.swagger() as { paths: Record<string, Record<string, unknown>> };
  routes = [];
  for (const [p, ops] of Object.entries(doc.paths)) {
    if (!p.startsWith('/api/v1/')) continue;
    for (const m of Object.keys(ops)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(m)) continue;
      const path = p.slice('/api/v1'.length);
      const key = `${m.toUpperCase()} ${path}`;
      routes.push({ key, method: m.toUpperCase(), path, access: CLASSIFIED[key] });
    }
  }
});
afterAll(() => env.close());

async function token(ownerHeaders: Record<string, string>, scopes: string[]) {
  const res = await env.app.inject({ method: 'POST', url: '/api/v1/tokens', headers: ownerHeaders, payload: { name: 'authz', scopes } });
  expect(res.statusCode).toBe(201);
  return res.json() as { id: string; token: string };
}

describe('every route is classified', () => {
  it('finds the routes in the OpenAPI document', () => {
    expect(routes.length).toBeGreaterThanOrEqual(Object.keys(CLASSIFIED).length);
  });
  it('has no unclassified route (add new routes to CLASSIFIED in this file)', () => {
    expect(routes.filter((r) => !r.access).map((r) => r.key)).toEqual([]);
  });
  it('has no stale classification', () => {
    const seen = new Set(routes.map((r) => r.key));
    expect(Object.keys(CLASSIFIED).filter((k) => !seen.has(k))).toEqual([]);
  });
});

describe('anonymous', () => {
  it('is refused with 401 UNAUTHENTICATED everywhere except the public routes', async () => {
    const wrong: string[] = [];
    for (const r of routes.filter((x) => x.access)) {
      const res = await call(r, {});
      expect(res.statusCode, r.key).toBeLessThan(500);
      const body = res.body ? res.json() : {};
      if (r.access === 'public') {
        if (body.error === 'UNAUTHENTICATED') wrong.push(`${r.key} → ${res.statusCode} ${body.error}`);
      } else if (res.statusCode !== 401 || body.error !== 'UNAUTHENTICATED') {
        wrong.push(`${r.key} → ${res.statusCode} ${body.error}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('is refused even with an invalid body or path (authentication comes before validation)', async () => {
    const res = await env.app.inject({ method: 'POST', url: '/api/v1/calendars', payload: { nope: 1 } });
    expect(res.statusCode).toBe(401);
    const bad = await env.app.inject({ method: 'GET', url: '/api/v1/calendars/not-a-uuid' });
    expect(bad.statusCode).toBe(401);
  });

  it('is refused with a garbage or unknown Bearer token and a garbage cookie', async () => {
    for (const headers of [{ authorization: 'Bearer nonsense' }, { authorization: 'Bearer cal_' + 'x'.repeat(43) }, { cookie: 'calendula_session=forged' }, { authorization: 'Bearer ' + 'y'.repeat(5000) }]) {
      const res = await env.app.inject({ method: 'GET', url: '/api/v1/me', headers });
      expect(res.statusCode).toBe(401);
      expect(res.json().error).toBe('UNAUTHENTICATED');
    }
  });
});

describe('revoked API token and expired session', () => {
  it('a revoked token is refused on every protected route', async () => {
    const t = await token(hAdmin, ['read', 'write', 'admin']);
    const ok = await env.app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${t.token}` } });
    expect(ok.statusCode).toBe(200);
    const rev = await env.app.inject({ method: 'DELETE', url: `/api/v1/tokens/${t.id}`, headers: hAdmin });
    expect(rev.statusCode).toBe(204);
    const wrong: string[] = [];
    for (const r of routes.filter((x) => x.access && x.access !== 'public')) {
      const res = await call(r, { authorization: `Bearer ${t.token}` });
      if (res.statusCode !== 401 || res.json().error !== 'UNAUTHENTICATED') wrong.push(`${r.key} → ${res.statusCode}`);
    }
    expect(wrong).toEqual([]);
  });

  it('an expired token is refused', async () => {
    const t = await token(hUser, ['read']);
    await env.ctx.db.updateTable('api_token').set({ expires_at: new Date(Date.now() - 1000) }).where('id', '=', t.id).execute();
    const res = await env.app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${t.token}` } });
    expect(res.statusCode).toBe(401);
  });

  it('an expired session is refused on every protected route', async () => {
    await makeUser(env.ctx, 'expiring@example.com', { admin: true });
    const h = await signInHeaders(env.app, 'expiring@example.com');
    const u = await principals.findPrincipalByEmail(env.ctx.db, 'expiring@example.com');
    await env.ctx.db.updateTable('session').set({ expires_at: new Date(Date.now() - 1000) }).where('owner_id', '=', u!.id).execute();
    const wrong: string[] = [];
    for (const r of routes.filter((x) => x.access && x.access !== 'public')) {
      const res = await call(r, h);
      if (res.statusCode !== 401 || res.json().error !== 'UNAUTHENTICATED') wrong.push(`${r.key} → ${res.statusCode}`);
    }
    expect(wrong).toEqual([]);
  });
});

describe('administrators only', () => {
  it('a non-admin gets 403 FORBIDDEN on every admin route (session, and an admin-scoped token of a demoted admin)', async () => {
    const demoted = await makeUser(env.ctx, 'demoted@example.com', { admin: true });
    const t = await token(await signInHeaders(env.app, 'demoted@example.com'), ['read', 'write', 'admin']);
    await env.ctx.db.updateTable('principal').set({ is_admin: false }).where('id', '=', demoted.id).execute();
    const plain = await token(hUser, ['read', 'write']);
    const wrong: string[] = [];
    for (const r of routes.filter((x) => x.access === 'admin')) {
      for (const [how, h] of [['session', hUser], ['token', { authorization: `Bearer ${t.token}` }]] as const) {
        const res = await call(r, h, { id: other.id, granteeId: other.id });
        if (res.statusCode !== 403 || res.json().error !== 'FORBIDDEN') wrong.push(`${how} ${r.key} → ${res.statusCode} ${res.body}`);
      }
      // A non-admin's token cannot carry the admin scope at all.
      const res = await call(r, { authorization: `Bearer ${plain.token}` }, { id: other.id, granteeId: other.id });
      if (res.statusCode !== 403 || res.json().error !== 'INSUFFICIENT_SCOPE') wrong.push(`plain token ${r.key} → ${res.statusCode}`);
    }
    expect(wrong).toEqual([]);
  });

  it('an administrator passes authorization on every admin route', async () => {
    for (const r of routes.filter((x) => x.access === 'admin')) {
      const res = await call(r, hAdmin, { id: other.id, granteeId: other.id, name: 'missing.eml' });
      // Past authorization: success, or a 4xx about the resource itself — never 401/403.
      expect([401, 403], `${r.key} ${res.body}`).not.toContain(res.statusCode);
      expect(res.statusCode, `${r.key} ${res.body}`).toBeLessThan(500);
    }
  });

  it('an admin token without the admin scope is not an administrator', async () => {
    const t = await token(hAdmin, ['read', 'write']);
    const res = await env.app.inject({ method: 'GET', url: '/api/v1/users', headers: { authorization: `Bearer ${t.token}` } });
    expect(res.statusCode).toBe(403);
    expect(res.json().error).toBe('INSUFFICIENT_SCOPE');
  });

  it('a non-admin cannot mint an admin-scoped token or one for someone else', async () => {
    const a = await env.app.inject({ method: 'POST', url: '/api/v1/tokens', headers: hUser, payload: { name: 'x', scopes: ['admin'] } });
    expect(a.statusCode).toBe(403);
    const b = await env.app.inject({ method: 'POST', url: '/api/v1/tokens', headers: hUser, payload: { name: 'x', scopes: ['read'], userId: other.id } });
    expect(b.statusCode).toBe(403);
  });
});

describe('token scopes', () => {
  it('a read-only token gets 403 INSUFFICIENT_SCOPE on every protected write', async () => {
    const t = await token(hAdmin, ['read']);
    const wrong: string[] = [];
    for (const r of routes.filter((x) => x.access && x.access !== 'public' && !SAFE.has(x.method))) {
      const res = await call(r, { authorization: `Bearer ${t.token}` });
      if (res.statusCode !== 403 || res.json().error !== 'INSUFFICIENT_SCOPE') wrong.push(`${r.key} → ${res.statusCode} ${res.body}`);
    }
    expect(wrong).toEqual([]);
  });

  it('a read-only token can read every user route', async () => {
    const t = await token(hUser, ['read']);
    const cal = (await env.app.inject({ method: 'GET', url: '/api/v1/calendars', headers: hUser })).json().items[0];
    for (const r of routes.filter((x) => x.access === 'user' && SAFE.has(x.method))) {
      const res = await call(r, { authorization: `Bearer ${t.token}` }, { id: cal.id, granteeId: other.id });
      expect([401, 403]).not.toContain(res.statusCode);
    }
  });

  it('a write token needs no CSRF header', async () => {
    const t = await token(hUser, ['write']);
    const res = await env.app.inject({ method: 'POST', url: '/api/v1/calendars', headers: { authorization: `Bearer ${t.token}` }, payload: { name: 'By token' } });
    expect(res.statusCode).toBe(201);
  });
});

describe('calendars across users', () => {
  let hB: Record<string, string>;
  let calA: string;
  beforeAll(async () => {
    await makeUser(env.ctx, 'bob@example.com', { name: 'Bob' });
    hB = await signInHeaders(env.app, 'bob@example.com');
    const res = await env.app.inject({ method: 'POST', url: '/api/v1/calendars', headers: hUser, payload: { name: 'Private A' } });
    calA = res.json().id;
  });

  it('B cannot read, patch, delete, list shares of or share A\'s calendar, and cannot tell it exists', async () => {
    const missing = '00000000-0000-4000-8000-00000000abcd';
    for (const id of [calA, missing]) {
      const results = await Promise.all([
        env.app.inject({ method: 'GET', url: `/api/v1/calendars/${id}`, headers: hB }),
        env.app.inject({ method: 'PATCH', url: `/api/v1/calendars/${id}`, headers: hB, payload: { name: 'Mine now' } }),
        env.app.inject({ method: 'DELETE', url: `/api/v1/calendars/${id}`, headers: hB }),
        env.app.inject({ method: 'GET', url: `/api/v1/calendars/${id}/shares`, headers: hB }),
        env.app.inject({ method: 'PUT', url: `/api/v1/calendars/${id}/shares`, headers: hB, payload: { email: 'bob@example.com', access: 'read-write' } }),
        env.app.inject({ method: 'DELETE', url: `/api/v1/calendars/${id}/shares/${userA.id}`, headers: hB }),
      ]);
      for (const r of results) {
        expect(r.statusCode).toBe(404);
        expect(r.json()).toMatchObject({ error: 'NOT_FOUND', message: 'Calendar not found' });
      }
    }
    const list = (await env.app.inject({ method: 'GET', url: '/api/v1/calendars', headers: hB })).json().items;
    expect(list.map((c: { id: string }) => c.id)).not.toContain(calA);
    const still = await env.app.inject({ method: 'GET', url: `/api/v1/calendars/${calA}`, headers: hUser });
    expect(still.json().name).toBe('Private A');
  });

  it('with a read share B can read but not change, share or delete', async () => {
    const s = await env.app.inject({ method: 'PUT', url: `/api/v1/calendars/${calA}/shares`, headers: hUser, payload: { email: 'bob@example.com', access: 'read' } });
    expect(s.statusCode).toBe(200);
    const get = await env.app.inject({ method: 'GET', url: `/api/v1/calendars/${calA}`, headers: hB });
    expect(get.statusCode).toBe(200);
    expect(get.json()).toMatchObject({ access: 'read', owner: { email: 'alice@example.com' }, isDefault: false });
    const patch = await env.app.inject({ method: 'PATCH', url: `/api/v1/calendars/${calA}`, headers: hB, payload: { name: 'x' } });
    expect(patch.statusCode).toBe(403);
    expect(patch.json().error).toBe('FORBIDDEN');
    const del = await env.app.inject({ method: 'DELETE', url: `/api/v1/calendars/${calA}`, headers: hB });
    expect(del.statusCode).toBe(403);
    const share = await env.app.inject({ method: 'PUT', url: `/api/v1/calendars/${calA}/shares`, headers: hB, payload: { email: 'other@example.com', access: 'read' } });
    expect(share.statusCode).toBe(403);
    const shares = await env.app.inject({ method: 'GET', url: `/api/v1/calendars/${calA}/shares`, headers: hB });
    expect(shares.statusCode).toBe(403);
    // Unsharing hides it again.
    const bob = await principals.findPrincipalByEmail(env.ctx.db, 'bob@example.com');
    const un = await env.app.inject({ method: 'DELETE', url: `/api/v1/calendars/${calA}/shares/${bob!.id}`, headers: hUser });
    expect(un.statusCode).toBe(204);
    expect((await env.app.inject({ method: 'GET', url: `/api/v1/calendars/${calA}`, headers: hB })).statusCode).toBe(404);
  });

  it('shares with a group reach its members, and the strongest grant wins', async () => {
    await makeUser(env.ctx, 'carol@example.com', { name: 'Carol' });
    const g = await env.app.inject({ method: 'POST', url: '/api/v1/users', headers: hAdmin, payload: { kind: 'group', email: 'team@example.com', name: 'Team', members: ['carol@example.com', 'bob@example.com'] } });
    expect(g.statusCode).toBe(201);
    const hC = await signInHeaders(env.app, 'carol@example.com');
    const cal = (await env.app.inject({ method: 'POST', url: '/api/v1/calendars', headers: hUser, payload: { name: 'Team A' } })).json().id;
    expect((await env.app.inject({ method: 'GET', url: `/api/v1/calendars/${cal}`, headers: hC })).statusCode).toBe(404);
    const s = await env.app.inject({ method: 'PUT', url: `/api/v1/calendars/${cal}/shares`, headers: hUser, payload: { email: 'team@example.com', access: 'read-write' } });
    expect(s.statusCode).toBe(200);
    expect(s.json()).toMatchObject({ kind: 'group', access: 'read-write' });
    const list = (await env.app.inject({ method: 'GET', url: '/api/v1/calendars', headers: hC })).json().items;
    expect(list.find((c: { id: string }) => c.id === cal)).toMatchObject({ access: 'read-write' });
    // A weaker direct grant does not reduce the group grant.
    await env.app.inject({ method: 'PUT', url: `/api/v1/calendars/${cal}/shares`, headers: hUser, payload: { email: 'carol@example.com', access: 'freebusy' } });
    expect((await env.app.inject({ method: 'GET', url: `/api/v1/calendars/${cal}`, headers: hC })).json().access).toBe('read-write');
    // read-write sharees still cannot reconfigure the calendar (owner-only).
    const p = await env.app.inject({ method: 'PATCH', url: `/api/v1/calendars/${cal}`, headers: hC, payload: { name: 'Taken' } });
    expect(p.statusCode).toBe(403);
  });

  it('a free/busy-only share is listed with access "freebusy"', async () => {
    const cal = (await env.app.inject({ method: 'POST', url: '/api/v1/calendars', headers: hUser, payload: { name: 'Busy A' } })).json().id;
    await env.app.inject({ method: 'PUT', url: `/api/v1/calendars/${cal}/shares`, headers: hUser, payload: { email: 'bob@example.com', access: 'freebusy' } });
    const list = (await env.app.inject({ method: 'GET', url: '/api/v1/calendars', headers: hB })).json().items;
    expect(list.find((c: { id: string }) => c.id === cal)).toMatchObject({ access: 'freebusy', owner: { email: 'alice@example.com' } });
    const one = await env.app.inject({ method: 'GET', url: `/api/v1/calendars/${cal}`, headers: hB });
    expect(one.json().access).toBe('freebusy');
  });

  it('B cannot revoke A\'s tokens or app passwords', async () => {
    const t = await token(hUser, ['read']);
    const r1 = await env.app.inject({ method: 'DELETE', url: `/api/v1/tokens/${t.id}`, headers: hB });
    expect(r1.statusCode).toBe(404);
    const ap = (await env.app.inject({ method: 'POST', url: '/api/v1/app-passwords', headers: hUser, payload: { name: 'p' } })).json();
    const r2 = await env.app.inject({ method: 'DELETE', url: `/api/v1/app-passwords/${ap.id}`, headers: hB });
    expect(r2.statusCode).toBe(404);
    expect((await env.app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${t.token}` } })).statusCode).toBe(200);
    void admin;
  });
});
