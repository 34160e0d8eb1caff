/**
 * The listing memo (app/events/listing-memo.ts) serves GET /events for ranges near today from
 * memory. Its body must stay byte for byte the reference (listOccurrences() through the route's
 * schema serialiser) — for an owner and read / read-write / free-busy grantees, in different zones,
 * with DST-crossing, all-day, multi-day, floating, zero-length and private events, series with
 * EXDATE and moved occurrences — and must never be stale: after every kind of write (create, edit,
 * one occurrence, delete, move, answer, colour, grant revoked, a write by "another process" seen
 * only through sync_seq and the change log, a change log with a gap, a zone change) the next
 * listing equals the reference again. The same bodies with the memo off (direct path) too.
 */
import build from 'fast-json-stringify';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, type TestEnv } from '../support/harness.js';
import { create, ev, user, type TestUser } from './_helpers.js';
import { listOccurrences } from '../../src/app/events/queries.js';
import { OccurrenceList } from '../../src/http/rest/events.js';
import { configureListingMemo, listingMemoIdle, listingMemoStats } from '../../src/app/events/listing-memo.js';
import { saveObject } from '../../src/app/events/write.js';
import * as objects from '../../src/store/objects.js';

let env: TestEnv;
let owner: TestUser;
let reader: TestUser;
let writer: TestUser;
let fb: TestUser;
let second: string;
const serialise = build(OccurrenceList as never) as (x: unknown) => string;
const DAY = 86_400_000;
const today = Math.floor(Date.now() / DAY) * DAY;
const day = (n: number) => new Date(today + n * DAY).toISOString().slice(0, 10);
const local = (n: number, hm: string) => `${day(n)}T${hm}:00`;
const ics = (d: Date | number) => new Date(d).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');

/** The next last Sunday of `month` (0-based) after today, as days from today. */
function nextLastSunday(month: number): number {
  for (let y = new Date(today).getUTCFullYear(); ; y++) {
    const last = Date.UTC(y, month + 1, 0);
    const sunday = last - new Date(last).getUTCDay() * DAY;
    if (sunday > today + DAY) return Math.round((sunday - today) / DAY);
  }
}
const spring = nextLastSunday(2); // Europe/Berlin and London switch to summer time
const autumn = nextLastSunday(9);

async function raw(u: TestUser, calendarId: string, text: string) {
  return (await saveObject(env.ctx, { userId: u.id, email: u.email, via: 'rest' }, { ownerId: u.id, calendarId, ical: text, schedule: false })).row;
}
const vcal = (body: string) => `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n${body}END:VCALENDAR\r\n`;
const BERLIN = 'BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\nDTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n';
const compact = (d: string) => d.replace(/[-:]/g, '');

beforeAll(async () => {
  env = await createTestEnv({ mailDomains: ['example.com'], dataDir: `/tmp/calendula-test-lm-${process.pid}` });
  owner = await user(env, 'olga@example.com', 'Olga');
  reader = await user(env, 'rita@example.com', 'Rita');
  writer = await user(env, 'walt@example.com', 'Walt');
  fb = await user(env, 'finn@example.com', 'Finn');
  await sql`update principal set timezone = 'Europe/Berlin' where id = ${owner.id}`.execute(env.ctx.db);
  await sql`update principal set timezone = 'America/New_York' where id = ${reader.id}`.execute(env.ctx.db);
  await sql`update principal set timezone = 'Asia/Kolkata' where id = ${fb.id}`.execute(env.ctx.db);
  second = (await owner.api.post('/calendars', { name: 'Zweiter "Kalender"', color: '#00aa00' })).json().id;
  for (const cal of [owner.cal, second]) {
    for (const [u, access] of [[reader, 'read'], [writer, 'read-write'], [fb, 'freebusy']] as const) {
      const r = await owner.api.put(`/calendars/${cal}/shares`, { email: u.email, access });
      expect(r.statusCode, r.body).toBe(200);
    }
  }
  // Timed events in Berlin time across both DST switches, and near today.
  await create(owner, ev('Over the spring gap', local(spring - 1, '22:00'), local(spring, '04:00'), { timezone: 'Europe/Berlin' }));
  await create(owner, ev('Over the autumn fold', local(autumn - 1, '23:30'), local(autumn, '03:30'), { timezone: 'Europe/Berlin' }));
  await create(owner, ev('Spring day', day(spring), day(spring + 1), { allDay: true }));
  await create(owner, ev('Three days off', day(3), day(6), { allDay: true }));
  await create(owner, ev('Long project', local(-4, '08:00'), local(8, '18:00'), { timezone: 'Europe/Berlin' }));
  await create(owner, ev('Daily 9:00 Berlin "quoted" \\ ü 😀', local(spring - 10, '09:00'), local(spring - 10, '09:30'), { timezone: 'Europe/Berlin', rrule: 'FREQ=DAILY;COUNT=20', location: 'Raum\n1\t\u2028' }));
  await create(owner, ev('Weekly open-ended', local(-30, '10:00'), local(-30, '11:00'), { timezone: 'Europe/Berlin', rrule: 'FREQ=WEEKLY' }));
  await create(owner, ev('Doctor', local(2, '15:00'), local(2, '16:00'), { visibility: 'PRIVATE', location: 'Clinic' }));
  await create(owner, ev('Same time A', local(1, '09:00'), local(1, '10:00')));
  await create(owner, ev('Same time B', local(1, '09:00'), local(1, '09:30')), second);
  await create(owner, ev('Midnight', local(3, '00:00'), local(3, '00:30')));
  await create(owner, ev('Tentative', local(4, '15:00'), local(4, '16:00'), { status: 'TENTATIVE', transparency: 'TRANSPARENT' }), second);
  // A series with an EXDATE and a moved occurrence (UTC), in the second calendar.
  const s0 = today + 1 * DAY + 7 * 3_600_000;
  await raw(owner, second, vcal(`BEGIN:VEVENT\r\nUID:moved-series@test\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:${ics(s0)}\r\nDTEND:${ics(s0 + 3_600_000)}\r\nRRULE:FREQ=DAILY;COUNT=12\r\nEXDATE:${ics(s0 + 2 * DAY)}\r\nSUMMARY:Series with gaps\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:moved-series@test\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID:${ics(s0 + 4 * DAY)}\r\nDTSTART:${ics(s0 + 4 * DAY + 5 * 3_600_000)}\r\nDTEND:${ics(s0 + 4 * DAY + 6 * 3_600_000)}\r\nSUMMARY:Moved one\r\nSTATUS:TENTATIVE\r\nEND:VEVENT\r\n`));
  // Floating times: a single event and a series (each viewer's zone gives the instants of the series).
  await raw(owner, owner.cal, vcal(`BEGIN:VEVENT\r\nUID:floating-single@test\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:${compact(local(5, '12:00'))}\r\nDTEND:${compact(local(5, '13:00'))}\r\nSUMMARY:Floating lunch\r\nEND:VEVENT\r\n`));
  await raw(owner, owner.cal, vcal(`BEGIN:VEVENT\r\nUID:floating-series@test\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:${compact(local(-2, '07:00'))}\r\nDTEND:${compact(local(-2, '07:45'))}\r\nRRULE:FREQ=DAILY;COUNT=30\r\nSUMMARY:Floating run\r\nEND:VEVENT\r\n`));
  // A Berlin series with VTIMEZONE across the spring switch, all-day weekly series.
  await raw(owner, owner.cal, vcal(`${BERLIN}BEGIN:VEVENT\r\nUID:berlin-tzid@test\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:${compact(local(spring - 14, '08:30'))}\r\nDTEND;TZID=Europe/Berlin:${compact(local(spring - 14, '09:00'))}\r\nRRULE:FREQ=WEEKLY;COUNT=6\r\nSUMMARY:TZID weekly\r\nEND:VEVENT\r\n`));
  await raw(owner, owner.cal, vcal(`BEGIN:VEVENT\r\nUID:allday-weekly@test\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:${compact(day(-7))}\r\nDTEND;VALUE=DATE:${compact(day(-6))}\r\nRRULE:FREQ=WEEKLY;COUNT=10\r\nSUMMARY:Bin day\r\nEND:VEVENT\r\n`));
  // An invitation to the owner (she is an attendee, NEEDS-ACTION).
  await raw(owner, owner.cal, vcal(`BEGIN:VEVENT\r\nUID:invite@test\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:${ics(today + 2 * DAY + 10 * 3_600_000)}\r\nDTEND:${ics(today + 2 * DAY + 11 * 3_600_000)}\r\nSUMMARY:Partner call\r\nORGANIZER:mailto:boss@partner.org\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:boss@partner.org\r\nATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:olga@example.com\r\nEND:VEVENT\r\n`));
  // A zero-length event at midnight today.
  const z = await create(owner, ev('Zero', local(0, '00:00'), local(0, '01:00')));
  await sql`update calendar_object set last_end = first_start where id = ${z.id} and owner_id = ${owner.id}`.execute(env.ctx.db);
  await objects.logChange(env.ctx.db, owner.id, owner.cal, { id: z.id, name: z.uid + '.ics', uid: z.uid }, 'put');
});
afterAll(async () => {
  configureListingMemo(32 * 1024 * 1024);
  await env.close();
});

async function reference(u: TestUser, from: string, to: string, calendars?: string): Promise<string> {
  const tz = (await env.ctx.db.selectFrom('principal').select('timezone').where('id', '=', u.id).executeTakeFirstOrThrow()).timezone;
  const items = await listOccurrences(env.ctx, { userId: u.id, email: u.email, via: 'rest' } as never, { from: new Date(from), to: new Date(to), calendarIds: calendars?.split(',') }, tz);
  return serialise({ items });
}

const iso = (n: number) => new Date(today + n * DAY).toISOString();
/** Ranges near today and around both DST switches, plus a few random ones inside the memo window. */
function ranges(): [string, string][] {
  const out: [string, string][] = [[iso(-7), iso(7)], [iso(0), iso(7)], [iso(-3), iso(28)], [iso(spring - 3), iso(spring + 4)], [iso(autumn - 3), iso(autumn + 4)], [iso(3), iso(4)]];
  let x = 7;
  const rnd = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = 0; i < 6; i++) {
    const f = today + Math.floor((rnd() * 500 - 250) * 24) * 3_600_000;
    out.push([new Date(f).toISOString(), new Date(f + (1 + Math.floor(rnd() * 40)) * DAY).toISOString()]);
  }
  return out;
}

/** Asks twice for every calendar view of these users (a memo is built for a view asked for again), then waits for the builds. */
async function warm(users: TestUser[]) {
  for (const u of users) {
    for (const calendars of [undefined, second, `${owner.cal},${second}`]) {
      for (let i = 0; i < 2; i++) await u.api.get(`/events?from=${iso(0)}&to=${iso(7)}${calendars ? `&calendars=${calendars}` : ''}`);
    }
  }
  await listingMemoIdle();
}

async function expectAllMatch(what: string, users = [owner, reader, writer, fb]) {
  await warm(users);
  for (const u of users) {
    for (const [from, to] of ranges()) {
      for (const calendars of [undefined, second, `${owner.cal},${second}`]) {
        const r = await u.api.get(`/events?from=${from}&to=${to}${calendars ? `&calendars=${calendars}` : ''}`);
        const ref = await reference(u, from, to, calendars).catch((e: { code?: string }) => e.code ?? String(e));
        if (ref === 'NOT_FOUND') {
          expect(r.statusCode, `${what}: ${u.email} ${calendars}`).toBe(404);
          continue;
        }
        expect(r.statusCode, r.body).toBe(200);
        expect(r.body, `${what}: ${u.email} ${from} ${to} ${calendars ?? ''}`).toBe(ref);
      }
    }
  }
}

const week = async (u: TestUser) => JSON.parse((await u.api.get(`/events?from=${iso(-7)}&to=${iso(7)}`)).body).items as { id: string; summary: string; color: string; myPartstat: string | null; calendarId: string; busyOnly?: boolean }[];

describe('GET /events from the listing memo', () => {
  it('equals the reference for every viewer, and the direct path does too', async () => {
    const before = listingMemoStats();
    await expectAllMatch('memo');
    const after = listingMemoStats();
    expect(after.entries).toBeGreaterThanOrEqual(8);
    // Served from the memo, except the ranges outside its window and the first asks.
    expect(after.hits - before.hits).toBeGreaterThan(3 * (after.direct - before.direct));
    configureListingMemo(0);
    try {
      await expectAllMatch('direct');
    } finally {
      configureListingMemo(32 * 1024 * 1024);
    }
    const names = (await week(owner)).map((o) => o.summary);
    expect(names).toEqual(expect.arrayContaining(['Long project', 'Three days off', 'Doctor', 'Zero', 'Floating run', 'Bin day', 'Series with gaps', 'Moved one']));
    expect((await week(fb)).every((o) => o.summary === '' && o.busyOnly)).toBe(true);
    // An all-day weekly series: its dates for a viewer east of UTC (Berlin) and west of it (New York)
    // are the DTSTART dates, not the UTC dates of local midnight (a day early in Berlin).
    for (const u of [owner, reader]) {
      const bins = JSON.parse((await u.api.get(`/events?from=${iso(-10)}&to=${iso(10)}`)).body).items.filter((o: { summary: string }) => o.summary === 'Bin day');
      expect(bins.map((o: { start: string; end: string }) => [o.start, o.end]), u.email).toEqual([[day(-7), day(-6)], [day(0), day(1)], [day(7), day(8)]]);
    }
  });

  it('is never stale after a write', async () => {
    await expectAllMatch('warm');
    // Create, edit, edit one occurrence, delete.
    const made = await create(owner, ev('Fresh', local(1, '13:00'), local(1, '14:00')));
    expect((await week(reader)).map((o) => o.summary)).toContain('Fresh');
    expect((await owner.api.patch(`/events/${made.id}`, { event: { summary: 'Fresh, renamed', visibility: 'PRIVATE' } })).statusCode).toBe(200);
    expect((await week(owner)).map((o) => o.summary)).toContain('Fresh, renamed');
    expect((await week(reader)).map((o) => o.summary)).not.toContain('Fresh, renamed');
    await expectAllMatch('after edits');
    const series = (await week(owner)).find((o) => o.summary === 'Floating run')!;
    const occ = JSON.parse((await owner.api.get(`/events?from=${iso(1)}&to=${iso(2)}`)).body).items.find((o: { id: string }) => o.id === series.id);
    expect((await owner.api.patch(`/events/${series.id}`, { event: { summary: 'Floating run, once moved', start: local(1, '18:00'), end: local(1, '19:00'), timezone: 'Europe/Berlin' }, scope: 'this', recurrenceId: occ.recurrenceId })).statusCode).toBe(200);
    expect((await week(owner)).map((o) => o.summary)).toContain('Floating run, once moved');
    expect((await owner.api.del(`/events/${made.id}`)).statusCode).toBeLessThan(300);
    expect((await week(owner)).map((o) => o.id)).not.toContain(made.id);
    await expectAllMatch('after occurrence edit and delete');
    // Move between calendars.
    const doc = (await week(owner)).find((o) => o.summary === 'Doctor')!;
    expect((await owner.api.post(`/events/${doc.id}/move`, { calendarId: second })).statusCode).toBe(200);
    expect((await week(owner)).find((o) => o.id === doc.id)!.calendarId).toBe(second);
    await expectAllMatch('after move');
    // Answer an invitation: myPartstat.
    const inv = (await week(owner)).find((o) => o.summary === 'Partner call')!;
    expect(inv.myPartstat).toBe('NEEDS-ACTION');
    expect((await owner.api.post(`/events/${inv.id}/respond`, { partstat: 'ACCEPTED' })).statusCode).toBe(200);
    expect((await week(owner)).find((o) => o.id === inv.id)!.myPartstat).toBe('ACCEPTED');
    // Colour of a calendar.
    expect((await owner.api.patch(`/calendars/${second}`, { color: '#123456' })).statusCode).toBe(200);
    expect((await week(reader)).filter((o) => o.calendarId === second).every((o) => o.color === '#123456')).toBe(true);
    await expectAllMatch('after answer and colour');
    // A grant revoked: the reader no longer sees that calendar.
    expect((await owner.api.del(`/calendars/${second}/shares/${reader.id}`)).statusCode).toBeLessThan(300);
    expect((await week(reader)).some((o) => o.calendarId === second)).toBe(false);
    await expectAllMatch('after revoking', [owner, reader, fb]);
  });

  it('sees writes made by another process (sync_seq and change log only), also across a gap in the log', async () => {
    await expectAllMatch('warm', [owner, writer]);
    const target = (await week(owner)).find((o) => o.summary === 'Same time A')!;
    // Another process: the row and the change log change, this process's caches hear nothing.
    await env.ctx.db.transaction().execute(async (trx) => {
      await sql`update calendar_object set summary = 'Changed elsewhere', etag = md5(random()::text) where id = ${target.id} and owner_id = ${owner.id}`.execute(trx);
      await objects.logChange(trx, owner.id, owner.cal, { id: target.id, name: 'x.ics', uid: 'x' }, 'put');
    });
    expect((await week(writer)).find((o) => o.id === target.id)!.summary).toBe('Changed elsewhere');
    await expectAllMatch('after an outside write', [owner, writer]);
    // The change log lost its entries (a gap): the memo is rebuilt, not patched.
    await sql`update calendar_object set summary = 'Changed across a gap', etag = md5(random()::text) where id = ${target.id} and owner_id = ${owner.id}`.execute(env.ctx.db);
    await sql`update calendar set sync_seq = sync_seq + 3 where id = ${owner.cal}`.execute(env.ctx.db);
    expect((await week(writer)).find((o) => o.id === target.id)!.summary).toBe('Changed across a gap');
    await expectAllMatch('after a gap', [owner, writer]);
  });

  it('keeps up with many writes (the arena grows, then is rebuilt when mostly dead)', async () => {
    await expectAllMatch('warm', [owner]);
    const e = await create(owner, ev('Edited often', local(2, '11:00'), local(2, '12:00')));
    for (let i = 0; i < 40; i++) {
      // ~3.6 KB of summary and location per version: 40 versions outgrow the arena's slack and leave it mostly dead.
      const summary = `Version ${i} ` + 'ä'.repeat(900);
      const r = await owner.api.patch(`/events/${e.id}`, { event: { summary, location: 'ö'.repeat(900) } });
      expect(r.statusCode, r.body).toBe(200);
      // A listing after each write: each applies one change (appends ~4 KB to the arena).
      const hit = (await week(owner)).filter((o) => o.id === e.id);
      expect(hit.map((o) => o.summary)).toEqual([summary]);
    }
    await expectAllMatch('after many writes', [owner, writer]);
  });

  it('stays right with listings and writes interleaved', async () => {
    await expectAllMatch('warm', [owner]);
    const made = await Promise.all([0, 1, 2].map((i) => create(owner, ev(`Parallel ${i}`, local(1, `1${i}:15`), local(1, `1${i}:45`)))));
    const reads: Promise<unknown>[] = [];
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 5; i++) reads.push(owner.api.get(`/events?from=${iso(-1)}&to=${iso(6)}`));
      reads.push(...made.map((e, i) => owner.api.patch(`/events/${e.id}`, { event: { summary: `Parallel ${i}, round ${round}` } })));
    }
    await Promise.all(reads);
    // The patches ran concurrently: whichever committed last is what the listing must show.
    const names = (await week(owner)).map((o) => o.summary);
    for (const e of made) {
      const row = await env.ctx.db.selectFrom('calendar_object').select('summary').where('owner_id', '=', owner.id).where('id', '=', e.id).executeTakeFirstOrThrow();
      expect(row.summary).toMatch(/^Parallel \d, round \d$/);
      expect(names).toContain(row.summary);
    }
    await expectAllMatch('after interleaving', [owner, writer]);
  });

  it('follows a change of the viewer\'s zone (floating times)', async () => {
    const before = (await week(owner)).filter((o) => o.summary === 'Floating run').map((o) => JSON.stringify(o));
    await sql`update principal set timezone = 'Pacific/Auckland' where id = ${owner.id}`.execute(env.ctx.db);
    const after = (await week(owner)).filter((o) => o.summary === 'Floating run').map((o) => JSON.stringify(o));
    expect(after).not.toEqual(before);
    await expectAllMatch('after a zone change', [owner]);
  });
});
