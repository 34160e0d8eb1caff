import { describe, expect, it } from 'vitest';
import { addOverride, alarmTriggers, buildComponent, eventToJson, excludeOccurrence, expand, splitSeries } from '../../../src/lib/ical/index.js';
import { readCorpus } from './helpers.js';

const series = buildComponent(
  {
    summary: 'Weekly', start: '2025-03-03T10:00:00', end: '2025-03-03T11:00:00', timezone: 'America/New_York',
    rrule: 'FREQ=WEEKLY;COUNT=6', attendees: [{ email: 'x@example.com', partstat: 'ACCEPTED' }],
    alarms: [{ action: 'DISPLAY', trigger: '-PT10M' }],
  },
  { uid: 's1', dtstamp: new Date('2025-01-01T00:00:00Z') },
);
const R = [new Date('2025-01-01'), new Date('2026-01-01')] as const;
const keys = (t: string) => expand(t, ...R).map((o) => o.recurrenceId);

describe('recurrence edits', () => {
  it('excludeOccurrence adds an EXDATE', () => {
    const out = excludeOccurrence(series, '20250317T140000Z');
    expect(keys(out)).toEqual(['20250303T150000Z', '20250310T140000Z', '20250324T140000Z', '20250331T140000Z', '20250407T140000Z']);
  });

  it('addOverride moves one occurrence and excludeOccurrence removes the override again', () => {
    const out = addOverride(series, '20250310T140000Z', { start: '2025-03-11T09:00:00', end: '2025-03-11T10:00:00', summary: 'Moved' });
    const occ = expand(out, ...R);
    const moved = occ.find((o) => o.override)!;
    expect(moved.recurrenceId).toBe('20250310T140000Z');
    expect(moved.start.toISOString()).toBe('2025-03-11T13:00:00.000Z');
    expect(moved.summary).toBe('Moved');
    expect(occ).toHaveLength(6);
    const gone = excludeOccurrence(out, '20250310T140000Z');
    expect(gone).not.toContain('RECURRENCE-ID');
    expect(keys(gone)).not.toContain('20250310T140000Z');
  });

  it('splitSeries ends the old series before the split and continues in the new one', () => {
    const withOverride = addOverride(series, '20250331T140000Z', { summary: 'Late' });
    const { oldSeriesText, newSeriesText } = splitSeries(withOverride, '20250317T140000Z', 's2');
    expect(keys(oldSeriesText)).toEqual(['20250303T150000Z', '20250310T140000Z']);
    const n = expand(newSeriesText, ...R);
    expect(n.map((o) => o.recurrenceId)).toEqual(['20250317T140000Z', '20250324T140000Z', '20250331T140000Z', '20250407T140000Z']);
    expect(n.find((o) => o.override)?.summary).toBe('Late');
    const j = eventToJson(newSeriesText);
    expect(j.uid).toBe('s2');
    expect(j.attendees![0].partstat).toBe('ACCEPTED');
    expect(j.start).toBe('2025-03-17T10:00:00');
  });
});

describe('alarms', () => {
  it('fires relative to each occurrence start', () => {
    const f = alarmTriggers(series, new Date('2025-03-01'), new Date('2025-03-12'));
    expect(f.map((x) => x.fireAt.toISOString())).toEqual(['2025-03-03T14:50:00.000Z', '2025-03-10T13:50:00.000Z']);
  });

  it('respects X-MOZ-LASTACK and X-MOZ-SNOOZE-TIME (Thunderbird corpus file)', () => {
    const f = alarmTriggers(readCorpus('ics/thunderbird-alarm-snoozed.ics'), new Date('2024-10-23T00:00:00Z'), new Date('2024-10-24T00:00:00Z'));
    // -PT45M (13:15Z) and -PT15M (13:45Z) are before LASTACK 13:52:02Z; only the snooze remains.
    expect(f.map((x) => [x.fireAt.toISOString(), x.snooze])).toEqual([['2024-10-23T13:57:02.000Z', true]]);
  });

  it('REPEAT/DURATION, RELATED=END, absolute triggers and ACKNOWLEDGED', () => {
    const ics = [
      'BEGIN:VCALENDAR', 'BEGIN:VEVENT', 'UID:a1', 'DTSTART:20250601T100000Z', 'DTEND:20250601T110000Z',
      'BEGIN:VALARM', 'ACTION:DISPLAY', 'TRIGGER:-PT30M', 'REPEAT:2', 'DURATION:PT10M', 'ACKNOWLEDGED:20250601T093500Z', 'END:VALARM',
      'BEGIN:VALARM', 'ACTION:EMAIL', 'TRIGGER;RELATED=END:PT5M', 'END:VALARM',
      'BEGIN:VALARM', 'ACTION:DISPLAY', 'TRIGGER;VALUE=DATE-TIME:20250531T080000Z', 'END:VALARM',
      'END:VEVENT', 'END:VCALENDAR',
    ].join('\r\n');
    const f = alarmTriggers(ics, new Date('2025-05-01'), new Date('2025-07-01'));
    expect(f.map((x) => x.fireAt.toISOString().slice(0, 16))).toEqual(['2025-05-31T08:00', '2025-06-01T09:40', '2025-06-01T09:50', '2025-06-01T11:05']);
  });
});
