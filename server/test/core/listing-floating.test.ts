/**
 * Floating times (RFC 5545 §3.3.5: DATE-TIME without Z and without TZID) mean the same wall clock
 * in whatever zone the viewer is in. A single floating 10:00–11:00 event listed by GET /events
 * is at 10:00 local for a viewer in Europe/Moscow and one in America/New_York — from the listing
 * memo and from the direct path —, a week range near the event picks it or drops it by its
 * instant in the viewer's zone (not by its wall time read as UTC), and free/busy puts it at
 * 10:00 in the owner's zone. Search with a range, export of a range and the invitations list
 * decide by that instant too.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, type TestEnv } from '../support/harness.js';
import { user, type TestUser } from './_helpers.js';
import { configureListingMemo, listingMemoIdle, listingMemoStats } from '../../src/app/events/listing-memo.js';
import { saveObject } from '../../src/app/events/write.js';
import * as m0010 from '../../src/store/migrations/0010_floating.js';

let env: TestEnv;
let olga: TestUser; // Europe/Moscow (UTC+3 all year), owner
let nick: TestUser; // America/New_York, reads Olga's calendar
const DAY = 86_400_000;
const today = Math.floor(Date.now() / DAY) * DAY;
// Three weeks ahead, a Wednesday: inside the memo window.
const D = today + 21 * DAY + ((3 - new Date(today + 21 * DAY).getUTCDay() + 7) % 7) * DAY;
const ymd = new Date(D).toISOString().slice(0, 10);
const basic = ymd.replace(/-/g, '');
let id = '';

/** Wall time "YYYY-MM-DD HH:MM" of an instant in a zone. */
function local(iso: string, tz: string): string {
  const p = Object.fromEntries(new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
    .formatToParts(new Date(iso)).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
}
const offsetMs = (tz: string) => Date.parse(`${local(new Date(D + 10 * 3_600_000).toISOString(), tz).replace(' ', 'T')}:00Z`) - (D + 10 * 3_600_000);

beforeAll(async () => {
  env = await createTestEnv({ mailDomains: ['example.com'], dataDir: `/tmp/calendula-test-lf-${process.pid}` });
  olga = await user(env, 'olga@example.com', 'Olga');
  nick = await user(env, 'nick@example.com', 'Nick');
  await sql`update principal set timezone = 'Europe/Moscow' where id = ${olga.id}`.execute(env.ctx.db);
  await sql`update principal set timezone = 'America/New_York' where id = ${nick.id}`.execute(env.ctx.db);
  const r = await olga.api.put(`/calendars/${olga.cal}/shares`, { email: nick.email, access: 'read' });
  expect(r.statusCode, r.body).toBe(200);
  const ics = `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:floating-10@test\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:${basic}T100000\r\nDTEND:${basic}T110000\r\nSUMMARY:Floating ten\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n`;
  const { row } = await saveObject(env.ctx, { userId: olga.id, email: olga.email, via: 'rest' }, { ownerId: olga.id, calendarId: olga.cal, ical: ics, schedule: false });
  expect(row.recurring).toBe(false);
  expect(row.floating).toBe(true);
  id = row.id;
});
afterAll(async () => {
  configureListingMemo(32 * 1024 * 1024);
  await env.close();
});

const list = async (u: TestUser, from: number, to: number) => {
  const r = await u.api.get(`/events?from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}&calendars=${olga.cal}`);
  expect(r.statusCode, r.body).toBe(200);
  return (JSON.parse(r.body).items as { id: string; start: string; end: string; recurrenceId: string | null }[]).filter((x) => x.id === id);
};

describe('floating single events in GET /events', () => {
  for (const memo of [false, true]) {
    it(`are at their wall time in the viewer's zone (${memo ? 'memo' : 'direct'})`, async () => {
      configureListingMemo(memo ? 32 * 1024 * 1024 : 0);
      for (const [u, tz] of [[olga, 'Europe/Moscow'], [nick, 'America/New_York']] as const) {
        // The instant of 10:00 local in the viewer's zone.
        const ten = D + 10 * 3_600_000 - offsetMs(tz);
        const ranges: [number, number, boolean][] = [
          [D - 3 * DAY, D + 4 * DAY, true], // the week around it
          [ten + 30 * 60_000 - 7 * DAY, ten + 30 * 60_000, true], // ends half an hour after its start
          [ten - 7 * DAY, ten, false], // ends at its start
          [ten + 60 * 60_000, ten + 60 * 60_000 + 7 * DAY, false], // starts at its end
          [ten + 59 * 60_000, ten + 59 * 60_000 + 7 * DAY, true], // starts a minute before its end
        ];
        for (const [f, t, want] of ranges) {
          if (memo) {
            // A memo is built (in the background) for a view asked for again.
            for (let i = 0; i < 2; i++) await list(u, today, today + DAY);
            await listingMemoIdle();
          }
          const hits = listingMemoStats().hits;
          const got = await list(u, f, t);
          expect(listingMemoStats().hits - hits).toBe(memo ? 1 : 0);
          expect(got.length, `${tz} [${new Date(f).toISOString()}, ${new Date(t).toISOString()})`).toBe(want ? 1 : 0);
          if (!want) continue;
          expect(got[0].start).toBe(new Date(ten).toISOString());
          expect(local(got[0].start, tz)).toBe(`${ymd} 10:00`);
          expect(local(got[0].end, tz)).toBe(`${ymd} 11:00`);
          expect(got[0].recurrenceId).toBeNull();
        }
      }
    });
  }

  it('a floating series is picked by its instants in the viewer\'s zone too (direct path)', async () => {
    configureListingMemo(0);
    const ics = `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:floating-series@test\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:${basic}T100000\r\nDURATION:PT1H\r\nRRULE:FREQ=DAILY;COUNT=2\r\nSUMMARY:Floating series\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n`;
    const { row } = await saveObject(env.ctx, { userId: olga.id, email: olga.email, via: 'rest' }, { ownerId: olga.id, calendarId: olga.cal, ical: ics, schedule: false });
    expect(row.recurring && row.floating).toBe(true);
    // Moscow: 10:00 local is 07:00Z, before the series' wall time read as UTC (10:00Z).
    const ten = D + 7 * 3_600_000;
    const r = await olga.api.get(`/events?from=${new Date(ten - 7 * DAY).toISOString()}&to=${new Date(ten + 30 * 60_000).toISOString()}&calendars=${olga.cal}`);
    expect(r.statusCode, r.body).toBe(200);
    const got = (JSON.parse(r.body).items as { id: string; start: string }[]).filter((x) => x.id === row.id);
    expect(got.map((x) => x.start)).toEqual([new Date(ten).toISOString()]);
    await env.ctx.db.deleteFrom('calendar_object').where('owner_id', '=', olga.id).where('id', '=', row.id).execute();
  });

  it('free/busy puts it at 10:00 in the owner\'s zone', async () => {
    const r = await nick.api.post('/freebusy', { attendees: [olga.email], from: new Date(D - DAY).toISOString(), to: new Date(D + 2 * DAY).toISOString() });
    expect(r.statusCode, r.body).toBe(200);
    const busy = r.json().items[0].busy as { start: string; end: string }[];
    expect(busy.map((b) => [local(b.start, 'Europe/Moscow'), local(b.end, 'Europe/Moscow')])).toEqual([[`${ymd} 10:00`, `${ymd} 11:00`]]);
  });

  it('migration 0010 backfills the column of existing rows (compiling their iCalendar)', async () => {
    const cal = (x: string) => `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nDTSTAMP:20260101T000000Z\r\n${x}END:VEVENT\r\nEND:VCALENDAR\r\n`;
    const actor = { userId: olga.id, email: olga.email, via: 'rest' as const };
    const save = async (x: string) => (await saveObject(env.ctx, actor, { ownerId: olga.id, calendarId: olga.cal, ical: cal(x), schedule: false })).row.id;
    const zoned = await save(`UID:zoned@test\r\nDTSTART;TZID=Europe/Berlin:${basic}T100000\r\nDTEND;TZID=Europe/Berlin:${basic}T110000\r\n`);
    const utc = await save(`UID:utc@test\r\nDTSTART:${basic}T100000Z\r\nDURATION:PT1H\r\n`);
    const allDay = await save(`UID:allday@test\r\nDTSTART;VALUE=DATE:${basic}\r\n`);
    const series = await save(`UID:series@test\r\nDTSTART:${basic}T090000\r\nDURATION:PT30M\r\nRRULE:FREQ=DAILY;COUNT=3\r\n`);
    // Folded DTSTART line (RFC 5545 §3.1): still floating.
    const folded = await save(`UID:folded@test\r\nDTSTART;X-LONG-PARAMETER-TO-FOLD-THE-LINE=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:${basic.slice(0, 4)}\r\n ${basic.slice(4)}T100000\r\nDTEND:${basic}T110000\r\n`);
    const want = { [id]: true, [zoned]: false, [utc]: false, [allDay]: false, [series]: true, [folded]: true };
    const read = async () => Object.fromEntries((await sql<{ id: string; floating: boolean }>`select id, floating from calendar_object where owner_id = ${olga.id}`.execute(env.ctx.db)).rows.map((r) => [r.id, r.floating]));
    expect(await read()).toEqual(want);
    await m0010.down(env.ctx.db as never);
    await m0010.up(env.ctx.db as never);
    expect(await read()).toEqual(want);
  });
});

/**
 * The other readers of the index columns with a range: search, export and the invitations list
 * must place a floating event (RFC 5545 §3.3.5) at its wall time in the viewer's zone too. Olga's
 * 10:00–11:00 is 07:00–08:00Z for her (Moscow, UTC+3) and 15:00–16:00Z for Nick (New York, UTC−5):
 * a range ending at 09:00Z holds it for her only, one starting at 12:00Z for him only — and read
 * as UTC (10:00–11:00Z) it would be in neither.
 */
describe('floating single events in search, export and invitations', () => {
  const H = 3_600_000;
  const ranges = () => [
    { f: D - DAY, t: D + 9 * H, olga: true, nick: false },
    { f: D + 12 * H, t: D + 2 * DAY, olga: false, nick: true },
    { f: D - DAY, t: D + 2 * DAY, olga: true, nick: true },
  ];
  const iso = (ms: number) => new Date(ms).toISOString();

  it('search with a range finds it by its instant in the viewer\'s zone', async () => {
    for (const { f, t, ...want } of ranges()) {
      for (const [u, key] of [[olga, 'olga'], [nick, 'nick']] as const) {
        const r = await u.api.get(`/events/search?q=${encodeURIComponent('Floating ten')}&from=${iso(f)}&to=${iso(t)}`);
        expect(r.statusCode, r.body).toBe(200);
        const got = (r.json().items as { id: string; start: string }[]).filter((x) => x.id === id);
        expect(got.length, `${key} [${iso(f)}, ${iso(t)})`).toBe(want[key] ? 1 : 0);
        if (got.length) expect(local(got[0]!.start, key === 'olga' ? 'Europe/Moscow' : 'America/New_York')).toBe(`${ymd} 10:00`);
      }
    }
    // Only one bound: after 12:00Z it is still ahead for Nick, over for Olga.
    for (const [u, want] of [[olga, 0], [nick, 1]] as const) {
      const r = await u.api.get(`/events/search?q=${encodeURIComponent('Floating ten')}&from=${iso(D + 12 * H)}`);
      expect((r.json().items as { id: string }[]).filter((x) => x.id === id).length).toBe(want);
    }
  });

  it('export of a range takes the viewer\'s zone, or the zone the request names', async () => {
    const exported = async (u: TestUser, f: number, t: number, tz?: string) => {
      const r = await u.api.get(`/calendars/${olga.cal}/export?from=${iso(f)}&to=${iso(t)}${tz ? `&timezone=${encodeURIComponent(tz)}` : ''}`);
      expect(r.statusCode, r.body).toBe(200);
      return r.body.includes('UID:floating-10@test');
    };
    for (const { f, t, ...want } of ranges()) {
      expect(await exported(olga, f, t), `olga [${iso(f)}, ${iso(t)})`).toBe(want.olga);
      expect(await exported(nick, f, t), `nick [${iso(f)}, ${iso(t)})`).toBe(want.nick);
      // Olga asking for New York's wall clock gets what Nick gets, and the other way round.
      expect(await exported(olga, f, t, 'America/New_York')).toBe(want.nick);
      expect(await exported(nick, f, t, 'Europe/Moscow')).toBe(want.olga);
    }
    const bad = await olga.api.get(`/calendars/${olga.cal}/export?from=${iso(D - DAY)}&to=${iso(D + DAY)}&timezone=Mars%2FOlympus`);
    expect(bad.statusCode).toBe(400);
  });

  it('invitations list a floating event until it is over in the viewer\'s zone', async () => {
    const MIN = 60_000;
    const now = Math.floor(Date.now() / MIN) * MIN;
    const basicOf = (ms: number) => iso(ms).slice(0, 19).replace(/[-:]/g, '');
    const invite = async (u: TestUser, uid: string, start: number, end: number) => {
      const ics = `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:${uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:${basicOf(start)}\r\nDTEND:${basicOf(end)}\r\nSUMMARY:${uid}\r\n`
        + `ORGANIZER:mailto:boss@example.com\r\nATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:${u.email}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n`;
      const { row } = await saveObject(env.ctx, { userId: u.id, email: u.email, via: 'rest' }, { ownerId: u.id, calendarId: u.cal, ical: ics, schedule: false });
      expect([row.floating, row.role, row.my_partstat]).toEqual([true, 'attendee', 'NEEDS-ACTION']);
      return row.id;
    };
    const pending = async (u: TestUser) => {
      const r = await u.api.get('/invitations');
      expect(r.statusCode, r.body).toBe(200);
      return (r.json().items as { id: string; start: string }[]);
    };
    for (const [u, tz, listed] of [[olga, 'Europe/Moscow', false], [nick, 'America/New_York', true]] as const) {
      // Wall clock from two hours to one hour ago read as UTC: over in Moscow (it ended four hours
      // ago there), still ahead in New York (it ends in about four hours there).
      const recent = await invite(u, `floating-recent-${tz}@test`, now - 2 * H, now - H);
      // 10:00–11:00 three weeks ahead: ahead for both (in Moscow it ends before 10:00Z).
      const later = await invite(u, `floating-later-${tz}@test`, D + 10 * H, D + 11 * H);
      const items = await pending(u);
      expect(items.some((x) => x.id === recent), `${tz} recent`).toBe(listed);
      const l = items.find((x) => x.id === later);
      expect(l, `${tz} later`).toBeDefined();
      expect(local(l!.start, tz)).toBe(`${ymd} 10:00`);
    }
  });
});

/**
 * An all-day single event (DTSTART;VALUE=DATE) lasts from midnight to midnight in the viewer's
 * zone, like the days of an all-day series: a range that begins at the next local midnight does
 * not hold it for a Moscow viewer (read as a UTC day it would, from 21:00Z), and one that ends at
 * the local midnight it begins does not hold it for a New York viewer (read as a UTC day it would,
 * until 05:00Z). Its dates are listed as they are.
 */
describe('all-day single events in GET /events, search and export', () => {
  const H = 3_600_000;
  const MIN = 60_000;
  const ymdNext = new Date(D + DAY).toISOString().slice(0, 10);
  let dayId = '';
  beforeAll(async () => {
    const next = ymdNext.replace(/-/g, '');
    const ics = `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:allday-single@test\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:${basic}\r\nDTEND;VALUE=DATE:${next}\r\nSUMMARY:Holiday single\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n`;
    const { row } = await saveObject(env.ctx, { userId: olga.id, email: olga.email, via: 'rest' }, { ownerId: olga.id, calendarId: olga.cal, ical: ics, schedule: false });
    expect([row.all_day, row.recurring, row.floating]).toEqual([true, false, false]);
    dayId = row.id;
  });
  // [from, to) around local midnights of the viewer; whether it holds the day.
  const ranges = (tz: string) => {
    const mid = D - offsetMs(tz); // local midnight starting the day, as an instant
    return [
      [mid - 3 * DAY, mid + 4 * DAY, true],
      [mid + DAY, mid + 8 * DAY, false], // the next local week
      [mid - 7 * DAY, mid, false], // the local week before
      [mid - 7 * DAY, mid + MIN, true],
      [mid + DAY - MIN, mid + 7 * DAY, true],
      [mid + 12 * H, mid + 13 * H, true], // an hour of that day
    ] as [number, number, boolean][];
  };
  const iso = (ms: number) => new Date(ms).toISOString();

  for (const memo of [false, true]) {
    it(`are listed by the viewer's local day (${memo ? 'memo' : 'direct'})`, async () => {
      configureListingMemo(memo ? 32 * 1024 * 1024 : 0);
      for (const [u, tz] of [[olga, 'Europe/Moscow'], [nick, 'America/New_York']] as const) {
        for (const [f, t, want] of ranges(tz)) {
          if (memo) {
            for (let i = 0; i < 2; i++) await u.api.get(`/events?from=${iso(today)}&to=${iso(today + DAY)}&calendars=${olga.cal}`);
            await listingMemoIdle();
          }
          const hits = listingMemoStats().hits;
          const r = await u.api.get(`/events?from=${iso(f)}&to=${iso(t)}&calendars=${olga.cal}`);
          expect(r.statusCode, r.body).toBe(200);
          expect(listingMemoStats().hits - hits).toBe(memo ? 1 : 0);
          const got = (JSON.parse(r.body).items as { id: string; start: string; end: string; allDay: boolean }[]).filter((x) => x.id === dayId);
          expect(got.length, `${tz} [${iso(f)}, ${iso(t)})`).toBe(want ? 1 : 0);
          if (want) expect(got[0]).toMatchObject({ start: ymd, end: ymdNext, allDay: true });
        }
      }
    });
  }

  it('search with a range and export of a range decide by the viewer\'s local day too', async () => {
    for (const [u, tz] of [[olga, 'Europe/Moscow'], [nick, 'America/New_York']] as const) {
      for (const [f, t, want] of ranges(tz)) {
        const s = await u.api.get(`/events/search?q=${encodeURIComponent('Holiday single')}&from=${iso(f)}&to=${iso(t)}`);
        expect(s.statusCode, s.body).toBe(200);
        expect((s.json().items as { id: string }[]).filter((x) => x.id === dayId).length, `search ${tz} [${iso(f)}, ${iso(t)})`).toBe(want ? 1 : 0);
        const x = await u.api.get(`/calendars/${olga.cal}/export?from=${iso(f)}&to=${iso(t)}`);
        expect(x.statusCode, x.body).toBe(200);
        expect(x.body.includes('UID:allday-single@test'), `export ${tz} [${iso(f)}, ${iso(t)})`).toBe(want);
      }
    }
  });
});

/**
 * Floating events outside listings: a VALARM fires at the wall time in the owner's zone, a
 * notification shows the event at its wall time in the recipient's zone, and a room decides
 * whether it is free at the wall time in the room's zone.
 */
describe('floating events in reminders, notifications and room decisions', () => {
  const H = 3_600_000;
  const cal = (uid: string, extra = '') => `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:${uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:${basic}T100000\r\nDTEND:${basic}T110000\r\nSUMMARY:${uid}\r\n${extra}END:VEVENT\r\nEND:VCALENDAR\r\n`;

  it('a VALARM fires at the wall time in the owner\'s zone', async () => {
    const alarm = 'BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:soon\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\n';
    for (const [u, tz] of [[olga, 'Europe/Moscow'], [nick, 'America/New_York']] as const) {
      const { row } = await saveObject(env.ctx, { userId: u.id, email: u.email, via: 'rest' }, { ownerId: u.id, calendarId: u.cal, ical: cal(`floating-alarm-${tz}@test`, alarm), schedule: false });
      const r = await env.ctx.db.selectFrom('reminder').select(['fire_at', 'occurrence_start']).where('owner_id', '=', u.id).where('object_id', '=', row.id).executeTakeFirstOrThrow();
      expect(local(r.occurrence_start.toISOString(), tz)).toBe(`${ymd} 10:00`);
      expect(local(r.fire_at.toISOString(), tz)).toBe(`${ymd} 09:45`);
    }
  });

  it('a notification shows it at its wall time in the recipient\'s zone', async () => {
    const { buildNotification } = await import('../../src/app/notify/notifications.js');
    for (const [u, tz] of [[olga, 'Europe/Moscow'], [nick, 'America/New_York']] as const) {
      const built = await buildNotification(env.ctx, { kind: 'invitation', recipientId: u.id, ownerId: olga.id, objectId: id }, `k-${tz}`);
      expect(local(built!.n.event.start.toISOString(), tz)).toBe(`${ymd} 10:00`);
      expect(local(built!.n.event.end!.toISOString(), tz)).toBe(`${ymd} 11:00`);
    }
  });

  it('a room checks it against its busy time at the wall time in the room\'s zone', async () => {
    const { makeUser } = await import('../support/harness.js');
    const { jobs } = await import('./_helpers.js');
    const { deliverMessage } = await import('../../src/app/events/deliver.js');
    const { isBatchPayload, deliverBatch } = await import('../../src/app/events/deliver-batch.js');
    // Each room is busy 07:00–08:00Z: 10:00 in Moscow, 02:00 in New York.
    const rooms: Record<string, string> = {};
    for (const [email, tz] of [['room-msk@example.com', 'Europe/Moscow'], ['room-nyc@example.com', 'America/New_York']] as const) {
      const room = await makeUser(env.ctx, email, { kind: 'room' });
      await sql`update principal set timezone = ${tz} where id = ${room.id}`.execute(env.ctx.db);
      rooms[tz] = room.id;
      const roomCal = (await env.ctx.db.selectFrom('calendar').select('id').where('owner_id', '=', room.id).where('is_default', '=', true).executeTakeFirstOrThrow()).id;
      const busy = `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:busy-${email}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:${basic}T070000Z\r\nDTEND:${basic}T080000Z\r\nSUMMARY:Busy\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n`;
      await saveObject(env.ctx, { userId: room.id, email, via: 'rest' }, { ownerId: room.id, calendarId: roomCal, ical: busy, schedule: false });
    }
    const uid = 'floating-room@test';
    const request = cal(uid, `ORGANIZER:mailto:${olga.email}\r\nATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:room-msk@example.com\r\nATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:room-nyc@example.com\r\n`);
    await saveObject(env.ctx, { userId: olga.id, email: olga.email, via: 'rest' }, { ownerId: olga.id, calendarId: olga.cal, ical: request, schedule: true });
    for (const j of (await jobs(env, 'schedule-deliver')).filter((x) => x.payload.uid === uid)) {
      if (isBatchPayload(j.payload)) await deliverBatch(env.ctx, j.payload);
      else await deliverMessage(env.ctx, j.payload);
    }
    const answer = async (roomId: string) => (await env.ctx.db.selectFrom('calendar_object').select('my_partstat').where('owner_id', '=', roomId).where('uid', '=', uid).executeTakeFirstOrThrow()).my_partstat;
    // 10:00 in Moscow is the busy hour; 10:00 in New York (15:00Z) is free.
    expect(await answer(rooms['Europe/Moscow']!)).toBe('DECLINED');
    expect(await answer(rooms['America/New_York']!)).toBe('ACCEPTED');
  });
  it('the detail of a floating event whose text no longer parses still gives its wall times, with no zone', async () => {
    const { row } = await saveObject(env.ctx, { userId: olga.id, email: olga.email, via: 'rest' }, { ownerId: olga.id, calendarId: olga.cal, ical: cal('floating-broken@test'), schedule: false });
    const good = (await olga.api.get(`/events/${row.id}`)).json().event;
    expect([good.start, good.timezone]).toEqual([`${ymd}T10:00:00`, null]);
    await sql`update calendar_object set ical = 'BEGIN:VCALENDAR' where id = ${row.id}`.execute(env.ctx.db);
    const r = await olga.api.get(`/events/${row.id}`);
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json().event).toMatchObject({ start: `${ymd}T10:00:00`, end: `${ymd}T11:00:00`, timezone: null, allDay: false });
    await sql`delete from calendar_object where id = ${row.id}`.execute(env.ctx.db);
  });
  it('free/busy puts an all-day day (single or a series) midnight to midnight in the owner\'s zone', async () => {
    const vera = await user(env, 'vera@example.com', 'Vera');
    await sql`update principal set timezone = 'Asia/Vladivostok' where id = ${vera.id}`.execute(env.ctx.db); // UTC+10
    const next = new Date(D + DAY).toISOString().slice(0, 10).replace(/-/g, '');
    const day = (uid: string, extra = '') => `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:${uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:${basic}\r\nDTEND;VALUE=DATE:${next}\r\n${extra}TRANSP:OPAQUE\r\nSUMMARY:Away\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n`;
    await saveObject(env.ctx, { userId: vera.id, email: vera.email, via: 'rest' }, { ownerId: vera.id, calendarId: vera.cal, ical: day('allday-away@test'), schedule: false });
    const busyOf = async () => {
      const r = await nick.api.post('/freebusy', { attendees: [vera.email], from: new Date(D - 3 * DAY).toISOString(), to: new Date(D + 4 * DAY).toISOString() });
      expect(r.statusCode, r.body).toBe(200);
      return (r.json().items[0].busy as { start: string; end: string }[]).map((b) => [local(b.start, 'Asia/Vladivostok'), local(b.end, 'Asia/Vladivostok')]);
    };
    const ymdNext = new Date(D + DAY).toISOString().slice(0, 10);
    expect(await busyOf()).toEqual([[`${ymd} 00:00`, `${ymdNext} 00:00`]]);
    await sql`delete from calendar_object where owner_id = ${vera.id}`.execute(env.ctx.db);
    await saveObject(env.ctx, { userId: vera.id, email: vera.email, via: 'rest' }, { ownerId: vera.id, calendarId: vera.cal, ical: day('allday-series@test', 'RRULE:FREQ=DAILY;COUNT=2\r\n'), schedule: false });
    const ymd2 = new Date(D + 2 * DAY).toISOString().slice(0, 10);
    // Two consecutive days merge into one period.
    expect(await busyOf()).toEqual([[`${ymd} 00:00`, `${ymd2} 00:00`]]);
  });

});
