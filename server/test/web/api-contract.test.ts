/**
 * The web UI's typed client (web/src/api/client.ts) against the server's OpenAPI document: every
 * (method, path) the client calls must exist in /api/openapi.json.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createTestEnv, type TestEnv } from '../support/harness.js';

/** Extracts `call<…>('METHOD', '/path/:param', …)` and `url('/path/:param'…)` from the client source. */
export function clientRoutes(source: string): { method: string; path: string }[] {
  const out: { method: string; path: string }[] = [];
  for (const m of source.matchAll(/call<[^>]*>\(\s*'(GET|POST|PATCH|PUT|DELETE)',\s*'([^']+)'/g)) out.push({ method: m[1].toLowerCase(), path: m[2] });
  for (const m of source.matchAll(/\burl\(\s*'([^']+)'/g)) out.push({ method: m[1] === '/attachments' ? 'post' : 'get', path: m[1] });
  return out.map((r) => ({ ...r, path: '/api/v1' + r.path.replace(/:(\w+)/g, '{$1}') }));
}

describe('web API client matches the OpenAPI document', () => {
  let env: TestEnv;
  beforeAll(async () => { env = await createTestEnv(); });
  afterAll(async () => { await env?.close(); });

  it('every path and method the client calls is in /api/openapi.json', async () => {
    const doc = (await env.app.inject({ method: 'GET', url: '/api/openapi.json' })).json() as { paths: Record<string, Record<string, unknown>> };
    const routes = clientRoutes(readFileSync('web/src/api/client.ts', 'utf8'));
    expect(routes.length).toBeGreaterThan(35);
    const missing = routes.filter((r) => !doc.paths[r.path]?.[r.method]).map((r) => `${r.method.toUpperCase()} ${r.path}`);
    expect(missing).toEqual([]);
    // Issue 7 additions: incoming e-mail decisions and held invitations, messenger link, delivery log.
    const have = new Set(routes.map((r) => `${r.method.toUpperCase()} ${r.path}`));
    for (const r of ['GET /api/v1/intake/decisions', 'GET /api/v1/intake/decisions/{id}', 'GET /api/v1/intake/held', 'POST /api/v1/intake/held/{id}/accept',
      'POST /api/v1/intake/held/{id}/discard', 'GET /api/v1/settings/vkteams', 'DELETE /api/v1/settings/vkteams', 'GET /api/v1/deliveries']) expect(have.has(r), r).toBe(true);
  });

  it('the client types of the mail intake, messenger link and delivery log have the fields the server sends', async () => {
    const doc = (await env.app.inject({ method: 'GET', url: '/api/openapi.json' })).json() as any;
    const types = readFileSync('web/src/api/types.ts', 'utf8');
    const fieldsOf = (name: string) => {
      const body = new RegExp(`interface ${name} \\{([^}]*)\\}`).exec(types)?.[1] ?? '';
      return [...body.matchAll(/(\w+)\??:/g)].map((m) => m[1]).sort();
    };
    const schema = (path: string, method: string) => {
      let s = doc.paths[path][method].responses['200'].content['application/json'].schema;
      if (s.properties?.items) s = s.properties.items.items;
      return Object.keys(s.properties ?? Object.assign({}, ...(s.allOf ?? []).map((x: any) => x.properties))).sort();
    };
    expect(fieldsOf('IntakeDecision')).toEqual(schema('/api/v1/intake/decisions', 'get'));
    expect(fieldsOf('IntakeDecision')).toEqual(schema('/api/v1/intake/held', 'get'));
    expect(fieldsOf('VkteamsLink')).toEqual(schema('/api/v1/settings/vkteams', 'get'));
    expect(fieldsOf('Delivery')).toEqual(schema('/api/v1/deliveries', 'get'));
  });
});
