// CalDAV: Calendula against Radicale and Xandikos (issue 4), the same workload against all three
// in one run. `npm run bench -- dav/compare`.
//
// Servers: Radicale and Xandikos from Debian's packages (apt-get install when the binary is
// absent), each on loopback with a throwaway storage dir and no auth (Radicale: auth type none,
// rights owner_only; Xandikos has no auth); Calendula built, `start --roles api`, system
// PostgreSQL when DATABASE_URL is set else the embedded one, HTTP Basic with an app password.
//
// Per N (BENCH_DAV_SIZES, default 2000,10000) one fresh calendar per server holding N events:
// 80 % single events over a year, 15 % weekly series with an EXDATE and an overridden instance,
// 5 % all-day; Europe/Moscow with its VTIMEZONE. Calendula is seeded by PUT (8 concurrent
// clients); Radicale and Xandikos by writing their storage directly (Radicale: one .ics per item
// in collection-root/<user>/<calendar>/ with .Radicale.props; Xandikos: the .ics files added to
// the calendar's git index and committed with dulwich, as its TreeGitStore does per PUT), then one
// unmeasured PROPFIND warms their caches and checks the count. Calendula's database is analyzed
// after seeding (what autovacuum does after a bulk load; the bench machine's PostgreSQL has it off).
//
// Workloads, each for BENCH_DAV_BUDGET_MS (default 8 s) or its run count, whichever ends first
// (at least 3 runs): GET of a random event; PROPFIND Depth 1 (getetag, getcontenttype,
// resourcetype); calendar-query VEVENT time-range for a week and for a month (getetag, the
// client's usual first step); calendar-multiget of 50 random hrefs (getetag + calendar-data);
// sync-collection incremental (getetag) from a token taken before 10 changes and 5 deletions;
// PUT of new events sequentially and from 8 concurrent clients. Server CPU per operation from
// /proc/<pid>/stat utime+stime deltas (Calendula: node and PostgreSQL separately), and RSS.
import { withChildren } from '../_procs.mjs';
import { spawn, execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { benchHttpClient } from '../_http.mjs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { ADMIN, benchDatabase, embeddedUrl, ensureBuilt, freePort, percentile, postgresPids, signIn, startServer, tempDataDir } from '../platform/_server.mjs';

const SIZES = (process.env.BENCH_DAV_SIZES ?? '2000,10000').split(',').map(Number);
const SERVERS = (process.env.BENCH_DAV_SERVERS ?? 'calendula,radicale,xandikos').split(',');
const BUDGET = Number(process.env.BENCH_DAV_BUDGET_MS ?? 8000);
// One request that takes longer than this fails its workload (marked in the table) instead of
// stalling the run.
const REQUEST_TIMEOUT = Number(process.env.BENCH_DAV_REQUEST_TIMEOUT_MS ?? 240_000);
/** Runs a workload makes at least while within the budget; a slower peer makes at least one. */
const MIN_RUNS = 3;
const PY = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);

// ---------------------------------------------------------------- the data set

const VTIMEZONE = ['BEGIN:VTIMEZONE', 'TZID:Europe/Moscow', 'BEGIN:STANDARD', 'TZOFFSETFROM:+0300', 'TZOFFSETTO:+0300', 'TZNAME:MSK', 'DTSTART:19700101T000000', 'END:STANDARD', 'END:VTIMEZONE'];
const pad = (n) => String(n).padStart(2, '0');
const ymd = (d) => d.toISOString().slice(0, 10).replace(/-/g, '');

/** Event i of the set (deterministic); `tag` changes the summary (edits) and the UID space (new events). */
export function eventIcs(i, { tag = '', uid = `ev-${i}@bench.calendula` } = {}) {
  const day = new Date(Date.UTC(2030, 0, 1) + ((i * 7919) % 365) * 86_400_000);
  const d = ymd(day);
  const h = 8 + (i % 10);
  const kind = i % 20;
  const ev = ['BEGIN:VEVENT', `UID:${uid}`, 'DTSTAMP:20300101T000000Z', `SUMMARY:${tag}Event ${i}`, `DESCRIPTION:Benchmark event ${i}`, 'LOCATION:Room 4'];
  const out = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Calendula bench//EN', 'CALSCALE:GREGORIAN', ...VTIMEZONE];
  if (kind === 0) {
    const next = ymd(new Date(day.getTime() + 86_400_000));
    out.push(...ev, `DTSTART;VALUE=DATE:${d}`, `DTEND;VALUE=DATE:${next}`, 'TRANSP:TRANSPARENT', 'END:VEVENT');
  } else if (kind <= 3) {
    // Weekly × 20, the 3rd occurrence excluded, the 5th moved two hours later.
    const occ = (k) => ymd(new Date(day.getTime() + k * 7 * 86_400_000));
    out.push(...ev, `DTSTART;TZID=Europe/Moscow:${d}T${pad(h)}0000`, `DTEND;TZID=Europe/Moscow:${d}T${pad(h)}3000`, 'RRULE:FREQ=WEEKLY;COUNT=20', `EXDATE;TZID=Europe/Moscow:${occ(2)}T${pad(h)}0000`, 'END:VEVENT');
    out.push('BEGIN:VEVENT', `UID:${uid}`, 'DTSTAMP:20300101T000000Z', `RECURRENCE-ID;TZID=Europe/Moscow:${occ(4)}T${pad(h)}0000`, `SUMMARY:${tag}Event ${i} (moved)`, `DTSTART;TZID=Europe/Moscow:${occ(4)}T${pad(h + 2)}0000`, `DTEND;TZID=Europe/Moscow:${occ(4)}T${pad(h + 2)}3000`, 'END:VEVENT');
  } else {
    out.push(...ev, `DTSTART;TZID=Europe/Moscow:${d}T${pad(h)}0000`, `DTEND;TZID=Europe/Moscow:${d}T${pad(h + 1)}0000`, 'END:VEVENT');
  }
  out.push('END:VCALENDAR', '');
  return out.join('\r\n');
}

// ---------------------------------------------------------------- HTTP

// bench/_http.mjs: the minimal client (one socket per concurrent caller, ~0.1 ms of client CPU per
// request on the machine the servers share), or node:http's with BENCH_HTTP_CLIENT=node (~0.5 ms).
// The same client for all three servers.
const clients = new Map();

function request(base, auth, method, path, body, headers = {}) {
  const u = new URL(path, base);
  const h = { ...(auth ? { authorization: auth } : {}), ...(body !== undefined ? { 'content-type': body.startsWith('<') ? 'application/xml; charset=utf-8' : 'text/calendar; charset=utf-8' } : {}), ...headers };
  let c = clients.get(u.origin);
  if (!c) clients.set(u.origin, (c = benchHttpClient(u.origin, { timeoutMs: REQUEST_TIMEOUT })));
  return c.request(method, u.pathname, h, body);
}

function client(base, auth) {
  return async (method, path, body, headers) => {
    const r = await request(base, auth, method, path, body, headers);
    if (r.status >= 400) throw new Error(`${method} ${path}: ${r.status} ${r.text.slice(0, 300)}`);
    return r.text;
  };
}

// ---------------------------------------------------------------- process accounting

function cpuTicks(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]); // utime, stime (fields 14, 15)
  } catch {
    return 0;
  }
}
function statusKb(pid, key) {
  try {
    const m = new RegExp(`${key}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}
function pssKb(pid) {
  try {
    const m = /Pss:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}


// ---------------------------------------------------------------- servers

function ensurePackages(log) {
  const missing = [['radicale', '/usr/bin/radicale'], ['xandikos', '/usr/bin/xandikos']].filter(([name, bin]) => SERVERS.includes(name) && !existsSync(bin)).map(([n]) => n);
  if (!missing.length) return;
  const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
  log(`installing ${missing.join(', ')} from Debian's packages: ${[...sudo, 'apt-get', 'install', '-y', ...missing].join(' ')}`);
  const run = (args) => execFileSync(sudo.length ? 'sudo' : args[0], sudo.length ? args : args.slice(1), { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  try {
    run(['apt-get', 'install', '-y', ...missing]);
  } catch {
    log('apt-get install failed; running apt-get update first');
    run(['apt-get', 'update']);
    run(['apt-get', 'install', '-y', ...missing]);
  }
}

async function waitHttp(base, path, child, out, ms = 60_000) {
  const t0 = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`exited (${child.exitCode}): ${out()}`);
    if (Date.now() - t0 > ms) throw new Error(`not answering after ${ms} ms: ${out()}`);
    try {
      const r = await request(base, 'Basic ' + Buffer.from('bench:bench').toString('base64'), 'OPTIONS', path);
      if (r.status < 500) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function spawnLogged(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  let out = '';
  const keep = (d) => { out = (out + d).slice(-4000); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((r) => child.on('exit', r));
  return { child, out: () => out, stop: async () => { if (child.exitCode === null) { child.kill('SIGTERM'); await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]); if (child.exitCode === null) child.kill('SIGKILL'); } } };
}

async function startRadicale(log) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-radicale-'));
  const port = await freePort();
  const cfg = join(dir, 'config');
  writeFileSync(cfg, `[server]\nhosts = 127.0.0.1:${port}\nmax_connections = 20\n[auth]\ntype = none\n[rights]\ntype = owner_only\n[storage]\nfilesystem_folder = ${join(dir, 'storage')}\n[logging]\nlevel = warning\nmask_passwords = True\n`);
  mkdirSync(join(dir, 'storage', 'collection-root', 'bench'), { recursive: true });
  const p = spawnLogged('/usr/bin/radicale', ['--config', cfg]);
  const base = `http://127.0.0.1:${port}`;
  await waitHttp(base, '/', p.child, p.out);
  log(`radicale ${execFileSync('/usr/bin/radicale', ['--version'], { encoding: 'utf8' }).trim()} on ${base}, storage ${dir}`);
  return {
    name: 'Radicale', base, auth: 'Basic ' + Buffer.from('bench:bench').toString('base64'),
    calPath: (n) => `/bench/n${n}/`,
    pids: () => ({ server: [p.child.pid] }),
    rss: () => ({ server: statusKb(p.child.pid, 'VmRSS') / 1024, peak: statusKb(p.child.pid, 'VmHWM') / 1024 }),
    async seed(n, make) {
      // Radicale's multifilesystem layout: collection dir with .Radicale.props, one file per item.
      const d = join(dir, 'storage', 'collection-root', 'bench', `n${n}`);
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, '.Radicale.props'), JSON.stringify({ tag: 'VCALENDAR', 'C:supported-calendar-component-set': 'VEVENT,VTODO', 'D:displayname': `bench ${n}` }));
      for (let i = 0; i < n; i++) writeFileSync(join(d, `ev-${i}.ics`), make(i));
    },
    async stop() { await p.stop(); rmSync(dir, { recursive: true, force: true }); },
  };
}

const XANDIKOS_SEED = `
import os, sys
from dulwich.repo import Repo
from dulwich.objects import Blob
from dulwich.index import IndexEntry, index_entry_from_stat
path = sys.argv[1]
repo = Repo(path)
index = repo.open_index()
for name in sorted(os.listdir(path)):
    if not name.endswith('.ics'):
        continue
    p = os.path.join(path, name)
    with open(p, 'rb') as f:
        blob = Blob.from_string(f.read())
    repo.object_store.add_object(blob)
    index[name.encode()] = IndexEntry(*index_entry_from_stat(os.lstat(p), blob.id, 0))
index.write()
tree = index.commit(repo.object_store)
repo.do_commit(message=b'bench seed', tree=tree)
`;

async function startXandikos(log) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-xandikos-'));
  const port = await freePort();
  const p = spawnLogged('/usr/bin/xandikos', ['-d', dir, '-l', '127.0.0.1', '-p', String(port), '--defaults', '--current-user-principal', '/user/']);
  const base = `http://127.0.0.1:${port}`;
  await waitHttp(base, '/', p.child, p.out);
  let version = '';
  try { version = execFileSync('/usr/bin/xandikos', ['--version'], { encoding: 'utf8' }).trim(); } catch { /* old versions */ }
  log(`xandikos ${version} on ${base}, storage ${dir}`);
  const req = client(base, null);
  return {
    name: 'Xandikos', base, auth: null,
    calPath: (n) => `/user/calendars/n${n}/`,
    pids: () => ({ server: [p.child.pid] }),
    rss: () => ({ server: statusKb(p.child.pid, 'VmRSS') / 1024, peak: statusKb(p.child.pid, 'VmHWM') / 1024 }),
    async seed(n, make) {
      await req('MKCALENDAR', `/user/calendars/n${n}/`, '<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><D:displayname>bench</D:displayname></D:prop></D:set></C:mkcalendar>');
      const d = join(dir, 'user', 'calendars', `n${n}`);
      for (let i = 0; i < n; i++) writeFileSync(join(d, `ev-${i}.ics`), make(i));
      execFileSync(PY, ['-c', XANDIKOS_SEED, d], { stdio: ['ignore', 'inherit', 'inherit'] });
    },
    async stop() { await p.stop(); rmSync(dir, { recursive: true, force: true }); },
  };
}

async function startCalendula(log) {
  ensureBuilt();
  const db = await benchDatabase();
  const dataDir = tempDataDir();
  const port = await freePort();
  const server = startServer({ port, dataDir, databaseUrl: db?.url, roles: 'api' });
  await server.ready();
  const base = `http://127.0.0.1:${port}`;
  const s = await signIn(port);
  const r = await fetch(`${base}/api/v1/app-passwords`, { method: 'POST', headers: { cookie: s.cookie, 'x-csrf-token': s.csrf, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bench' }) });
  if (r.status !== 201) throw new Error(`app password: ${r.status} ${await r.text()}`);
  const { password } = await r.json();
  const auth = `Basic ${Buffer.from(`${ADMIN}:${password}`).toString('base64')}`;
  log(`calendula on ${base} (${db ? 'system PostgreSQL' : 'embedded PostgreSQL'}), app-password Basic auth`);
  // Backends of the system PostgreSQL serving this database (same host), else the embedded cluster.
  let pgPids = () => postgresPids(dataDir);
  if (db) {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    const name = new URL(db.url).pathname.slice(1);
    let cached = [];
    pgPids = () => cached;
    const refresh = async () => { cached = (await c.query('select pid from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [name])).rows.map((x) => x.pid); };
    const stop = server.stop;
    server.stop = async () => { await c.end().catch(() => {}); return stop(); };
    pgPids.refresh = refresh;
  }
  const req = client(base, auth);
  const home = `/dav/calendars/${ADMIN}/`;
  const ids = new Map();
  return {
    name: 'Calendula', base, auth, dbKind: db ? 'system' : 'embedded',
    calPath: (n) => `${home}${ids.get(n)}/`,
    refreshPids: async () => { await pgPids.refresh?.(); },
    // `calendula start` may run the server as a child of a launcher (CALENDULA_HEAP_MB): count both.
    pids: () => ({ server: withChildren(server.child.pid), postgres: pgPids() }),
    rss: () => ({ server: withChildren(server.child.pid).reduce((a, p) => a + statusKb(p, 'VmRSS'), 0) / 1024, peak: Math.max(...withChildren(server.child.pid).map((p) => statusKb(p, 'VmHWM'))) / 1024, postgres: pgPids().reduce((a, p) => a + pssKb(p), 0) / 1024 }),
    async seed(n, make) {
      const id = `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
      ids.set(n, id);
      const cal = `${home}${id}/`;
      await req('MKCALENDAR', cal, '<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><D:displayname>bench</D:displayname></D:prop></D:set></C:mkcalendar>');
      let next = 0;
      await Promise.all(Array.from({ length: 8 }, async () => { while (next < n) { const i = next++; await req('PUT', `${cal}ev-${i}.ics`, make(i), { 'if-none-match': '*' }); } }));
      // What autovacuum's analyze does within a minute of a bulk load (autovacuum_naptime): the
      // system PostgreSQL of the bench machine runs with autovacuum = off, and a table never
      // analyzed keeps the statistics of its empty state — every index then looks equally cheap
      // and a GET by name was answered by scanning the owner's 10,000 rows through the GiST span
      // index (~8 ms of PostgreSQL CPU instead of ~0.1 ms).
      const a = new pg.Client({ connectionString: db?.url ?? embeddedUrl(dataDir) });
      await a.connect();
      await a.query('analyze');
      await a.end();
    },
    async stop() { await server.stop(); await db?.drop(); rmSync(dataDir, { recursive: true, force: true }); },
  };
}

// ---------------------------------------------------------------- workloads

const PROPFIND = '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:getcontenttype/><D:resourcetype/></D:prop></D:propfind>';
const query = (start, end) => `<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="${start}" end="${end}"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>`;
const WEEK = query('20300610T000000Z', '20300617T000000Z');
const MONTH = query('20300601T000000Z', '20300701T000000Z');
const multiget = (cal, names) => `<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop>${names.map((n) => `<D:href>${cal}${n}</D:href>`).join('')}</C:calendar-multiget>`;
const syncReq = (token) => `<D:sync-collection xmlns:D="DAV:"><D:sync-token>${token}</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>`;
const count = (xml) => (xml.match(/<(?:[A-Za-z0-9]+:)?response[\s>]/g) ?? []).length;
const tokenOf = (xml) => /<(?:[A-Za-z0-9]+:)?sync-token[^>]*>([^<]+)</.exec(xml)?.[1];

/** Deterministic pseudo-random sequence. */
function rng(seed) {
  let s = seed >>> 0;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32; };
}

async function measureRuns(srv, fn, { runs, concurrency = 1 }) {
  await srv.refreshPids?.();
  // Per process, so a PostgreSQL process that exits (or starts) mid-run does not skew the sum.
  const before = new Map(Object.values(srv.pids()).flat().map((p) => [p, cpuTicks(p)]));
  const lat = [];
  const t0 = performance.now();
  let k = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    // Up to `runs` within the budget, and at least MIN_RUNS — unless one request alone took longer
    // than the budget: then that one run is the measurement (marked † in the table).
    while (k < runs && (performance.now() - t0 < BUDGET || k === 0 || (k < MIN_RUNS && !(lat[0] > BUDGET)))) {
      const i = k++;
      const t = performance.now();
      await fn(i);
      lat.push(performance.now() - t);
    }
  }));
  const elapsed = performance.now() - t0;
  await srv.refreshPids?.();
  const cpu = Object.fromEntries(Object.entries(srv.pids()).map(([kk, ps]) => [kk, (ps.reduce((a, p) => a + Math.max(0, cpuTicks(p) - (before.get(p) ?? 0)), 0) * 1000) / CLK_TCK / lat.length]));
  lat.sort((a, b) => a - b);
  return { n: lat.length, opsPerSec: (lat.length * 1000) / elapsed, p50: percentile(lat, 50), p99: percentile(lat, 99), cpu };
}

export const WORKLOADS = ['PUT sequential', 'PUT 8 concurrent', 'GET', 'PROPFIND Depth 1', 'calendar-query week', 'calendar-query month', 'calendar-multiget 50', 'sync-collection incremental'];

async function runWorkloads(srv, n, log) {
  const req = client(srv.base, srv.auth);
  const cal = srv.calPath(n);
  const out = {};
  // A workload that fails (a timeout, an error answer) is recorded as such; the others still run.
  const measure = async (s, fn, opts) => {
    try {
      return await measureRuns(s, fn, opts);
    } catch (e) {
      log(`${srv.name} N=${n}: workload failed: ${e.message}`);
      return { failed: String(e.message ?? e).slice(0, 120) };
    }
  };
  // Warm-up (unmeasured) and a check that the seeding worked.
  let t = performance.now();
  const listed = count(await req('PROPFIND', cal, PROPFIND, { depth: '1' })) - 1;
  if (listed !== n) throw new Error(`${srv.name}: PROPFIND lists ${listed} members, expected ${n}`);
  const warmPropfind = performance.now() - t;
  t = performance.now();
  const weekHits = count(await req('REPORT', cal, WEEK, { depth: '1' }));
  const monthHits = count(await req('REPORT', cal, MONTH, { depth: '1' }));
  log(`${srv.name} N=${n}: ${listed} members (first PROPFIND ${(warmPropfind / 1000).toFixed(1)} s); week query ${weekHits} hits, month ${monthHits} (${((performance.now() - t) / 1000).toFixed(1)} s)`);
  out.warmup = { propfindMs: warmPropfind, weekHits, monthHits };
  const r = rng(n);
  const pick = () => `ev-${Math.floor(r() * n)}.ics`;
  out['GET'] = await measure(srv, () => req('GET', `${cal}${pick()}`), { runs: 500 });
  out['PROPFIND Depth 1'] = await measure(srv, () => req('PROPFIND', cal, PROPFIND, { depth: '1' }), { runs: 100 });
  out['calendar-query week'] = await measure(srv, () => req('REPORT', cal, WEEK, { depth: '1' }), { runs: 300 });
  out['calendar-query month'] = await measure(srv, () => req('REPORT', cal, MONTH, { depth: '1' }), { runs: 200 });
  out['calendar-multiget 50'] = await measure(srv, async () => {
    const names = [...new Set(Array.from({ length: 50 }, pick))];
    const xml = await req('REPORT', cal, multiget(cal, names), { depth: '1' });
    if (count(xml) !== names.length) throw new Error(`${srv.name}: multiget answered ${count(xml)} of ${names.length}`);
  }, { runs: 300 });
  // sync-collection: a token, then 10 changes and 5 deletions, then the incremental report.
  let token = null;
  try {
    const initial = await req('REPORT', cal, syncReq(''), {});
    token = tokenOf(initial);
    if (!token) throw new Error(`${srv.name}: no sync-token in ${initial.slice(0, 300)}`);
    for (let i = 0; i < 10; i++) await req('PUT', `${cal}ev-${i * 7 + 1}.ics`, eventIcs(i * 7 + 1, { tag: 'changed ' }));
    for (let i = 0; i < 5; i++) await req('DELETE', `${cal}ev-${i * 7 + 100}.ics`);
    const inc = await req('REPORT', cal, syncReq(token), {});
    if (count(inc) !== 15) throw new Error(`${srv.name}: incremental sync answered ${count(inc)} responses, expected 15`);
  } catch (e) {
    log(`${srv.name} N=${n}: sync-collection setup failed: ${e.message}`);
    token = null;
  }
  out['sync-collection incremental'] = token ? await measure(srv, () => req('REPORT', cal, syncReq(token), {}), { runs: 300 }) : { failed: 'setup failed' };
  out['PUT sequential'] = await measure(srv, (i) => req('PUT', `${cal}new-s-${i}.ics`, eventIcs(n + i, { uid: `new-s-${i}@bench.calendula` }), { 'if-none-match': '*' }), { runs: 300 });
  out['PUT 8 concurrent'] = await measure(srv, (i) => req('PUT', `${cal}new-c-${i}.ics`, eventIcs(n + 1000 + i, { uid: `new-c-${i}@bench.calendula` }), { 'if-none-match': '*' }), { runs: 600, concurrency: 8 });
  return out;
}

// ---------------------------------------------------------------- report

const f1 = (v) => (v >= 100 ? Math.round(v).toLocaleString('en-US') : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const cpuText = (cpu) => Object.entries(cpu).map(([k, v]) => (k === 'server' ? f1(v) : `+${f1(v)} pg`)).join(' ');

export function markdown(results, servers) {
  const lines = [];
  for (const [n, byServer] of results) {
    lines.push(`N = ${n.toLocaleString('en-US')}`, '');
    lines.push(`| workload | ${servers.map((s) => `${s} ops/s (p50 / p99 ms) · CPU ms/op`).join(' | ')} | Calendula ÷ best peer |`);
    lines.push(`|---|${servers.map(() => '---|').join('')}---|`);
    for (const w of WORKLOADS) {
      const cells = servers.map((s) => {
        const m = byServer[s]?.work?.[w];
        if (m?.failed) return `failed: ${m.failed}`;
        return m ? `${f1(m.opsPerSec)}${m.n < MIN_RUNS ? ` † ${m.n} run${m.n === 1 ? '' : 's'}` : ''} (${f1(m.p50)} / ${f1(m.p99)}) · ${cpuText(m.cpu)}` : '—';
      });
      const c = byServer.Calendula?.work?.[w]?.opsPerSec;
      // The ratio is to the faster peer of this workload (among those measured).
      const peers = servers.filter((s) => s !== 'Calendula').map((s) => [s, byServer[s]?.work?.[w]?.opsPerSec]).filter(([, x]) => x);
      const best = peers.length ? peers.reduce((a, b) => (b[1] > a[1] ? b : a)) : null;
      const ratio = c && best ? `${f1(c / best[1])}× ${best[0]}` : '—';
      lines.push(`| ${w} | ${cells.join(' | ')} | ${ratio} |`);
    }
    lines.push(`| seeding (${n.toLocaleString('en-US')} events) | ${servers.map((s) => byServer[s]?.seedText ?? '—').join(' | ')} | |`);
    lines.push(`| RSS after the run (peak) | ${servers.map((s) => { const x = byServer[s]?.rss; return x ? `${f1(x.server)} MB (${f1(x.peak)})${x.postgres !== undefined ? ` + ${f1(x.postgres)} MB pg PSS` : ''}` : '—'; }).join(' | ')} | |`);
    const warm = servers.map((s) => { const x = byServer[s]?.work?.warmup; return x ? `${s} ${f1(x.propfindMs / 1000)} s (week/month hits ${x.weekHits}/${x.monthHits})` : null; }).filter(Boolean);
    if (warm.length) lines.push('', `First (unmeasured) PROPFIND Depth 1: ${warm.join('; ')}.`);
    lines.push('');
  }
  lines.push(`† fewer than ${MIN_RUNS} runs: a single request took longer than the ${BUDGET / 1000} s budget of a workload. "failed": no answer within ${REQUEST_TIMEOUT / 1000} s or an error.`);
  return lines.join('\n');
}

export default async function run(log) {
  ensurePackages(log);
  const rows = [];
  const results = new Map();
  const servers = [];
  const starters = { calendula: startCalendula, radicale: startRadicale, xandikos: startXandikos };
  const started = [];
  try {
    for (const s of SERVERS) started.push(await starters[s](log));
    for (const srv of started) servers.push(srv.name);
    for (const n of SIZES) {
      const byServer = {};
      results.set(n, byServer);
      for (const srv of started) {
        const t0 = performance.now();
        await srv.seed(n, (i) => eventIcs(i));
        const seedMs = performance.now() - t0;
        const how = srv.name === 'Calendula' ? 'PUT ×8' : 'on disk';
        log(`${srv.name}: seeded ${n} events (${how}) in ${(seedMs / 1000).toFixed(1)} s`);
        let work;
        try {
          work = await runWorkloads(srv, n, log);
        } catch (e) {
          log(`${srv.name} N=${n}: ${e.message}`);
          work = Object.fromEntries(WORKLOADS.map((w) => [w, { failed: String(e.message ?? e).slice(0, 120) }]));
        }
        byServer[srv.name] = { work, rss: srv.rss(), seedText: `${(seedMs / 1000).toFixed(1)} s ${how}` };
        for (const [w, m] of Object.entries(work)) if (m.opsPerSec) log(`  ${srv.name} N=${n} ${w}: ${f1(m.opsPerSec)} ops/s, p50 ${f1(m.p50)} ms, p99 ${f1(m.p99)} ms (${m.n} runs), CPU ${cpuText(m.cpu)} ms/op`);
      }
      for (const w of WORKLOADS) {
        const c = byServer.Calendula?.work?.[w];
        if (!c) continue;
        if (!c.opsPerSec) continue;
        const peers = Object.entries(byServer).filter(([k]) => k !== 'Calendula').map(([, v]) => v.work[w]?.opsPerSec).filter((x) => x);
        const best = peers.length ? Math.max(...peers) : null;
        rows.push({ bench: `dav/compare N=${n}: ${w}`, metric: 'Calendula ops/s (p50/p99 ms)', value: `${f1(c.opsPerSec)} (${f1(c.p50)}/${f1(c.p99)})`, unit: '' });
        if (best) rows.push({ bench: `dav/compare N=${n}: ${w}`, metric: 'ratio to best peer', value: c.opsPerSec / best, unit: '×', ...(n >= 10_000 ? { target: '≥ 10×', pass: c.opsPerSec / best >= 10 } : {}) });
        if (w === 'calendar-query week' && n >= 10_000) rows.push({ bench: `dav/compare N=${n}: ${w}`, metric: 'p99', value: c.p99, unit: 'ms', target: '< 20 ms', pass: c.p99 < 20 });
      }
    }
    const sync = SIZES.map((n) => results.get(n).Calendula?.work['sync-collection incremental']?.p50).filter((x) => x !== undefined);
    // (CPU per op is the steadier comparison on a shared machine; p50 kept as the pass/fail figure.)
    if (sync.length >= 2) rows.push({ bench: 'dav/compare: sync-collection incremental', metric: `p50 at N=${SIZES.join(' vs ')}`, value: sync.map(f1).join(' vs '), unit: 'ms', target: 'independent of N', pass: Math.max(...sync) <= 2 * Math.min(...sync) + 1 });
    const md = markdown(results, servers);
    console.log(md);
    const outFile = process.env.BENCH_DAV_OUT ?? join(tmpdir(), 'calendula-dav-compare.md');
    writeFileSync(outFile, md);
    log(`markdown table written to ${outFile}`);
  } finally {
    for (const srv of started) await srv.stop().catch((e) => log(`stop ${srv.name}: ${e.message}`));
  }
  return rows;
}

