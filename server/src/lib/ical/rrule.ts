/**
 * RRULE value parsing (RFC 5545 §3.3.10), tolerant of junk seen in the wild
 * ("RRULE:RRULE:AnythingRandom;FREQ=WEEKLY…"): unknown parts are ignored,
 * a missing or bad FREQ is an IcalError.
 */
import { IcalError } from './errors.js';

export const FREQS = ['SECONDLY', 'MINUTELY', 'HOURLY', 'DAILY', 'WEEKLY', 'MONTHLY', 'YEARLY'] as const;
export type Freq = (typeof FREQS)[number];

/** A parsed RRULE. `until` is kept as written (basic form). */
export interface RuleParts {
  freq: Freq;
  interval: number;
  count?: number;
  until?: string;
  byDay?: string[];
  byMonthDay?: number[];
  byMonth?: number[];
  byYearDay?: number[];
  byWeekNo?: number[];
  bySetPos?: number[];
  byHour?: number[];
  byMinute?: number[];
  bySecond?: number[];
  wkst?: string;
}

const NUM_PARTS: Record<string, keyof RuleParts> = {
  BYMONTHDAY: 'byMonthDay',
  BYMONTH: 'byMonth',
  BYYEARDAY: 'byYearDay',
  BYWEEKNO: 'byWeekNo',
  BYSETPOS: 'bySetPos',
  BYHOUR: 'byHour',
  BYMINUTE: 'byMinute',
  BYSECOND: 'bySecond',
};

/** Parse an RRULE value string. Throws IcalError('INVALID_RRULE'). */
export function parseRRule(value: string): RuleParts {
  const text = value.replace(/^(\s*RRULE\s*:)+/i, '').trim();
  const parts: Partial<RuleParts> = {};
  for (const seg of text.split(';')) {
    const eq = seg.indexOf('=');
    if (eq < 0) continue;
    const key = seg.slice(0, eq).trim().toUpperCase().replace(/^.*:/, '');
    const val = seg.slice(eq + 1).trim().toUpperCase();
    if (key === 'FREQ') {
      if (!(FREQS as readonly string[]).includes(val)) throw new IcalError('INVALID_RRULE', `Invalid RRULE: unknown FREQ "${val}"`);
      parts.freq = val as Freq;
    } else if (key === 'INTERVAL') {
      const n = Number(val);
      if (Number.isInteger(n) && n > 0) parts.interval = n;
    } else if (key === 'COUNT') {
      const n = Number(val);
      if (!Number.isInteger(n) || n < 0) throw new IcalError('INVALID_RRULE', `Invalid RRULE: COUNT "${val}"`);
      parts.count = n;
    } else if (key === 'UNTIL') {
      if (!/^\d{8}(T\d{6}Z?)?$/.test(val)) throw new IcalError('INVALID_RRULE', `Invalid RRULE: UNTIL "${val}"`);
      parts.until = val;
    } else if (key === 'BYDAY') {
      const days = val.split(',').map((d) => d.trim()).filter((d) => /^[+-]?\d{0,2}(MO|TU|WE|TH|FR|SA|SU)$/.test(d));
      if (days.length) parts.byDay = days;
    } else if (key === 'WKST') {
      if (/^(MO|TU|WE|TH|FR|SA|SU)$/.test(val)) parts.wkst = val;
    } else if (NUM_PARTS[key]) {
      const nums = val.split(',').map(Number).filter((n) => Number.isInteger(n));
      if (nums.length) (parts as Record<string, unknown>)[NUM_PARTS[key]] = nums;
    }
  }
  if (!parts.freq) throw new IcalError('INVALID_RRULE', `Invalid RRULE "${value.slice(0, 100)}": FREQ is missing`);
  return { interval: 1, ...parts } as RuleParts;
}

/** Serialise RuleParts back to an RRULE value (FREQ first, as RFC 5545 §3.3.10 recommends). */
export function formatRRule(r: RuleParts): string {
  const out = [`FREQ=${r.freq}`];
  if (r.interval && r.interval !== 1) out.push(`INTERVAL=${r.interval}`);
  if (r.until) out.push(`UNTIL=${r.until}`);
  if (r.count !== undefined) out.push(`COUNT=${r.count}`);
  const lists: [string, unknown[] | undefined][] = [
    ['BYMONTH', r.byMonth], ['BYWEEKNO', r.byWeekNo], ['BYYEARDAY', r.byYearDay], ['BYMONTHDAY', r.byMonthDay],
    ['BYDAY', r.byDay], ['BYHOUR', r.byHour], ['BYMINUTE', r.byMinute], ['BYSECOND', r.bySecond], ['BYSETPOS', r.bySetPos],
  ];
  for (const [k, v] of lists) if (v?.length) out.push(`${k}=${v.join(',')}`);
  if (r.wkst) out.push(`WKST=${r.wkst}`);
  return out.join(';');
}
