// CALDAV:free-busy-query with floating times: RFC 4791 §9.9 — a DATE-TIME without zone is taken in
// the calendar's time zone (CALDAV:calendar-timezone), not read as UTC.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDavEnv, dav, davUser, type DavTestEnv, type DavUser } from './support.js';

let env: DavTestEnv;
let anna: DavUser;

const floatingEvent = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//test//EN', 'BEGIN:VEVENT', 'UID:floating-fb', 'DTSTAMP:20300101T000000Z',
  'DTSTART:20300305T100000', 'DTEND:20300305T110000', 'SUMMARY:Floating', 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');

const busy = async (start: string, end: string) => {
  const r = await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, body: `<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav"><C:time-range start="${start}" end="${end}"/></C:free-busy-query>` });
  expect(r.status).toBe(200);
  return (r.text.match(/^FREEBUSY[^\r\n]*/gm) ?? []).map((l) => l.slice(l.indexOf(':') + 1));
};

beforeAll(async () => {
  env = await createDavEnv();
  anna = await davUser(env, 'anna@example.com');
  expect((await dav(env, 'PUT', `${anna.defaultCalendar}floating.ics`, { user: anna, body: floatingEvent })).status).toBe(201);
  // The calendar's zone: Asia/Tokyo (UTC+9, no DST), so 10:00 floating is 01:00Z.
  await env.ctx.db.updateTable('calendar').set({ timezone: 'Asia/Tokyo' }).where('id', '=', anna.defaultCalendar.split('/')[4]!).execute();
});
afterAll(async () => env?.close());

describe('free-busy-query and floating single events', () => {
  it('are busy at their wall time in the calendar zone', async () => {
    expect(await busy('20300305T000000Z', '20300306T000000Z')).toEqual(['20300305T010000Z/20300305T020000Z']);
  });
  it('are not busy where their wall time read as UTC would put them', async () => {
    expect(await busy('20300305T090000Z', '20300305T120000Z')).toEqual([]);
  });
  it('are clipped at the edges of the range, and a range ending where they start is free', async () => {
    expect(await busy('20300305T013000Z', '20300305T030000Z')).toEqual(['20300305T013000Z/20300305T020000Z']);
    expect(await busy('20300304T000000Z', '20300305T010000Z')).toEqual([]);
    expect(await busy('20300305T020000Z', '20300305T030000Z')).toEqual([]);
  });
});
