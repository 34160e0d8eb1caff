import { describe, expect, it } from 'vitest';
import { alarmTriggers, compileResource, expand, indexResource } from '../../../src/lib/ical/index.js';

const todo = (lines: string[], extra = '') =>
  `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VTODO\r\nUID:task-1\r\nDTSTAMP:20240101T000000Z\r\n${lines.join('\r\n')}\r\nEND:VTODO\r\n${extra}END:VCALENDAR\r\n`;

describe('VTODO without DTSTART and DUE (RFC 5545 §3.6.2)', () => {
  it('compiles to an undated series with no master and no occurrences', () => {
    const s = compileResource(todo(['SUMMARY:Buy milk', 'STATUS:NEEDS-ACTION']));
    expect(s.undated).toBe(true);
    expect(s.master).toBeNull();
    expect(s.componentType).toBe('VTODO');
    expect(s.components).toHaveLength(1);
    expect(s.allDay).toBe(false);
    expect(s.floating).toBe(false);
    expect(expand(s, new Date('2000-01-01T00:00:00Z'), new Date('2100-01-01T00:00:00Z'))).toEqual([]);
  });

  it('indexes with no time span (firstStart and lastEnd null) and keeps the other columns', () => {
    const ix = indexResource(todo(['SUMMARY:Buy milk', 'STATUS:NEEDS-ACTION', 'CREATED:20240101T000000Z', 'PRIORITY:5', 'SEQUENCE:2']));
    expect(ix).toMatchObject({ uid: 'task-1', componentType: 'VTODO', firstStart: null, lastEnd: null, recurring: false, summary: 'Buy milk', status: 'NEEDS-ACTION', sequence: 2, allDay: false });
  });

  it('accepts Thunderbird / Apple Reminders / tasks.org shapes (COMPLETED, PERCENT-COMPLETE, X- props, alarms)', () => {
    const done = indexResource(todo(['SUMMARY:x', 'STATUS:COMPLETED', 'COMPLETED:20240105T100000Z', 'PERCENT-COMPLETE:100', 'X-APPLE-SORT-ORDER:12']));
    expect(done.firstStart).toBeNull();
    const withAlarm = todo(['SUMMARY:x'], '').replace('END:VTODO', 'BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER;VALUE=DATE-TIME:20240110T090000Z\r\nEND:VALARM\r\nEND:VTODO');
    const ix = indexResource(withAlarm);
    expect(ix.hasAlarms).toBe(true);
    // No occurrence to fire for (documented gap: absolute alarms of undated tasks do not fire).
    expect(alarmTriggers(withAlarm, new Date('2024-01-01T00:00:00Z'), new Date('2024-02-01T00:00:00Z'))).toEqual([]);
  });

  it('an RRULE without DTSTART is ignored rather than rejected', () => {
    const ix = indexResource(todo(['SUMMARY:x', 'RRULE:FREQ=WEEKLY']));
    expect(ix).toMatchObject({ firstStart: null, lastEnd: null, recurring: false });
  });

  it('a VTODO with only DUE or only DTSTART still has a span', () => {
    const due = indexResource(todo(['DUE:20240120T100000Z']));
    expect(due.firstStart?.toISOString()).toBe('2024-01-20T10:00:00.000Z');
    const start = indexResource(todo(['DTSTART:20240120T100000Z']));
    expect(start.firstStart?.toISOString()).toBe('2024-01-20T10:00:00.000Z');
    expect(compileResource(todo(['DUE:20240120T100000Z'])).undated).toBe(false);
  });

  it('a VEVENT without DTSTART is still invalid', () => {
    const ev = 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:e\r\nDTSTAMP:20240101T000000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n';
    expect(() => compileResource(ev)).toThrow(/no DTSTART/);
  });
});
