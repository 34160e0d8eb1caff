// VK Teams bot under load, in one process against the Bot API simulator (server/test/support):
// a steady stream of bot messages (queued 'bot-send' jobs, real worker, real HTTP) and, at the same
// time, button presses on invitations: from the callbackQuery event to the organizer's copy
// showing ACCEPTED (poller → respond → schedule-deliver job → organizer copy).
// Targets: ≥ 100 bot messages/s delivered; press → organizer copy p99 < 1 s.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { benchDatabase, ensureBuilt, percentile, root } from '../platform/_server.mjs';

const RATE = Number(process.env.BENCH_BOT_RATE ?? 150);       // messages per second offered
const SECONDS = Number(process.env.BENCH_BOT_SECONDS ?? 20);
const USERS = Number(process.env.BENCH_BOT_USERS ?? 200);
const PRESSES = Number(process.env.BENCH_BOT_PRESSES ?? 100);
const dist = (p) => import(pathToFileURL(join(root, 'dist/server/src', p)).href);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function simulatorModule(dir) {
  const { build } = await import('esbuild');
  const out = join(dir, 'simulator.mjs');
  await build({ entryPoints: [join(root, 'server/test/support/vkteams/simulator.ts')], bundle: true, platform: 'node', format: 'esm', outfile: out, logLevel: 'warning' });
  return import(pathToFileURL(out).href);
}

export default async function run(log) {
  ensureBuilt();
  const tmp = mkdtempSync(join(tmpdir(), 'calendula-bench-bot-'));
  chmodSync(tmp, 0o755); // the embedded PostgreSQL runs as another OS user when we are root
  const { BotApiSimulator } = await simulatorModule(tmp);
  const sim = await BotApiSimulator.start();
  const bdb = await benchDatabase();
  let embedded = null;
  let url = bdb?.url;
  if (!url) {
    const { startEmbedded } = await dist('store/embedded.js');
    embedded = await startEmbedded(join(tmp, 'pg'));
    url = embedded.url;
  }
  const { loadConfig } = await dist('config/load.js');
  const { createDb } = await dist('store/db.js');
  const { migrateToLatest } = await dist('store/migrate.js');
  const { loadSecret } = await dist('app/secret.js');
  const { default: pino } = await import('pino');
  const { insertPrincipal } = await dist('store/principals.js');
  const { ensureDefaultCalendar } = await dist('app/calendars.js');
  const { createEvent } = await dist('app/events/commands.js');
  const { startWorker, enqueueMany } = await dist('jobs/queue.js');
  const { jobHandlers } = await dist('jobs/handlers.js');
  const { start: startBot } = await dist('roles/bot.js');
  const { indexResource } = await dist('lib/ical/index.js');

  const { db, pool } = createDb(url, 30);
  await migrateToLatest(db, url);
  const config = loadConfig({}, { logLevel: 'silent', dataDir: tmp, vkteamsApiUrl: sim.baseUrl, vkteamsBotToken: sim.token, mailDomains: ['bench.example'], workerConcurrency: 16 });
  const ctx = { config, db, pool, connectionString: url, log: pino({ level: process.env.BENCH_LOG ?? 'silent' }), secret: await loadSecret(db, 'bench-secret-0123456789abcdef') };

  log(`seeding ${USERS} linked users…`);
  const org = await insertPrincipal(db, { kind: 'user', email: 'org@bench.example', name: 'Organizer' });
  const orgCal = await ensureDefaultCalendar(ctx, org);
  const users = [];
  for (let i = 0; i < USERS; i++) {
    const u = await insertPrincipal(db, { kind: 'user', email: `u${i}@bench.example`, name: `User ${i}` });
    await ensureDefaultCalendar(ctx, u);
    users.push(u);
  }
  for (const u of [org, ...users]) {
    sim.allowChat(u.email);
    await db.insertInto('bot_chat').values({ owner_id: u.id, vkteams_id: u.email, chat_id: u.email }).execute();
  }
  const worker = await startWorker({ connectionString: url, handlers: jobHandlers(ctx), concurrency: 16, log: ctx.log });
  const bot = await startBot(ctx, { pollTime: 5, lockRetryMs: 500 });

  try {
    log(`creating ${PRESSES} meetings (invitations with buttons)…`);
    const meetings = [];
    const actor = { userId: org.id, email: org.email, via: 'rest' };
    for (let i = 0; i < PRESSES; i++) {
      const att = users[i % users.length];
      const row = await createEvent(ctx, actor, { calendarId: orgCal.id, event: { summary: `Bench meeting ${i}`, start: '2031-03-03T10:00:00', end: '2031-03-03T11:00:00', timezone: 'UTC', attendees: [{ email: att.email }] } });
      meetings.push({ row, att });
    }
    const invitation = (m) => sim.sent.find((s) => s.kind === 'send' && s.chatId === m.att.email && s.text.includes(`Bench meeting ${m.row.summary.split(' ').pop()}<`) && s.keyboard);
    for (const m of meetings) {
      for (let t = 0; !(m.msg = invitation(m)); t++) { if (t > 600) throw new Error('invitations not delivered'); await sleep(50); }
    }
    log('invitations delivered; starting the load');

    const sentBefore = sim.sent.filter((s) => s.kind === 'send').length;
    const total = RATE * SECONDS;
    const t0 = performance.now();
    const latencies = [];
    const pressTasks = [];
    let offered = 0;
    const pressEvery = (SECONDS * 1000 * 0.8) / PRESSES;
    let nextPress = 0;
    // Offer RATE messages/s in 100 ms batches; press a button every pressEvery ms.
    while (offered < total) {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * RATE) + 1);
      if (due > offered) {
        const jobs = [];
        for (; offered < due; offered++) {
          const u = users[offered % users.length];
          jobs.push({ name: 'bot-send', payload: { op: 'command', kind: 'help', recipientId: u.id, key: `bench:${offered}`, at: Date.now() }, jobKey: `bot:${u.id}:bench:${offered}` });
        }
        await enqueueMany(db, jobs);
      }
      while (nextPress < PRESSES && performance.now() - t0 >= nextPress * pressEvery) {
        const m = meetings[nextPress++];
        pressTasks.push((async () => {
          const start = performance.now();
          sim.emitCallbackQuery(m.att.email, m.msg.msgId, m.msg.keyboard[0][0].callbackData);
          for (;;) {
            const r = await db.selectFrom('calendar_object').select('ical').where('owner_id', '=', org.id).where('id', '=', m.row.id).executeTakeFirst();
            if (indexResource(r.ical).attendees.find((a) => a.email === m.att.email)?.partstat === 'ACCEPTED') break;
            if (performance.now() - start > 30_000) throw new Error('press not reflected within 30 s');
            await sleep(10);
          }
          latencies.push(performance.now() - start);
        })());
      }
      await sleep(20);
    }
    const target = sentBefore + total;
    for (let t = 0; sim.sent.filter((s) => s.kind === 'send').length < target; t++) {
      if (t > 1200) throw new Error(`only ${sim.sent.filter((s) => s.kind === 'send').length - sentBefore} of ${total} messages delivered`);
      await sleep(50);
    }
    const elapsed = (performance.now() - t0) / 1000;
    await Promise.all(pressTasks);
    const sends = sim.sent.filter((s) => s.kind === 'send').slice(sentBefore);
    const span = (sends.at(-1).at - sends[0].at) / 1000;
    const s = [...latencies].sort((a, b) => a - b);
    const rate = total / elapsed;
    const p99 = percentile(s, 99);
    log(`slowest presses: ${s.slice(-6).map((x) => x.toFixed(0)).join(', ')} ms; order of the slowest: ${latencies.indexOf(s.at(-1))}`);
    log(`${total} messages in ${elapsed.toFixed(1)} s; presses p50 ${percentile(s, 50).toFixed(0)} ms p99 ${p99.toFixed(0)} ms`);
    return [
      { bench: 'bot/throughput', metric: `messages delivered (offered ${RATE}/s for ${SECONDS} s)`, value: total, unit: 'msgs' },
      { bench: 'bot/throughput', metric: 'delivered rate (first offer → last delivery)', value: rate, unit: 'msgs/s', target: '≥ 100 msgs/s', pass: rate >= 100 },
      { bench: 'bot/throughput', metric: 'delivery span at the simulator', value: total / Math.max(span, 0.001), unit: 'msgs/s' },
      { bench: 'bot/press', metric: `press → organizer copy p50 (${PRESSES} presses under load)`, value: percentile(s, 50), unit: 'ms' },
      { bench: 'bot/press', metric: 'press → organizer copy p99', value: p99, unit: 'ms', target: '< 1000 ms', pass: p99 < 1000 },
      { bench: 'bot/press', metric: 'press → organizer copy max', value: s.at(-1), unit: 'ms' },
    ];
  } finally {
    await bot.stop();
    await worker.stop();
    await db.destroy();
    await sim.close();
    await embedded?.stop();
    await bdb?.drop();
    rmSync(tmp, { recursive: true, force: true });
  }
}
