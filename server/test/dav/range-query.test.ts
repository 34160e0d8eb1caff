// The fast "VEVENT in a time range" calendar-query (reports/calendar-query.ts simpleRangeQuery,
// store timeRangeCells) must answer the same resources as the generic path, which a property
// the fast renderer does not write (DAV:displayname) forces.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shareCalendar } from '../../src/app/calendars.js';
import { createDavEnv, dav, davUser, responses, vevent, type DavTestEnv, type DavUser } from './support.js';

let env: DavTestEnv;
let anna: DavUser;
let boris: DavUser;

const query = (props: string, start: string, end: string, limit = '') => `<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop>${props}</D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="${start}" end="${end}"/></C:comp-filter></C:comp-filter></C:filter>${limit}</C:calendar-query>`;
const FAST = '<D:getetag/>';
const GENERIC = '<D:getetag/><D:displayname/>';

async function hits(user: DavUser, cal: string, props: string, start: string, end: string, limit = '') {
  const r = await dav(env, 'REPORT', cal, { user, body: query(props, start, end, limit), headers: { depth: '1' } });
  expect(r.status).toBe(207);
  const out = new Map<string, string>();
  for (const [h, x] of responses(r.xml())) if (x.props.get('getetag')) out.set(h, x.props.get('getetag')!.text);
  return { map: out, text: r.text };
}

beforeAll(async () => {
  env = await createDavEnv();
  anna = await davUser(env, 'anna@example.com');
  boris = await davUser(env, 'boris@example.com');
  const put = async (name: string, body: string) => expect((await dav(env, 'PUT', `${anna.defaultCalendar}${name}`, { user: anna, body })).status).toBe(201);
  await put('single.ics', vevent('single', { start: '20300110T100000Z', end: '20300110T110000Z' }));
  await put('outside.ics', vevent('outside', { start: '20300301T100000Z', end: '20300301T110000Z' }));
  await put('weekly.ics', vevent('weekly', { start: '20291220T090000Z', end: '20291220T100000Z', rrule: 'FREQ=WEEKLY;COUNT=10', extra: ['EXDATE:20300110T090000Z'] }));
  await put('weekly-hit.ics', vevent('weekly-hit', { start: '20291221T090000Z', end: '20291221T100000Z', rrule: 'FREQ=WEEKLY;COUNT=10' }));
  await put('Caf%C3%A9%20%26%20co%01.ics', vevent('odd-name', { start: '20300111T100000Z', end: '20300111T110000Z' }));
  await put('private.ics', vevent('private', { start: '20300111T120000Z', end: '20300111T130000Z', extra: ['CLASS:PRIVATE'] }));
  await shareCalendar(env.ctx, { userId: anna.row.id, via: 'rest' }, anna.defaultCalendar.split('/')[4]!, { email: boris.email, access: 'read' });
});
afterAll(async () => env?.close());

describe('calendar-query VEVENT time-range: fast path = generic path', () => {
  it('same hrefs and etags for the owner (odd names, excluded instance, series in and out of range)', async () => {
    const [s, e] = ['20300109T000000Z', '20300112T000000Z'];
    const fast = await hits(anna, anna.defaultCalendar, FAST, s, e);
    const generic = await hits(anna, anna.defaultCalendar, GENERIC, s, e);
    expect(fast.text).not.toContain('displayname');
    expect(generic.text).toContain('displayname');
    expect([...fast.map].sort()).toEqual([...generic.map].sort());
    const names = [...fast.map.keys()].map((h) => h.slice(h.lastIndexOf('/') + 1)).sort();
    // weekly.ics has its 10 January instance excluded; weekly-hit.ics meets 11 January.
    expect(names).toEqual(['Café & co\u0001.ics', 'private.ics', 'single.ics', 'weekly-hit.ics']);
  });

  it('a sharee sees the same list without the private event', async () => {
    const shared = `${boris.home}${anna.defaultCalendar.split('/')[4]}/`;
    const [s, e] = ['20300109T000000Z', '20300112T000000Z'];
    const fast = await hits(boris, shared, FAST, s, e);
    const generic = await hits(boris, shared, GENERIC, s, e);
    expect([...fast.map].sort()).toEqual([...generic.map].sort());
    expect([...fast.map.keys()].some((h) => h.endsWith('private.ics'))).toBe(false);
    expect(fast.map.size).toBe(3);
  });

  it('a result limit cuts the same name-ordered list and says so (507)', async () => {
    const limit = '<D:limit><D:nresults>2</D:nresults></D:limit>';
    const [s, e] = ['20300109T000000Z', '20300112T000000Z'];
    const fast = await hits(anna, anna.defaultCalendar, FAST, s, e, limit);
    const generic = await hits(anna, anna.defaultCalendar, GENERIC, s, e, limit);
    expect([...fast.map.keys()]).toEqual([...generic.map.keys()]);
    expect(fast.map.size).toBe(2);
    expect(fast.text).toContain('number-of-matches-within-limits');
  });
});
