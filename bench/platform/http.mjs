// (a) Authenticated GET /api/v1/calendars on the real built server vs a bare Fastify hello-world,
// both measured with autocannon in this run. Target: ≥ 40 % of the hello-world rate.
import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { benchDatabase, ensureBuilt, freePort, root, signIn, startServer, tempDataDir } from './_server.mjs';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);

function cannon(opts) {
  return new Promise((res, rej) => autocannon({ connections: CONNECTIONS, duration: SECONDS, ...opts }, (err, r) => (err ? rej(err) : res(r))));
}

async function hello(log) {
  const port = await freePort();
  const child = spawn(process.execPath, [join(root, 'bench/platform/_hello.mjs')], { cwd: root, env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((r) => child.stdout.once('data', r));
  log(`hello-world on :${port}, ${SECONDS}s × ${CONNECTIONS} connections`);
  await cannon({ url: `http://127.0.0.1:${port}/`, duration: 2 }); // warm-up
  const r = await cannon({ url: `http://127.0.0.1:${port}/` });
  child.kill('SIGTERM');
  return r;
}

export default async function run(log) {
  ensureBuilt();
  const db = await benchDatabase();
  const dataDir = tempDataDir();
  const port = await freePort();
  const server = startServer({ port, dataDir, databaseUrl: db?.url, roles: 'api' });
  try {
    await server.ready();
    const { cookie } = await signIn(port);
    const url = `http://127.0.0.1:${port}/api/v1/calendars`;
    const check = await fetch(url, { headers: { cookie } });
    if (check.status !== 200) throw new Error(`GET /calendars: ${check.status}`);
    log(`calendula (api role, ${db ? 'system PostgreSQL' : 'embedded PostgreSQL'}) on :${port}`);
    await cannon({ url, headers: { cookie }, duration: 2 }); // warm-up
    const api = await cannon({ url, headers: { cookie } });
    if (api.non2xx) throw new Error(`${api.non2xx} non-2xx responses`);
    const base = await hello(log);
    const ratio = api.requests.average / base.requests.average;
    const where = db ? 'system pg' : 'embedded pg';
    return [
      { bench: 'http: bare Fastify hello-world', metric: 'requests/s', value: base.requests.average, unit: 'req/s' },
      { bench: 'http: bare Fastify hello-world', metric: 'p99 latency', value: base.latency.p99, unit: 'ms' },
      { bench: `http: GET /api/v1/calendars (session, ${where})`, metric: 'requests/s', value: api.requests.average, unit: 'req/s' },
      { bench: `http: GET /api/v1/calendars (session, ${where})`, metric: 'p99 latency', value: api.latency.p99, unit: 'ms' },
      { bench: 'http: calendars / hello-world', metric: 'ratio', value: ratio * 100, unit: '%', target: '≥ 40 %', pass: ratio >= 0.4 },
    ];
  } finally {
    await server.stop();
    await db?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
