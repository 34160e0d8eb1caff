// Calendula alone, the hot CalDAV requests of bench/dav/compare.mjs against a kept, seeded
// database — for iterating on per-request cost without re-seeding 10,000 events by PUT each time.
//
//   DATABASE_URL=postgres://… flock /tmp/calendula-bench.lock node bench/dav/_hot.mjs
//   BENCH_HOT_N (10000), BENCH_HOT_WORK (get,multiget,week,month,propfind; also healthz, gethot, multihot, multiall, put, put8), BENCH_HOT_RUNS (300),
//   BENCH_HOT_DB (calendula_davhot; seeded on first use and kept), BENCH_SERVER_NODE_ARGS
//   (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"), BENCH_HOT_PRERENDER=1 (multiall: one multiget pass
//   over every held object before the measured runs).
// Prints ops/s, p50/p99 and CPU per request of the node server and of the database's backends.
import { mkdirSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import pg from 'pg';
import { withChildren } from '../_procs.mjs';
import { ADMIN, ensureBuilt, freePort, percentile, signIn, startServer } from '../platform/_server.mjs';
import { eventIcs } from './compare.mjs';

const N = Number(process.env.BENCH_HOT_N ?? 10_000);
const WORK = (process.env.BENCH_HOT_WORK ?? 'get,multiget,week,month,propfind').split(',');
const RUNS = Number(process.env.BENCH_HOT_RUNS ?? 300);
const DB = process.env.BENCH_HOT_DB ?? 'calendula_davhot';
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

function request(port, auth, method, path, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const buf = body === undefined ? undefined : Buffer.from(body);
    const h = { authorization: auth, ...(buf ? { 'content-type': body.startsWith('<') ? 'application/xml; charset=utf-8' : 'text/calendar; charset=utf-8', 'content-length': buf.length } : {}), ...headers };
    const req = http.request({ host: '127.0.0.1', port, path, method, headers: h, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => (res.statusCode >= 400 ? reject(new Error(`${method} ${path}: ${res.statusCode} ${Buffer.concat(chunks).toString().slice(0, 200)}`)) : resolve(Buffer.concat(chunks).toString('utf8'))));
    });
    req.on('error', reject);
    if (buf) req.write(buf);
    req.end();
  });
}

const cpuTicks = (pid, which = 'both') => {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const x = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return which === 'sys' ? Number(x[12]) : Number(x[11]) + Number(x[12]);
  } catch {
    return 0;
  }
};
const count = (xml) => (xml.match(/<(?:[A-Za-z0-9]+:)?response[\s>]/g) ?? []).length;
const query = (s, e) => `<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="${s}" end="${e}"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>`;
const multiget = (cal, names) => `<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop>${names.map((n) => `<D:href>${cal}${n}</D:href>`).join('')}</C:calendar-multiget>`;
const PROPFIND = '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:getcontenttype/><D:resourcetype/></D:prop></D:propfind>';

async function main() {
  ensureBuilt();
  const base = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  const admin = new pg.Client({ connectionString: base.href });
  await admin.connect();
  const exists = (await admin.query('select 1 from pg_database where datname = $1', [DB])).rowCount;
  if (!exists) await admin.query(`create database ${DB}`);
  await admin.end();
  base.pathname = `/${DB}`;
  const dataDir = join(tmpdir(), `${DB}-data`);
  mkdirSync(dataDir, { recursive: true });
  const port = await freePort();
  const server = startServer({ port, dataDir, databaseUrl: base.href, roles: 'api' });
  try {
    await server.ready();
    const s = await signIn(port);
    const r = await fetch(`http://127.0.0.1:${port}/api/v1/app-passwords`, { method: 'POST', headers: { cookie: s.cookie, 'x-csrf-token': s.csrf, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'hot' }) });
    const auth = `Basic ${Buffer.from(`${ADMIN}:${(await r.json()).password}`).toString('base64')}`;
    const req = (m, p, b, h) => request(port, auth, m, p, b, h);
    const cal = `/dav/calendars/${ADMIN}/00000000-0000-4000-8000-${String(N).padStart(12, '0')}/`;
    let listed = 0;
    try {
      listed = count(await req('PROPFIND', cal, PROPFIND, { depth: '1' })) - 1;
    } catch { /* missing */ }
    if (listed < N) {
      if (listed <= 0) await req('MKCALENDAR', cal, '<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"/>');
      const t0 = performance.now();
      let next = 0;
      await Promise.all(Array.from({ length: 8 }, async () => { while (next < N) { const i = next++; await req('PUT', `${cal}ev-${i}.ics`, eventIcs(i)).catch(() => {}); } }));
      console.error(`seeded ${N} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      // As autovacuum would after a bulk load (see compare.mjs).
      const a = new pg.Client({ connectionString: base.href });
      await a.connect();
      await a.query('analyze');
      await a.end();
    }
    const c = new pg.Client({ connectionString: base.href });
    await c.connect();
    const pgPids = async () => (await c.query('select pid from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [DB])).rows.map((x) => x.pid);
    let seed = 1;
    const rnd = () => { seed = (seed * 1664525 + 1013904223) >>> 0; return seed / 2 ** 32; };
    const pick = () => `ev-${Math.floor(rnd() * N)}.ics`;
    const work = {
      get: () => req('GET', `${cal}${pick()}`),
      // GET of 100 objects over and over: what the read cache answers from memory (get: mostly first reads).
      gethot: () => req('GET', `${cal}ev-${Math.floor(rnd() * 100)}.ics`),
      // The floor: the same client and server, a route that does nothing (no auth, no query).
      healthz: () => req('GET', '/healthz'),
      // A multiget of 50 of the 100 objects gethot reads (held by the read cache once read twice, or written by PUT).
      multihot: async () => { const set = new Set(); while (set.size < 50) set.add(`ev-${Math.floor(rnd() * 100)}.ics`); const names = [...set]; const x = await req('REPORT', cal, multiget(cal, names), { depth: '1' }); if (count(x) !== names.length) throw new Error('multiget count'); },
      multiall: () => work.multiget(),
      multiget: async () => { const names = [...new Set(Array.from({ length: 50 }, pick))]; const x = await req('REPORT', cal, multiget(cal, names), { depth: '1' }); if (count(x) !== names.length) throw new Error('multiget count'); },
      week: () => req('REPORT', cal, query('20300610T000000Z', '20300617T000000Z'), { depth: '1' }),
      month: () => req('REPORT', cal, query('20300601T000000Z', '20300701T000000Z'), { depth: '1' }),
      propfind: () => req('PROPFIND', cal, PROPFIND, { depth: '1' }),
      // New events (into a calendar of their own, so the 10,000-event one stays as seeded); put8: 8 at once.
      put: () => { const k = puts++; return req('PUT', `${putCal}${putRun}-${k}.ics`, eventIcs(k, { uid: `${putRun}-${k}@bench.calendula` }), { 'if-none-match': '*' }); },
      put8: () => Promise.all(Array.from({ length: 8 }, () => work.put())),
    };
    const putCal = `/dav/calendars/${ADMIN}/00000000-0000-4000-8000-00000000beef/`;
    const putRun = `hot-${Date.now()}`;
    let puts = 0;
    if (WORK.some((w) => w.startsWith('put'))) await req('MKCALENDAR', putCal, '<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"/>').catch(() => {});
    for (const w of WORK) {
      const fn = work[w];
      let runs = w === 'propfind' ? Math.min(RUNS, 60) : w === 'get' || w === 'gethot' || w === 'healthz' ? RUNS * 3 : RUNS;
      // multiall: the multiget with every object held (as after a seeding by PUT, which writes through).
      if (w === 'multiall') for (let i = 0; i < N; i++) for (let k = 0; k < 2; k++) await req('GET', `${cal}ev-${i}.ics`);
      // BENCH_HOT_PRERENDER=1: every held object rendered once by a multiget before the measured runs.
      if (w === 'multiall' && process.env.BENCH_HOT_PRERENDER) for (let i = 0; i < N; i += 50) await req('REPORT', cal, multiget(cal, Array.from({ length: Math.min(50, N - i) }, (_, k) => `ev-${i + k}.ics`)), { depth: '1' });
      if (w === 'multihot') for (let i = 0; i < 100; i++) for (let k = 0; k < 2; k++) await req('GET', `${cal}ev-${i}.ics`);
      for (let i = 0; i < 20; i++) await fn();
      if (w === 'week' || w === 'month') console.log(`${w} hits: ${count(await fn())}`);
      const node = withChildren(server.child.pid);
      const pgs = await pgPids();
      const b = new Map([...node, ...pgs].map((p) => [p, cpuTicks(p)]));
      const bSys = new Map(node.map((p) => [p, cpuTicks(p, 'sys')]));
      const lat = [];
      const t0 = performance.now();
      for (let i = 0; i < runs; i++) { const t = performance.now(); await fn(); lat.push(performance.now() - t); }
      const el = performance.now() - t0;
      // put8: one run is 8 PUTs (ops/s and CPU below count requests).
      if (w === 'put8') { runs *= 8; }
      const d = (ps) => (ps.reduce((a, p) => a + cpuTicks(p) - (b.get(p) ?? cpuTicks(p)), 0) * 1000) / CLK_TCK / runs;
      const sys = (node.reduce((a, p) => a + cpuTicks(p, 'sys') - (bSys.get(p) ?? 0), 0) * 1000) / CLK_TCK / runs;
      lat.sort((x, y) => x - y);
      const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
      console.log(`${w.padEnd(9)} ${((runs * 1000) / el).toFixed(1).padStart(7)} ops/s  p50 ${percentile(lat, 50).toFixed(2)} p99 ${percentile(lat, 99).toFixed(2)} ms  CPU ${d(node).toFixed(2)} node (${sys.toFixed(2)} sys) + ${d(pgs).toFixed(2)} pg ms/op  (${runs} runs, load ${load})`);
    }
    await c.end();
  } finally {
    await server.stop();
    if (process.env.BENCH_HOT_SERVER_OUTPUT) (await import('node:fs')).writeFileSync(process.env.BENCH_HOT_SERVER_OUTPUT, server.output());
  }
}

await main();
