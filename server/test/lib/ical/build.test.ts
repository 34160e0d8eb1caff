import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyEventPatch, buildComponent, eventToJson, expand, parseCalendar, serializeComponent, type EventPatch } from '../../../src/lib/ical/index.js';

const base = buildComponent(
  {
    summary: 'Standup', start: '2025-03-28T09:00:00', end: '2025-03-28T09:15:00', timezone: 'Europe/Berlin',
    rrule: 'FREQ=DAILY;COUNT=5', location: 'Room 1', attendees: [{ email: 'a@example.com', name: 'A', partstat: 'ACCEPTED' }],
    alarms: [{ action: 'DISPLAY', trigger: '-PT15M' }], organizer: { email: 'boss@example.com', name: 'Boss' },
  },
  { uid: 'u1', dtstamp: new Date('2025-01-01T00:00:00Z') },
);

describe('build / patch / json', () => {
  it('builds a VEVENT with VTIMEZONE and DST-correct occurrences', () => {
    expect(base).toMatch(/BEGIN:VTIMEZONE\r\nTZID:Europe\/Berlin/);
    const occ = expand(base, new Date('2025-03-01'), new Date('2025-04-30'));
    expect(occ.map((o) => o.start.toISOString().slice(11, 16))).toEqual(['08:00', '08:00', '07:00', '07:00', '07:00']);
  });

  it('eventToJson reads the model back', () => {
    const j = eventToJson(base);
    expect(j).toMatchObject({ uid: 'u1', summary: 'Standup', start: '2025-03-28T09:00:00', timezone: 'Europe/Berlin', rrule: 'FREQ=DAILY;COUNT=5' });
    expect(j.attendees![0]).toMatchObject({ email: 'a@example.com', partstat: 'ACCEPTED' });
    expect(j.alarms).toEqual([{ action: 'DISPLAY', trigger: '-PT15M' }]);
  });

  it('patch keeps X- properties and parameters', () => {
    const withX = base.replace('SUMMARY:Standup', 'SUMMARY;X-FOO=bar:Standup\r\nX-CUSTOM;X-P="a:b":keep me');
    const out = applyEventPatch(withX, { summary: 'Daily' });
    expect(out).toContain('SUMMARY;X-FOO=bar:Daily');
    expect(out).toContain('X-CUSTOM;X-P="a:b":keep me');
  });

  it('parse → serialise → parse is stable and keeps X- properties', () => {
    const withX = base.replace('END:VEVENT', 'X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC\r\nEND:VEVENT');
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme-ascii', maxLength: 40 }), (v) => {
        // A replacer function: in a replacement string `$'`, `$&`… would be expanded by replace().
        const txt = withX.replace('LOCATION:Room 1', () => `LOCATION:${v.replace(/[\\;,\r\n]/g, '')}`);
        const once = serializeComponent(parseCalendar(txt));
        const twice = serializeComponent(parseCalendar(once));
        expect(twice).toBe(once);
        expect(once).toContain('X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC');
      }),
    );
  });

  it('patch then inverse patch restores the text (property)', () => {
    const textArb = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }).filter((s) => s.trim() === s && s.length > 0);
    const patchArb = fc.record(
      {
        summary: textArb, location: textArb, description: textArb, url: fc.webUrl(),
        transparency: fc.constantFrom('OPAQUE' as const, 'TRANSPARENT' as const),
        visibility: fc.constantFrom('PUBLIC' as const, 'PRIVATE' as const, 'CONFIDENTIAL' as const),
        status: fc.constantFrom('CONFIRMED', 'TENTATIVE', 'CANCELLED'), color: fc.constantFrom('red', 'navy'),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(patchArb, (patch) => {
        const before = eventToJson(base) as unknown as Record<string, unknown>;
        const inverse: Record<string, unknown> = {};
        for (const k of Object.keys(patch)) inverse[k] = before[k] ?? null;
        const changed = applyEventPatch(base, patch as EventPatch);
        const restored = applyEventPatch(changed, inverse as EventPatch);
        expect(restored).toBe(base);
      }),
      { numRuns: 60 },
    );
  });
});
