#!/usr/bin/env node
// Benchmarks: `npm run bench -- <name>…` runs every bench/<name>/*.mjs (files starting with "_"
// are helpers; `<name>/<file>` runs one) and prints one table. Each module exports `default async function (log)` that
// returns rows { bench, metric, value, unit, target?, pass? }. `--json` prints the rows as JSON.
import { readdirSync, existsSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const json = args.includes('--json');
const names = args.filter((a) => !a.startsWith('--'));
const available = readdirSync(here).filter((n) => statSync(join(here, n)).isDirectory());
if (!names.length) {
  console.error(`usage: npm run bench -- <${available.join('|')}> [--json]`);
  process.exit(2);
}
const log = (m) => console.error(`[bench] ${m}`);
const rows = [];
let failed = false;
for (const arg of names) {
  // "platform" runs every file of bench/platform; "platform/directory" only that one.
  const [name, only] = arg.split('/');
  const dir = join(here, name);
  if (!existsSync(dir)) {
    console.error(`unknown benchmark "${name}" (available: ${available.join(', ')})`);
    process.exit(2);
  }
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.mjs') && !f.startsWith('_') && (!only || f === `${only}.mjs`)).sort()) {
    log(`${name}/${file}`);
    try {
      // A module with a default export returns rows; one without is a self-running script that
      // prints its own table when imported (e.g. bench/web/run.mjs), or a helper.
      const mod = await import(pathToFileURL(join(dir, file)).href);
      if (typeof mod.default === 'function') rows.push(...(await mod.default(log)));
    } catch (e) {
      failed = true;
      rows.push({ bench: `${name}/${file}`, metric: 'error', value: String(e?.message ?? e).slice(0, 200), unit: '' });
    }
  }
}

if (json) {
  console.log(JSON.stringify(rows, null, 2));
} else {
  const fmt = (v) => (typeof v === 'number' ? (Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(2)) : String(v));
  const table = [['benchmark', 'metric', 'value', 'target', 'ok'], ...rows.map((r) => [r.bench, r.metric, `${fmt(r.value)} ${r.unit ?? ''}`.trim(), r.target ?? '', r.pass === undefined ? '' : r.pass ? 'yes' : 'NO'])];
  const widths = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
  const line = (r) => '| ' + r.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
  console.log(line(table[0]));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const r of table.slice(1)) console.log(line(r));
  console.log(`\n${new Date().toISOString()}  node ${process.version}  ${process.platform}/${process.arch}  cpus=${(await import('node:os')).cpus().length}`);
}
process.exit(failed ? 1 : 0);
