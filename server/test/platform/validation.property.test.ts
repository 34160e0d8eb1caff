/**
 * Input validation, property-based: whatever JSON body or query string arrives, every route
 * answers with a 4xx/2xx in the one error shape — never a 5xx.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createTestEnv, makeUser, signInHeaders, type TestEnv } from '../support/harness.js';

let env: TestEnv;
let h: Record<string, string>;
let routes: { method: string; path: string }[];
let ids: { id: string; granteeId: string };

beforeAll(async () => {
  env = await createTestEnv({ bodyLimit: 64 * 1024 });
  // An administrator, so admin routes reach their handlers too.
  const me = await makeUser(env.ctx, 'prop@example.com', { admin: true });
  await makeUser(env.ctx, 'peer@example.com');
  h = await signInHeaders(env.app, 'prop@example.com');
  const cal = (await env.app.inject({ method: 'POST', url: '/api/v1/calendars', headers: h, payload: { name: 'P' } })).json();
  ids = { id: cal.id, granteeId: me.id };
  const doc = env.app.swagger() as { paths: Record<string, Record<string, unknown>> };
  routes = [];
  for (const [p, ops] of Object.entries(doc.paths)) {
    if (!p.startsWith('/api/v1/')) continue;
    for (const m of Object.keys(ops)) if (['get', 'post', 'put', 'patch'].includes(m)) routes.push({ method: m.toUpperCase(), path: p });
  }
});
afterAll(() => env.close());

function url(path: string, idOverride?: string) {
  return path.replace('{id}', idOverride ?? ids.id).replace('{granteeId}', ids.granteeId);
}

function checkShape(res: { statusCode: number; body: string; headers: Record<string, unknown> }, label: string) {
  expect(res.statusCode, `${label}: ${res.body.slice(0, 300)}`).toBeLessThan(500);
  if (res.statusCode >= 400) {
    const b = JSON.parse(res.body);
    expect(typeof b.error, label).toBe('string');
    expect(b.error, label).toMatch(/^[A-Z_]+$/);
    expect(typeof b.message, label).toBe('string');
    expect(b.message.length, label).toBeGreaterThan(0);
  }
}

// Strings that tend to break things: huge, control characters, SQL/LIKE metacharacters, emoji, NUL.
const nasty = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary', maxLength: 50 }),
  fc.constantFrom('', ' ', '\u0000', "' or 1=1 --", '%_\\', '😀'.repeat(100), 'a'.repeat(100_000), 'x@y', '#12345g', 'Europe/Nowhere', '../../etc/passwd', '__proto__', 'constructor', '00000000-0000-0000-0000-000000000000'),
);
const deep = fc.integer({ min: 50, max: 2000 }).map((n) => {
  let v: unknown = 1;
  for (let i = 0; i < n; i++) v = i % 2 ? [v] : { a: v };
  return v;
});
const jsonValue = fc.oneof(fc.jsonValue({ maxDepth: 4 }), nasty, deep, fc.constant(null));
/** Objects shaped like real bodies, with wrong types and unknown fields mixed in. */
const fieldNames = fc.constantFrom('name', 'email', 'password', 'color', 'timezone', 'description', 'order', 'hidden', 'defaultReminders', 'scopes', 'expiresInDays', 'userId', 'access', 'kind', 'isAdmin', 'disabled', 'members', 'language', 'workingHours', 'notifications', 'roomCapacity', 'roomAutoAccept', '__proto__', 'constructor', 'unknownField');
const bodyLike = fc.dictionary(fieldNames, jsonValue, { maxKeys: 6 });
const anyBody = fc.oneof(bodyLike, jsonValue);

describe('random JSON bodies', () => {
  it('never produce a 5xx on any write route, and errors have the stable shape', async () => {
    const writes = routes.filter((r) => r.method !== 'GET');
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...writes), anyBody, fc.boolean(), async (r, body, randomId) => {
        const payload = JSON.stringify(body);
        const res = await env.app.inject({
          method: r.method as 'POST', url: url(r.path, randomId ? 'zz' : undefined),
          headers: { ...h, 'content-type': 'application/json' }, payload,
        });
        checkShape(res, `${r.method} ${r.path} ${payload.slice(0, 200)}`);
      }),
      { numRuns: 400 },
    );
  });

  it('never produce a 5xx on the public sign-in route', async () => {
    await fc.assert(
      fc.asyncProperty(anyBody, async (body) => {
        const res = await env.app.inject({ method: 'POST', url: '/api/v1/session', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) });
        checkShape(res, JSON.stringify(body).slice(0, 200));
        expect(res.statusCode).not.toBe(200);
      }),
      { numRuns: 150 },
    );
  });
});

describe('random query strings', () => {
  it('never produce a 5xx on any route', async () => {
    const key = fc.constantFrom('q', 'limit', 'offset', 'kind', 'kind[]', 'x', '__proto__', 'q[a]');
    const val = fc.oneof(fc.string(), fc.integer().map(String), fc.constantFrom('-1', '1e9', 'NaN', 'user', 'room', '%', '%%', '%zz', '_', '\\', 'a'.repeat(5000)));
    const qs = fc.array(fc.tuple(key, val), { maxLength: 5 }).map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&'));
    const raw = fc.constantFrom('q=%', 'q=%E0%A4%A', 'limit=&limit=2', '&&&', 'q', '=x', 'kind=user&kind=bogus');
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), fc.oneof(qs, raw), async (r, q) => {
        const res = await env.app.inject({ method: r.method as 'GET', url: `${url(r.path)}?${q}`, headers: h, ...(r.method === 'GET' ? {} : { payload: {} }) });
        checkShape(res, `${r.method} ${r.path}?${q.slice(0, 200)}`);
      }),
      { numRuns: 300 },
    );
  });

  it('random path segments never produce a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes.filter((r) => r.path.includes('{'))), fc.string({ minLength: 1, maxLength: 80 }), async (r, seg) => {
        const res = await env.app.inject({ method: r.method as 'GET', url: url(r.path, encodeURIComponent(seg)), headers: h, ...(r.method === 'GET' ? {} : { payload: {} }) });
        checkShape(res, `${r.method} ${r.path} ${seg}`);
      }),
      { numRuns: 200 },
    );
  });
});

describe('malformed and oversized bodies', () => {
  const broken = ['{', '{"name":', '{"name": "x",}', 'nul', "{'name':'x'}", '\u0000', '[1,2', '"unterminated', '{"a":1}{"b":2}'];
  it.each(broken)('malformed JSON %j → 400 BAD_REQUEST', async (payload) => {
    const res = await env.app.inject({ method: 'POST', url: '/api/v1/calendars', headers: { ...h, 'content-type': 'application/json' }, payload });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'BAD_REQUEST' });
  });

  it('an empty JSON body → 400 BAD_REQUEST', async () => {
    const res = await env.app.inject({ method: 'POST', url: '/api/v1/calendars', headers: { ...h, 'content-type': 'application/json' }, payload: '' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('BAD_REQUEST');
  });

  it('a body over the limit → 413 TOO_LARGE', async () => {
    const res = await env.app.inject({ method: 'POST', url: '/api/v1/calendars', headers: { ...h, 'content-type': 'application/json' }, payload: JSON.stringify({ name: 'x', description: 'y'.repeat(70 * 1024) }) });
    expect(res.statusCode).toBe(413);
    expect(res.json().error).toBe('TOO_LARGE');
  });

  it('an unsupported content type → 415 UNSUPPORTED', async () => {
    const res = await env.app.inject({ method: 'POST', url: '/api/v1/calendars', headers: { ...h, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'name=x' });
    expect(res.statusCode).toBe(415);
    expect(res.json().error).toBe('UNSUPPORTED');
  });

  it('a prototype-pollution body does not pollute', async () => {
    const res = await env.app.inject({ method: 'PATCH', url: '/api/v1/settings', headers: { ...h, 'content-type': 'application/json' }, payload: '{"__proto__": {"polluted": true}, "language": "en"}' });
    expect(res.statusCode).toBeLessThan(500);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('unknown fields and wrong types', () => {
  const cases: [string, string, Record<string, unknown>][] = [
    ['POST', '/api/v1/calendars', { name: 'x', colour: '#ffffff' }],
    ['PATCH', '/api/v1/settings', { languages: 'en' }],
    ['POST', '/api/v1/tokens', { name: 'x', scopes: ['read'], admin: true }],
    ['POST', '/api/v1/app-passwords', { name: 'x', secret: 'mine' }],
    ['POST', '/api/v1/users', { email: 'n@example.com', role: 'admin' }],
    ['POST', '/api/v1/session', { email: 'prop@example.com', password: 'password123', remember: true }],
  ];
  it.each(cases)('%s %s with an unknown field → 400 VALIDATION_FAILED naming it', async (method, u, payload) => {
    const res = await env.app.inject({ method: method as 'POST', url: u, headers: h, payload });
    expect(res.statusCode).toBe(400);
    const b = res.json();
    expect(b.error).toBe('VALIDATION_FAILED');
    const field = Object.keys(payload).find((k) => !['name', 'email', 'password', 'scopes', 'language'].includes(k))!;
    expect(b.message).toContain(field);
    expect(JSON.stringify(b.details)).toContain(field);
  });

  it('an unknown nested field is named too', async () => {
    const res = await env.app.inject({ method: 'PATCH', url: '/api/v1/settings', headers: h, payload: { workingHours: { days: [1], start: '09:00', end: '17:00', lunch: '13:00' } } });
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toContain('lunch');
  });

  it('wrong types are VALIDATION_FAILED with the path', async () => {
    const res = await env.app.inject({ method: 'POST', url: '/api/v1/calendars', headers: h, payload: { name: 42 } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'VALIDATION_FAILED' });
    expect(res.json().message).toContain('name');
    const arr = await env.app.inject({ method: 'POST', url: '/api/v1/calendars', headers: h, payload: [{ name: 'x' }] as unknown as object });
    expect(arr.statusCode).toBe(400);
  });
});

describe('text PostgreSQL cannot store', () => {
  it.each([
    ['POST', '/api/v1/calendars', { name: 'a\u0000b' }],
    ['POST', '/api/v1/app-passwords', { name: 'a\u0000b' }],
    ['POST', '/api/v1/tokens', { name: 'a\u0000b', scopes: ['read'] }],
    ['POST', '/api/v1/session', { email: 'a\u0000b@example.com', password: 'x\u0000' }],
    ['POST', '/api/v1/users', { email: 'nul\u0000@example.com', name: 'N\u0000' }],
    ['GET', '/api/v1/directory?q=a%00b', undefined],
    ['PATCH', '/api/v1/settings', { timezone: 'Europe/\u0000' }],
  ])('%s %s with a NUL character → 4xx, not 500', async (method, u, payload) => {
    const res = await env.app.inject({ method: method as 'POST', url: u, headers: h, ...(payload ? { payload } : {}) });
    checkShape(res, `${method} ${u}`);
  });
});
