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
  });
});
