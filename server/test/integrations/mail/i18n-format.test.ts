// formatRange keeps the texts it made (a fan-out formats one range for every recipient): the
// kept text must be the one a fresh formatting gives, for every input the key is made of.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatRange } from '../../../src/integrations/mail/i18n.js';

const LOCALES = { ru: 'ru-RU', en: 'en-GB' } as const;
const ZONES = ['Europe/Moscow', 'America/New_York', 'Asia/Kolkata', 'UTC', 'Not/AZone'];

/** The text formatRange must give, computed here with Intl directly. */
function expected(lang: 'ru' | 'en', zone: string, s: Date, e: Date | undefined, allDay: boolean): string {
  if (allDay) {
    const f = new Intl.DateTimeFormat(LOCALES[lang], { dateStyle: 'full', timeZone: 'UTC' });
    const last = e ? new Date(Math.max(s.getTime(), e.getTime() - 86_400_000)) : undefined;
    const text = last && last.getTime() !== s.getTime() ? f.formatRange(s, last) : f.format(s);
    return `${text} (${lang === 'ru' ? 'весь день' : 'all day'})`;
  }
  const z = zone === 'Not/AZone' ? 'UTC' : zone;
  const f = new Intl.DateTimeFormat(LOCALES[lang], { dateStyle: 'full', timeStyle: 'short', timeZone: z });
  return `${e && e > s ? f.formatRange(s, e) : f.format(s)} (${z})`;
}

describe('formatRange', () => {
  it('gives the same text from its memo as a fresh formatting, whatever differs between calls', () => {
    const t0 = Date.UTC(2026, 0, 1);
    const input = fc.record({
      lang: fc.constantFrom('ru' as const, 'en' as const),
      zone: fc.constantFrom(...ZONES),
      start: fc.integer({ min: 0, max: 400 }).map((h) => new Date(t0 + h * 1_800_000)),
      len: fc.option(fc.integer({ min: 0, max: 200 }), { nil: undefined }),
      allDay: fc.boolean(),
    });
    fc.assert(fc.property(fc.array(input, { minLength: 1, maxLength: 30 }), (calls) => {
      for (const round of [0, 1]) {
        for (const c of calls) {
          const end = c.len === undefined ? undefined : new Date(c.start.getTime() + c.len * 1_800_000);
          expect(formatRange(c.lang, c.zone, c.start, end, c.allDay), `round ${round}`).toBe(expected(c.lang, c.zone, c.start, end, c.allDay));
        }
      }
    }), { numRuns: 150 });
  });
});
