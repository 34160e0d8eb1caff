// A calendar's own VTIMEZONE against guesses from labels and X-LIC-LOCATION (RFC 5545 §3.6.5).
import { describe, expect, it } from 'vitest';
import { expand, parseCalendar, resolveTzid } from '../../../src/lib/ical/index.js';

const vtz = (tzid: string, lines: string[]) => ['BEGIN:VTIMEZONE', `TZID:${tzid}`, ...lines, 'END:VTIMEZONE'];
const fixed = (offset: string) => ['BEGIN:STANDARD', 'DTSTART:16010101T000000', `TZOFFSETFROM:${offset}`, `TZOFFSETTO:${offset}`, 'END:STANDARD'];
const cal = (zone: string[], tzid: string) => ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//T//EN', ...zone, 'BEGIN:VEVENT', 'UID:z@t', 'DTSTAMP:20300101T000000Z',
  `DTSTART;TZID="${tzid}":20300115T100000`, `DTEND;TZID="${tzid}":20300115T110000`, 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
const startOf = (text: string) => expand(text, new Date('2030-01-01T00:00:00Z'), new Date('2030-02-01T00:00:00Z'))[0].start.toISOString();

describe('TZID resolution with the calendar\'s own VTIMEZONE', () => {
  it('a label naming a city is not taken when the VTIMEZONE gives another offset', () => {
    const tzid = 'GMT+01:00 Amsterdam Custom';
    const text = cal(vtz(tzid, fixed('+0500')), tzid);
    const r = resolveTzid(tzid, parseCalendar(text).getAllSubcomponents('vtimezone'));
    expect(r.source).toBe('custom');
    expect(startOf(text)).toBe('2030-01-15T05:00:00.000Z');
  });

  it('X-LIC-LOCATION is not taken when the rules beside it give another offset', () => {
    const text = cal(vtz('Office', ['X-LIC-LOCATION:Europe/London', ...fixed('+0500')]), 'Office');
    expect(resolveTzid('Office', parseCalendar(text).getAllSubcomponents('vtimezone')).source).toBe('custom');
    expect(startOf(text)).toBe('2030-01-15T05:00:00.000Z');
  });

  it('a label or X-LIC-LOCATION that fits the VTIMEZONE still gives the IANA zone (its rules are current)', () => {
    const tzid = '(UTC+03:00) Moscow, St. Petersburg';
    const moscow = cal(vtz(tzid, fixed('+0300')), tzid);
    expect(resolveTzid(tzid, parseCalendar(moscow).getAllSubcomponents('vtimezone'))).toMatchObject({ iana: 'Europe/Moscow', source: 'label' });
    // An old definition with daylight time the country has dropped (Brazil, 2019) still fits the zone.
    const brasilia = '(UTC-03:00) Brasilia';
    const dst = vtz(brasilia, ['BEGIN:STANDARD', 'DTSTART:16010101T000000', 'RRULE:FREQ=YEARLY;BYMONTH=2;BYDAY=3SU', 'TZOFFSETFROM:-0200', 'TZOFFSETTO:-0300', 'END:STANDARD',
      'BEGIN:DAYLIGHT', 'DTSTART:16010101T000000', 'RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU', 'TZOFFSETFROM:-0300', 'TZOFFSETTO:-0200', 'END:DAYLIGHT']);
    const r = resolveTzid(brasilia, parseCalendar(cal(dst, brasilia)).getAllSubcomponents('vtimezone'));
    expect(r).toMatchObject({ iana: 'America/Sao_Paulo', source: 'label' });
    const london = cal(vtz('Office', ['X-LIC-LOCATION:Europe/London', ...fixed('+0000')]), 'Office');
    expect(resolveTzid('Office', parseCalendar(london).getAllSubcomponents('vtimezone'))).toMatchObject({ iana: 'Europe/London', source: 'x-lic-location' });
  });

  it('without a VTIMEZONE a label is still resolved', () => {
    expect(resolveTzid('(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna')).toMatchObject({ source: 'label' });
  });
});
