// In-process profile of the create path (issue 3): POST /events with 10 internal attendees through
// Fastify's inject against a kept database (calendula_createprof), api side only (no worker).
// Prints wall time and CPU per create of this process and of the PostgreSQL backends.
//   node scripts/build.mjs && DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres node bench/core/_create-profile.mjs
// PROFILE_N (default 300) creates; PROFILE_DB names the kept database (default calendula_createprof);
// PROFILE_DELIVER=1 then runs the batched deliveries those creates queued (deliverBatch, as the
// worker would, one after the other) and prints their CPU and statements per create; PROFILE_NOTIFY=1
// also runs the invitation notifications those queued (the 'notify' handler, one job at a time);
// PROFILE_STMTS=1 prints the wall time per statement shape; add --cpu-prof to node for a profile.
// Also prints the SQL statements per create (pg.Client#query calls). The kept database is ANALYZEd first.
import pg from 'pg';
import { dist as d, openProfileRuntime } from './_runtime.mjs';

const N = Number(process.env.PROFILE_N ?? 300);
const { rt, ctx, url: profUrl } = await openProfileRuntime(process.env.PROFILE_DB ?? 'calendula_createprof');
let statements = 0;
const origQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function (...a) { statements++; return origQuery.apply(this, a); };
// PROFILE_STMTS=1: wall time per statement shape (first 60 characters), printed at the end.
const stmtTimes = new Map();
if (process.env.PROFILE_STMTS) {
  const counted = pg.Client.prototype.query;
  pg.Client.prototype.query = function (...a) {
    const text = (typeof a[0] === 'string' ? a[0] : a[0]?.text ?? '').replace(/\s+/g, ' ').trim().slice(0, 60);
    const t0 = performance.now();
    const r = counted.apply(this, a);
    if (r && typeof r.then === 'function') r.then(() => { const e = stmtTimes.get(text) ?? { n: 0, ms: 0 }; e.n++; e.ms += performance.now() - t0; stmtTimes.set(text, e); }, () => {});
    return r;
  };
}
const { createApiToken } = await d('app/accounts.js');
const { buildHttpApp } = await d('http/app.js');
const principals = await d('store/principals.js');
const { ensureDefaultCalendar } = await d('app/calendars.js');
const emails = Array.from({ length: 11 }, (_, i) => `c${i}@createprof.example`);
for (const email of emails) {
  const have = await ctx.db.selectFrom('principal').select('id').where('email', '=', email).executeTakeFirst();
  if (!have) {
    const row = await principals.insertPrincipal(ctx.db, { kind: 'user', email, name: email.split('@')[0], isAdmin: email.startsWith('c0@'), passwordHash: 'x' });
    await ensureDefaultCalendar(ctx, row);
  }
}
const u0 = await ctx.db.selectFrom('principal').selectAll().where('email', '=', emails[0]).executeTakeFirstOrThrow();
const app = await buildHttpApp(ctx, {});
const tok = (await createApiToken(ctx, { userId: u0.id, email: u0.email, via: 'rest', isAdmin: true }, { name: 'prof', scopes: ['read', 'write'] })).token;
const headers = { authorization: `Bearer ${tok}`, 'content-type': 'application/json' };
const cal = (await app.inject({ method: 'GET', url: '/api/v1/calendars', headers })).json().items.find((c) => c.isDefault).id;
const attendees = emails.slice(1).map((email) => ({ email }));
const pgc = new pg.Client({ connectionString: profUrl });
await pgc.connect();
// The kept database grows with every run: fresh statistics, or the planner picks stale plans (e.g.
// the (owner, calendar, uid) index for the copies of a UID instead of (owner, uid)).
await pgc.query('analyze');
const pgCpu = async () => {
  const pids = (await pgc.query(`select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`)).rows.map((r) => r.pid);
  const { readFileSync } = await import('node:fs');
  let t = 0;
  for (const pid of pids) { try { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); t += Number(f[11]) + Number(f[12]); } catch {} }
  return t / 100;
};
const create = (i) => {
  const day = new Date(Date.UTC(2030, 0, 1) + (i % 300) * 86_400_000).toISOString().slice(0, 10);
  return app.inject({ method: 'POST', url: '/api/v1/events', headers, payload: JSON.stringify({ calendarId: cal, event: { summary: `Prof ${i}`, start: `${day}T10:00:00`, end: `${day}T11:00:00`, timezone: 'Europe/Moscow', attendees } }) });
};
for (let i = 0; i < 30; i++) await create(i);
const lat = [];
const uids = [];
const c0 = process.cpuUsage();
const p0 = await pgCpu();
const s0 = statements;
const t0 = performance.now();
for (let i = 0; i < N; i++) {
  const t = performance.now();
  const r = await create(i);
  lat.push(performance.now() - t);
  if (r.statusCode !== 201) throw new Error(`${r.statusCode} ${r.body.slice(0, 300)}`);
  uids.push(r.json().uid);
}
const wall = performance.now() - t0;
const c = process.cpuUsage(c0);
const stmts = (statements - s0) / N;
const p1 = await pgCpu();
lat.sort((a, b) => a - b);
console.log(`create ×${N}: ${(N / (wall / 1000)).toFixed(0)}/s, p50 ${lat[Math.floor(N / 2)].toFixed(2)} p99 ${lat[Math.floor(N * 0.99)].toFixed(2)} ms, node CPU ${((c.user + c.system) / 1000 / N).toFixed(2)} ms/create, PostgreSQL CPU ${(((p1 - p0) * 1000) / N).toFixed(2)} ms/create, ${stmts.toFixed(2)} statements/create`);
if (process.env.PROFILE_DELIVER) {
  const { deliverBatch, isBatchPayload } = await d('app/events/deliver-batch.js');
  const { sql } = await import('kysely');
  const jobs = (await sql`select j.id, j.payload from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id
    where t.identifier = 'schedule-deliver' and j.payload->>'uid' = any(${uids}::text[]) order by j.id`.execute(ctx.db)).rows;
  if (jobs.length !== N || !jobs.every((j) => isBatchPayload(j.payload))) throw new Error(`expected ${N} batch jobs, found ${jobs.length}`);
  const dc0 = process.cpuUsage();
  const dp0 = await pgCpu();
  const ds0 = statements;
  const dt0 = performance.now();
  let written = 0;
  for (const j of jobs) written += (await deliverBatch(ctx, j.payload)).written;
  const dwall = performance.now() - dt0;
  const dstmts = (statements - ds0) / N;
  const dc = process.cpuUsage(dc0);
  const dp1 = await pgCpu();
  console.log(`deliverBatch ×${N} (${written} copies): ${(dwall / N).toFixed(2)} ms wall, node CPU ${((dc.user + dc.system) / 1000 / N).toFixed(2)} ms/create, PostgreSQL CPU ${(((dp1 - dp0) * 1000) / N).toFixed(2)} ms/create, ${dstmts.toFixed(2)} statements/create`);
  await sql`delete from graphile_worker._private_jobs where id = any(${jobs.map((j) => j.id)}::bigint[])`.execute(ctx.db);
  // PROFILE_NOTIFY=1: then the notification jobs those deliveries queued (as the worker's 'notify' handler).
  if (process.env.PROFILE_NOTIFY) {
    const nm = await d('app/notify/notifications.js');
    // One job per copy, or one listing the copies of a write (sendNotificationBatch), as the 'notify' handler routes them.
    const run = (p, id) => (nm.isNotifyBatch?.(p) ? nm.sendNotificationBatch(ctx, p, id) : nm.sendNotification(ctx, p, id));
    const notes = (await sql`with o as (select id::text as id from calendar_object where uid = any(${uids}::text[]))
      select j.id, j.payload from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id
      where t.identifier = 'notify' and (j.payload->>'objectId' in (select id from o)
        or exists (select 1 from jsonb_array_elements(case when jsonb_typeof(j.payload::jsonb->'items') = 'array' then j.payload::jsonb->'items' else '[]'::jsonb end) it where it->>'objectId' in (select id from o)))
      order by j.id`.execute(ctx.db)).rows;
    const sends = notes.reduce((n, j) => n + (j.payload.items?.length ?? 1), 0);
    const nc0 = process.cpuUsage();
    const np0 = await pgCpu();
    const ns0 = statements;
    const nt0 = performance.now();
    for (const j of notes) await run(j.payload, String(j.id));
    const nwall = performance.now() - nt0;
    const nstmts = (statements - ns0) / N;
    const nc = process.cpuUsage(nc0);
    const np1 = await pgCpu();
    console.log(`notify: ${notes.length} jobs, ${sends} notifications (${(sends / N).toFixed(1)} per create): ${(nwall / N).toFixed(2)} ms wall, node CPU ${((nc.user + nc.system) / 1000 / N).toFixed(2)} ms/create, PostgreSQL CPU ${(((np1 - np0) * 1000) / N).toFixed(2)} ms/create, ${nstmts.toFixed(2)} statements/create`);
    await sql`delete from graphile_worker._private_jobs where id = any(${notes.map((j) => j.id)}::bigint[])`.execute(ctx.db);
  }
}
if (process.env.PROFILE_STMTS) for (const [k, v] of [...stmtTimes].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25)) console.log(`${String(v.n).padStart(6)} × ${(v.ms / v.n).toFixed(3)} ms  ${k}`);
await pgc.end();
await app.close();
await rt.close();
