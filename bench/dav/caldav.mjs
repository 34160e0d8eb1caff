// CalDAV latency on the real built server: a 1,000-event calendar (80 % single events over a
// year, 15 % weekly series with an EXDATE, 5 % all-day), then sequential requests measured one by
// one: PROPFIND Depth 1 of the calendar, calendar-multiget of 100, sync-collection incremental
// after 10 changes, calendar-query for one month (with calendar-data). Prints p50 / p99.
import { existsSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ADMIN, ADMIN_PW, benchDatabase, ensureBuilt, freePort, percentile, root, startServer, tempDataDir } from '../platform/_server.mjs';

const N = Number(process.env.BENCH_DAV_EVENTS ?? 1000);
const RUNS = Number(process.env.BENCH_DAV_RUNS ?? 100);

function ics(i) {
  const day = new Date(Date.UTC(2030, 0, 1) + (i * 365 * 86_400_000) / N);
  const ymd = day.toISOString().slice(0, 10).replace(/-/g, '');
  const kind = i % 20;
  const lines = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//bench//EN', 'BEGIN:VEVENT', `UID:bench-${i}`, 'DTSTAMP:20240101T000000Z', `SUMMARY:Event ${i}`];
  if (kind === 0) lines.push(`DTSTART;VALUE=DATE:${ymd}`); // 5 % all-day
  else if (kind <= 3) lines.push(`DTSTART:${ymd}T090000Z`, `DTEND:${ymd}T093000Z`, 'RRULE:FREQ=WEEKLY;COUNT=20', `EXDATE:${ymd}T090000Z`); // 15 % recurring
  else lines.push(`DTSTART:${ymd}T${String(8 + (i % 9)).padStart(2, '0')}0000Z`, `DTEND:${ymd}T${String(9 + (i % 9)).padStart(2, '0')}0000Z`);
  lines.push('END:VEVENT', 'END:VCALENDAR', '');
  return lines.join('\r\n');
}

async function timed(fn) {
  const out = [];
  for (let i = 0; i < RUNS; i++) {
    const t = process.hrtime.bigint();
    await fn();
    out.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return out.sort((a, b) => a - b);
}

export default async function run(log) {
  ensureBuilt();
  if (!existsSync(join(root, 'dist/server/src/http/dav/index.js'))) execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'inherit' });
  const db = await benchDatabase();
  const dataDir = tempDataDir();
  const port = await freePort();
  const server = startServer({ port, dataDir, databaseUrl: db?.url, roles: 'api' });
  try {
    await server.ready();
    const base = `http://127.0.0.1:${port}`;
    const auth = `Basic ${Buffer.from(`${ADMIN}:${ADMIN_PW}`).toString('base64')}`;
    const req = async (method, path, body, headers = {}) => {
      const r = await fetch(base + path, { method, headers: { authorization: auth, 'content-type': body?.startsWith('<') ? 'application/xml' : 'text/calendar', ...headers }, body });
      const text = await r.text();
      if (r.status >= 400) throw new Error(`${method} ${path}: ${r.status} ${text.slice(0, 200)}`);
      return text;
    };
    const home = `/dav/calendars/${ADMIN}/`;
    const cal = `${home}11111111-2222-4333-8444-555555555555/`;
    await req('MKCALENDAR', cal, '<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><D:displayname>Bench</D:displayname></D:prop></D:set></C:mkcalendar>');
    log(`seeding ${N} events over CalDAV (8 concurrent PUTs)`);
    const t0 = Date.now();
    let next = 0;
    await Promise.all(Array.from({ length: 8 }, async () => { while (next < N) { const i = next++; await req('PUT', `${cal}bench-${i}.ics`, ics(i)); } }));
    const putMs = (Date.now() - t0) / N;

    const propfind = await timed(() => req('PROPFIND', cal, '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:getcontenttype/><D:resourcetype/></D:prop></D:propfind>', { depth: '1' }));
    const hrefs = Array.from({ length: 100 }, (_, k) => `<D:href>${cal}bench-${(k * 7) % N}.ics</D:href>`).join('');
    const multiget = await timed(() => req('REPORT', cal, `<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop>${hrefs}</C:calendar-multiget>`, { depth: '1' }));
    const initial = await req('REPORT', cal, '<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>');
    const token = /<D:sync-token>([^<]+)<\/D:sync-token>/.exec(initial)[1];
    for (let i = 0; i < 10; i++) await req('PUT', `${cal}bench-${i * 13}.ics`, ics(i * 13).replace('SUMMARY:', 'SUMMARY:changed '));
    const sync = await timed(() => req('REPORT', cal, `<D:sync-collection xmlns:D="DAV:"><D:sync-token>${token}</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/><C:calendar-data xmlns:C="urn:ietf:params:xml:ns:caldav"/></D:prop></D:sync-collection>`));
    const month = await timed(() => req('REPORT', cal, '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20300301T000000Z" end="20300401T000000Z"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>', { depth: '1' }));
    const row = (bench, xs) => [
      { bench: `dav: ${bench}`, metric: 'p50', value: percentile(xs, 50), unit: 'ms' },
      { bench: `dav: ${bench}`, metric: 'p99', value: percentile(xs, 99), unit: 'ms' },
    ];
    return [
      { bench: `dav: PUT (seeding ${N}, 8 concurrent)`, metric: 'mean per PUT', value: putMs, unit: 'ms' },
      ...row(`PROPFIND Depth 1 of ${N} events`, propfind),
      ...row('calendar-multiget of 100', multiget),
      ...row('sync-collection after 10 changes', sync),
      ...row('calendar-query of a month (with data)', month),
    ];
  } finally {
    await server.stop();
    await db?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
