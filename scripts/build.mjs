// Transpiles server/src to dist/ with esbuild (one file in, one file out; no bundling).
// Type checking is separate: `npm run typecheck` (part of `npm test`).
import { build } from 'esbuild';
import { readdirSync, statSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

function walk(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (p.endsWith('.ts') && !p.endsWith('.test.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

rmSync('dist', { recursive: true, force: true });
const entryPoints = walk('server/src');
await build({
  entryPoints,
  outdir: 'dist/server/src',
  outbase: 'server/src',
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'inline',
  logLevel: 'warning',
});
mkdirSync('dist', { recursive: true });
writeFileSync('dist/.stamp', String(Date.now()));
