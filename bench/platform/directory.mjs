// (b) Directory search over 100k principals: p50/p99 of 1000 random prefix queries, through the
// store function (database time) and over HTTP (GET /api/v1/directory). Target: p99 < 10 ms.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { benchDatabase, embeddedUrl, ensureBuilt, freePort, percentile, root, signIn, startServer, tempDataDir } from './_server.mjs';

const N = Number(process.env.BENCH_PRINCIPALS ?? 100_000);
const QUERIES = 1000;
const FIRST = ['Anna', 'Boris', 'Vera', 'Dmitry', 'Elena', 'Fedor', 'Galina', 'Igor', 'Olga', 'Pavel', 'Maria', 'Sergey', 'Tatiana', 'Yuri', 'John', 'Mary', 'Peter', 'Linda', 'Иван', 'Ольга', 'Пётр', 'Светлана', 'Алексей', 'Наталья'];
const LAST = ['Ivanov', 'Petrova', 'Sidorov', 'Smirnova', 'Kuznetsov', 'Popova', 'Smith', 'Johnson', 'Brown', 'Miller', 'Wilson', 'Moore', 'Иванов', 'Петрова', 'Соколов', 'Михайлова', 'Новиков', 'Фёдорова', 'Морозов', 'Волкова', 'Лебедев', 'Козлова', 'Orlov', 'Belova', 'Zaitsev', 'Kim', 'Lee', 'Garcia', 'Martin', 'Clark', 'Lewis'];

async function seed(url) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const arr = (a) => `array[${a.map((x) => `'${x}'`).join(',')}]`;
  // Lower-cased in JS like searchTerms(): SQL lower() leaves Cyrillic alone under the C locale
  // of the embedded cluster.
  const lower = (a) => arr(a.map((x) => x.toLowerCase()));
  const t0 = performance.now();
  // Terms as server/src/store/principals.ts searchTerms(): address, local part, full name, each word.
  await c.query(`
    with s as (
      select g, 1 + g % ${FIRST.length} as fi, 1 + (g / ${FIRST.length}) % ${LAST.length} as li
      from generate_series(1, ${N}) g
    ), n as (
      select g, (${arr(FIRST)})[fi] as fn, (${arr(LAST)})[li] as ln, (${lower(FIRST)})[fi] as fl, (${lower(LAST)})[li] as ll, 'u' || g || '.l' || li || '@bench.example' as email
      from s
    ), p as (
      insert into principal (kind, email, name)
      select 'user', email, fn || ' ' || ln from n
      returning id, email
    )
    insert into principal_term (term, principal_id)
    select distinct t, p.id from p join n using (email), unnest(array[p.email, split_part(p.email, '@', 1), fl || ' ' || ll, fl, ll]) t
    on conflict do nothing`);
  await c.query('analyze principal; analyze principal_term');
  const n = (await c.query("select count(*)::int n from principal where email like '%@bench.example'")).rows[0].n;
  await c.end();
  return { n, ms: performance.now() - t0 };
}

function randomPrefix(rand) {
  const r = rand();
  let word;
  if (r < 0.45) word = FIRST[Math.floor(rand() * FIRST.length)];
  else if (r < 0.9) word = LAST[Math.floor(rand() * LAST.length)];
  else word = `u${Math.floor(rand() * N)}`;
  const len = 2 + Math.floor(rand() * 3); // 2–4 characters, as typed in an autocomplete
  return word.slice(0, len).toLowerCase();
}

function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p99: percentile(s, 99), max: s.at(-1) };
}

export default async function run(log) {
  ensureBuilt();
  const db = await benchDatabase();
  const dataDir = tempDataDir();
  const port = await freePort();
  const server = startServer({ port, dataDir, databaseUrl: db?.url, roles: 'api' });
  try {
    await server.ready();
    const url = db?.url ?? embeddedUrl(dataDir);
    log(`seeding ${N} principals…`);
    const seeded = await seed(url);
    log(`seeded ${seeded.n} in ${Math.round(seeded.ms)} ms`);
    let x = 42;
    const rand = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const queries = Array.from({ length: QUERIES }, () => randomPrefix(rand));

    // Through the store function, on a pool like the server's.
    const { createDb } = await import(pathToFileURL(join(root, 'dist/server/src/store/db.js')).href);
    const { searchPrincipals } = await import(pathToFileURL(join(root, 'dist/server/src/store/principals.js')).href);
    const { db: kdb } = createDb(url, 4);
    for (const q of queries.slice(0, 50)) await searchPrincipals(kdb, q, { limit: 10 }); // warm-up
    const storeMs = [];
    let hits = 0;
    for (const q of queries) {
      const t = performance.now();
      const rows = await searchPrincipals(kdb, q, { limit: 10 });
      storeMs.push(performance.now() - t);
      hits += rows.length ? 1 : 0;
    }
    // 1-character prefixes (the worst case: the widest ranges).
    const oneMs = [];
    for (let i = 0; i < 200; i++) {
      const q = (rand() < 0.5 ? FIRST : LAST)[Math.floor(rand() * 20)].slice(0, 1).toLowerCase();
      const t = performance.now();
      await searchPrincipals(kdb, q, { limit: 10 });
      oneMs.push(performance.now() - t);
    }
    await kdb.destroy();

    // Over HTTP, signed in.
    const { cookie } = await signIn(port);
    const httpMs = [];
    for (const q of queries) {
      const t = performance.now();
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/directory?q=${encodeURIComponent(q)}&limit=10`, { headers: { cookie } });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`directory: ${res.status}`);
      httpMs.push(performance.now() - t);
    }
    const s = stats(storeMs);
    const h = stats(httpMs);
    const o = stats(oneMs);
    const label = `directory: ${seeded.n.toLocaleString('en-US')} principals, ${db ? 'system pg' : 'embedded pg'}`;
    log(`${hits}/${QUERIES} queries had results`);
    return [
      { bench: `${label}, store`, metric: 'p50', value: s.p50, unit: 'ms' },
      { bench: `${label}, store`, metric: 'p99', value: s.p99, unit: 'ms', target: '< 10 ms', pass: s.p99 < 10 },
      { bench: `${label}, HTTP`, metric: 'p50', value: h.p50, unit: 'ms' },
      { bench: `${label}, HTTP`, metric: 'p99', value: h.p99, unit: 'ms', target: '< 10 ms', pass: h.p99 < 10 },
      { bench: `${label}, store, 1-char prefix`, metric: 'p99', value: o.p99, unit: 'ms' },
    ];
  } finally {
    await server.stop();
    await db?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
