/**
 * Single (non-recurring) events are listed from their index columns (first_start, last_end,
 * all_day, summary …), never by parsing their iCalendar. Property: for random single events —
 * in several zones, floating or UTC, timed or all-day, many placed on the night of a DST switch,
 * lasting from minutes to days — the GET /events item (from the listing memo and from the direct
 * path) has the start, end, all-day flag, summary and location that expanding the stored
 * iCalendar with ical.js (lib/ical expandCompiled, in the viewer's zone) gives — floating ones
 * included: they are listed at their wall time in the viewer's zone.
 */
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, type TestEnv } from '../support/harness.js';
import { user, type TestUser } from './_helpers.js';
import { configureListingMemo, listingMemoIdle, listingMemoStats } from '../../src/app/events/listing-memo.js';
import { saveObject } from '../../src/app/events/write.js';
import { compileResource } from '../../src/lib/ical/index.js';
import { expandCompiled } from '../../src/lib/ical/expand.js';
import { ianaZone, utcToWall } from '../../src/lib/ical/zones/zone.js';

let env: TestEnv;
let owner: TestUser;
const TZ = 'Europe/Berlin';
const DAY = 86_400_000;
const today = Math.floor(Date.now() / DAY) * DAY;
const pad = (n: number, w = 2) => String(n).padStart(w, '0');
const ymd = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** Days from today of the next last Sunday of a month (0-based): DST switches in Europe. */
function nextLastSunday(month: number): number {
  for (let y = new Date(today).getUTCFullYear(); ; y++) {
    const last = Date.UTC(y, month + 1, 0);
    const sunday = last - new Date(last).getUTCDay() * DAY;
    if (sunday > today + DAY) return Math.round((sunday - today) / DAY);
  }
}
/** Second Sunday of March / first Sunday of November (United States), days from today. */
function nextNthSunday(month: number, nth: number): number {
  for (let y = new Date(today).getUTCFullYear(); ; y++) {
    const first = Date.UTC(y, month, 1);
    const sunday = first + ((7 - new Date(first).getUTCDay()) % 7) * DAY + (nth - 1) * 7 * DAY;
    if (sunday > today + DAY) return Math.round((sunday - today) / DAY);
  }
}
const SWITCHES = [nextLastSunday(2), nextLastSunday(9), nextNthSunday(2, 2), nextNthSunday(10, 1)];

interface Case { zone: string; dayOffset: number; minute: number; minutes: number; allDay: boolean; days: number; summary: string; location: string }

const caseArb: fc.Arbitrary<Case> = fc.record({
  zone: fc.constantFrom('Europe/Berlin', 'America/New_York', 'Australia/Sydney', 'Asia/Kolkata', 'UTC', 'floating', 'Z'),
  // Half of the events on the day of (or before) a DST switch, the rest anywhere in the memo window.
  dayOffset: fc.oneof(fc.integer({ min: -300, max: 650 }), fc.tuple(fc.constantFrom(...SWITCHES), fc.integer({ min: -1, max: 0 })).map(([d, k]) => d + k)),
  minute: fc.oneof(fc.integer({ min: 0, max: 24 * 60 - 1 }), fc.integer({ min: 0, max: 5 * 60 }).map((m) => m - (m % 15))),
  minutes: fc.oneof(fc.integer({ min: 1, max: 240 }), fc.integer({ min: 1, max: 4 * 24 * 60 })),
  allDay: fc.boolean(),
  days: fc.integer({ min: 1, max: 4 }),
  summary: fc.string({ maxLength: 12 }).map((s) => `P ${s.replace(/[\\;,\r\n]/g, '')}`),
  location: fc.constantFrom('', 'Room 1', 'Café "Zürich"'),
});

const wall = (ms: number) => { const d = new Date(ms); return `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}T${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}00`; };

function icsOf(c: Case, uid: string): string {
  const start = today + c.dayOffset * DAY + c.minute * 60_000;
  let times: string;
  if (c.allDay) times = `DTSTART;VALUE=DATE:${ymd(today + c.dayOffset * DAY).replace(/-/g, '')}\r\nDTEND;VALUE=DATE:${ymd(today + (c.dayOffset + c.days) * DAY).replace(/-/g, '')}\r\n`;
  else if (c.zone === 'floating') times = `DTSTART:${wall(start)}\r\nDTEND:${wall(start + c.minutes * 60_000)}\r\n`;
  else if (c.zone === 'Z') times = `DTSTART:${wall(start)}Z\r\nDTEND:${wall(start + c.minutes * 60_000)}Z\r\n`;
  else times = `DTSTART;TZID=${c.zone}:${wall(start)}\r\nDTEND;TZID=${c.zone}:${wall(start + c.minutes * 60_000)}\r\n`;
  return `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//prop//EN\r\nBEGIN:VEVENT\r\nUID:${uid}\r\nDTSTAMP:20260101T000000Z\r\n${times}SUMMARY:${c.summary}\r\n${c.location ? `LOCATION:${c.location.replace(/,/g, '\\,')}\r\n` : ''}END:VEVENT\r\nEND:VCALENDAR\r\n`;
}

beforeAll(async () => {
  env = await createTestEnv({ mailDomains: ['example.com'], dataDir: `/tmp/calendula-test-ls-${process.pid}` });
  owner = await user(env, 'pia@example.com', 'Pia');
  await sql`update principal set timezone = ${TZ} where id = ${owner.id}`.execute(env.ctx.db);
});
afterAll(async () => {
  configureListingMemo(32 * 1024 * 1024);
  await env.close();
});

describe('single events: index columns = ical.js', () => {
  it('gives the same item as expanding the stored iCalendar, memoised and direct', async () => {
    const cases = fc.sample(caseArb, { numRuns: 120, seed: 20261128 });
    const ids = new Map<string, Case>();
    for (let i = 0; i < cases.length; i++) {
      const { row } = await saveObject(env.ctx, { userId: owner.id, email: owner.email, via: 'rest' }, { ownerId: owner.id, calendarId: owner.cal, ical: icsOf(cases[i], `prop-${i}@test`), schedule: false });
      expect(row.recurring).toBe(false);
      ids.set(row.id, cases[i]);
    }
    const rows = await env.ctx.db.selectFrom('calendar_object').select(['id', 'ical']).where('owner_id', '=', owner.id).execute();
    const from = new Date(today - 310 * DAY);
    const to = new Date(today + 690 * DAY);
    const expected = new Map<string, { start: string; end: string; allDay: boolean; summary: string; location: string }>();
    for (const r of rows) {
      if (!ids.has(r.id)) continue;
      // Floating timed events (RFC 5545 §3.3.5) are at their wall time in the viewer's zone, as
      // ical.js expands them there (the index columns hold that wall time read as UTC).
      const occ = expandCompiled(compileResource(r.ical), from, to, { defaultTz: TZ });
      expect(occ).toHaveLength(1);
      const o = occ[0];
      // All-day: ical.js gives midnight in the viewer's zone; the listing writes that wall date.
      const iso = (d: Date) => (o.allDay ? new Date(utcToWall(d.getTime(), ianaZone(TZ))).toISOString().slice(0, 10) : d.toISOString());
      expected.set(r.id, { start: iso(o.start), end: iso(o.end), allDay: o.allDay, summary: o.summary ?? '', location: o.location ?? '' });
    }
    for (const memo of [true, false]) {
      configureListingMemo(memo ? 32 * 1024 * 1024 : 0);
      const items: { id: string; start: string; end: string; allDay: boolean; summary: string; location: string; recurrenceId: string | null }[] = [];
      // A range is at most 400 days: three of them (an event across a border is listed in both).
      for (const [f, t] of [[-310, 40], [40, 390], [390, 690]]) {
        if (memo) {
          // A memo is built (in the background) for a view asked for again.
          for (let i = 0; i < 2; i++) await owner.api.get(`/events?from=${new Date(today).toISOString()}&to=${new Date(today + DAY).toISOString()}`);
          await listingMemoIdle();
        }
        const hits = listingMemoStats().hits;
        const res = await owner.api.get(`/events?from=${new Date(today + f * DAY).toISOString()}&to=${new Date(today + t * DAY).toISOString()}`);
        expect(res.statusCode, res.body).toBe(200);
        items.push(...JSON.parse(res.body).items);
        expect(listingMemoStats().hits - hits).toBe(memo ? 1 : 0);
      }
      const seen = new Set<string>();
      for (const it of items) {
        const want = expected.get(it.id);
        if (!want) continue;
        seen.add(it.id);
        expect({ start: it.start, end: it.end, allDay: it.allDay, summary: it.summary, location: it.location }, `${memo ? 'memo' : 'direct'} ${JSON.stringify(ids.get(it.id))}`).toEqual(want);
        expect(it.recurrenceId).toBeNull();
      }
      expect(seen.size).toBe(ids.size);
    }
  });
});
