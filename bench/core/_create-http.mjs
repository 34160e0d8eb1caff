// Sequential creates over HTTP against a server started with roles=api only (no worker), for a CPU
// profile of the api's create path alone: BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/p"
//   node scripts/build.mjs && DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres node bench/core/_create-http.mjs
// PROFILE_N (default 1000) creates with 10 internal attendees after 200 warm-up creates.
import pg from 'pg';
import { benchDatabase, ensureBuilt, freePort, signIn, startServer, tempDataDir } from '../platform/_server.mjs';
import { benchHttpClient } from '../_http.mjs';

const N = Number(process.env.PROFILE_N ?? 1000);
if (!process.env.DATABASE_URL) throw new Error('set DATABASE_URL (a PostgreSQL to create the bench database in)');
ensureBuilt();
const db = await benchDatabase();
const port = await freePort();
const server = startServer({ port, dataDir: tempDataDir(), databaseUrl: db?.url, roles: 'api' });
try {
  await server.ready();
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  await c.query(`insert into principal (kind, email, name, timezone) select 'user', 'u' || g || '@bench.example', 'Bench User ' || g, 'Europe/Moscow' from generate_series(0, 10) g on conflict do nothing`);
  await c.query(`insert into calendar (owner_id, name, is_default) select id, 'Calendar', true from principal p where email like '%@bench.example' and not exists (select 1 from calendar c where c.owner_id = p.id)`);
  const u0 = (await c.query(`select id from principal where email = 'u0@bench.example'`)).rows[0].id;
  const cal = (await c.query(`select id from calendar where owner_id = $1 and is_default`, [u0])).rows[0].id;
  await c.end();
  const admin = await signIn(port);
  const base = `http://127.0.0.1:${port}/api/v1`;
  const tokRes = await fetch(`${base}/tokens`, { method: 'POST', headers: { cookie: admin.cookie, 'x-csrf-token': admin.csrf, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bench', scopes: ['read', 'write'], userId: u0 }) });
  const headers = { authorization: `Bearer ${(await tokRes.json()).token}`, 'content-type': 'application/json' };
  const http = benchHttpClient(`http://127.0.0.1:${port}`);
  const attendees = Array.from({ length: 10 }, (_, i) => ({ email: `u${i + 1}@bench.example` }));
  const create = async (i) => {
    const day = new Date(Date.now() + (30 + (i % 300)) * 86400_000).toISOString().slice(0, 10);
    const r = await http.request('POST', '/api/v1/events', headers, JSON.stringify({ calendarId: cal, event: { summary: `Create ${i}`, start: `${day}T10:00:00`, end: `${day}T11:00:00`, timezone: 'Europe/Moscow', attendees } }));
    if (r.status !== 201) throw new Error(`${r.status} ${r.text.slice(0, 200)}`);
  };
  for (let i = 0; i < 200; i++) await create(i);
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await create(200 + i);
  const s = (performance.now() - t0) / 1000;
  console.log(`creates over HTTP (api only): ${(N / s).toFixed(0)}/s, ${((s * 1000) / N).toFixed(2)} ms each`);
} finally {
  await server.stop();
  await db.drop();
}
