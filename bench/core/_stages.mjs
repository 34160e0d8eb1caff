// In-process CPU per stage of one listing (issue 3), on the kept database calendula_prof (seed it
// with _profile.mjs first): the calendar list, the range query, the whole JSON body, the route
// through inject. PROFILE_N requests each, after 300 warm-up requests (memo filled).
//   node scripts/build.mjs && DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres node bench/core/_stages.mjs
import { DAY, dist as d, openProfileRuntime, rangeStarts } from './_runtime.mjs';

const N = Number(process.env.PROFILE_N ?? 300);
const DAYS = Number(process.env.PROFILE_DAYS ?? 30);
const { rt, ctx } = await openProfileRuntime(process.env.PROFILE_DB ?? 'calendula_prof');
const { visibleCalendars } = await d('app/events/queries.js');
const { freeBusy } = await d('app/events/freebusy.js');
const { listOccurrencesJson, rangeRows } = await d('app/events/listing-json.js');
const objects = await d('store/objects.js');
const { createApiToken } = await d('app/accounts.js');
const { buildHttpApp } = await d('http/app.js');
const u0 = await ctx.db.selectFrom('principal').select(['id', 'email', 'timezone']).where('email', '=', 'u0@bench.example').executeTakeFirstOrThrow();
const actor = { userId: u0.id, email: u0.email, via: 'rest' };
const rangeStart = rangeStarts();
const app = await buildHttpApp(ctx, {});
const tok = (await createApiToken(ctx, { ...actor, isAdmin: true }, { name: 'stages', scopes: ['read', 'write'] })).token;
const cals = await visibleCalendars(ctx, actor);
const fbUsers = (await ctx.db.selectFrom('principal').select('email').where('email', 'like', '%@bench.example').orderBy('email').execute()).map((r) => r.email).slice(0, 50);
const stages = {
  calendars: () => visibleCalendars(ctx, actor),
  rangeQuery: (f) => objects.objectsInRange(ctx.db, u0.id, cals.map((c) => c.id), f, new Date(f.getTime() + DAYS * DAY)),
  fastQuery: (f) => rangeRows(ctx, u0.id, cals.map((c) => c.id), f, new Date(f.getTime() + DAYS * DAY)),
  json: (f) => listOccurrencesJson(ctx, actor, { from: f, to: new Date(f.getTime() + DAYS * DAY) }, u0.timezone),
  inject: (f) => app.inject({ method: 'GET', url: `/api/v1/events?from=${f.toISOString()}&to=${new Date(f.getTime() + DAYS * DAY).toISOString()}`, headers: { authorization: `Bearer ${tok}` } }),
  fb: (f) => freeBusy(ctx, actor, fbUsers, f, new Date(f.getTime() + DAYS * DAY)),
  'inject-fb': (f) => app.inject({ method: 'POST', url: '/api/v1/freebusy', headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' }, payload: JSON.stringify({ attendees: fbUsers, from: f.toISOString(), to: new Date(f.getTime() + DAYS * DAY).toISOString() }) }),
};
for (let i = 0; i < 300; i++) await stages.json(rangeStart());
for (const [name, fn] of Object.entries(stages).filter(([k]) => !process.env.PROFILE_ONLY || process.env.PROFILE_ONLY.split(",").includes(k))) {
  for (let i = 0; i < 20; i++) await fn(rangeStart());
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await fn(rangeStart());
  const c = process.cpuUsage(c0);
  console.log(`${DAYS}d ${name.padEnd(11)} CPU ${((c.user + c.system) / 1000 / N).toFixed(2)} ms/op  wall ${((performance.now() - t0) / N).toFixed(2)} ms/op`);
}
await app.close();
await rt.close();
