// CALDAV:free-busy-query and calendar-query with floating times: RFC 4791 §9.9 — a DATE-TIME without zone is taken in
// the calendar's time zone (CALDAV:calendar-timezone), not read as UTC.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDavEnv, dav, davUser, responses, type DavTestEnv, type DavUser } from './support.js';
import { vtimezoneFor } from '../../src/lib/ical/index.js';
import { saveObject } from '../../src/app/events/write.js';

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

// CALDAV:calendar-query time-range with floating times (RFC 4791 §9.9): the query's CALDAV:timezone,
// else the calendar's CALDAV:calendar-timezone (its zone, else its owner's). Mira's zone is
// Europe/Moscow (UTC+3; her calendar has none), Ned's calendar is in America/New_York (UTC−5 in
// early March 2030). A floating 10:00–11:00 on 5 March 2030 and a floating daily 10:00 series from
// that day are 07:00–08:00Z for Mira and 15:00–16:00Z for Ned: [00:00Z, 09:00Z) holds them for
// her only, [12:00Z, 24:00Z) for him only — read as UTC (10:00Z) they would be in neither.
describe('calendar-query time-range and floating events', () => {
  let mira: DavUser;
  let ned: DavUser;
  const R1 = ['20300305T000000Z', '20300305T090000Z'] as const;
  const R2 = ['20300305T120000Z', '20300306T000000Z'] as const;
  const series = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//test//EN', 'BEGIN:VEVENT', 'UID:floating-series', 'DTSTAMP:20300101T000000Z',
    'DTSTART:20300305T100000', 'DURATION:PT1H', 'RRULE:FREQ=DAILY;COUNT=3', 'SUMMARY:Floating daily', 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
  const nyTimezone = `<C:timezone>BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n${vtimezoneFor('America/New_York').trim()}\r\nEND:VCALENDAR\r\n</C:timezone>`;

  beforeAll(async () => {
    mira = await davUser(env, 'mira@example.com');
    ned = await davUser(env, 'ned@example.com');
    await env.ctx.db.updateTable('principal').set({ timezone: 'Europe/Moscow' }).where('id', '=', mira.row.id).execute();
    await env.ctx.db.updateTable('calendar').set({ timezone: null }).where('id', '=', mira.defaultCalendar.split('/')[4]!).execute();
    await env.ctx.db.updateTable('calendar').set({ timezone: 'America/New_York' }).where('id', '=', ned.defaultCalendar.split('/')[4]!).execute();
    for (const u of [mira, ned]) {
      expect((await dav(env, 'PUT', `${u.defaultCalendar}floating.ics`, { user: u, body: floatingEvent })).status).toBe(201);
      expect((await dav(env, 'PUT', `${u.defaultCalendar}series.ics`, { user: u, body: series })).status).toBe(201);
    }
  });

  // The fast path (getetag only), the generic one (a property the fast renderer does not write),
  // with calendar-data, and the full filter evaluator (a prop-filter).
  const variants = {
    fast: { props: '<D:getetag/>', filter: '' },
    generic: { props: '<D:getetag/><D:displayname/>', filter: '' },
    data: { props: '<D:getetag/><C:calendar-data/>', filter: '' },
    evaluator: { props: '<D:getetag/>', filter: '<C:prop-filter name="SUMMARY"><C:text-match>Floating</C:text-match></C:prop-filter>' },
  };
  const names = async (u: DavUser, [start, end]: readonly [string, string], v: { props: string; filter: string }, tz = '') => {
    const body = `<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop>${v.props}</D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="${start}" end="${end}"/>${v.filter}</C:comp-filter></C:comp-filter></C:filter>${tz}</C:calendar-query>`;
    const r = await dav(env, 'REPORT', u.defaultCalendar, { user: u, body, headers: { depth: '1' } });
    expect(r.status, r.text).toBe(207);
    return [...responses(r.xml()).keys()].map((h) => h.slice(h.lastIndexOf('/') + 1)).sort();
  };

  for (const [name, v] of Object.entries(variants)) {
    it(`places them in the calendar's zone, else the owner's (${name})`, async () => {
      expect(await names(mira, R1, v), 'Moscow, before 09:00Z').toEqual(['floating.ics', 'series.ics']);
      expect(await names(ned, R1, v), 'New York, before 09:00Z').toEqual([]);
      expect(await names(mira, R2, v), 'Moscow, after 12:00Z').toEqual([]);
      expect(await names(ned, R2, v), 'New York, after 12:00Z').toEqual(['floating.ics', 'series.ics']);
    });
  }

  it('a CALDAV:timezone in the query wins over the calendar\'s zone', async () => {
    for (const v of Object.values(variants)) {
      expect(await names(mira, R1, v, nyTimezone)).toEqual([]);
      expect(await names(mira, R2, v, nyTimezone)).toEqual(['floating.ics', 'series.ics']);
    }
  });

  it('on the schedule inbox, a floating invitation is placed in the user\'s zone', async () => {
    const invite = floatingEvent.replace('UID:floating-fb', 'UID:floating-invite\r\nORGANIZER:mailto:boss@example.com\r\nATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:mira@example.com');
    const { row } = await saveObject(env.ctx, { userId: mira.row.id, email: mira.email, via: 'rest' }, { ownerId: mira.row.id, calendarId: mira.defaultCalendar.split('/')[4]!, ical: invite, schedule: false });
    expect([row.role, row.my_partstat, row.floating]).toEqual(['attendee', 'NEEDS-ACTION', true]);
    const inInbox = async (range: readonly [string, string]) => {
      const body = `<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="${range[0]}" end="${range[1]}"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>`;
      const r = await dav(env, 'REPORT', `${mira.home}inbox/`, { user: mira, body, headers: { depth: '1' } });
      expect(r.status, r.text).toBe(207);
      return [...responses(r.xml()).keys()].some((h) => h.endsWith(`${row.id}.ics`));
    };
    expect(await inInbox(R1)).toBe(true);
    expect(await inInbox(R2)).toBe(false);
    await env.ctx.db.deleteFrom('calendar_object').where('owner_id', '=', mira.row.id).where('id', '=', row.id).execute();
  });

  it('free-busy-query expands a floating series in the calendar\'s zone', async () => {
    const r = await dav(env, 'REPORT', ned.defaultCalendar, { user: ned, body: '<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav"><C:time-range start="20300306T000000Z" end="20300308T000000Z"/></C:free-busy-query>' });
    expect(r.status).toBe(200);
    const periods = (r.text.match(/^FREEBUSY[^\r\n]*/gm) ?? []).flatMap((l) => l.slice(l.indexOf(':') + 1).split(','));
    expect(periods).toEqual(['20300306T150000Z/20300306T160000Z', '20300307T150000Z/20300307T160000Z']);
  });
});

// All-day dates are floating too (RFC 4791 §9.9: DATE values are read in the query's CALDAV:timezone,
// else the calendar's). An all-day 10 February 2030 is [9 Feb 21:00Z, 10 Feb 21:00Z) for Mira
// (Moscow, UTC+3) and [10 Feb 05:00Z, 11 Feb 05:00Z) for Ned (New York, UTC−5 in February): a range
// late on 9 February UTC holds it for her only, one late on 10 February for him only — read as a
// UTC day it would be the other way round. The same for a daily all-day series from 15 February.
describe('calendar-query time-range and all-day events', () => {
  let mira: DavUser;
  let ned: DavUser;
  const day = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//test//EN', 'BEGIN:VEVENT', 'UID:allday-single', 'DTSTAMP:20300101T000000Z',
    'DTSTART;VALUE=DATE:20300210', 'DTEND;VALUE=DATE:20300211', 'SUMMARY:All day', 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
  const days = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//test//EN', 'BEGIN:VEVENT', 'UID:allday-series', 'DTSTAMP:20300101T000000Z',
    'DTSTART;VALUE=DATE:20300215', 'DTEND;VALUE=DATE:20300216', 'RRULE:FREQ=DAILY;COUNT=2', 'SUMMARY:All day series', 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
  const variants = [
    { props: '<D:getetag/>', filter: '' },
    { props: '<D:getetag/><D:displayname/>', filter: '' },
    { props: '<D:getetag/><C:calendar-data/>', filter: '' },
    { props: '<D:getetag/>', filter: '<C:prop-filter name="SUMMARY"><C:text-match>All day</C:text-match></C:prop-filter>' },
  ];
  const names = async (u: DavUser, start: string, end: string, v: { props: string; filter: string }) => {
    const body = `<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop>${v.props}</D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="${start}" end="${end}"/>${v.filter}</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>`;
    const r = await dav(env, 'REPORT', u.defaultCalendar, { user: u, body, headers: { depth: '1' } });
    expect(r.status, r.text).toBe(207);
    return [...responses(r.xml()).keys()].map((h) => h.slice(h.lastIndexOf('/') + 1)).sort();
  };

  beforeAll(async () => {
    mira = await davUser(env, 'mira-ad@example.com');
    ned = await davUser(env, 'ned-ad@example.com');
    await env.ctx.db.updateTable('principal').set({ timezone: 'Europe/Moscow' }).where('id', '=', mira.row.id).execute();
    await env.ctx.db.updateTable('calendar').set({ timezone: null }).where('id', '=', mira.defaultCalendar.split('/')[4]!).execute();
    await env.ctx.db.updateTable('calendar').set({ timezone: 'America/New_York' }).where('id', '=', ned.defaultCalendar.split('/')[4]!).execute();
    for (const u of [mira, ned]) {
      expect((await dav(env, 'PUT', `${u.defaultCalendar}day.ics`, { user: u, body: day })).status).toBe(201);
      expect((await dav(env, 'PUT', `${u.defaultCalendar}days.ics`, { user: u, body: days })).status).toBe(201);
    }
  });

  variants.forEach((v, i) => {
    it(`places the day in the calendar's zone, else the owner's (variant ${i + 1})`, async () => {
      expect(await names(mira, '20300209T210000Z', '20300209T230000Z', v)).toEqual(['day.ics']);
      expect(await names(ned, '20300209T210000Z', '20300209T230000Z', v)).toEqual([]);
      expect(await names(mira, '20300210T220000Z', '20300211T000000Z', v)).toEqual([]);
      expect(await names(ned, '20300210T220000Z', '20300211T000000Z', v)).toEqual(['day.ics']);
      // The series' second day, 16 February.
      expect(await names(mira, '20300215T220000Z', '20300215T230000Z', v)).toEqual(['days.ics']);
      expect(await names(ned, '20300215T220000Z', '20300215T230000Z', v)).toEqual(['days.ics']);
      expect(await names(mira, '20300216T220000Z', '20300217T000000Z', v)).toEqual([]);
      expect(await names(ned, '20300216T220000Z', '20300217T000000Z', v)).toEqual(['days.ics']);
    });
  });
  it('free-busy-query puts all-day days midnight to midnight in the calendar\'s zone', async () => {
    const periods = async (u: DavUser) => {
      const r = await dav(env, 'REPORT', u.defaultCalendar, { user: u, body: '<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav"><C:time-range start="20300208T000000Z" end="20300220T000000Z"/></C:free-busy-query>' });
      expect(r.status).toBe(200);
      return (r.text.match(/^FREEBUSY[^\r\n]*/gm) ?? []).flatMap((l) => l.slice(l.indexOf(':') + 1).split(','));
    };
    expect(await periods(mira)).toEqual(['20300209T210000Z/20300210T210000Z', '20300214T210000Z/20300216T210000Z']);
    expect(await periods(ned)).toEqual(['20300210T050000Z/20300211T050000Z', '20300215T050000Z/20300217T050000Z']);
  });
});
