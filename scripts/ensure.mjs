// Makes a fresh clone runnable: installs dependencies when package-lock.json changed since the
// last install, and rebuilds the server (and the web UI) when a source file is newer than the
// build. Uses only Node built-ins, because it runs before node_modules exists.
import { existsSync, readFileSync, statSync, readdirSync, writeFileSync } from 'node:fs';
import { execSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';

const quiet = process.argv.includes('--quiet');
const log = (m) => { if (!quiet) console.error(`[calendula] ${m}`); };
const run = (cmd) => execSync(cmd, { stdio: ['ignore', quiet ? 'ignore' : 'inherit', 'inherit'] });

// patches/ (patch-package, applied by npm's postinstall) counts too: a changed patch reinstalls.
const hash = createHash('sha256')
  .update(readFileSync('package.json'))
  .update(existsSync('package-lock.json') ? readFileSync('package-lock.json') : '');
if (existsSync('patches')) for (const f of readdirSync('patches').sort()) hash.update(f).update(readFileSync(join('patches', f)));
const lockHash = hash.digest('hex');
const stampFile = 'node_modules/.calendula-install';
if (!existsSync(stampFile) || readFileSync(stampFile, 'utf8') !== lockHash) {
  log('installing dependencies (npm ci)…');
  run(existsSync('package-lock.json') ? 'npm ci --no-audit --no-fund' : 'npm install --no-audit --no-fund');
  writeFileSync(stampFile, lockHash);
}

function newest(dir, skip = () => false) {
  let t = 0;
  if (!existsSync(dir)) return 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (skip(p)) continue;
    const s = statSync(p);
    t = Math.max(t, s.isDirectory() ? newest(p, skip) : s.mtimeMs);
  }
  return t;
}

const built = existsSync('dist/.stamp') ? statSync('dist/.stamp').mtimeMs : 0;
if (newest('server/src') > built || statSync('package-lock.json').mtimeMs > built) {
  log('building server…');
  run('node scripts/build.mjs');
}

if (existsSync('web/index.html')) {
  const webBuilt = existsSync('web/dist/index.html') ? statSync('web/dist/index.html').mtimeMs : 0;
  const skip = (p) => p.includes('node_modules') || p.startsWith(join('web', 'dist'));
  if (newest('web', skip) > webBuilt) {
    log('building web UI…');
    run('npx vite build web --logLevel warn');
  }
}
