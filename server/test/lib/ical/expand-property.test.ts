import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expand, zonedToUtc } from '../../../src/lib/ical/index.js';

const DAY = 86_400_000;
const WD = ['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'];

/** Brute force: walk day by day on the wall clock and pick matching days. */
function reference(p: { zone: string; y: number; m: number; d: number; hh: number; mm: number; freq: 'DAILY' | 'WEEKLY'; interval: number; byDay: number[]; count?: number; untilMs?: number }, endMs: number): number[] {
  const startDay = Date.UTC(p.y, p.m - 1, p.d);
  const wd0 = (new Date(startDay).getUTCDay() + 6) % 7; // 0 = Monday
  const weekStart = startDay - wd0 * DAY;
  const out: number[] = [];
  for (let day = startDay; ; day += DAY) {
    const idx = Math.round((day - startDay) / DAY);
    const wd = (new Date(day).getUTCDay() + 6) % 7;
    let ok: boolean;
    if (p.freq === 'DAILY') ok = idx % p.interval === 0 && (p.byDay.length === 0 || p.byDay.includes(wd));
    else ok = Math.floor((day - weekStart) / (7 * DAY)) % p.interval === 0 && (p.byDay.length ? p.byDay : [wd0]).includes(wd);
    if (!ok) continue;
    const dt = new Date(day);
    const inst = zonedToUtc({ year: dt.getUTCFullYear(), month: dt.getUTCMonth() + 1, day: dt.getUTCDate(), hour: p.hh, minute: p.mm }, p.zone).getTime();
    // DTSTART is always the first instance (RFC 5545 §3.8.5.3), even when UNTIL falls before it
    // (a late-evening local start whose UTC time is past an UNTIL at midnight UTC).
    if (p.untilMs !== undefined && inst > p.untilMs && out.length > 0) break;
    if (inst >= endMs) break;
    out.push(inst);
    if (p.count !== undefined && out.length >= p.count) break;
  }
  return out;
}

const pad = (n: number) => String(n).padStart(2, '0');

describe('expansion agrees with a brute-force reference across DST', () => {
  it('DAILY/WEEKLY with BYDAY, INTERVAL, COUNT/UNTIL in Berlin, New York, Moscow', () => {
    const arb = fc.record({
      zone: fc.constantFrom('Europe/Berlin', 'America/New_York', 'Europe/Moscow'),
      y: fc.constantFrom(2010, 2011, 2024, 2025), m: fc.integer({ min: 1, max: 12 }), d: fc.integer({ min: 1, max: 28 }),
      hh: fc.constantFrom(0, 1, 2, 3, 9, 23), mm: fc.constantFrom(0, 30),
      freq: fc.constantFrom('DAILY' as const, 'WEEKLY' as const), interval: fc.integer({ min: 1, max: 3 }),
      byDay: fc.uniqueArray(fc.integer({ min: 0, max: 6 }), { maxLength: 3 }),
      end: fc.oneof(fc.record({ count: fc.integer({ min: 1, max: 60 }) }), fc.record({ untilDays: fc.integer({ min: 1, max: 400 }) }), fc.constant({})),
    });
    fc.assert(
      fc.property(arb, (a) => {
        const startDay = Date.UTC(a.y, a.m - 1, a.d);
        const wd0 = (new Date(startDay).getUTCDay() + 6) % 7;
        const byDay = a.byDay.length ? [...new Set([...a.byDay, wd0])] : []; // DTSTART must match the pattern
        const untilMs = 'untilDays' in a.end ? startDay + (a.end.untilDays as number) * DAY : undefined;
        const count = 'count' in a.end ? (a.end.count as number) : undefined;
        const rule = [`FREQ=${a.freq}`, a.interval > 1 ? `INTERVAL=${a.interval}` : '', byDay.length ? `BYDAY=${byDay.sort().map((i) => WD[i]).join(',')}` : '',
          count ? `COUNT=${count}` : '', untilMs ? `UNTIL=${new Date(untilMs).toISOString().replace(/[-:]|\.000/g, '')}` : '', 'WKST=MO'].filter(Boolean).join(';');
        const ics = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:x', 'BEGIN:VEVENT', 'UID:p', 'DTSTAMP:20250101T000000Z',
          `DTSTART;TZID=${a.zone}:${a.y}${pad(a.m)}${pad(a.d)}T${pad(a.hh)}${pad(a.mm)}00`, 'DURATION:PT1H', `RRULE:${rule}`, 'END:VEVENT', 'END:VCALENDAR'].join('\r\n');
        const endMs = startDay + 420 * DAY;
        const got = expand(ics, new Date(startDay - 2 * DAY), new Date(endMs), { limit: 100_000 }).map((o) => o.start.getTime());
        const want = reference({ zone: a.zone, y: a.y, m: a.m, d: a.d, hh: a.hh, mm: a.mm, freq: a.freq, interval: a.interval, byDay, count, untilMs }, endMs);
        expect(got.map((x) => new Date(x).toISOString())).toEqual(want.map((x) => new Date(x).toISOString()));
      }),
      // A found case: UNTIL (midnight UTC) before the late-evening New York DTSTART.
      { numRuns: 150, examples: [[{ zone: 'America/New_York', y: 2010, m: 1, d: 1, hh: 23, mm: 0, freq: 'DAILY', interval: 1, byDay: [], end: { untilDays: 1 } }]] },
    );
  });
});
