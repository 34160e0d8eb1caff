import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import ICAL from 'ical.js';
import { parseReport, parseXml, pruneCalendarData, type CalendarDataSpec } from '../../../src/lib/dav/index.js';
import { berlinEvent, berlinZone, freebusy, weeklyEvent } from './icsFixtures.js';

const spec = (extra: Partial<CalendarDataSpec>): CalendarDataSpec => ({
  contentType: 'text/calendar',
  version: '2.0',
  comp: null,
  expand: null,
  limitRecurrenceSet: null,
  limitFreebusySet: null,
  ...extra,
});
const range = (s: string, e: string) => ({ start: new Date(s), end: new Date(e) });
const lines = (c: ICAL.Component) => c.toString().split('\r\n');

describe('expand (RFC 4791 §9.6.5)', () => {
  it('turns a recurring master + override into UTC instances with RECURRENCE-ID', () => {
    const out = pruneCalendarData(weeklyEvent(), spec({ expand: range('2024-01-01T00:00:00Z', '2024-01-23T00:00:00Z') }));
    const events = out.getAllSubcomponents('vevent');
    expect(events.map((e) => e.getFirstPropertyValue('recurrence-id')?.toString())).toEqual([
      '2024-01-01T09:00:00Z',
      '2024-01-15T09:00:00Z',
      '2024-01-22T09:00:00Z',
    ]);
    expect(events.map((e) => e.getFirstPropertyValue('dtstart')?.toString())).toEqual([
      '2024-01-01T09:00:00Z',
      '2024-01-16T14:00:00Z',
      '2024-01-22T09:00:00Z',
    ]);
    expect(events[2]!.getFirstPropertyValue('dtend')?.toString()).toBe('2024-01-22T10:00:00Z');
    for (const e of events) {
      expect(e.hasProperty('rrule') || e.hasProperty('exdate')).toBe(false);
    }
    expect(events[1]!.getFirstPropertyValue('summary')).toBe('Standup (moved)');
    expect(events[0]!.getAllSubcomponents('valarm')).toHaveLength(1);
  });

  it('converts zoned non-recurring events to UTC and drops VTIMEZONE', () => {
    const out = pruneCalendarData(berlinEvent(), spec({ expand: range('2024-01-15T00:00:00Z', '2024-01-16T00:00:00Z') }));
    expect(out.getAllSubcomponents('vtimezone')).toHaveLength(0);
    expect(lines(out)).toContain('DTSTART:20240115T090000Z');
    expect(lines(out)).toContain('DTEND:20240115T100000Z');
    const none = pruneCalendarData(berlinEvent(), spec({ expand: range('2024-02-01T00:00:00Z', '2024-02-02T00:00:00Z') }));
    expect(none.getAllSubcomponents('vevent')).toHaveLength(0);
  });

  it('all-day recurring instances stay DATE values on the right day', () => {
    const c = ICAL.Component.fromString(
      'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:bday\r\nDTSTAMP:20240101T000000Z\r\nDTSTART;VALUE=DATE:20200310\r\nDTEND;VALUE=DATE:20200311\r\nRRULE:FREQ=YEARLY\r\nSUMMARY:Birthday\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n',
    );
    const out = pruneCalendarData(c, spec({ expand: range('2024-03-01T00:00:00Z', '2024-04-01T00:00:00Z') }), { floatingTimezone: berlinZone() });
    const text = lines(out);
    expect(text).toContain('DTSTART;VALUE=DATE:20240310');
    expect(text).toContain('DTEND;VALUE=DATE:20240311');
    expect(text).toContain('RECURRENCE-ID;VALUE=DATE:20240310');
    expect(out.getAllSubcomponents('vevent')).toHaveLength(1);
  });

  it('uses an injected expander', () => {
    const fake = new ICAL.Component('vevent');
    fake.addPropertyWithValue('uid', 'from-expander');
    const expander = vi.fn(() => [fake]);
    const out = pruneCalendarData(weeklyEvent(), spec({ expand: range('2024-01-01T00:00:00Z', '2024-01-02T00:00:00Z') }), { expander });
    expect(expander).toHaveBeenCalledTimes(1);
    expect(out.getAllSubcomponents('vevent').map((e) => e.getFirstPropertyValue('uid'))).toEqual(['from-expander']);
  });

  it('RFC 4791 §7.8.3 request end to end: selection + expand', () => {
    const body = readFileSync(new URL('./fixtures/rfc4791-query-expand.xml', import.meta.url), 'utf8');
    const r = parseReport(parseXml(body));
    if (r.kind !== 'calendar-query' || !r.calendarData) throw new Error('bad fixture');
    const cd = { ...r.calendarData, expand: range('2024-01-14T00:00:00Z', '2024-01-17T00:00:00Z') };
    const input = weeklyEvent();
    const before = input.toString();
    const out = pruneCalendarData(input, cd);
    expect(input.toString()).toBe(before); // input untouched
    expect(out.getFirstPropertyValue('version')).toBe('2.0');
    expect(out.hasProperty('prodid')).toBe(false); // not selected
    const [ev] = out.getAllSubcomponents('vevent');
    expect(ev!.getAllProperties().map((p) => p.name).sort()).toEqual(['dtend', 'dtstart', 'recurrence-id', 'summary', 'uid']);
  });
});

describe('selection, limit-recurrence-set, limit-freebusy-set', () => {
  it('novalue keeps the property without its value; unselected components disappear', () => {
    const out = pruneCalendarData(
      berlinEvent(),
      spec({
        comp: {
          name: 'VCALENDAR',
          allProps: true,
          props: [],
          allComps: false,
          comps: [{ name: 'VEVENT', allProps: false, props: [{ name: 'UID', novalue: false }, { name: 'ATTENDEE', novalue: true }], allComps: false, comps: [] }],
        },
      }),
    );
    expect(out.getAllSubcomponents('vtimezone')).toHaveLength(0);
    const ev = out.getFirstSubcomponent('vevent')!;
    expect(ev.getAllSubcomponents('valarm')).toHaveLength(0);
    expect(ev.getFirstPropertyValue('uid')).toBe('berlin-1');
    expect(ev.getAllProperties('attendee').map((p) => p.getFirstValue())).toEqual(['', '']);
    expect(ev.getFirstProperty('attendee')!.getParameter('partstat')).toBe('NEEDS-ACTION');
    expect(out.hasProperty('prodid')).toBe(true);
  });

  it('limit-recurrence-set keeps the master and only overrides touching the range', () => {
    const inRange = pruneCalendarData(weeklyEvent(), spec({ limitRecurrenceSet: range('2024-01-15T00:00:00Z', '2024-01-17T00:00:00Z') }));
    expect(inRange.getAllSubcomponents('vevent')).toHaveLength(2);
    const outside = pruneCalendarData(weeklyEvent(), spec({ limitRecurrenceSet: range('2024-02-01T00:00:00Z', '2024-02-02T00:00:00Z') }));
    expect(outside.getAllSubcomponents('vevent')).toHaveLength(1);
    expect(outside.getFirstSubcomponent('vevent')!.hasProperty('rrule')).toBe(true);
  });

  it('limit-freebusy-set keeps only overlapping periods', () => {
    const out = pruneCalendarData(freebusy(), spec({ limitFreebusySet: range('2024-01-20T00:00:00Z', '2024-01-21T00:00:00Z') }));
    const periods = out.getFirstSubcomponent('vfreebusy')!.getAllProperties('freebusy').flatMap((p) => p.getValues());
    expect(periods.map(String)).toEqual(['2024-01-20T09:00:00Z/2024-01-20T10:00:00Z']);
  });
});
