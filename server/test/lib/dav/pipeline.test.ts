// End to end through the pure pieces: request text → typed value → evaluation → response text.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  NS_APPLE,
  NS_CALDAV,
  NS_CS,
  NS_DAV,
  PropertyRegistry,
  buildMultistatus,
  child,
  childrenNamed,
  currentUserPrivilegeSetProp,
  davEl,
  el,
  matchesFilter,
  parsePropfind,
  parseProppatch,
  parseReport,
  parseXml,
  type PropResult,
} from '../../../src/lib/dav/index.js';
import { todo } from './icsFixtures.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

interface Calendar {
  href: string;
  name: string;
  ctag: string;
}

const registry = new PropertyRegistry<Calendar>()
  .register({ name: { ns: NS_DAV, name: 'displayname' }, protected: false, inAllprop: true, get: (c) => c.name, set: () => undefined })
  .register({ name: { ns: NS_DAV, name: 'resourcetype' }, protected: true, inAllprop: true, get: () => [davEl('collection'), el(NS_CALDAV, 'calendar')] })
  .register({ name: { ns: NS_CS, name: 'getctag' }, protected: true, inAllprop: false, get: (c) => c.ctag })
  .register({ name: { ns: NS_DAV, name: 'current-user-privilege-set' }, protected: true, inAllprop: false, get: () => currentUserPrivilegeSetProp('read', 'calendar').children });

describe('pipeline', () => {
  it('Apple home PROPFIND → registry → multistatus: known at 200, the rest echoed at 404', async () => {
    const req = parsePropfind(fixture('apple-propfind-home.xml'));
    const cal: Calendar = { href: '/dav/calendars/anna/work & play/', name: 'Work & Play <3', ctag: '"c-42"' };
    const results = await registry.resolve(cal, req);
    const body = buildMultistatus([{ href: cal.href, props: results }]);
    const response = parseXml(body).children[0]!;
    expect(child(response, NS_DAV, 'href')!.text).toBe(cal.href);
    const [ok, missing] = childrenNamed(response, NS_DAV, 'propstat');
    const okProps = child(ok!, NS_DAV, 'prop')!.children;
    expect(okProps.map((p) => p.name).sort()).toEqual(['current-user-privilege-set', 'displayname', 'getctag', 'resourcetype']);
    expect(okProps.find((p) => p.name === 'displayname')!.text).toBe('Work & Play <3');
    const missingProps = child(missing!, NS_DAV, 'prop')!.children;
    expect(missingProps).toHaveLength(37 - 4);
    expect(missingProps).toContainEqual({ ns: 'http://me.com/_namespace/', name: 'bulk-requests', attrs: {}, children: [], text: '' });
    expect(missingProps).toContainEqual({ ns: NS_APPLE, name: 'calendar-color', attrs: {}, children: [], text: '' });
    expect(child(missing!, NS_DAV, 'status')!.text).toBe('HTTP/1.1 404 Not Found');
  });

  it('PROPPATCH on a protected property → 403 propstat with cannot-modify-protected-property, others 424', () => {
    const req = parseProppatch(
      `<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>x</D:displayname><D:resourcetype><D:collection/></D:resourcetype></D:prop></D:set></D:propertyupdate>`,
    );
    // RFC 4918 §9.2: PROPPATCH is atomic; when one instruction fails the others are 424.
    const results: PropResult[] = req.ops.map((op) =>
      registry.classify(op.name) === 'protected'
        ? PropertyRegistry.protectedResult(op.name)
        : { prop: el(op.name.ns, op.name.name), status: 424 },
    );
    const tree = parseXml(buildMultistatus([{ href: '/c/', props: results }]));
    const propstats = childrenNamed(tree.children[0]!, NS_DAV, 'propstat');
    expect(propstats.map((p) => child(p, NS_DAV, 'status')!.text)).toEqual(['HTTP/1.1 403 Forbidden', 'HTTP/1.1 424 Failed Dependency']);
    expect(child(child(propstats[0]!, NS_DAV, 'error')!, NS_DAV, 'cannot-modify-protected-property')).toBeDefined();
  });

  it('Lightning open-todos query selects only open tasks', () => {
    const r = parseReport(parseXml(fixture('lightning-open-todos.xml')));
    if (r.kind !== 'calendar-query') throw new Error(r.kind);
    expect(matchesFilter(todo('STATUS:NEEDS-ACTION'), r.filter)).toBe(true);
    // No STATUS at all: the STATUS prop-filter needs the property to exist (RFC 4791 §9.7.2).
    expect(matchesFilter(todo('PRIORITY:1'), r.filter)).toBe(false);
    expect(matchesFilter(todo('STATUS:COMPLETED'), r.filter)).toBe(false);
    expect(matchesFilter(todo('STATUS:IN-PROCESS\nCOMPLETED:20240101T000000Z'), r.filter)).toBe(false);
  });
});
