/**
 * GET /events builds its body as text (app/events/listing-json.ts). It must be byte for byte what
 * the reference path gives: listOccurrences() serialised with the route's response schema (the
 * compiled serialiser the route used before). Checked for an owner and for read, read-write and
 * free/busy grantees, over data with the cases the fast path treats specially: recurring series
 * with a moved occurrence (memoised per-occurrence text, first and second request), all-day events
 * next to timed ones starting at midnight, equal start times (stable order), private events,
 * zero-length and range-touching events, and text that needs JSON escaping.
 */
import build from 'fast-json-stringify';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, type TestEnv } from '../support/harness.js';
import { create, ev, occurrences, user, type TestUser } from './_helpers.js';
import { listOccurrences } from '../../src/app/events/queries.js';
import { saveObject } from '../../src/app/events/write.js';
import { OccurrenceList } from '../../src/http/rest/events.js';

let env: TestEnv;
let owner: TestUser;
let reader: TestUser;
let writer: TestUser;
let fb: TestUser;
let second: string;
const serialise = build(OccurrenceList as never) as (x: unknown) => string;

beforeAll(async () => {
  env = await createTestEnv({ mailDomains: ['example.com'], dataDir: `/tmp/calendula-test-lj-${process.pid}` });
  owner = await user(env, 'lena@example.com', 'Lena');
  reader = await user(env, 'rob@example.com', 'Rob');
  writer = await user(env, 'wanda@example.com', 'Wanda');
  fb = await user(env, 'fay@example.com', 'Fay');
  second = (await owner.api.post('/calendars', { name: 'Second "quoted" \\ cal', color: '#ff0000' })).json().id;
  for (const cal of [owner.cal, second]) {
    for (const [u, access] of [[reader, 'read'], [writer, 'read-write'], [fb, 'freebusy']] as const) {
      const r = await owner.api.put(`/calendars/${cal}/shares`, { email: u.email, access });
      expect(r.statusCode, r.body).toBe(200);
    }
  }
  const series = await create(owner, ev('Stand-up "daily" \\ ü 日本 😀', '2032-03-01T09:00:00', '2032-03-01T09:15:00', { location: 'Room\nA\t\u2028', rrule: 'FREQ=DAILY;COUNT=10' }));
  const third = (await occurrences(owner, '2032-03-03T00:00:00Z', '2032-03-04T00:00:00Z')).find((o) => o.id === series.id);
  const moved = await owner.api.patch(`/events/${series.id}`, { event: { start: '2032-03-03T11:00:00', end: '2032-03-03T11:30:00', timezone: 'UTC', summary: 'Moved <stand-up>' }, scope: 'this', recurrenceId: third.recurrenceId });
  expect(moved.statusCode, moved.body).toBe(200);
  await create(owner, ev('Weekly review', '2032-03-02T09:00:00', '2032-03-02T10:00:00', { rrule: 'FREQ=WEEKLY;COUNT=4', attendees: [{ email: reader.email }, { email: 'ext@partner.org' }] }), second);
  await create(owner, ev('Holiday', '2032-03-04', '2032-03-05', { allDay: true }));
  await create(owner, ev('Midnight call', '2032-03-04T00:00:00', '2032-03-04T00:30:00'));
  await create(owner, ev('Same time A', '2032-03-05T09:00:00', '2032-03-05T10:00:00'));
  await create(owner, ev('Same time B', '2032-03-05T09:00:00', '2032-03-05T09:30:00'), second);
  await create(owner, ev('Doctor', '2032-03-05T15:00:00', '2032-03-05T16:00:00', { visibility: 'PRIVATE', location: 'Clinic' }));
  await create(owner, ev('Tentative', '2032-03-06T15:00:00', '2032-03-06T16:00:00', { status: 'TENTATIVE', transparency: 'TRANSPARENT' }));
  await create(owner, ev('Before the range', '2032-02-29T23:00:00', '2032-03-01T00:00:00'));
  // An invitation from outside in Lena's calendar: she accepted the series and declined one occurrence.
  const inv = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//T//EN',
    'BEGIN:VEVENT', 'UID:ext-series@partner.org', 'DTSTAMP:20320101T000000Z', 'DTSTART:20320301T130000Z', 'DTEND:20320301T140000Z', 'RRULE:FREQ=DAILY;COUNT=5', 'SUMMARY:Partner sync',
    'ORGANIZER:mailto:boss@partner.org', 'ATTENDEE;PARTSTAT=ACCEPTED:mailto:boss@partner.org', 'ATTENDEE;PARTSTAT=ACCEPTED:mailto:lena@example.com', 'END:VEVENT',
    'BEGIN:VEVENT', 'UID:ext-series@partner.org', 'DTSTAMP:20320101T000000Z', 'RECURRENCE-ID:20320303T130000Z', 'DTSTART:20320303T130000Z', 'DTEND:20320303T140000Z', 'SUMMARY:Partner sync',
    'ORGANIZER:mailto:boss@partner.org', 'ATTENDEE;PARTSTAT=ACCEPTED:mailto:boss@partner.org', 'ATTENDEE;PARTSTAT=DECLINED:mailto:lena@example.com', 'END:VEVENT',
    'END:VCALENDAR', ''].join('\r\n');
  await saveObject(env.ctx, { userId: null, via: 'mail' } as never, { ownerId: owner.id, calendarId: owner.cal, ical: inv, schedule: false });
  const marker = await create(owner, ev('Marker', '2032-03-01T00:00:00', '2032-03-01T01:00:00'));
  // A zero-length event exactly at the range start (kept) — made by editing the row's span.
  await sql`update calendar_object set last_end = first_start where id = ${marker.id} and owner_id = ${owner.id}`.execute(env.ctx.db);
});
afterAll(async () => {
  await env.close();
});

async function reference(u: TestUser, from: string, to: string, calendars?: string): Promise<string> {
  const tz = (await env.ctx.db.selectFrom('principal').select('timezone').where('id', '=', u.id).executeTakeFirstOrThrow()).timezone;
  const items = await listOccurrences(env.ctx, { userId: u.id, email: u.email, via: 'rest' } as never, { from: new Date(from), to: new Date(to), calendarIds: calendars?.split(',') }, tz);
  return serialise({ items });
}

describe('GET /events body', () => {
  const ranges: [string, string][] = [['2032-03-01T00:00:00Z', '2032-03-08T00:00:00Z'], ['2032-02-20T00:00:00Z', '2032-04-01T00:00:00Z'], ['2032-03-04T00:00:00Z', '2032-03-05T00:00:00Z']];

  it('equals the reference path for the owner and every kind of grantee, cold and memoised', async () => {
    for (const u of [owner, reader, writer, fb]) {
      for (const [from, to] of ranges) {
        for (const calendars of [undefined, second, `${owner.cal},${second}`]) {
          for (let pass = 0; pass < 2; pass++) {
            const r = await u.api.get(`/events?from=${from}&to=${to}${calendars ? `&calendars=${calendars}` : ''}`);
            expect(r.statusCode, r.body).toBe(200);
            expect(String(r.headers['content-type'])).toBe('application/json; charset=utf-8');
            expect(r.body, `${u.email} ${from} ${calendars ?? ''} pass ${pass}`).toBe(await reference(u, from, to, calendars));
          }
        }
      }
    }
  });

  it('covers the special cases it claims to', async () => {
    const items = JSON.parse((await owner.api.get(`/events?from=${ranges[0][0]}&to=${ranges[0][1]}`)).body).items as { summary: string; start: string; recurrenceId: string | null; allDay: boolean }[];
    const names = items.map((o) => o.summary);
    expect(names).toContain('Marker');
    expect(names).not.toContain('Before the range');
    expect(names).toContain('Moved <stand-up>');
    expect(names.filter((n) => n.startsWith('Stand-up'))).toHaveLength(6);
    // The all-day event sorts before the timed one starting at midnight that day.
    expect(names.indexOf('Holiday')).toBe(names.indexOf('Midnight call') - 1);
    expect(names).toEqual(expect.arrayContaining(['Same time A', 'Same time B']));
    // Lena's own answer per occurrence: the declined one declined, the others accepted.
    const partner = (items as unknown as { summary: string; recurrenceId: string; myPartstat: string }[]).filter((o) => o.summary === 'Partner sync');
    expect(partner.map((o) => `${o.recurrenceId} ${o.myPartstat}`)).toEqual(['20320301T130000Z', '20320302T130000Z', '20320303T130000Z', '20320304T130000Z', '20320305T130000Z']
      .map((rid) => `${rid} ${rid === '20320303T130000Z' ? 'DECLINED' : 'ACCEPTED'}`));
    const fbItems = JSON.parse((await fb.api.get(`/events?from=${ranges[0][0]}&to=${ranges[0][1]}`)).body).items as { summary: string; busyOnly?: boolean }[];
    expect(fbItems.length).toBe(items.length);
    expect(fbItems.every((o) => o.summary === '' && o.busyOnly === true)).toBe(true);
  });
});
