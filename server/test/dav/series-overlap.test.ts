// The instance table behind calendar-query's time-range check of recurring series must give the
// same answer as expanding the series over the asked range (RFC 4791 §9.9 overlap rule).
import { describe, expect, it } from 'vitest';
import { compileResource, expandCompiled } from '../../src/lib/ical/index.js';
import { clearSeriesOverlaps, knownSeriesOverlap, seriesOverlaps } from '../../src/app/events/series-overlap.js';

const cal = (...lines: string[]) => ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//t//EN', ...lines, 'END:VCALENDAR', ''].join('\r\n');
const weekly = cal(
  'BEGIN:VEVENT', 'UID:w1', 'DTSTAMP:20300101T000000Z', 'DTSTART:20300107T090000Z', 'DTEND:20300107T100000Z', 'RRULE:FREQ=WEEKLY;COUNT=20', 'EXDATE:20300121T090000Z', 'END:VEVENT',
  'BEGIN:VEVENT', 'UID:w1', 'DTSTAMP:20300101T000000Z', 'RECURRENCE-ID:20300204T090000Z', 'DTSTART:20300205T150000Z', 'DTEND:20300205T160000Z', 'END:VEVENT',
);
const zeroLength = cal('BEGIN:VEVENT', 'UID:z1', 'DTSTAMP:20300101T000000Z', 'DTSTART:20300107T090000Z', 'RRULE:FREQ=DAILY;COUNT=5', 'END:VEVENT');
const allDayLong = cal('BEGIN:VEVENT', 'UID:a1', 'DTSTAMP:20300101T000000Z', 'DTSTART;VALUE=DATE:20300101', 'DTEND;VALUE=DATE:20300111', 'RRULE:FREQ=MONTHLY;COUNT=6', 'END:VEVENT');

const H = 3_600_000;
const truth = (ical: string, from: number, to: number) => expandCompiled(compileResource(ical), new Date(from), new Date(to), { defaultTz: 'UTC', limit: 1 }).length > 0;

describe('series overlap table', () => {
  it('agrees with expansion on every hour-aligned window around the instances (EXDATE, moved instance, zero length, long all-day)', () => {
    clearSeriesOverlaps();
    const cases: Array<[string, string]> = [['e-weekly', weekly], ['e-zero', zeroLength], ['e-allday', allDayLong]];
    const start = Date.UTC(2029, 11, 30);
    let checked = 0;
    for (const [etag, ical] of cases) {
      for (let f = start; f < start + 24 * 7 * 24 * H; f += 7 * H) {
        for (const len of [0, 1 * H, 24 * H, 7 * 24 * H]) {
          const want = truth(ical, f, f + len);
          expect(seriesOverlaps(etag, ical, f, f + len), `${etag} ${new Date(f).toISOString()} +${len / H}h`).toBe(want);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(1000);
  });

  it('knows a tabled series without its text, and says when it needs it', () => {
    clearSeriesOverlaps();
    const from = Date.UTC(2030, 0, 21, 0);
    expect(knownSeriesOverlap('k', from, from + 24 * H)).toBeUndefined();
    // The excluded 21 January instance: no overlap that day; the moved one is on 5 February, not the 4th.
    expect(seriesOverlaps('k', weekly, from, from + 24 * H)).toBe(false);
    expect(knownSeriesOverlap('k', Date.UTC(2030, 1, 4), Date.UTC(2030, 1, 5))).toBe(false);
    expect(knownSeriesOverlap('k', Date.UTC(2030, 1, 5), Date.UTC(2030, 1, 6))).toBe(true);
    // Far outside the table's window: unknown again, then tabled over the wider window.
    expect(knownSeriesOverlap('k', Date.UTC(2090, 0, 1), Date.UTC(2090, 0, 8))).toBeUndefined();
    expect(seriesOverlaps('k', weekly, Date.UTC(2090, 0, 1), Date.UTC(2090, 0, 8))).toBe(false);
  });

  it('a text that does not compile throws (the caller lists such a series)', () => {
    clearSeriesOverlaps();
    expect(() => seriesOverlaps('bad', '', 0, 1)).toThrow();
  });
});
