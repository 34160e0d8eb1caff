import { describe, expect, it } from 'vitest';
import ICAL from 'ical.js';
import {
  DavParseError,
  NS_CALDAV,
  NS_DAV,
  SUPPORTED_REPORTS,
  buildMultistatus,
  child,
  childrenNamed,
  emptyProp,
  hrefToPath,
  matchesFilter,
  parseXml,
  pathToHref,
  supportedReportSet,
  textProp,
  timezoneFromCalendarText,
  type CompFilter,
} from '../../../src/lib/dav/index.js';
import { BERLIN_VTIMEZONE, allDayEvent } from './icsFixtures.js';

const comp = (name: string, extra: Partial<CompFilter> = {}): CompFilter => ({ name, isNotDefined: false, timeRange: null, propFilters: [], compFilters: [], ...extra });
const calWith = (vevent: string) =>
  ICAL.Component.fromString(`BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n${vevent.trim().split('\n').join('\r\n')}\r\nEND:VCALENDAR\r\n`);
const inRange = (s: string, e: string) => comp('VCALENDAR', { compFilters: [comp('VEVENT', { timeRange: { start: new Date(s), end: new Date(e) } })] });

describe('hrefs', () => {
  it('round-trips paths with spaces, unicode and reserved characters', () => {
    const path = '/dav/calendars/anna@example.com/work/Café meeting #1?.ics';
    const href = pathToHref(path);
    expect(href).toBe('/dav/calendars/anna@example.com/work/Caf%C3%A9%20meeting%20%231%3F.ics');
    expect(hrefToPath(href)).toBe(path);
    expect(hrefToPath('https://cal.example.com/dav/x%20y.ics')).toBe('/dav/x y.ics');
    expect(() => hrefToPath('mailto:a@b')).toThrow(DavParseError);
    expect(() => hrefToPath('/a%E0%A4%A')).toThrow(DavParseError);
  });
  it('answers plain absolute paths as the URL parser does (dot segments, network paths, escapes)', () => {
    const viaUrl = (h: string) => decodeURIComponent(new URL(h.trim(), 'http://relative.invalid').pathname);
    for (const h of ['/dav/calendars/a@b.c/x/ev-1.ics', '/dav/./x.ics', '/dav/a/../b.ics', '/dav/a/.', '/dav/a/..', '//evil.example/x.ics', '/dav//x.ics', '/dav/.hidden.ics', '/dav/x~y_z:1.ics', '/dav/x%2Fy.ics', ' /dav/x.ics']) {
      expect(hrefToPath(h), h).toBe(viaUrl(h));
    }
  });
});

describe('multistatus extras', () => {
  it('return=minimal drops 404 propstats and keeps at least one propstat', () => {
    const body = buildMultistatus(
      [
        { href: '/a/', props: [{ prop: textProp({ ns: NS_DAV, name: 'displayname' }, 'A'), status: 200 }, { prop: emptyProp({ ns: 'urn:x', name: 'y' }), status: 404 }] },
        { href: '/b/', props: [{ prop: emptyProp({ ns: 'urn:x', name: 'y' }), status: 404 }] },
      ],
      { minimal: true },
    );
    const [a, b] = parseXml(body).children;
    expect(childrenNamed(a!, NS_DAV, 'propstat')).toHaveLength(1);
    const bps = childrenNamed(b!, NS_DAV, 'propstat');
    expect(bps).toHaveLength(1);
    expect(child(bps[0]!, NS_DAV, 'status')!.text).toBe('HTTP/1.1 200 OK');
    expect(body).not.toContain('urn:x');
  });

  it('supported-report-set lists every parsable report', () => {
    const body = buildMultistatus([{ href: '/c/', props: [{ prop: supportedReportSet(SUPPORTED_REPORTS), status: 200 }] }]);
    expect(body).toContain('<D:supported-report><D:report><C:calendar-query/></D:report></D:supported-report>');
    expect(SUPPORTED_REPORTS).toContainEqual({ ns: NS_CALDAV, name: 'free-busy-query' });
    expect(SUPPORTED_REPORTS).toHaveLength(8);
  });
});

describe('filter edge cases', () => {
  it('RFC 4791 §9.9: DTEND = DTSTART uses the strict comparison, DURATION:PT0S the inclusive one', () => {
    const withEnd = calWith('BEGIN:VEVENT\nUID:z\nDTSTAMP:20240101T000000Z\nDTSTART:20240105T100000Z\nDTEND:20240105T100000Z\nEND:VEVENT');
    const withDur = calWith('BEGIN:VEVENT\nUID:z\nDTSTAMP:20240101T000000Z\nDTSTART:20240105T100000Z\nDURATION:PT0S\nEND:VEVENT');
    const f = inRange('2024-01-05T10:00:00Z', '2024-01-05T11:00:00Z');
    expect(matchesFilter(withEnd, f)).toBe(false);
    expect(matchesFilter(withDur, f)).toBe(true);
  });

  it('an exhausted safety cap answers "overlaps" rather than losing the event', () => {
    const old = calWith('BEGIN:VEVENT\nUID:d\nDTSTAMP:20240101T000000Z\nDTSTART:19900101T090000Z\nDTEND:19900101T100000Z\nRRULE:FREQ=DAILY\nEND:VEVENT');
    const f = inRange('2024-01-05T00:00:00Z', '2024-01-06T00:00:00Z');
    expect(matchesFilter(old, f, { maxInstances: 100 })).toBe(true);
    expect(matchesFilter(old, f, { maxInstances: 20_000 })).toBe(true);
    expect(matchesFilter(old, inRange('1989-01-01T00:00:00Z', '1989-01-02T00:00:00Z'), { maxInstances: 100 })).toBe(false);
  });

  it('absolute alarm triggers on a recurring event are evaluated once', () => {
    const c = calWith(
      'BEGIN:VEVENT\nUID:abs\nDTSTAMP:20240101T000000Z\nDTSTART:20240101T090000Z\nRRULE:FREQ=DAILY\nBEGIN:VALARM\nACTION:DISPLAY\nDESCRIPTION:x\nTRIGGER;VALUE=DATE-TIME:20231231T120000Z\nEND:VALARM\nEND:VEVENT',
    );
    const alarmIn = (s: string, e: string) =>
      comp('VCALENDAR', { compFilters: [comp('VEVENT', { compFilters: [comp('VALARM', { timeRange: { start: new Date(s), end: new Date(e) } })] })] });
    expect(matchesFilter(c, alarmIn('2023-12-31T12:00:00Z', '2023-12-31T13:00:00Z'), { maxInstances: 50 })).toBe(true);
    expect(matchesFilter(c, alarmIn('2024-06-01T00:00:00Z', '2024-06-02T00:00:00Z'), { maxInstances: 50 })).toBe(false);
  });

  it('CALDAV:timezone text becomes the floating zone', () => {
    const tz = timezoneFromCalendarText(`BEGIN:VCALENDAR\r\nPRODID:x\r\nVERSION:2.0\r\n${BERLIN_VTIMEZONE.split('\n').join('\r\n')}\r\nEND:VCALENDAR\r\n`);
    expect(tz?.tzid).toBe('Europe/Berlin');
    expect(matchesFilter(allDayEvent(), inRange('2024-01-19T23:00:00Z', '2024-01-19T23:30:00Z'), { floatingTimezone: tz })).toBe(true);
    expect(timezoneFromCalendarText('garbage')).toBeNull();
  });
});
