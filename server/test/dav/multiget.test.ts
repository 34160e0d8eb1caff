// calendar-multiget's fast path (only the asked columns, rendered from cells): per href, what GET
// and PROPFIND say about the same resource, and 404 for anything the user may not read there.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shareCalendar } from '../../src/app/calendars.js';
import { createDavEnv, dav, davUser, responses, vevent, type DavTestEnv, type DavUser } from './support.js';

let env: DavTestEnv;
let anna: DavUser;
let boris: DavUser;
let second: string;
const calId = () => anna.defaultCalendar.split('/')[4]!;
const MKCAL = '<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"/>';
const multiget = (props: string, hrefs: string[]) =>
  `<?xml version="1.0" encoding="utf-8"?>\n<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop>${props}</D:prop>${hrefs.map((h) => `<D:href>${h}</D:href>`).join('')}</C:calendar-multiget>`;

beforeAll(async () => {
  env = await createDavEnv();
  anna = await davUser(env, 'anna@example.com');
  boris = await davUser(env, 'boris@example.com');
  second = `${anna.home}second/`;
  expect((await dav(env, 'MKCALENDAR', second, { user: anna, body: MKCAL })).status).toBe(201);
  const put = async (u: DavUser, path: string, body: string) => expect((await dav(env, 'PUT', path, { user: u, body })).status).toBe(201);
  await put(anna, `${anna.defaultCalendar}a.ics`, vevent('a', { summary: 'Tom & Jerry <3> ]]>' }));
  await put(anna, `${anna.defaultCalendar}Café meeting.ics`, vevent('cafe', { summary: 'Café' }));
  await put(anna, `${anna.defaultCalendar}private.ics`, vevent('p', { extra: ['CLASS:PRIVATE'] }));
  await put(anna, `${second}other.ics`, vevent('other'));
  await put(boris, `${boris.defaultCalendar}b.ics`, vevent('b'));
  await shareCalendar(env.ctx, { userId: anna.row.id, via: 'rest' }, calId(), { email: boris.email, access: 'read' });
});
afterAll(async () => env?.close());

describe('calendar-multiget', () => {
  it('answers every href: found ones as GET and PROPFIND see them, the rest 404', async () => {
    const cal = anna.defaultCalendar;
    const hrefs = [
      `${cal}a.ics`, `${cal}Caf%C3%A9%20meeting.ics`, `${cal}missing.ics`, `${second}other.ics`, `${boris.defaultCalendar}b.ics`,
      `${cal}a.ics`, `http://example.com${cal}private.ics`, 'http://[bad', `${cal}`, `${cal}sub/a.ics`,
    ];
    const r = await dav(env, 'REPORT', cal, { user: anna, headers: { depth: '1' }, body: multiget('<D:getetag/><D:getcontenttype/><D:getcontentlength/><D:getlastmodified/><D:resourcetype/><C:calendar-data/>', hrefs) });
    expect(r.status).toBe(207);
    // One response per href, in order (a repeated href is answered twice).
    expect(r.xml().children.filter((c) => c.name === 'response').map((c) => c.children.find((x) => x.name === 'href')!.text)).toEqual(hrefs.map((h) => h.replace('&', '&amp;')));
    const all = responses(r.xml());
    const listing = responses((await dav(env, 'PROPFIND', cal, { user: anna, headers: { depth: '1' }, body: '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:getcontenttype/><D:getcontentlength/><D:getlastmodified/></D:prop></D:propfind>' })).xml());
    for (const [name, key] of [['a.ics', `${cal}a.ics`], ['Caf%C3%A9%20meeting.ics', `${cal}Café meeting.ics`], ['private.ics', `http://example.com${cal}private.ics`]] as const) {
      const got = all.get(key)!;
      const get = await dav(env, 'GET', `${cal}${name}`, { user: anna });
      // (An XML reader turns the CRLF line ends of the text into LF.)
      expect(got.props.get('calendar-data')!.text).toBe(get.text.replace(/\r\n/g, '\n'));
      expect(got.props.get('getetag')!.text).toBe(get.headers.get('etag'));
      const listed = listing.get(decodeURIComponent(`${cal}${name}`))!;
      for (const p of ['getetag', 'getcontenttype', 'getcontentlength', 'getlastmodified']) expect(got.props.get(p)!.text, p).toBe(listed.props.get(p)!.text);
    }
    expect(all.get(`${cal}a.ics`)!.props.get('calendar-data')!.text).toContain('SUMMARY:Tom & Jerry <3> ]]>');
    expect(r.text).toContain('Tom &amp; Jerry &lt;3&gt; ]]&gt;');
    for (const h of [`${cal}missing.ics`, `${second}other.ics`, `${boris.defaultCalendar}b.ics`, 'http://[bad', cal, `${cal}sub/a.ics`]) expect(all.get(decodeURIComponent(h))!.status, h).toMatch(/ 404 /);
  });

  it("a sharee gets the shared events, not the private one nor the owner's other calendars", async () => {
    const shared = `${boris.home}${calId()}/`;
    const hrefs = [`${shared}a.ics`, `${shared}private.ics`, `${anna.defaultCalendar}a.ics`, `${second}other.ics`];
    const r = await dav(env, 'REPORT', shared, { user: boris, headers: { depth: '1' }, body: multiget('<D:getetag/><C:calendar-data/>', hrefs) });
    expect(r.status).toBe(207);
    const all = responses(r.xml());
    expect(all.get(`${shared}a.ics`)!.props.get('calendar-data')!.text).toContain('UID:a');
    for (const h of hrefs.slice(1)) expect(all.get(h)!.status, h).toMatch(/ 404 /);
    // Anna's own URL of the same calendar is not Boris's way in.
    expect((await dav(env, 'REPORT', anna.defaultCalendar, { user: boris, headers: { depth: '1' }, body: multiget('<D:getetag/>', [`${anna.defaultCalendar}a.ics`]) })).status).toBe(404);
  });

  it('applies calendar-data restrictions and Prefer: return=minimal', async () => {
    const cal = anna.defaultCalendar;
    const spec = '<D:getetag/><C:calendar-data><C:comp name="VCALENDAR"><C:prop name="VERSION"/><C:comp name="VEVENT"><C:prop name="UID"/></C:comp></C:comp></C:calendar-data>';
    const r = await dav(env, 'REPORT', cal, { user: anna, headers: { depth: '1', prefer: 'return=minimal' }, body: multiget(spec, [`${cal}a.ics`, `${cal}missing.ics`]) });
    expect(r.status).toBe(207);
    expect(r.headers.get('preference-applied')).toBe('return=minimal');
    const data = responses(r.xml()).get(`${cal}a.ics`)!.props.get('calendar-data')!.text;
    expect(data).toContain('UID:a');
    expect(data).not.toContain('SUMMARY');
    expect(responses(r.xml()).get(`${cal}missing.ics`)!.status).toMatch(/ 404 /);
  });

  it('a body outside the fast XML reader (comments, CDATA, entities) gives the same answer; DTDs are refused', async () => {
    const cal = anna.defaultCalendar;
    const plain = await dav(env, 'REPORT', cal, { user: anna, headers: { depth: '1' }, body: multiget('<D:getetag/><C:calendar-data/>', [`${cal}a.ics`]) });
    const odd = `<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><!-- c --><D:prop><D:getetag/><C:calendar-data/></D:prop><D:href><![CDATA[${cal}]]>a&#46;ics</D:href></C:calendar-multiget>`;
    const r = await dav(env, 'REPORT', cal, { user: anna, headers: { depth: '1' }, body: odd });
    expect(r.status).toBe(207);
    expect(r.text).toBe(plain.text);
    const dtd = `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "${cal}a.ics">]><C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><D:href>&e;</D:href></C:calendar-multiget>`;
    expect((await dav(env, 'REPORT', cal, { user: anna, headers: { depth: '1' }, body: dtd })).status).toBe(400);
    expect((await dav(env, 'REPORT', cal, { user: anna, headers: { depth: '1' }, body: '<C:calendar-multiget xmlns:C="urn:ietf:params:xml:ns:caldav"><D:href>x</D:href></C:calendar-multiget>' })).status).toBe(400);
  });
});
