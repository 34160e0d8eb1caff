// In-process protocol tests: discovery, collections, resources and their preconditions, REPORTs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NS_CALDAV, NS_DAV, child } from '../../src/lib/dav/index.js';
import { createDavEnv, dav, davUser, responses, vevent, type DavTestEnv, type DavUser } from './support.js';

let env: DavTestEnv;
let anna: DavUser;

beforeAll(async () => {
  env = await createDavEnv();
  anna = await davUser(env, 'anna@example.com', { name: 'Anna Petrova' });
});
afterAll(async () => env?.close());

const propfind = (props: string, ns = '') => `<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:cs="http://calendarserver.org/ns/" xmlns:a="http://apple.com/ns/ical/"${ns}><d:prop>${props}</d:prop></d:propfind>`;

describe('discovery', () => {
  it('/.well-known/caldav redirects to /dav/ (RFC 6764)', async () => {
    const r = await dav(env, 'PROPFIND', '/.well-known/caldav');
    expect(r.status).toBe(301);
    expect(r.headers.get('location')).toBe('/dav/');
  });

  it('OPTIONS advertises exactly the implemented classes, without auth', async () => {
    const r = await dav(env, 'OPTIONS', '/dav/');
    expect(r.status).toBe(200);
    const classes = r.headers.get('dav')!.split(',').map((s) => s.trim());
    expect(classes).toEqual(expect.arrayContaining(['1', '3', 'calendar-access', 'calendar-auto-schedule', 'extended-mkcol', 'access-control']));
    expect(classes).not.toContain('2');
    expect(r.headers.get('allow')).toContain('REPORT');
  });

  it('current-user-principal → principal → home, inbox, outbox, addresses', async () => {
    let r = await dav(env, 'PROPFIND', '/dav/', { user: anna, headers: { depth: '0' }, body: propfind('<d:current-user-principal/><d:principal-collection-set/>') });
    expect(r.status).toBe(207);
    const root = responses(r.xml()).get('/dav/')!;
    expect(child(root.props.get('current-user-principal')!, NS_DAV, 'href')!.text).toBe(anna.principal);
    r = await dav(env, 'PROPFIND', anna.principal, { user: anna, headers: { depth: '0' }, body: propfind('<d:displayname/><c:calendar-home-set/><c:calendar-user-address-set/><c:schedule-inbox-URL/><c:schedule-outbox-URL/><d:principal-URL/><c:calendar-user-type/>') });
    const p = responses(r.xml()).get(anna.principal)!;
    expect(p.props.get('displayname')!.text).toBe('Anna Petrova');
    expect(child(p.props.get('calendar-home-set')!, NS_DAV, 'href')!.text).toBe(anna.home);
    expect(p.props.get('calendar-user-address-set')!.children.map((c) => c.text)).toContain('mailto:anna@example.com');
    expect(child(p.props.get('schedule-inbox-URL')!, NS_DAV, 'href')!.text).toBe(`${anna.home}inbox/`);
    expect(child(p.props.get('schedule-outbox-URL')!, NS_DAV, 'href')!.text).toBe(`${anna.home}outbox/`);
    expect(p.props.get('calendar-user-type')!.text).toBe('INDIVIDUAL');
  });

  it('the home lists calendars, inbox and outbox with their properties', async () => {
    const r = await dav(env, 'PROPFIND', anna.home, {
      user: anna, headers: { depth: '1' },
      body: propfind('<d:resourcetype/><d:displayname/><cs:getctag/><d:sync-token/><c:supported-calendar-component-set/><d:current-user-privilege-set/><a:calendar-color/><d:supported-report-set/><d:quota-used-bytes/><d:quota-available-bytes/>'),
    });
    expect(r.status).toBe(207);
    const all = responses(r.xml());
    const cal = all.get(anna.defaultCalendar)!;
    expect(cal.props.get('resourcetype')!.children.map((c) => c.name)).toEqual(['collection', 'calendar']);
    expect(cal.props.get('sync-token')!.text).toMatch(/^http:\/\/calendula\.org\/ns\/sync\//);
    expect(cal.props.get('supported-calendar-component-set')!.children.map((c) => c.attrs.name)).toContain('VEVENT');
    expect(cal.props.get('current-user-privilege-set')!.children.map((c) => c.children[0]!.name)).toEqual(expect.arrayContaining(['read', 'write', 'bind']));
    expect(cal.props.get('supported-report-set')!.children.map((c) => c.children[0]!.children[0]!.name)).toEqual(expect.arrayContaining(['calendar-query', 'calendar-multiget', 'sync-collection']));
    expect(Number(cal.props.get('quota-available-bytes')!.text)).toBeGreaterThan(0);
    expect(all.get(`${anna.home}inbox/`)!.props.get('resourcetype')!.children.map((c) => c.name)).toContain('schedule-inbox');
    expect(all.get(`${anna.home}outbox/`)!.props.get('resourcetype')!.children.map((c) => c.name)).toContain('schedule-outbox');
  });
});

describe('auth', () => {
  it('no or wrong credentials → 401 with WWW-Authenticate Basic', async () => {
    for (const auth of [undefined, `Basic ${Buffer.from('anna@example.com:wrong').toString('base64')}`]) {
      const r = await dav(env, 'PROPFIND', anna.home, { auth, headers: { depth: '0' } });
      expect(r.status).toBe(401);
      expect(r.headers.get('www-authenticate')).toMatch(/^Basic realm="[^"]+"/);
    }
  });
  it('the account password works while allowPasswordForDav is on', async () => {
    const r = await dav(env, 'PROPFIND', anna.home, { auth: `Basic ${Buffer.from('anna@example.com:password123').toString('base64')}`, headers: { depth: '0' } });
    expect(r.status).toBe(207);
  });
});

describe('resources', () => {
  it('PUT / GET / HEAD / DELETE with ETag, If-Match and If-None-Match', async () => {
    const url = `${anna.defaultCalendar}one.ics`;
    let r = await dav(env, 'PUT', url, { user: anna, body: vevent('one'), headers: { 'if-none-match': '*' } });
    expect(r.status).toBe(201);
    const etag = r.headers.get('etag');
    expect(etag).toMatch(/^"[^"]+"$/);
    r = await dav(env, 'PUT', url, { user: anna, body: vevent('one'), headers: { 'if-none-match': '*' } });
    expect(r.status).toBe(412);
    r = await dav(env, 'GET', url, { user: anna });
    expect(r.status).toBe(200);
    expect(r.headers.get('etag')).toBe(etag);
    expect(r.text).toContain('UID:one');
    r = await dav(env, 'HEAD', url, { user: anna });
    expect(r.status).toBe(200);
    r = await dav(env, 'PUT', url, { user: anna, body: vevent('one', { summary: 'Changed' }), headers: { 'if-match': '"nope"' } });
    expect(r.status).toBe(412);
    r = await dav(env, 'PUT', url, { user: anna, body: vevent('one', { summary: 'Changed' }), headers: { 'if-match': etag! } });
    expect(r.status).toBe(204);
    r = await dav(env, 'DELETE', url, { user: anna, headers: { 'if-match': etag! } });
    expect(r.status).toBe(412);
    r = await dav(env, 'DELETE', url, { user: anna });
    expect(r.status).toBe(204);
    r = await dav(env, 'GET', url, { user: anna });
    expect(r.status).toBe(404);
  });

  it('no-uid-conflict names the resource holding the UID', async () => {
    await dav(env, 'PUT', `${anna.defaultCalendar}a.ics`, { user: anna, body: vevent('dup-uid') });
    const r = await dav(env, 'PUT', `${anna.defaultCalendar}b.ics`, { user: anna, body: vevent('dup-uid') });
    expect(r.status).toBe(409);
    const cond = child(r.xml(), NS_CALDAV, 'no-uid-conflict')!;
    expect(child(cond, NS_DAV, 'href')!.text).toBe(`${anna.defaultCalendar}a.ics`);
  });

  it('valid-calendar-data, supported-calendar-data, max-resource-size, calendar-collection-location-ok', async () => {
    let r = await dav(env, 'PUT', `${anna.defaultCalendar}bad.ics`, { user: anna, body: 'BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nEND:VCALENDAR\r\n' });
    expect(r.status).toBe(403);
    expect(child(r.xml(), NS_CALDAV, 'valid-calendar-data')).toBeTruthy();
    r = await dav(env, 'PUT', `${anna.defaultCalendar}x.ics`, { user: anna, body: '<x/>', headers: { 'content-type': 'application/xml' } });
    expect(r.status).toBe(403);
    expect(child(r.xml(), NS_CALDAV, 'supported-calendar-data')).toBeTruthy();
    r = await dav(env, 'PUT', `${anna.defaultCalendar}big.ics`, { user: anna, body: vevent('big', { extra: [`DESCRIPTION:${'x'.repeat(1_100_000)}`] }) });
    expect(r.status).toBe(403);
    expect(child(r.xml(), NS_CALDAV, 'max-resource-size')).toBeTruthy();
    r = await dav(env, 'PUT', `${anna.home}loose.ics`, { user: anna, body: vevent('loose') });
    expect(r.status).toBe(403);
    expect(child(r.xml(), NS_CALDAV, 'calendar-collection-location-ok')).toBeTruthy();
  });
});
