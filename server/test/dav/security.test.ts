// Cross-user access, shares by grant, hostile XML bodies.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NS_CALDAV, NS_DAV, child } from '../../src/lib/dav/index.js';
import { shareCalendar } from '../../src/app/calendars.js';
import { createDavEnv, dav, davUser, responses, vevent, type DavTestEnv, type DavUser } from './support.js';

let env: DavTestEnv;
let anna: DavUser;
let boris: DavUser;
const annaCalId = () => anna.defaultCalendar.split('/')[4]!;

beforeAll(async () => {
  env = await createDavEnv();
  anna = await davUser(env, 'anna@example.com');
  boris = await davUser(env, 'boris@example.com');
  expect((await dav(env, 'PUT', `${anna.defaultCalendar}secret.ics`, { user: anna, body: vevent('secret', { summary: 'Secret', start: '20300115T100000Z', end: '20300115T110000Z' }) })).status).toBe(201);
});
afterAll(async () => env?.close());

describe('another user\'s home is 404 for every method (existence is not revealed)', () => {
  it.each([
    ['PROPFIND', () => anna.home],
    ['PROPFIND', () => anna.defaultCalendar],
    ['GET', () => `${anna.defaultCalendar}secret.ics`],
    ['PUT', () => `${anna.defaultCalendar}evil.ics`],
    ['DELETE', () => `${anna.defaultCalendar}secret.ics`],
    ['REPORT', () => anna.defaultCalendar],
    ['MKCALENDAR', () => `${anna.home}new/`],
  ])('%s', async (method, path) => {
    const body = method === 'PUT' ? vevent('evil') : method === 'REPORT' ? '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"/></C:filter></C:calendar-query>' : undefined;
    const r = await dav(env, method, path(), { user: boris, body, headers: { depth: '1' } });
    expect(r.status).toBe(404);
  });
  it('and the object is untouched', async () => {
    expect((await dav(env, 'GET', `${anna.defaultCalendar}secret.ics`, { user: anna })).status).toBe(200);
  });
});

describe('shares appear in the grantee\'s home with privileges by grant', () => {
  it('read-only: listed, readable, writes refused with 403 need-privileges', async () => {
    await shareCalendar(env.ctx, { userId: anna.row.id, via: 'rest' }, annaCalId(), { email: boris.email, access: 'read' });
    const shared = `${boris.home}${annaCalId()}/`;
    let r = await dav(env, 'PROPFIND', boris.home, { user: boris, headers: { depth: '1' }, body: '<D:propfind xmlns:D="DAV:"><D:prop><D:current-user-privilege-set/><D:resourcetype/></D:prop></D:propfind>' });
    const entry = responses(r.xml()).get(shared)!;
    const privs = entry.props.get('current-user-privilege-set')!.children.map((p) => p.children[0]!.name);
    expect(privs).toContain('read');
    expect(privs).not.toContain('write');
    r = await dav(env, 'GET', `${shared}secret.ics`, { user: boris });
    expect(r.status).toBe(200);
    // Private events stay the owner's (as in the REST API).
    expect((await dav(env, 'PUT', `${anna.defaultCalendar}private.ics`, { user: anna, body: vevent('private', { extra: ['CLASS:PRIVATE'] }) })).status).toBe(201);
    expect((await dav(env, 'GET', `${shared}private.ics`, { user: boris })).status).toBe(404);
    r = await dav(env, 'PROPFIND', shared, { user: boris, headers: { depth: '1' }, body: '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>' });
    expect([...responses(r.xml()).keys()]).not.toContain(`${shared}private.ics`);
    for (const [method, path, body] of [['PUT', `${shared}new.ics`, vevent('from-boris')], ['PUT', `${shared}secret.ics`, vevent('secret', { summary: 'Hacked' })], ['DELETE', `${shared}secret.ics`, undefined]] as const) {
      r = await dav(env, method, path, { user: boris, body });
      expect(r.status, `${method} ${path}`).toBe(403);
      const np = child(r.xml(), NS_DAV, 'need-privileges')!;
      expect(np).toBeTruthy();
      expect(child(child(np, NS_DAV, 'resource')!, NS_DAV, 'href')!.text).toBe(shared);
    }
  });

  it('freebusy-only: no members, no GET, only free-busy-query', async () => {
    await shareCalendar(env.ctx, { userId: anna.row.id, via: 'rest' }, annaCalId(), { email: boris.email, access: 'freebusy' });
    const shared = `${boris.home}${annaCalId()}/`;
    let r = await dav(env, 'PROPFIND', shared, { user: boris, headers: { depth: '1' }, body: '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>' });
    expect([...responses(r.xml()).keys()]).toEqual([shared]);
    r = await dav(env, 'GET', `${shared}secret.ics`, { user: boris });
    expect(r.status).toBe(403);
    r = await dav(env, 'REPORT', shared, { user: boris, headers: { depth: '1' }, body: '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"/></C:filter></C:calendar-query>' });
    expect(r.status).toBe(403);
    expect(child(r.xml(), NS_DAV, 'need-privileges')).toBeTruthy();
    r = await dav(env, 'REPORT', shared, { user: boris, headers: { depth: '1' }, body: '<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav"><C:time-range start="20300101T000000Z" end="20300201T000000Z"/></C:free-busy-query>' });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/text\/calendar/);
    expect(r.text).toContain('FREEBUSY;FBTYPE=BUSY:20300115T100000Z/20300115T110000Z');
    expect(r.text).not.toContain('Secret');
  });
});

describe('hostile XML', () => {
  const bodies = {
    xxe: `<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&x;</D:displayname></D:prop></D:propfind>`,
    laughs: `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&lol3;</D:displayname></D:prop></D:propfind>`,
    undefinedEntity: `<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&nope;</D:displayname></D:prop></D:propfind>`,
    malformed: `<D:propfind xmlns:D="DAV:"><D:prop>`,
    deep: `${'<a>'.repeat(200)}${'</a>'.repeat(200)}`,
  };
  it.each(Object.entries(bodies))('%s → 400 with a DAV:error, no expansion', async (_name, body) => {
    for (const method of ['PROPFIND', 'REPORT', 'PROPPATCH']) {
      const r = await dav(env, method, anna.defaultCalendar, { user: anna, body, headers: { depth: '0' } });
      expect(r.status, method).toBe(400);
      expect(r.text).toContain('DAV:');
      expect(r.text).not.toContain('root:');
      expect(r.text).not.toContain('lollol');
    }
  });
  it('an unknown REPORT is 403 supported-report; a bad filter is 403 valid-filter', async () => {
    let r = await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, body: '<x:nonsense xmlns:x="urn:x"/>' });
    expect(r.status).toBe(403);
    expect(child(r.xml(), NS_DAV, 'supported-report')).toBeTruthy();
    r = await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, body: '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><C:filter><C:comp-filter name="VEVENT"/></C:filter></C:calendar-query>' });
    expect(r.status).toBe(403);
    expect(child(r.xml(), NS_CALDAV, 'valid-filter')).toBeTruthy();
  });
  it('a body without Content-Type is accepted', async () => {
    const res = await fetch(`${env.base}${anna.defaultCalendar}`, { method: 'PROPFIND', headers: { authorization: anna.auth, depth: '0' }, body: new Blob(['<D:propfind xmlns:D="DAV:"><D:prop><D:displayname/></D:prop></D:propfind>']) });
    expect(res.status).toBe(207);
  });
});
