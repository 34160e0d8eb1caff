import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  DavParseError,
  NS_APPLE,
  NS_CALDAV,
  NS_CS,
  NS_DAV,
  parseExtendedMkcol,
  parseMkcalendar,
  parsePropfind,
  parseProppatch,
  parseReport,
  parseXml,
  serializeXml,
  type ReportRequest,
} from '../../../src/lib/dav/index.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const report = (name: string): ReportRequest => parseReport(parseXml(fixture(name)));
const D = (name: string) => ({ ns: NS_DAV, name });
const C = (name: string) => ({ ns: NS_CALDAV, name });
const CS = (name: string) => ({ ns: NS_CS, name });
const A = (name: string) => ({ ns: NS_APPLE, name });

function expectParseError(fn: () => unknown, code: string, condition?: { ns: string; name: string }) {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DavParseError);
    expect((err as DavParseError).code).toBe(code);
    if (condition) expect((err as DavParseError).condition).toEqual(condition);
    return;
  }
  throw new Error('expected a DavParseError');
}

describe('PROPFIND', () => {
  it('Apple Calendar home PROPFIND: re-bound prefixes resolve to the right namespaces', () => {
    const req = parsePropfind(fixture('apple-propfind-home.xml'));
    expect(req.kind).toBe('prop');
    if (req.kind !== 'prop') return;
    expect(req.props).toHaveLength(37);
    expect(req.props.slice(0, 5)).toEqual([
      D('add-member'),
      CS('allowed-sharing-modes'),
      A('autoprovisioned'),
      { ns: 'http://me.com/_namespace/', name: 'bulk-requests' },
      A('calendar-color'),
    ]);
    expect(req.props).toContainEqual(C('schedule-default-calendar-URL'));
    expect(req.props).toContainEqual(CS('getctag'));
    expect(req.props.at(-1)).toEqual(D('sync-token'));
  });

  it('empty body is allprop (RFC 4918 §9.1)', () => {
    expect(parsePropfind(undefined)).toEqual({ kind: 'allprop', include: [] });
    expect(parsePropfind('  \n')).toEqual({ kind: 'allprop', include: [] });
  });

  it('allprop with include, and propname', () => {
    const body = `<D:propfind xmlns:D="DAV:"><D:allprop/><D:include><D:supported-report-set/><C:calendar-description xmlns:C="${NS_CALDAV}"/></D:include></D:propfind>`;
    expect(parsePropfind(body)).toEqual({ kind: 'allprop', include: [D('supported-report-set'), C('calendar-description')] });
    expect(parsePropfind('<propfind xmlns="DAV:"><propname/></propfind>')).toEqual({ kind: 'propname' });
  });

  it('rejects a wrong root and an empty propfind', () => {
    expectParseError(() => parsePropfind('<D:propertyupdate xmlns:D="DAV:"/>'), 'INVALID_BODY');
    expectParseError(() => parsePropfind('<D:propfind xmlns:D="DAV:"/>'), 'INVALID_BODY');
    // Element in no namespace is not DAV:propfind.
    expectParseError(() => parsePropfind('<propfind><prop/></propfind>'), 'INVALID_BODY');
  });
});

describe('PROPPATCH', () => {
  it('Apple calendar-color / order / displayname, with a remove, in document order', () => {
    const req = parseProppatch(fixture('apple-proppatch-color.xml'));
    expect(req.ops.map((o) => [o.op, o.name.ns, o.name.name])).toEqual([
      ['set', NS_APPLE, 'calendar-color'],
      ['set', NS_APPLE, 'calendar-order'],
      ['set', NS_DAV, 'displayname'],
      ['remove', NS_CALDAV, 'calendar-description'],
    ]);
    const color = req.ops[0]!;
    if (color.op !== 'set') throw new Error('unreachable');
    expect(color.text).toBe('#FF2968FF');
    expect(color.element.attrs).toEqual({ 'symbolic-color': 'custom' });
    // The raw subtree round-trips as a dead property.
    expect(serializeXml(color.element, { declaration: false })).toBe(
      '<A:calendar-color xmlns:A="http://apple.com/ns/ical/" symbolic-color="custom">#FF2968FF</A:calendar-color>',
    );
    const name = req.ops[2]!;
    expect(name.op === 'set' && name.text).toBe('Work & Play');
  });

  it('requires a body with at least one instruction', () => {
    expectParseError(() => parseProppatch(undefined), 'INVALID_BODY');
    expectParseError(() => parseProppatch('<D:propertyupdate xmlns:D="DAV:"/>'), 'INVALID_BODY');
  });
});

describe('MKCALENDAR and extended MKCOL', () => {
  it('Apple MKCALENDAR keeps CDATA timezone text and the component set subtree', () => {
    const req = parseMkcalendar(fixture('apple-mkcalendar.xml'));
    expect(req.root).toBe('mkcalendar');
    expect(req.resourceType).toBeNull();
    expect(req.set.map((s) => s.name.name)).toEqual([
      'calendar-order',
      'supported-calendar-component-set',
      'calendar-color',
      'displayname',
      'calendar-timezone',
    ]);
    const tz = req.set.find((s) => s.name.name === 'calendar-timezone')!;
    expect(tz.text).toContain('TZID:Europe/Berlin');
    const comps = req.set.find((s) => s.name.name === 'supported-calendar-component-set')!;
    expect(comps.element.children.map((c) => c.attrs['name'])).toEqual(['VEVENT']);
  });

  it('empty MKCALENDAR body is allowed (RFC 4791 §5.3.1)', () => {
    expect(parseMkcalendar('')).toEqual({ root: null, set: [], resourceType: null });
  });

  it('DAVx5 extended MKCOL (RFC 5689) separates resourcetype', () => {
    const req = parseExtendedMkcol(fixture('davx5-mkcol.xml'));
    expect(req.root).toBe('mkcol');
    expect(req.resourceType).toEqual([D('collection'), C('calendar')]);
    expect(req.set.map((s) => [s.name.name, s.text])).toEqual([
      ['displayname', 'Holidays'],
      ['calendar-color', '#3F51B5FF'],
      ['supported-calendar-component-set', ''],
    ]);
  });
});

describe('REPORT bodies', () => {
  it('Evolution calendar-query with a time-range', () => {
    expect(report('evolution-calendar-query.xml')).toEqual({
      kind: 'calendar-query',
      props: { kind: 'prop', props: [D('getetag')] },
      calendarData: null,
      timezone: null,
      limit: null,
      filter: {
        name: 'VCALENDAR',
        isNotDefined: false,
        timeRange: null,
        propFilters: [],
        compFilters: [
          {
            name: 'VEVENT',
            isNotDefined: false,
            timeRange: { start: new Date('2024-01-01T00:00:00Z'), end: new Date('2024-02-01T00:00:00Z') },
            propFilters: [],
            compFilters: [],
          },
        ],
      },
    });
  });

  it('vdirsyncer VTODO listing', () => {
    const r = report('vdirsyncer-calendar-query.xml');
    if (r.kind !== 'calendar-query') throw new Error(r.kind);
    expect(r.props).toEqual({ kind: 'prop', props: [D('getcontenttype'), D('getetag')] });
    expect(r.filter.compFilters[0]).toMatchObject({ name: 'VTODO', timeRange: null, compFilters: [], propFilters: [] });
  });

  it('RFC 4791 §7.8.3 calendar-data with comp selection and expand', () => {
    const r = report('rfc4791-query-expand.xml');
    if (r.kind !== 'calendar-query') throw new Error(r.kind);
    const cd = r.calendarData!;
    expect(cd.expand).toEqual({ start: new Date('2006-01-03T00:00:00Z'), end: new Date('2006-01-05T00:00:00Z') });
    expect(cd.contentType).toBe('text/calendar');
    expect(cd.comp!.name).toBe('VCALENDAR');
    expect(cd.comp!.props).toEqual([{ name: 'VERSION', novalue: false }]);
    expect(cd.comp!.comps.map((c) => c.name)).toEqual(['VEVENT', 'VTIMEZONE']);
    expect(cd.comp!.comps[0]!.props.map((p) => p.name)).toContain('RECURRENCE-ID');
    expect(cd.comp!.comps[0]!.allProps).toBe(false);
  });

  it('prop-filter / param-filter / text-match / is-not-defined / timezone', () => {
    const r = report('rfc4791-query-partstat.xml');
    if (r.kind !== 'calendar-query') throw new Error(r.kind);
    expect(r.calendarData).toMatchObject({ comp: null, expand: null });
    expect(r.timezone).toContain('BEGIN:VCALENDAR');
    const [attendee, summary, secret] = r.filter.compFilters[0]!.propFilters;
    expect(attendee).toEqual({
      name: 'ATTENDEE',
      isNotDefined: false,
      timeRange: null,
      textMatch: { value: 'mailto:lisa@example.com', collation: 'i;ascii-casemap', negate: false, matchType: 'contains' },
      paramFilters: [
        { name: 'PARTSTAT', isNotDefined: false, textMatch: { value: 'NEEDS-ACTION', collation: 'i;ascii-casemap', negate: false, matchType: 'contains' } },
      ],
    });
    expect(summary!.textMatch).toEqual({ value: 'Cancelled', collation: 'i;unicode-casemap', negate: true, matchType: 'starts-with' });
    expect(secret!.isNotDefined).toBe(true);
  });

  it('Lightning VALARM time-range query (default namespace)', () => {
    const r = report('lightning-alarm-query.xml');
    if (r.kind !== 'calendar-query') throw new Error(r.kind);
    expect(r.filter.compFilters[0]!.compFilters[0]).toMatchObject({ name: 'VALARM', timeRange: { start: new Date('2024-01-15T00:00:00Z') } });
  });

  it('Thunderbird calendar-multiget', () => {
    expect(report('thunderbird-multiget.xml')).toEqual({
      kind: 'calendar-multiget',
      props: { kind: 'prop', props: [D('getetag'), C('calendar-data')] },
      calendarData: { contentType: 'text/calendar', version: '2.0', comp: null, expand: null, limitRecurrenceSet: null, limitFreebusySet: null },
      hrefs: ['/dav/calendars/anna/work/1234-abcd.ics', '/dav/calendars/anna/work/Caf%C3%A9%20meeting.ics'],
    });
  });

  it('DAVx5 sync-collection, incremental and initial with limit', () => {
    expect(report('davx5-sync-collection.xml')).toEqual({
      kind: 'sync-collection',
      syncToken: 'https://cal.example.com/sync/1711/42',
      syncLevel: '1',
      limit: null,
      props: { kind: 'prop', props: [D('getetag')] },
      calendarData: null,
    });
    expect(report('davx5-sync-initial.xml')).toMatchObject({ syncToken: '', limit: 100, calendarData: { comp: null } });
  });

  it('free-busy-query', () => {
    expect(report('free-busy-query.xml')).toEqual({
      kind: 'free-busy-query',
      timeRange: { start: new Date('2006-01-04T14:00:00Z'), end: new Date('2006-01-05T22:00:00Z') },
    });
  });

  it('Apple expand-property for proxy principals (namespace defaults to DAV:)', () => {
    expect(report('apple-expand-property.xml')).toEqual({
      kind: 'expand-property',
      properties: [
        {
          name: CS('calendar-proxy-write-for'),
          children: [
            { name: D('displayname'), children: [] },
            { name: D('principal-URL'), children: [] },
            { name: C('calendar-user-address-set'), children: [] },
          ],
        },
        { name: CS('calendar-proxy-read-for'), children: [{ name: D('displayname'), children: [] }] },
      ],
    });
  });

  it('principal-property-search (RFC 3744 §9.4)', () => {
    expect(report('thunderbird-principal-property-search.xml')).toEqual({
      kind: 'principal-property-search',
      test: 'anyof',
      searches: [
        { props: [D('displayname')], match: 'Ann', matchType: 'starts-with', caseless: true },
        { props: [C('calendar-user-address-set')], match: 'ann@example.com', matchType: 'contains', caseless: true },
      ],
      props: [D('displayname'), C('calendar-user-address-set')],
      applyToPrincipalCollectionSet: true,
      limit: null,
    });
    expect(parseReport(parseXml('<D:principal-search-property-set xmlns:D="DAV:"/>'))).toEqual({ kind: 'principal-search-property-set' });
  });

  it('Apple calendarserver-principal-search', () => {
    expect(report('apple-principal-search.xml')).toEqual({
      kind: 'calendarserver-principal-search',
      context: 'attendee',
      tokens: ['anna', 'k'],
      limit: 50,
      props: [
        C('calendar-user-address-set'),
        C('calendar-user-type'),
        D('displayname'),
        CS('email-address-set'),
        CS('first-name'),
        CS('last-name'),
        D('principal-URL'),
        CS('record-type'),
      ],
    });
  });

  it('unknown report → UNSUPPORTED_REPORT with DAV:supported-report', () => {
    expectParseError(() => parseReport(parseXml('<D:acl-principal-prop-set xmlns:D="DAV:"/>')), 'UNSUPPORTED_REPORT', D('supported-report'));
    expectParseError(() => parseReport(parseXml('<x:calendar-query xmlns:x="urn:other"/>')), 'UNSUPPORTED_REPORT');
  });

  it('invalid filters carry CALDAV:valid-filter / supported-collation', () => {
    const q = (inner: string) =>
      `<C:calendar-query xmlns:C="${NS_CALDAV}"><C:filter>${inner}</C:filter></C:calendar-query>`;
    expectParseError(() => parseReport(parseXml(q('<C:comp-filter name="VEVENT"/>'))), 'INVALID_BODY', C('valid-filter'));
    expectParseError(() => parseReport(parseXml(q(''))), 'INVALID_BODY', C('valid-filter'));
    expectParseError(
      () => parseReport(parseXml(q('<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="2024-01-01"/></C:comp-filter></C:comp-filter>'))),
      'INVALID_BODY',
      C('valid-filter'),
    );
    expectParseError(
      () => parseReport(parseXml(q('<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20240201T000000Z" end="20240101T000000Z"/></C:comp-filter></C:comp-filter>'))),
      'INVALID_BODY',
    );
    expectParseError(
      () => parseReport(parseXml(q('<C:comp-filter name="VCALENDAR"><C:prop-filter name="UID"><C:text-match collation="i;klingon">x</C:text-match></C:prop-filter></C:comp-filter>'))),
      'INVALID_BODY',
      C('supported-collation'),
    );
    expectParseError(() => parseReport(parseXml(`<C:calendar-query xmlns:C="${NS_CALDAV}"/>`)), 'INVALID_BODY', C('valid-filter'));
  });

  it('multiget without hrefs and free-busy-query without time-range are rejected', () => {
    expectParseError(() => parseReport(parseXml(`<C:calendar-multiget xmlns:C="${NS_CALDAV}"/>`)), 'INVALID_BODY');
    expectParseError(() => parseReport(parseXml(`<C:free-busy-query xmlns:C="${NS_CALDAV}"/>`)), 'INVALID_BODY');
  });
});
