// Request bodies as Apple Calendar, Thunderbird, DAVx5 and Evolution send them (lib/dav fixtures),
// with the responses those clients rely on.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NS_CALDAV, NS_DAV, child, childrenNamed } from '../../src/lib/dav/index.js';
import { createDavEnv, dav, davUser, responses, vevent, type DavTestEnv, type DavUser } from './support.js';

const fixture = (name: string) => readFileSync(new URL(`../lib/dav/fixtures/${name}`, import.meta.url), 'utf8');

let env: DavTestEnv;
let anna: DavUser;

beforeAll(async () => {
  env = await createDavEnv();
  anna = await davUser(env, 'anna@example.com', { name: 'Anna Karenina' });
  await davUser(env, 'annette@example.com', { name: 'Annette K' });
  await davUser(env, 'room-blue@example.com', { kind: 'room', name: 'Blue room' });
  const put = (name: string, body: string) => dav(env, 'PUT', `${anna.defaultCalendar}${name}`, { user: anna, body });
  const j = await put('jan.ics', vevent('jan', { start: '20240110T100000Z', end: '20240110T110000Z' }));
  expect(j.status, j.text).toBe(201);
  expect((await put('feb.ics', vevent('feb', { start: '20240210T100000Z', end: '20240210T110000Z' }))).status).toBe(201);
  expect((await put('daily.ics', vevent('daily', { start: '20060102T150000Z', end: '20060102T160000Z', rrule: 'FREQ=DAILY;COUNT=5' }))).status).toBe(201);
  const todo = (uid: string, extra: string[]) => `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VTODO\r\nUID:${uid}\r\nDTSTAMP:20240101T000000Z\r\nSUMMARY:${uid}\r\n${extra.join('\r\n')}\r\nEND:VTODO\r\nEND:VCALENDAR\r\n`;
  expect((await put('todo-open.ics', todo('todo-open', ['DUE:20240120T000000Z', 'STATUS:NEEDS-ACTION']))).status).toBe(201);
  expect((await put('todo-done.ics', todo('todo-done', ['DUE:20240120T000000Z', 'STATUS:COMPLETED', 'COMPLETED:20240105T000000Z']))).status).toBe(201);
});
afterAll(async () => env?.close());

describe('Apple Calendar', () => {
  it('home PROPFIND (37 properties): the known ones at 200, the rest at 404', async () => {
    const r = await dav(env, 'PROPFIND', anna.home, { user: anna, headers: { depth: '1' }, body: fixture('apple-propfind-home.xml') });
    expect(r.status).toBe(207);
    const cal = responses(r.xml()).get(anna.defaultCalendar)!;
    for (const p of ['displayname', 'getctag', 'calendar-color', 'calendar-order', 'supported-calendar-component-set', 'current-user-privilege-set', 'sync-token', 'resourcetype', 'owner', 'quota-used-bytes', 'supported-report-set', 'calendar-timezone']) {
      expect(cal.props.has(p), p).toBe(true);
    }
    expect(cal.propStatus.get('pushkey')).toMatch(/404/);
  });

  it('MKCALENDAR with order, colour, zone and components; PROPPATCH colour/order/name', async () => {
    const url = `${anna.home}6f0c9a7e-2b61-4c1e-9d3a-0a1b2c3d4e5f/`;
    let r = await dav(env, 'MKCALENDAR', url, { user: anna, body: fixture('apple-mkcalendar.xml') });
    expect(r.status).toBe(201);
    r = await dav(env, 'MKCALENDAR', url, { user: anna, body: fixture('apple-mkcalendar.xml') });
    expect(r.status).toBe(405);
    expect(child(r.xml(), NS_DAV, 'resource-must-be-null')).toBeTruthy();
    r = await dav(env, 'PROPPATCH', url, { user: anna, body: fixture('apple-proppatch-color.xml') });
    expect(r.status).toBe(207);
    expect(r.text).not.toMatch(/HTTP\/1.1 (4|5)\d\d/);
    r = await dav(env, 'PROPFIND', url, { user: anna, headers: { depth: '0' }, body: '<D:propfind xmlns:D="DAV:" xmlns:A="http://apple.com/ns/ical/" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:displayname/><A:calendar-color/><A:calendar-order/><C:supported-calendar-component-set/><C:calendar-timezone/></D:prop></D:propfind>' });
    const p = responses(r.xml()).get(url)!.props;
    expect(p.get('displayname')!.text).toBe('Work & Play');
    expect(p.get('calendar-color')!.text).toBe('#FF2968FF');
    expect(p.get('calendar-order')!.text).toBe('3');
    expect(p.get('supported-calendar-component-set')!.children.map((c) => c.attrs.name)).toEqual(['VEVENT']);
    expect(p.get('calendar-timezone')!.text).toContain('TZID:Europe/Berlin');
    // A VTODO does not go into a VEVENT-only calendar.
    r = await dav(env, 'PUT', `${url}t.ics`, { user: anna, body: 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VTODO\r\nUID:t\r\nDTSTAMP:20240101T000000Z\r\nDUE:20240101T000000Z\r\nEND:VTODO\r\nEND:VCALENDAR\r\n' });
    expect(r.status).toBe(403);
    expect(child(r.xml(), NS_CALDAV, 'supported-calendar-component')).toBeTruthy();
    r = await dav(env, 'DELETE', url, { user: anna });
    expect(r.status).toBe(204);
    r = await dav(env, 'PROPFIND', url, { user: anna, headers: { depth: '0' } });
    expect(r.status).toBe(404);
  });

  it('principal search by name tokens and expand-property on the principal', async () => {
    let r = await dav(env, 'REPORT', anna.principal, { user: anna, body: fixture('apple-principal-search.xml') });
    expect(r.status).toBe(207);
    const found = responses(r.xml());
    expect([...found.keys()]).toEqual(['/dav/principals/anna@example.com/']);
    r = await dav(env, 'REPORT', anna.principal, { user: anna, body: fixture('apple-principal-search.xml').replace('context="attendee"', 'context="location"').replace('<B:search-token>anna</B:search-token>', '<B:search-token>blue</B:search-token>').replace('<B:search-token>k</B:search-token>', '') });
    const room = responses(r.xml()).get('/dav/principals/room-blue@example.com/')!;
    expect(room.props.get('calendar-user-type')!.text).toBe('ROOM');
    r = await dav(env, 'REPORT', anna.principal, { user: anna, body: fixture('apple-expand-property.xml') });
    expect(r.status).toBe(207);
    r = await dav(env, 'REPORT', anna.principal, { user: anna, body: '<A:expand-property xmlns:A="DAV:"><A:property name="calendar-home-set" namespace="urn:ietf:params:xml:ns:caldav"><A:property name="displayname"/></A:property><A:property name="displayname"/></A:expand-property>' });
    const prop = responses(r.xml()).get(anna.principal)!.props.get('calendar-home-set')!;
    const inner = child(prop, NS_DAV, 'response')!;
    expect(child(inner, NS_DAV, 'href')!.text).toBe(anna.home);
    expect(r.text).toContain('<D:displayname>Anna Karenina</D:displayname>');
  });
});

describe('Thunderbird', () => {
  it('multiget with percent-encoded hrefs: found ones with data, unknown ones 404', async () => {
    const body = fixture('thunderbird-multiget.xml').replace('/dav/calendars/anna/work/1234-abcd.ics', `${anna.defaultCalendar}jan.ics`).replace('/dav/calendars/anna/work/Caf%C3%A9%20meeting.ics', `${anna.defaultCalendar}Caf%C3%A9%20meeting.ics`);
    const r = await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, headers: { depth: '1' }, body });
    expect(r.status).toBe(207);
    const all = responses(r.xml());
    expect(all.get(`${anna.defaultCalendar}jan.ics`)!.props.get('calendar-data')!.text).toContain('UID:jan');
    expect(all.get(`${anna.defaultCalendar}Café meeting.ics`)!.status).toMatch(/404/);
  });
  it('principal-property-search (anyof) finds by name prefix', async () => {
    const r = await dav(env, 'REPORT', '/dav/principals/', { user: anna, body: fixture('thunderbird-principal-property-search.xml') });
    expect([...responses(r.xml()).keys()].sort()).toEqual(['/dav/principals/anna@example.com/', '/dav/principals/annette@example.com/']);
  });
  it('open-todos query (is-not-defined, negated text-match)', async () => {
    const r = await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, headers: { depth: '1' }, body: fixture('lightning-open-todos.xml') });
    expect([...responses(r.xml()).keys()]).toEqual([`${anna.defaultCalendar}todo-open.ics`]);
  });
});

describe('Evolution and RFC 4791 examples', () => {
  it('calendar-query with a time range (January 2024)', async () => {
    const r = await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, headers: { depth: '1' }, body: fixture('evolution-calendar-query.xml') });
    expect([...responses(r.xml()).keys()]).toEqual([`${anna.defaultCalendar}jan.ics`]);
  });
  it('calendar-data with expand: instances in UTC with RECURRENCE-ID, no RRULE', async () => {
    const r = await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, headers: { depth: '1' }, body: fixture('rfc4791-query-expand.xml') });
    const hit = responses(r.xml()).get(`${anna.defaultCalendar}daily.ics`)!;
    const data = hit.props.get('calendar-data')!.text;
    expect(data.match(/BEGIN:VEVENT/g)).toHaveLength(2);
    expect(data).toContain('RECURRENCE-ID:20060103T150000Z');
    expect(data).toContain('RECURRENCE-ID:20060104T150000Z');
    expect(data).not.toContain('RRULE');
    expect([...responses(r.xml()).keys()]).toEqual([`${anna.defaultCalendar}daily.ics`]);
  });
  it('a DAV:limit truncates with 507 for the collection', async () => {
    const r = await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, headers: { depth: '1' }, body: '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"/></C:filter><D:limit><D:nresults>2</D:nresults></D:limit></C:calendar-query>' });
    const all = responses(r.xml());
    expect(all.size).toBe(3);
    expect(all.get(anna.defaultCalendar)!.status).toMatch(/507/);
  });
});

describe('DAVx5', () => {
  it('extended MKCOL creates a calendar', async () => {
    const url = `${anna.home}holidays/`;
    const r = await dav(env, 'MKCOL', url, { user: anna, body: fixture('davx5-mkcol.xml') });
    expect(r.status).toBe(201);
    const p = await dav(env, 'PROPFIND', url, { user: anna, headers: { depth: '0' }, body: '<D:propfind xmlns:D="DAV:"><D:prop><D:displayname/><D:resourcetype/></D:prop></D:propfind>' });
    expect(responses(p.xml()).get(url)!.props.get('displayname')!.text).toBe('Holidays');
  });

  it('sync-collection: initial with limit pages with 507, incremental with tombstones, bad token 403', async () => {
    const initial = fixture('davx5-sync-initial.xml').replace('<nresults>100</nresults>', '<nresults>3</nresults>');
    let r = await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, body: initial });
    expect(r.status).toBe(207);
    let ms = r.xml();
    let all = responses(ms);
    expect(all.get(anna.defaultCalendar)!.status).toMatch(/507/);
    const seen = new Set([...all.keys()].filter((k) => k !== anna.defaultCalendar));
    expect(seen.size).toBe(3);
    let token = child(ms, NS_DAV, 'sync-token')!.text;
    // Continue until complete.
    for (let i = 0; i < 10; i++) {
      r = await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, body: fixture('davx5-sync-collection.xml').replace('https://cal.example.com/sync/1711/42', token) });
      ms = r.xml();
      all = responses(ms);
      for (const k of all.keys()) if (k !== anna.defaultCalendar) seen.add(k);
      token = child(ms, NS_DAV, 'sync-token')!.text;
      if (!all.has(anna.defaultCalendar)) break;
    }
    expect(seen.size).toBe(5);
    await dav(env, 'DELETE', `${anna.defaultCalendar}feb.ics`, { user: anna });
    await dav(env, 'PUT', `${anna.defaultCalendar}mar.ics`, { user: anna, body: vevent('mar') });
    r = await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, body: fixture('davx5-sync-collection.xml').replace('https://cal.example.com/sync/1711/42', token) });
    all = responses(r.xml());
    expect(all.get(`${anna.defaultCalendar}feb.ics`)!.status).toMatch(/404/);
    expect(all.get(`${anna.defaultCalendar}mar.ics`)!.props.has('getetag')).toBe(true);
    expect(all.size).toBe(2);
    r = await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, body: fixture('davx5-sync-collection.xml') });
    expect(r.status).toBe(403);
    expect(child(r.xml(), NS_DAV, 'valid-sync-token')).toBeTruthy();
    void childrenNamed;
  });
});
