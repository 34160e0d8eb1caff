// Helpers: start the real built server (`node bin/calendula.mjs start`) and measure it.
import { spawn, execFileSync } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, readdirSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import pg from 'pg';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const ADMIN = 'bench-admin@example.com';
export const ADMIN_PW = 'bench-password-123';

export function ensureBuilt() {
  if (!existsSync(join(root, 'dist/server/src/cli/main.js'))) execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'inherit' });
}

export function freePort() {
  return new Promise((res, rej) => {
    const srv = net.createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const p = srv.address().port;
      srv.close(() => res(p));
    });
  });
}

export function tempDataDir() {
  return mkdtempSync(join(tmpdir(), 'calendula-bench-'));
}

/**
 * A fresh database on the system PostgreSQL (DATABASE_URL) for one benchmark run, or null to use
 * the embedded one. Returns { url, drop }.
 */
export async function benchDatabase() {
  const base = process.env.DATABASE_URL;
  if (!base) return null;
  const name = `calendula_bench_${process.pid}`;
  const admin = new URL(base);
  admin.pathname = '/postgres';
  const c = new pg.Client({ connectionString: admin.href });
  await c.connect();
  await c.query(`drop database if exists ${name} with (force)`);
  await c.query(`create database ${name}`);
  await c.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.href,
    drop: async () => {
      const d = new pg.Client({ connectionString: admin.href });
      await d.connect();
      await d.query(`drop database if exists ${name} with (force)`);
      await d.end();
    },
  };
}

export function startServer({ port, dataDir, databaseUrl, roles, logLevel = 'warn' }) {
  const env = { ...process.env, PORT: String(port), CALENDULA_DATA_DIR: dataDir, CALENDULA_ADMIN_EMAIL: ADMIN, CALENDULA_ADMIN_PASSWORD: ADMIN_PW, LOG_LEVEL: logLevel };
  delete env.DATABASE_URL;
  delete env.TEST_DATABASE_URL;
  if (databaseUrl) env.DATABASE_URL = databaseUrl;
  const args = [join(root, 'bin/calendula.mjs'), 'start', ...(roles ? ['--roles', roles] : [])];
  const t0 = performance.now();
  // BENCH_SERVER_NODE_ARGS: extra node flags for the server only (e.g. --cpu-prof --cpu-prof-dir=/tmp/prof).
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  // The heap cap on node's command line, as docs/deployment.md's service units run the server: one
  // process (otherwise `calendula start` re-launches itself as a child with the flag, and the bench
  // would measure a launcher that a deployment does not have). CALENDULA_HEAP_MB as in the config
  // (default 192; 0 = no cap).
  const heapMb = Number(process.env.CALENDULA_HEAP_MB ?? 192);
  if (heapMb > 0 && !nodeArgs.some((a) => /^--max[-_]old[-_]space[-_]size/.test(a))) nodeArgs.push(`--max-old-space-size=${heapMb}`);
  const child = spawn(process.execPath, [...nodeArgs, ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  // BENCH_SERVER_OUTPUT=file: the server's output there as well (e.g. with BENCH_SERVER_NODE_ARGS=--trace-gc).
  if (process.env.BENCH_SERVER_OUTPUT) {
    const file = createWriteStream(process.env.BENCH_SERVER_OUTPUT);
    child.stdout.pipe(file);
    child.stderr.pipe(file);
  }
  const exited = new Promise((r) => child.on('exit', (code) => r(code)));
  return {
    child, t0, port, exited, output: () => out,
    /** ms from spawn to the first 200 from /readyz. */
    async ready(ms = 120_000) {
      for (;;) {
        if (child.exitCode !== null) throw new Error(`server exited (${child.exitCode}): ${out}`);
        if (performance.now() - t0 > ms) throw new Error(`not ready after ${ms} ms: ${out}`);
        try {
          const res = await fetch(`http://127.0.0.1:${port}/readyz`);
          if (res.status === 200) return performance.now() - t0;
        } catch { /* not yet */ }
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      return exited;
    },
  };
}

export async function signIn(port, email = ADMIN, password = ADMIN_PW) {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) });
  if (res.status !== 200) throw new Error(`sign-in failed: ${res.status} ${await res.text()}`);
  const cookie = res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  return { cookie, csrf: (await res.json()).csrfToken };
}

/** VmRSS of one process in MB (Linux /proc). */
export function rssMb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** The postmaster of the embedded PostgreSQL in dataDir and all its children (pids). */
export function postgresPids(dataDir) {
  const pidFile = join(dataDir, 'pg', 'postmaster.pid');
  if (!existsSync(pidFile)) return [];
  const pm = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  const pids = [pm];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pm) pids.push(Number(d));
    } catch { /* gone */ }
  }
  return pids;
}

/** The embedded database URL of a data dir (as server/src/store/embedded.ts builds it). */
export function embeddedUrl(dataDir) {
  const port = Number(readFileSync(join(dataDir, 'pg.port'), 'utf8'));
  return `postgres://postgres:calendula-embedded@127.0.0.1:${port}/calendula`;
}

export function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export { statSync };
