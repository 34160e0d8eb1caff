// In-process profile of the read side (issue 3): the same data as bench/core/events.mjs in a kept
// database (calendula_prof, seeded once), no HTTP network stack and no load generator on the
// server's cores. Prints CPU per operation split by stage: query + expansion (app function) and
// the whole request through Fastify's inject (routing, auth, serialisation).
//   node scripts/build.mjs && DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres node bench/core/_profile.mjs
// PROFILE_N (default 200) requests per kind; PROFILE_ONLY=week,month,fb,inject-week,… to pick.
import pg from 'pg';
import { DAY, dist as d, openProfileRuntime, rangeStarts } from './_runtime.mjs';
import { seed } from './events.mjs';

const N = Number(process.env.PROFILE_N ?? 200);
const ONLY = process.env.PROFILE_ONLY?.split(',');
const { rt, ctx, url: profUrl } = await openProfileRuntime(process.env.PROFILE_DB ?? 'calendula_prof');
const { listOccurrences } = await d('app/events/queries.js');
const { freeBusy } = await d('app/events/freebusy.js');
const { createApiToken } = await d('app/accounts.js');
const { buildHttpApp } = await d('http/app.js');
{
  const c = new pg.Client({ connectionString: profUrl });
  await c.connect();
  const n = (await c.query(`select count(*)::int n from calendar_object`)).rows[0].n;
  await c.end();
  if (n < 1000) { console.error('seeding…'); await seed(profUrl); }
}
const users = (await ctx.db.selectFrom('principal').select(['id', 'email', 'timezone']).where('email', 'like', '%@bench.example').orderBy('email').execute());
const u0 = users.find((u) => u.email === 'u0@bench.example');
const actor = { userId: u0.id, email: u0.email, via: 'rest' };
const rangeStart = rangeStarts();
const fbUsers = users.map((u) => u.email).slice(0, 50);
const app = await buildHttpApp(ctx, {});
const tok = (await createApiToken(ctx, { ...actor, isAdmin: true }, { name: 'prof', scopes: ['read', 'write'] })).token;
const auth = { authorization: `Bearer ${tok}` };

const kinds = {
  week: (f) => listOccurrences(ctx, actor, { from: f, to: new Date(f.getTime() + 7 * DAY) }, u0.timezone),
  month: (f) => listOccurrences(ctx, actor, { from: f, to: new Date(f.getTime() + 30 * DAY) }, u0.timezone),
  fb: (f) => freeBusy(ctx, actor, fbUsers, f, new Date(f.getTime() + 30 * DAY)),
  'inject-week': (f) => app.inject({ method: 'GET', url: `/api/v1/events?from=${f.toISOString()}&to=${new Date(f.getTime() + 7 * DAY).toISOString()}`, headers: auth }),
  'inject-month': (f) => app.inject({ method: 'GET', url: `/api/v1/events?from=${f.toISOString()}&to=${new Date(f.getTime() + 30 * DAY).toISOString()}`, headers: auth }),
  'inject-fb': (f) => app.inject({ method: 'POST', url: '/api/v1/freebusy', headers: { ...auth, 'content-type': 'application/json' }, payload: JSON.stringify({ attendees: fbUsers, from: f.toISOString(), to: new Date(f.getTime() + 30 * DAY).toISOString() }) }),
};
const pct = (s, p) => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
for (const [name, fn] of Object.entries(kinds)) {
  if (ONLY && !ONLY.includes(name)) continue;
  for (let i = 0; i < 20; i++) await fn(rangeStart());
  const lat = [];
  const c0 = process.cpuUsage();
  for (let i = 0; i < N; i++) {
    const f = rangeStart();
    const t = performance.now();
    const r = await fn(f);
    lat.push(performance.now() - t);
    if (r?.statusCode && r.statusCode !== 200) throw new Error(`${name}: ${r.statusCode} ${r.body.slice(0, 200)}`);
  }
  const c = process.cpuUsage(c0);
  lat.sort((a, b) => a - b);
  // With --expose-gc: the live heap after a full collection (what the caches really hold).
  let live = '';
  if (globalThis.gc) { globalThis.gc(); live = ` live ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MB`; }
  const m = process.memoryUsage();
  console.log(`${name.padEnd(13)} wall p50 ${pct(lat, 50).toFixed(1)} p99 ${pct(lat, 99).toFixed(1)} ms  CPU ${((c.user + c.system) / 1000 / N).toFixed(2)} ms/op  heap ${(m.heapUsed / 2 ** 20).toFixed(0)} MB rss ${(m.rss / 2 ** 20).toFixed(0)} MB${live}`);
}
await app.close();
await rt.close();
