// Dead properties (RFC 4918 §4.2, §9.2): PROPPATCH of properties Calendula does not interpret is
// stored per calendar / calendar object and given back by PROPFIND; PROPPATCH stays all or nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { child, type XmlElement } from '../../src/lib/dav/index.js';
import { createDavEnv, dav, davUser, responses, vevent, type DavTestEnv, type DavUser } from './support.js';

let env: DavTestEnv;
let anna: DavUser;
let cal: string;

const APPLE = 'http://apple.com/ns/ical/';
const MOZ = 'http://mozilla.org/ns/calendar/';

const patch = (inner: string, ns = '') =>
  `<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:" xmlns:A="${APPLE}" xmlns:M="${MOZ}" xmlns:X="urn:x"${ns}>${inner}</D:propertyupdate>`;
const set = (props: string) => `<D:set><D:prop>${props}</D:prop></D:set>`;
const remove = (props: string) => `<D:remove><D:prop>${props}</D:prop></D:remove>`;

async function proppatch(url: string, body: string) {
  const r = await dav(env, 'PROPPATCH', url, { user: anna, body });
  expect(r.status, r.text).toBe(207);
  const res = responses(r.xml()).get(url)!;
  return { ...res, xml: r.xml(), text: r.text };
}

async function propfind(url: string, props: string, depth = '0', ns = '') {
  const r = await dav(env, 'PROPFIND', url, { user: anna, headers: { depth }, body: `<D:propfind xmlns:D="DAV:" xmlns:A="${APPLE}" xmlns:M="${MOZ}" xmlns:X="urn:x"${ns}>${props}</D:propfind>` });
  expect(r.status, r.text).toBe(207);
  return responses(r.xml());
}

/** The element of a property (any namespace) in a 200 propstat. */
function propEl(ms: Map<string, { props: Map<string, XmlElement> }>, url: string, name: string) {
  return ms.get(url)?.props.get(name);
}

beforeAll(async () => {
  env = await createDavEnv();
  anna = await davUser(env, 'anna@example.com');
  cal = anna.defaultCalendar;
});
afterAll(async () => env?.close());

describe('dead properties on calendars', () => {
  it('PROPPATCH stores Apple, Mozilla and arbitrary properties; PROPFIND returns them with their values', async () => {
    const r = await proppatch(cal, patch(set('<A:refreshrate>P1D</A:refreshrate><M:calendar-cache-enabled>true</M:calendar-cache-enabled><X:foo a="1" xml:lang="de"><X:bar>Grüße 😀 &amp; &lt;tags&gt;</X:bar><Y:baz xmlns:Y="urn:y" Y:attr="v"/></X:foo>')));
    expect([...r.propStatus.values()].every((s) => / 200 /.test(s)), r.text).toBe(true);
    const got = await propfind(cal, '<D:prop><A:refreshrate/><M:calendar-cache-enabled/><X:foo/><X:nothing/></D:prop>');
    expect(propEl(got, cal, 'refreshrate')!.text).toBe('P1D');
    expect(propEl(got, cal, 'refreshrate')!.ns).toBe(APPLE);
    expect(propEl(got, cal, 'calendar-cache-enabled')!.ns).toBe(MOZ);
    const foo = propEl(got, cal, 'foo')!;
    expect(foo.ns).toBe('urn:x');
    expect(foo.attrs.a).toBe('1');
    expect(foo.attrs['{http://www.w3.org/XML/1998/namespace}lang']).toBe('de');
    expect(child(foo, 'urn:x', 'bar')!.text).toBe('Grüße 😀 & <tags>');
    const baz = child(foo, 'urn:y', 'baz')!;
    expect(baz.attrs['{urn:y}attr']).toBe('v');
    expect(got.get(cal)!.propStatus.get('nothing')).toMatch(/404/);
  });

  it('allprop and propname include them; the home lists each calendar with its own', async () => {
    const all = await propfind(cal, '<D:allprop/>');
    expect(propEl(all, cal, 'refreshrate')!.text).toBe('P1D');
    expect(propEl(all, cal, 'displayname')).toBeTruthy();
    const names = await propfind(cal, '<D:propname/>');
    expect(names.get(cal)!.props.has('foo')).toBe(true);
    const home = await propfind(anna.home, '<D:prop><A:refreshrate/><D:displayname/></D:prop>', '1');
    expect(propEl(home, cal, 'refreshrate')!.text).toBe('P1D');
    const inbox = [...home.keys()].find((k) => k.includes('inbox'))!;
    expect(home.get(inbox)!.propStatus.get('refreshrate')).toMatch(/404/);
  });

  it('a property in no namespace and one redefining prefixes round-trip', async () => {
    const r = await proppatch(cal, patch(set('<nonamespace xmlns="">randomvalue</nonamespace><D:weird xmlns:D="urn:not-dav"><D:x>1</D:x></D:weird>')));
    expect([...r.propStatus.values()].every((s) => / 200 /.test(s)), r.text).toBe(true);
    const got = await propfind(cal, '<D:prop><nonamespace xmlns=""/><Q:weird xmlns:Q="urn:not-dav"/></D:prop>');
    const nn = propEl(got, cal, 'nonamespace')!;
    expect(nn.ns).toBe('');
    expect(nn.text).toBe('randomvalue');
    const w = propEl(got, cal, 'weird')!;
    expect(w.ns).toBe('urn:not-dav');
    expect(child(w, 'urn:not-dav', 'x')!.text).toBe('1');
  });

  it('the same local name in many namespaces (litmus propmanyns) keeps them apart', async () => {
    const nss = Array.from({ length: 10 }, (_, i) => `http://example.com/ns${i}`);
    const decl = nss.map((u, i) => ` xmlns:n${i}="${u}"`).join('');
    const r = await proppatch(cal, patch(set(nss.map((_, i) => `<n${i}:somename>value${i}</n${i}:somename>`).join('')), decl));
    expect(r.propStatus.get('somename')).toMatch(/200/);
    const got = await dav(env, 'PROPFIND', cal, { user: anna, headers: { depth: '0' }, body: `<D:propfind xmlns:D="DAV:"${decl}><D:prop>${nss.map((_, i) => `<n${i}:somename/>`).join('')}</D:prop></D:propfind>` });
    const props = got.xml().children[0]!.children.find((c) => c.name === 'propstat')!.children.find((c) => c.name === 'prop')!.children;
    expect(props.map((p) => `${p.ns}=${p.text}`).sort()).toEqual(nss.map((u, i) => `${u}=value${i}`).sort());
    await proppatch(cal, patch(remove(nss.map((_, i) => `<n${i}:somename/>`).join('')), decl));
  });

  it('set replaces, remove deletes, set-then-remove in one request removes (document order)', async () => {
    await proppatch(cal, patch(set('<X:rep>one</X:rep>')));
    await proppatch(cal, patch(set('<X:rep>two</X:rep>')));
    expect(propEl(await propfind(cal, '<D:prop><X:rep/></D:prop>'), cal, 'rep')!.text).toBe('two');
    await proppatch(cal, patch(set('<X:sr>v</X:sr>') + remove('<X:sr/>') + remove('<X:rep/>') + remove('<X:never-set/>')));
    const got = await propfind(cal, '<D:prop><X:rep/><X:sr/></D:prop>');
    expect(got.get(cal)!.propStatus.get('rep')).toMatch(/404/);
    expect(got.get(cal)!.propStatus.get('sr')).toMatch(/404/);
    await proppatch(cal, patch(remove('<X:rs/>') + set('<X:rs>back</X:rs>')));
    expect(propEl(await propfind(cal, '<D:prop><X:rs/></D:prop>'), cal, 'rs')!.text).toBe('back');
  });

  it('live properties still go to the calendar, in the same request as dead ones', async () => {
    const r = await proppatch(cal, patch(set('<D:displayname>Work</D:displayname><A:calendar-color>#FF0000FF</A:calendar-color><X:with-live>yes</X:with-live>')));
    expect([...r.propStatus.values()].every((s) => / 200 /.test(s)), r.text).toBe(true);
    const got = await propfind(cal, '<D:prop><D:displayname/><A:calendar-color/><X:with-live/></D:prop>');
    expect(propEl(got, cal, 'displayname')!.text).toBe('Work');
    expect(propEl(got, cal, 'calendar-color')!.text).toBe('#FF0000FF');
    expect(propEl(got, cal, 'with-live')!.text).toBe('yes');
  });

  it('atomicity: a protected property fails with 403 cannot-modify-protected-property, the rest 424, nothing stored', async () => {
    const r = await proppatch(cal, patch(set('<X:atomic>1</X:atomic><D:getetag>"x"</D:getetag><D:displayname>Not this</D:displayname>')));
    expect(r.propStatus.get('getetag')).toMatch(/403/);
    expect(r.propStatus.get('atomic')).toMatch(/424/);
    expect(r.propStatus.get('displayname')).toMatch(/424/);
    expect(r.text).toContain('cannot-modify-protected-property');
    const got = await propfind(cal, '<D:prop><X:atomic/><D:displayname/></D:prop>');
    expect(got.get(cal)!.propStatus.get('atomic')).toMatch(/404/);
    expect(propEl(got, cal, 'displayname')!.text).toBe('Work');
  });

  it('atomicity: an invalid live value (409) fails the dead ones too; a failed remove of a live property as well', async () => {
    let r = await proppatch(cal, patch(set('<X:atomic2>1</X:atomic2><A:calendar-color>not a colour</A:calendar-color>')));
    expect(r.propStatus.get('calendar-color')).toMatch(/409/);
    expect(r.propStatus.get('atomic2')).toMatch(/424/);
    r = await proppatch(cal, patch(remove('<X:with-live/>') + remove('<D:resourcetype/>')));
    expect(r.propStatus.get('resourcetype')).toMatch(/403/);
    expect(r.propStatus.get('with-live')).toMatch(/424/);
    const got = await propfind(cal, '<D:prop><X:atomic2/><X:with-live/></D:prop>');
    expect(got.get(cal)!.propStatus.get('atomic2')).toMatch(/404/);
    expect(propEl(got, cal, 'with-live')!.text).toBe('yes');
  });

  it('limits: a value over 4 KB gets 507 dead-property-too-large; more than 100 per resource 507 too-many-dead-properties', async () => {
    let r = await proppatch(cal, patch(set(`<X:big>${'x'.repeat(5000)}</X:big><X:small>1</X:small>`)));
    expect(r.propStatus.get('big')).toMatch(/507/);
    expect(r.propStatus.get('small')).toMatch(/424/);
    expect(r.text).toContain('dead-property-too-large');
    const url = `${anna.home}limits/`;
    expect((await dav(env, 'MKCALENDAR', url, { user: anna })).status).toBe(201);
    const hundred = Array.from({ length: 100 }, (_, i) => `<X:p${i}>${i}</X:p${i}>`).join('');
    r = await proppatch(url, patch(set(hundred)));
    expect([...r.propStatus.values()].every((s) => / 200 /.test(s))).toBe(true);
    // Replacing one of the hundred is fine; a 101st is not (and fails the whole request).
    r = await proppatch(url, patch(set('<X:p0>again</X:p0><X:p100>101</X:p100>')));
    expect(r.propStatus.get('p100')).toMatch(/507/);
    expect(r.propStatus.get('p0')).toMatch(/424/);
    expect(r.text).toContain('too-many-dead-properties');
    // Removing one makes room in the same request.
    r = await proppatch(url, patch(remove('<X:p1/>') + set('<X:p100>101</X:p100>')));
    expect([...r.propStatus.values()].every((s) => / 200 /.test(s)), r.text).toBe(true);
    const rows = await env.ctx.db.selectFrom('dead_property').select('name').where('owner_id', '=', anna.row.id).where('calendar_id', 'is not', null).where('name', 'like', 'p%').execute();
    expect(rows.length).toBe(100);
    // Deleting the calendar deletes its properties.
    expect((await dav(env, 'DELETE', url, { user: anna })).status).toBe(204);
    const left = await env.ctx.db.selectFrom('dead_property').select('name').where('owner_id', '=', anna.row.id).where('name', '=', 'p100').execute();
    expect(left).toEqual([]);
  });

  it('MKCALENDAR with a dead property stores it', async () => {
    const url = `${anna.home}made/`;
    const r = await dav(env, 'MKCALENDAR', url, { user: anna, body: `<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:A="${APPLE}"><D:set><D:prop><D:displayname>Made</D:displayname><A:refreshrate>PT1H</A:refreshrate></D:prop></D:set></C:mkcalendar>` });
    expect(r.status, r.text).toBe(201);
    expect(propEl(await propfind(url, '<D:prop><A:refreshrate/></D:prop>'), url, 'refreshrate')!.text).toBe('PT1H');
  });

  it('the home and the principal hold none: 403 with a DAV:error, and the rest 424', async () => {
    for (const url of [anna.home, anna.principal]) {
      const r = await proppatch(url, patch(set('<X:nope>1</X:nope>')));
      expect(r.propStatus.get('nope')).toMatch(/403/);
      expect(r.text).toContain('dead-properties-not-stored');
    }
  });
});

describe('dead properties on calendar objects', () => {
  const obj = () => `${cal}ev1.ics`;
  it('PROPPATCH on an object stores them; PROPFIND Depth 0 and Depth 1 return them', async () => {
    expect((await dav(env, 'PUT', obj(), { user: anna, body: vevent('ev1') })).status).toBe(201);
    const r = await proppatch(obj(), patch(set('<X:tag>important</X:tag><D:displayname>My event</D:displayname>')));
    expect([...r.propStatus.values()].every((s) => / 200 /.test(s)), r.text).toBe(true);
    expect(propEl(await propfind(obj(), '<D:prop><X:tag/><D:displayname/><D:getetag/></D:prop>'), obj(), 'tag')!.text).toBe('important');
    const listing = await propfind(cal, '<D:prop><X:tag/><D:getetag/></D:prop>', '1');
    expect(propEl(listing, obj(), 'tag')!.text).toBe('important');
    expect(propEl(listing, obj(), 'getetag')).toBeTruthy();
    expect(listing.get(cal)!.propStatus.get('tag')).toMatch(/404/);
    const all = await propfind(cal, '<D:allprop/>', '1');
    expect(propEl(all, obj(), 'displayname')!.text).toBe('My event');
  });

  it('they survive a content update and a REPORT can ask for them; a deleted and re-created object starts empty', async () => {
    const etag = (await dav(env, 'HEAD', obj(), { user: anna })).headers.get('etag')!;
    expect((await dav(env, 'PUT', obj(), { user: anna, body: vevent('ev1', { summary: 'changed' }), headers: { 'if-match': etag } })).status).toBe(204);
    expect(propEl(await propfind(obj(), '<D:prop><X:tag/></D:prop>'), obj(), 'tag')!.text).toBe('important');
    const rep = await dav(env, 'REPORT', cal, { user: anna, body: `<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:X="urn:x"><D:prop><X:tag/></D:prop><D:href>${obj()}</D:href></C:calendar-multiget>` });
    expect(propEl(responses(rep.xml()), obj(), 'tag')!.text).toBe('important');
    expect((await dav(env, 'DELETE', obj(), { user: anna })).status).toBe(204);
    expect((await dav(env, 'PUT', obj(), { user: anna, body: vevent('ev1') })).status).toBe(201);
    expect((await propfind(obj(), '<D:prop><X:tag/></D:prop>')).get(obj())!.propStatus.get('tag')).toMatch(/404/);
  });
});

describe('dead properties and MOVE', () => {
  it('an event moved to another calendar of the owner keeps them', async () => {
    const other = `${anna.home}other/`;
    expect((await dav(env, 'MKCALENDAR', other, { user: anna })).status).toBe(201);
    const src = `${cal}mv.ics`;
    expect((await dav(env, 'PUT', src, { user: anna, body: vevent('mv') })).status).toBe(201);
    await proppatch(src, patch(set('<X:follows>me</X:follows>')));
    const r = await dav(env, 'MOVE', src, { user: anna, headers: { destination: `${env.base}${other}mv.ics` } });
    expect(r.status, r.text).toBe(201);
    expect(propEl(await propfind(`${other}mv.ics`, '<D:prop><X:follows/></D:prop>'), `${other}mv.ics`, 'follows')!.text).toBe('me');
  });

  it('a MOVE that renames (same calendar, and into another calendar) carries them to the new name (RFC 4918 §9.9.1)', async () => {
    const other = `${anna.home}other2/`;
    expect((await dav(env, 'MKCALENDAR', other, { user: anna })).status).toBe(201);
    const src = `${cal}rn.ics`;
    expect((await dav(env, 'PUT', src, { user: anna, body: vevent('rn') })).status).toBe(201);
    await proppatch(src, patch(set('<X:follows>renamed</X:follows><A:refreshrate>P2D</A:refreshrate>')));
    let r = await dav(env, 'MOVE', src, { user: anna, headers: { destination: `${env.base}${cal}rn-new.ics` } });
    expect(r.status, r.text).toBe(201);
    const got = await propfind(`${cal}rn-new.ics`, '<D:prop><X:follows/><A:refreshrate/></D:prop>');
    expect(propEl(got, `${cal}rn-new.ics`, 'follows')!.text).toBe('renamed');
    expect(propEl(got, `${cal}rn-new.ics`, 'refreshrate')!.text).toBe('P2D');
    expect((await dav(env, 'PROPFIND', src, { user: anna, headers: { depth: '0' } })).status).toBe(404);
    r = await dav(env, 'MOVE', `${cal}rn-new.ics`, { user: anna, headers: { destination: `${env.base}${other}rn-third.ics` } });
    expect(r.status, r.text).toBe(201);
    expect(propEl(await propfind(`${other}rn-third.ics`, '<D:prop><X:follows/></D:prop>'), `${other}rn-third.ics`, 'follows')!.text).toBe('renamed');
  });
});

describe('dead properties and COPY', () => {
  it('a copy gets its own duplicate of them (RFC 4918 §9.8.2); the source keeps its own; Overwrite replaces the target\'s', async () => {
    const other = `${anna.home}copies/`;
    expect((await dav(env, 'MKCALENDAR', other, { user: anna })).status).toBe(201);
    const src = `${cal}cp.ics`;
    expect((await dav(env, 'PUT', src, { user: anna, body: vevent('cp') })).status).toBe(201);
    await proppatch(src, patch(set('<X:copied>yes</X:copied>')));
    const dest = `${other}cp.ics`;
    let r = await dav(env, 'COPY', src, { user: anna, headers: { destination: `${env.base}${dest}` } });
    expect(r.status, r.text).toBe(201);
    expect(propEl(await propfind(dest, '<D:prop><X:copied/></D:prop>'), dest, 'copied')!.text).toBe('yes');
    // Independent afterwards: changing the copy's leaves the source's alone.
    await proppatch(dest, patch(set('<X:copied>changed</X:copied><X:only-copy>1</X:only-copy>')));
    expect(propEl(await propfind(src, '<D:prop><X:copied/></D:prop>'), src, 'copied')!.text).toBe('yes');
    // COPY again onto the existing copy (Overwrite: T): the target now has the source's set only.
    r = await dav(env, 'COPY', src, { user: anna, headers: { destination: `${env.base}${dest}`, overwrite: 'T' } });
    expect(r.status, r.text).toBe(204);
    const got = await propfind(dest, '<D:prop><X:copied/><X:only-copy/></D:prop>');
    expect(propEl(got, dest, 'copied')!.text).toBe('yes');
    expect(got.get(dest)!.propStatus.get('only-copy')).toMatch(/404/);
  });
});

describe('no regression for existing clients', () => {
  it('another user\'s home stays invisible', async () => {
    const bob = await davUser(env, 'bob@example.com');
    const r = await dav(env, 'PROPPATCH', bob.home, { user: anna, body: patch(set('<X:foo>1</X:foo>')) });
    expect(r.status).toBe(404); // another user's home does not exist for anna
  });
});
