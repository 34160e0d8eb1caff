/** Configuration: env > file > default; unknown file keys are errors; docs/configuration.md matches the schema. */
import { afterAll, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadConfig, ConfigError, publicUrl } from '../../src/config/load.js';
import { settings } from '../../src/config/schema.js';

const dir = mkdtempSync(join(tmpdir(), 'calendula-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (obj: unknown) => {
  const p = join(dir, `c${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(p, typeof obj === 'string' ? obj : JSON.stringify(obj));
  return p;
};

describe('configuration', () => {
  it('uses defaults when nothing is set', () => {
    const c = loadConfig({});
    expect(c.port).toBe(8080);
    expect(c.host).toBe('127.0.0.1'); // embedded mode
    expect(c.dataDir).toBe('./data');
    expect(c.roles).toEqual(['api', 'worker', 'mail-in', 'bot', 'exchange']);
    expect(c.databaseUrl).toBeUndefined();
    expect(publicUrl(c)).toBe('http://127.0.0.1:8080');
  });

  it('listens on all interfaces by default with DATABASE_URL', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://x@db/calendula' }).host).toBe('0.0.0.0');
    expect(loadConfig({ DATABASE_URL: 'postgres://x@db/calendula', HOST: '10.0.0.5' }).host).toBe('10.0.0.5');
  });

  it('environment wins over the file, which wins over defaults', () => {
    const p = file({ port: 9000, logLevel: 'debug', roles: ['api'], trustProxy: true, bodyLimit: 2048 });
    const fromFile = loadConfig({ CALENDULA_CONFIG: p });
    expect(fromFile).toMatchObject({ port: 9000, logLevel: 'debug', roles: ['api'], trustProxy: true, bodyLimit: 2048 });
    const both = loadConfig({ CALENDULA_CONFIG: p, PORT: '9100', CALENDULA_ROLES: 'api, worker', CALENDULA_TRUST_PROXY: 'no' });
    expect(both).toMatchObject({ port: 9100, logLevel: 'debug', roles: ['api', 'worker'], trustProxy: false, bodyLimit: 2048 });
  });

  it('an empty environment variable does not override the file', () => {
    const p = file({ port: 9000 });
    expect(loadConfig({ CALENDULA_CONFIG: p, PORT: '' }).port).toBe(9000);
  });

  it('refuses unknown keys, unreadable files and bad values', () => {
    expect(() => loadConfig({ CALENDULA_CONFIG: file({ prot: 1 }) })).toThrow(/unknown key "prot"/);
    expect(() => loadConfig({ CALENDULA_CONFIG: file('{not json') })).toThrow(ConfigError);
    expect(() => loadConfig({ CALENDULA_CONFIG: join(dir, 'missing.json') })).toThrow(ConfigError);
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT/);
    expect(() => loadConfig({ PORT: '-1' })).toThrow(ConfigError);
    expect(() => loadConfig({ CALENDULA_TRUST_PROXY: 'maybe' })).toThrow(ConfigError);
    expect(() => loadConfig({ CALENDULA_CONFIG: file({ port: 'x' }) })).toThrow(/port/);
    expect(() => loadConfig({ CALENDULA_EMBEDDED_PG_PORT: '5432' })).toThrow(/5432/);
  });

  it('every setting has an environment variable, a type and help', () => {
    const envs = new Set<string>();
    for (const [key, s] of Object.entries(settings)) {
      expect(s.env, key).toMatch(/^[A-Z][A-Z0-9_]*$/);
      expect(envs.has(s.env), `${s.env} used twice`).toBe(false);
      envs.add(s.env);
      expect(s.help.length, key).toBeGreaterThan(10);
    }
    // The fixed contract of the platform issue.
    for (const e of ['PORT', 'HOST', 'DATABASE_URL', 'CALENDULA_DATA_DIR', 'CALENDULA_ADMIN_EMAIL', 'CALENDULA_ADMIN_PASSWORD']) expect(envs).toContain(e);
  });

  it('docs/configuration.md is up to date with the schema (regenerate: npm run docs:config)', async () => {
    const root = resolve(import.meta.dirname, '../../..');
    // docgen prints the document when imported.
    const spy = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      await import('../../src/config/docgen.js');
      const generated = spy.mock.calls.map((c) => c.join(' ')).join('\n');
      expect(generated).toContain('| `PORT` |');
      expect(readFileSync(join(root, 'docs/configuration.md'), 'utf8').trim()).toBe(generated.trim());
    } finally {
      spy.mockRestore();
    }
  });
});
