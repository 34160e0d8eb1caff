/** Prints expansion timings for 10 000 resources (10 % recurring). No timed assertions. */
import { describe, expect, it } from 'vitest';
import { compileResource, expand, indexResource } from '../../../src/lib/ical/index.js';

const ZONES = ['Europe/Berlin', 'America/New_York', 'Europe/Moscow', 'Asia/Tokyo', 'UTC'];
const RULES = ['FREQ=WEEKLY;BYDAY=MO,WE,FR', 'FREQ=DAILY;INTERVAL=2', 'FREQ=MONTHLY;BYDAY=2TU', 'FREQ=WEEKLY;INTERVAL=2;COUNT=40', 'FREQ=YEARLY'];
const pad = (n: number) => String(n).padStart(2, '0');

function resource(i: number): string {
  const zone = ZONES[i % ZONES.length];
  const recurring = i % 10 === 0;
  const y = recurring ? 2023 + (i % 3) : 2025;
  const month = 1 + (i % 12);
  const day = 1 + (i % 28);
  const tz = zone === 'UTC' ? '' : `;TZID=${zone}`;
  const z = zone === 'UTC' ? 'Z' : '';
  return ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//bench//EN', 'BEGIN:VEVENT', `UID:bench-${i}`, 'DTSTAMP:20250101T000000Z',
    `DTSTART${tz}:${y}${pad(month)}${pad(day)}T${pad(8 + (i % 10))}0000${z}`, `DTEND${tz}:${y}${pad(month)}${pad(day)}T${pad(9 + (i % 10))}0000${z}`,
    `SUMMARY:Event ${i}`, ...(recurring ? [`RRULE:${RULES[(i / 10) % RULES.length | 0]}`, `EXDATE${tz}:${y}${pad(month)}${pad(day)}T${pad(8 + (i % 10))}0000${z}`] : []),
    'END:VEVENT', 'END:VCALENDAR'].join('\r\n');
}

describe('timing (printed, not asserted)', () => {
  it('expands a month for 10 000 resources', () => {
    const texts = Array.from({ length: 10_000 }, (_, i) => resource(i));
    let t = performance.now();
    const compiled = texts.map((x) => compileResource(x));
    const compileMs = performance.now() - t;
    t = performance.now();
    for (const c of compiled) indexResource(c);
    const indexMs = performance.now() - t;
    const from = new Date('2025-03-01T00:00:00Z');
    const to = new Date('2025-04-01T00:00:00Z');
    let n = 0;
    t = performance.now();
    for (const c of compiled) n += expand(c, from, to).length;
    const firstMs = performance.now() - t;
    t = performance.now();
    let n2 = 0;
    for (const c of compiled) n2 += expand(c, new Date('2025-04-01T00:00:00Z'), new Date('2025-05-01T00:00:00Z')).length;
    const secondMs = performance.now() - t;
    console.log(
      `[ical timing] 10k resources: compile ${compileMs.toFixed(0)} ms, index ${indexMs.toFixed(0)} ms, ` +
        `expand March ${firstMs.toFixed(0)} ms (${n} occurrences), expand April (warm) ${secondMs.toFixed(0)} ms (${n2} occurrences)`,
    );
    expect(n).toBeGreaterThan(0);
  });
});
