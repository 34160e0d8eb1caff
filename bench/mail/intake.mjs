// Issue 6 benchmark: invitations over LMTP → visible in the recipient's calendar, on the real
// built server (roles api,worker,mail-in; embedded PostgreSQL). Targets: ≥ 200 messages/s and
// p99 intake-to-visible < 2 s at that rate. Latency: from the LMTP 250 (client clock) to the
// commit of the event's transaction (pg_xact_commit_timestamp).
// After BENCH_MAIL_WARMUP (default 600) unmeasured messages at the same rate, two phases on the same server: BENCH_MAIL_N messages paced at BENCH_MAIL_RATE (default 200/s,
// the target's rate) for the latency, then BENCH_MAIL_CAPACITY_N (default 3000; 0 skips) offered
// all at once over the 8 pooled LMTP connections for the capacity in messages/s. Each phase waits
// for its invitation notifications to drain before the next.
import { withChildren } from '../_procs.mjs';
import nodemailer from 'nodemailer';
import pg from 'pg';
import { readFileSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import net from 'node:net';
import { embeddedUrl, ensureBuilt, freePort, percentile, postgresPids, signIn, startServer, tempDataDir } from '../platform/_server.mjs';

/** CPU time (ms, user + system) used so far by these processes (Linux /proc; clock ticks of 10 ms). */
function cpuMs(pids) {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    } catch { /* gone */ }
  }
  return ticks * 10;
}

const N = Number(process.env.BENCH_MAIL_N ?? 3000);
const RATE = Number(process.env.BENCH_MAIL_RATE ?? 200); // offered load of the latency phase, messages/s (the target's rate)
const WARMUP = Number(process.env.BENCH_MAIL_WARMUP ?? 600); // messages sent first and not measured
const CAPACITY_N = Number(process.env.BENCH_MAIL_CAPACITY_N ?? 3000); // messages of the capacity phase (0: skip it)
const USERS = 50;

function message(i, to, tag) {
  const uid = `bench-${tag}-${i}-${Date.now()}@partner.org`;
  const ical = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Bench//EN', 'METHOD:REQUEST', 'BEGIN:VEVENT', `UID:${uid}`, 'DTSTAMP:20300101T000000Z',
    `DTSTART:2031${String(1 + (i % 12)).padStart(2, '0')}10T100000Z`, `DTEND:2031${String(1 + (i % 12)).padStart(2, '0')}10T110000Z`, `SUMMARY:Bench ${i}`, 'SEQUENCE:0',
    'ORGANIZER;CN=Org:mailto:org@partner.org', `ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:${to}`, 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
  const raw = [`From: Org <org@partner.org>`, `To: ${to}`, `Subject: Invitation ${i}`, `Message-ID: <${uid}>`, 'MIME-Version: 1.0', 'Content-Type: multipart/alternative; boundary="b"', '',
    '--b', 'Content-Type: text/plain; charset=utf-8', '', `Invitation ${i}`, '--b', 'Content-Type: text/calendar; method=REQUEST; charset=utf-8', '', ical, '--b--', ''].join('\r\n');
  return { uid, raw };
}

export default async function run(log) {
  ensureBuilt();
  const dataDir = tempDataDir();
  const port = await freePort();
  const lmtpPort = await freePort();
  Object.assign(process.env, { LMTP_PORT: String(lmtpPort), CALENDULA_MAIL_DOMAINS: 'example.com', CALENDULA_WORKER_CONCURRENCY: process.env.CALENDULA_WORKER_CONCURRENCY ?? '16' });
  let server = startServer({ port, dataDir, roles: 'api,worker,mail-in' });
  let db;
  try {
    await server.ready();
    const s = await signIn(port);
    for (let u = 0; u < USERS; u++) {
      const r = await fetch(`http://127.0.0.1:${port}/api/v1/users`, { method: 'POST', headers: { 'content-type': 'application/json', cookie: s.cookie, 'x-csrf-token': s.csrf }, body: JSON.stringify({ email: `u${u}@example.com`, name: `User ${u}` }) });
      if (r.status !== 201) throw new Error(`create user: ${r.status} ${await r.text()}`);
    }
    // "Visible" is when the event's transaction committed: PostgreSQL records commit times once
    // track_commit_timestamp is on (a restart; the server is started again on the same data).
    // The row's created_at is its transaction's start, which is earlier when a transaction
    // applies several messages.
    db = new pg.Client({ connectionString: embeddedUrl(dataDir) });
    await db.connect();
    await db.query('alter system set track_commit_timestamp = on');
    await db.end();
    await server.stop();
    server = startServer({ port, dataDir, roles: 'api,worker,mail-in' });
    await server.ready();
    // /readyz answers before the LMTP listener is up: wait for it too.
    for (let tries = 0; ; tries++) {
      const ok = await new Promise((res) => { const c = net.connect(lmtpPort, '127.0.0.1', () => { c.end(); res(true); }); c.on('error', () => res(false)); });
      if (ok) break;
      if (tries > 600) throw new Error('LMTP listener did not come up');
      await new Promise((r) => setTimeout(r, 50));
    }
    db = new pg.Client({ connectionString: embeddedUrl(dataDir) });
    await db.connect();
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: lmtpPort, lmtp: true, pool: true, maxConnections: 8, maxMessages: Infinity, ignoreTLS: true });
    const pgPids = postgresPids(dataDir);
    // Write transactions (each one a WAL flush at commit) per message: the difference of the
    // transaction id counter (each probe uses one id itself).
    const xid = async () => Number((await db.query('select txid_current() as x')).rows[0].x);
    const notifyQuery = "select count(*) as n from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id where t.identifier = 'notify' and j.attempts < j.max_attempts";
    let seq = 0;

    /** Sends n invitations at `rate` per second (Infinity: as fast as the 8 LMTP connections take them) and waits until all are visible. */
    async function phase(n, rate, tag) {
      const sentAt = new Map();
      const xid0 = await xid();
      const cpu0 = { server: cpuMs(withChildren(server.child.pid)), pg: cpuMs(pgPids) };
      const load0 = loadavg()[0];
      const t0 = performance.now();
      const startWall = Date.now();
      const inflight = new Set();
      let failures = 0;
      let firstError = null;
      for (let i = 0; i < n; i++) {
        if (Number.isFinite(rate)) {
          const wait = t0 + (i * 1000) / rate - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        }
        const k = seq++;
        const to = `u${k % USERS}@example.com`;
        const m = message(k, to, tag);
        const p = transport.sendMail({ envelope: { from: 'org@partner.org', to: [to] }, raw: m.raw }).then(
          () => { sentAt.set(m.uid, Date.now()); },
          (e) => { failures++; firstError ??= String(e?.response ?? e?.message ?? e); },
        );
        inflight.add(p);
        p.finally(() => inflight.delete(p));
      }
      await Promise.all(inflight);
      const sendSec = (performance.now() - t0) / 1000;
      // Wait until every accepted message is visible.
      const deadline = Date.now() + 120_000;
      let rows = [];
      for (;;) {
        rows = (await db.query("select uid, extract(epoch from pg_xact_commit_timestamp(xmin)) * 1000 as at, extract(epoch from created_at) * 1000 as created from calendar_object where uid like $1", [`bench-${tag}-%`])).rows;
        if (rows.length >= sentAt.size || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const totalSec = (Math.max(...rows.map((r) => Number(r.at))) - startWall) / 1000;
      // CPU per message until everything is visible (notifications still queued are not counted):
      // a measure that does not depend on what else the shared machine is doing.
      const cpu1 = { server: cpuMs(withChildren(server.child.pid)), pg: cpuMs(postgresPids(dataDir)) };
      const writesPerMessage = (await xid() - xid0 - 1) / rows.length;
      const notifyLeft = Number((await db.query(notifyQuery)).rows[0].n);
      const lat = rows.map((r) => Number(r.at) - (sentAt.get(r.uid) ?? Number(r.at))).sort((a, b) => a - b);
      const latCreated = rows.map((r) => Number(r.created) - (sentAt.get(r.uid) ?? Number(r.created))).sort((a, b) => a - b);
      // Then the invitation notifications the intake queued (they run after calendar state): total cost.
      const drainUntil = Date.now() + 180_000;
      while (Number((await db.query(notifyQuery)).rows[0].n) > 0 && Date.now() < drainUntil) await new Promise((r) => setTimeout(r, 250));
      const cpu2 = { server: cpuMs(withChildren(server.child.pid)), pg: cpuMs(postgresPids(dataDir)) };
      log(`${tag}: sent ${sentAt.size}/${n} in ${sendSec.toFixed(1)} s (${failures} failures${firstError ? `, first: ${firstError}` : ''}); visible ${rows.length}; load average at start ${load0.toFixed(1)}; notification jobs still queued ${notifyLeft}`);
      return {
        n, rows: rows.length, sent: sentAt.size, throughput: rows.length / Math.max(totalSec, sendSec), lat, latCreated, writesPerMessage,
        cpu: { server: (cpu1.server - cpu0.server) / rows.length, pg: (cpu1.pg - cpu0.pg) / rows.length, all: (cpu2.server - cpu0.server + cpu2.pg - cpu0.pg) / rows.length },
      };
    }

    // 0. Warm-up (JIT, the address cache, each connection's prepared statements): WARMUP messages
    //    at the same rate, not measured.
    if (WARMUP > 0) await phase(WARMUP, RATE, 'warmup');
    // 1. Latency at the target's rate ("p99 intake-to-visible < 2 s at that rate"): RATE/s for N messages.
    const paced = await phase(N, RATE, 'paced');
    // 2. Capacity: CAPACITY_N messages offered as fast as the LMTP connections take them; messages
    //    per second from the first send until the last one is visible.
    const capacity = CAPACITY_N > 0 ? await phase(CAPACITY_N, Infinity, 'burst') : null;
    transport.close();
    return [
      { bench: 'mail/intake', metric: `messages accepted over LMTP (${RATE}/s offered)`, value: paced.sent, unit: `of ${N}` },
      { bench: 'mail/intake', metric: `intake-to-visible p50 at ${RATE}/s`, value: Math.round(percentile(paced.lat, 50)), unit: 'ms' },
      { bench: 'mail/intake', metric: `intake-to-visible p99 at ${RATE}/s`, value: Math.round(percentile(paced.lat, 99)), unit: 'ms', target: '< 2000', pass: RATE >= 200 && paced.rows === N && percentile(paced.lat, 99) < 2000 },
      { bench: 'mail/intake', metric: `p99 by row created_at at ${RATE}/s (transaction start)`, value: Math.round(percentile(paced.latCreated, 99)), unit: 'ms' },
      { bench: 'mail/intake', metric: `LMTP → calendar throughput at ${RATE}/s offered`, value: Math.round(paced.throughput), unit: 'msg/s' },
      ...(capacity ? [
        { bench: 'mail/intake', metric: `LMTP → calendar capacity (${CAPACITY_N} offered at once)`, value: Math.round(capacity.throughput), unit: 'msg/s', target: '>= 200', pass: capacity.throughput >= 200 && capacity.rows === CAPACITY_N },
        { bench: 'mail/intake', metric: 'intake-to-visible p50 / p99 in that burst (queueing)', value: `${Math.round(percentile(capacity.lat, 50))} / ${Math.round(percentile(capacity.lat, 99))}`, unit: 'ms' },
      ] : []),
      { bench: 'mail/intake', metric: `server CPU per message (at ${RATE}/s)`, value: paced.cpu.server, unit: 'ms' },
      { bench: 'mail/intake', metric: `PostgreSQL CPU per message (at ${RATE}/s)`, value: paced.cpu.pg, unit: 'ms' },
      { bench: 'mail/intake', metric: 'write transactions per message (at RATE / burst)', value: `${paced.writesPerMessage.toFixed(2)} / ${capacity ? capacity.writesPerMessage.toFixed(2) : '—'}`, unit: '' },
      { bench: 'mail/intake', metric: 'server + PostgreSQL CPU per message incl. notifications', value: paced.cpu.all, unit: 'ms' },
    ];
  } finally {
    await db?.end().catch(() => {});
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
