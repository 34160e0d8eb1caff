import { describe, expect, it } from 'vitest';
import {
  NS_APPLE,
  NS_CALDAV,
  NS_CS,
  NS_DAV,
  Preconditions,
  PropertyRegistry,
  buildErrorBody,
  buildMultistatus,
  child,
  childrenNamed,
  currentUserPrivilegeSet,
  davEl,
  el,
  emptyProp,
  hasPrivilege,
  hrefEl,
  needPrivileges,
  parsePropfind,
  parseXml,
  privilegesFor,
  propResults,
  supportedPrivilegeSet,
  textProp,
  type XmlElement,
} from '../../../src/lib/dav/index.js';

const D = (name: string) => ({ ns: NS_DAV, name });

describe('multistatus', () => {
  it('groups propstats by status (200 first), echoes unknown props at 404, reparses', () => {
    const unknown = { ns: 'http://me.com/_namespace/', name: 'bulk-requests' };
    const body = buildMultistatus([
      {
        href: '/dav/calendars/anna/',
        props: [
          { prop: textProp(D('displayname'), 'Anna'), status: 200 },
          { prop: emptyProp(unknown), status: 404 },
          { prop: davEl('resourcetype', [davEl('collection')]), status: 200 },
          { prop: emptyProp({ ns: NS_CS, name: 'getctag' }), status: 404 },
          { prop: emptyProp(D('quota-used-bytes')), status: 403 },
        ],
      },
    ]);
    const tree = parseXml(body);
    expect(tree).toMatchObject({ ns: NS_DAV, name: 'multistatus' });
    const propstats = childrenNamed(tree.children[0]!, NS_DAV, 'propstat');
    expect(propstats.map((p) => child(p, NS_DAV, 'status')!.text)).toEqual(['HTTP/1.1 200 OK', 'HTTP/1.1 403 Forbidden', 'HTTP/1.1 404 Not Found']);
    expect(child(propstats[0]!, NS_DAV, 'prop')!.children.map((c) => c.name)).toEqual(['displayname', 'resourcetype']);
    expect(child(propstats[2]!, NS_DAV, 'prop')!.children).toEqual([
      { ...unknown, attrs: {}, children: [], text: '' },
      { ns: NS_CS, name: 'getctag', attrs: {}, children: [], text: '' },
    ]);
    expect(body).toContain('xmlns:x0="http://me.com/_namespace/"');
    expect(body).toContain('<x0:bulk-requests/>');
  });

  it('escapes <&>" in hrefs and property values', () => {
    const href = '/dav/calendars/a&b/<odd>"name".ics';
    const value = 'Tom & Jerry <3 "quotes" ]]>';
    const body = buildMultistatus([{ href, props: [{ prop: textProp(D('displayname'), value), status: 200 }] }]);
    expect(body).not.toContain('a&b');
    expect(body).toContain('a&amp;b/&lt;odd&gt;');
    const tree = parseXml(body);
    const response = tree.children[0]!;
    expect(child(response, NS_DAV, 'href')!.text).toBe(href);
    expect(child(child(child(response, NS_DAV, 'propstat')!, NS_DAV, 'prop')!, NS_DAV, 'displayname')!.text).toBe(value);
  });

  it('plain-status responses, 507 truncation and the sync-token last (RFC 6578 §3.6)', () => {
    const body = buildMultistatus(
      [
        { href: '/c/a.ics', props: [{ prop: textProp(D('getetag'), '"1"'), status: 200 }] },
        { href: '/c/gone.ics', status: 404 },
      ],
      { syncToken: 'https://cal.example.com/sync/7/43', truncatedHref: '/c/' },
    );
    const tree = parseXml(body);
    expect(tree.children.map((c) => c.name)).toEqual(['response', 'response', 'response', 'sync-token']);
    expect(child(tree.children[1]!, NS_DAV, 'status')!.text).toBe('HTTP/1.1 404 Not Found');
    const truncated = tree.children[2]!;
    expect(child(truncated, NS_DAV, 'href')!.text).toBe('/c/');
    expect(child(truncated, NS_DAV, 'status')!.text).toBe('HTTP/1.1 507 Insufficient Storage');
    expect(child(child(truncated, NS_DAV, 'error')!, NS_DAV, 'number-of-matches-within-limits')).toBeDefined();
    expect(tree.children[3]!.text).toBe('https://cal.example.com/sync/7/43');
  });

  it('propResults echoes missing names at 404 in request order', () => {
    const found = new Map<string, XmlElement>([[`{${NS_DAV}}getetag`, textProp(D('getetag'), '"x"')]]);
    expect(propResults([D('getetag'), { ns: NS_APPLE, name: 'calendar-color' }], found).map((r) => [r.prop.name, r.status])).toEqual([
      ['getetag', 200],
      ['calendar-color', 404],
    ]);
  });
});

describe('DAV:error bodies and preconditions', () => {
  it('no-uid-conflict names the conflicting href (RFC 4791 §5.3.2.1)', () => {
    const err = Preconditions.noUidConflict('/dav/calendars/anna/work/other.ics');
    expect(err.status).toBe(409);
    const tree = parseXml(buildErrorBody(err));
    expect(tree).toMatchObject({ ns: NS_DAV, name: 'error' });
    const cond = tree.children[0]!;
    expect(cond).toMatchObject({ ns: NS_CALDAV, name: 'no-uid-conflict' });
    expect(child(cond, NS_DAV, 'href')!.text).toBe('/dav/calendars/anna/work/other.ics');
  });

  it('catalogue statuses and namespaces', () => {
    expect(Preconditions.validSyncToken()).toEqual({ status: 403, ns: NS_DAV, name: 'valid-sync-token' });
    expect(Preconditions.supportedReport()).toMatchObject({ status: 403, ns: NS_DAV });
    expect(Preconditions.resourceMustBeNull()).toMatchObject({ status: 405, name: 'resource-must-be-null' });
    expect(Preconditions.numberOfMatchesWithinLimits().status).toBe(507);
    expect(Preconditions.uniqueSchedulingObjectResource('/x.ics')).toMatchObject({ ns: NS_CALDAV, status: 409 });
    for (const name of [
      'validCalendarData', 'validCalendarObjectResource', 'supportedCalendarComponent', 'supportedCalendarData',
      'maxResourceSize', 'calendarCollectionLocationOk', 'validFilter', 'sameOrganizerInAllComponents',
      'allowedOrganizerObjectChange', 'allowedAttendeeObjectChange',
    ] as const) {
      expect(Preconditions[name]()).toMatchObject({ status: 403, ns: NS_CALDAV });
    }
    const sf = Preconditions.supportedFilter([el(NS_CALDAV, 'prop-filter', [], '', { name: 'X-FOO' })]);
    expect(buildErrorBody(sf)).toContain('<C:supported-filter><C:prop-filter name="X-FOO"/></C:supported-filter>');
  });

  it('need-privileges (RFC 3744 §7.1.1)', () => {
    const body = buildErrorBody(needPrivileges([{ href: '/dav/calendars/bob/work/', privilege: 'bind' }, { href: '/dav/calendars/bob/work/', privilege: 'read-free-busy' }]));
    const tree = parseXml(body);
    const np = tree.children[0]!;
    expect(np.name).toBe('need-privileges');
    const resources = childrenNamed(np, NS_DAV, 'resource');
    expect(resources.map((r) => child(r, NS_DAV, 'privilege')!.children[0])).toMatchObject([
      { ns: NS_DAV, name: 'bind' },
      { ns: NS_CALDAV, name: 'read-free-busy' },
    ]);
  });
});

describe('privileges', () => {
  it('per access level', () => {
    expect(privilegesFor('owner', 'calendar')).toEqual(
      expect.arrayContaining(['read', 'write', 'write-properties', 'write-content', 'bind', 'unbind', 'read-acl', 'read-current-user-privilege-set', 'read-free-busy']),
    );
    expect(privilegesFor('read', 'calendar').sort()).toEqual(['read', 'read-current-user-privilege-set', 'read-free-busy']);
    expect(privilegesFor('freebusy', 'calendar').sort()).toEqual(['read-current-user-privilege-set', 'read-free-busy']);
    expect(hasPrivilege('read-write', 'calendar', 'unbind')).toBe(true);
    expect(hasPrivilege('read-write', 'calendar', 'read-acl')).toBe(false);
    expect(hasPrivilege('owner', 'inbox', 'schedule-deliver-reply')).toBe(true);
    expect(hasPrivilege('owner', 'outbox', 'schedule-send-freebusy')).toBe(true);
    expect(hasPrivilege('owner', 'calendar', 'schedule-send')).toBe(false);
    expect(hasPrivilege('freebusy', 'inbox', 'schedule-query-freebusy')).toBe(true);
  });

  it('XML forms', () => {
    const els = currentUserPrivilegeSet('read', 'calendar');
    expect(els.map((e) => [e.name, e.children[0]!.ns, e.children[0]!.name])).toContainEqual(['privilege', NS_CALDAV, 'read-free-busy']);
    const sps = parseXml(buildMultistatus([{ href: '/x/', props: [{ prop: supportedPrivilegeSet('inbox'), status: 200 }] }]));
    expect(JSON.stringify(sps)).toContain('schedule-deliver-invite');
  });
});

describe('PropertyRegistry', () => {
  interface Res {
    name: string;
    isCalendar: boolean;
  }
  const reg = new PropertyRegistry<Res>()
    .register({ name: D('displayname'), protected: false, inAllprop: true, get: (r) => r.name, set: () => undefined })
    .register({ name: D('resourcetype'), protected: true, inAllprop: true, get: (r) => [davEl('collection'), ...(r.isCalendar ? [el(NS_CALDAV, 'calendar')] : [])] })
    .register({ name: { ns: NS_CS, name: 'getctag' }, protected: true, inAllprop: false, appliesTo: (r) => r.isCalendar, get: async () => '"ctag-1"' })
    .register({ name: D('quota-used-bytes'), protected: true, inAllprop: false, get: () => null });
  const cal: Res = { name: 'Work', isCalendar: true };
  const home: Res = { name: 'Home', isCalendar: false };

  it('resolves a prop request with 404 echoes for unknown/inapplicable names', async () => {
    const req = parsePropfind(`<propfind xmlns="DAV:" xmlns:CS="${NS_CS}"><prop><displayname/><CS:getctag/><quota-used-bytes/><x xmlns="urn:x"/></prop></propfind>`);
    const got = await reg.resolve(home, req);
    expect(got.map((r) => [r.prop.name, r.status])).toEqual([
      ['displayname', 200],
      ['getctag', 404],
      ['quota-used-bytes', 404],
      ['x', 404],
    ]);
    expect((await reg.resolve(cal, req))[1]).toMatchObject({ status: 200, prop: { text: '"ctag-1"' } });
  });

  it('allprop, include, propname and dead properties', async () => {
    const dead = [el(NS_APPLE, 'calendar-color', [], '#f00')];
    const all = await reg.resolve(cal, { kind: 'allprop', include: [{ ns: NS_CS, name: 'getctag' }] }, dead);
    expect(all.map((r) => r.prop.name)).toEqual(['displayname', 'resourcetype', 'calendar-color', 'getctag']);
    const names = await reg.resolve(home, { kind: 'propname' });
    expect(names.every((r) => r.prop.children.length === 0 && r.status === 200)).toBe(true);
    expect(names.map((r) => r.prop.name)).not.toContain('getctag');
    expect(reg.classify(D('resourcetype'))).toBe('protected');
    expect(reg.classify(D('displayname'))).toBe('live');
    expect(reg.classify({ ns: NS_APPLE, name: 'calendar-order' })).toBe('dead');
    expect(PropertyRegistry.protectedResult(D('getetag')).error!.name).toBe('cannot-modify-protected-property');
    expect(hrefEl('/a').text).toBe('/a');
  });
});
