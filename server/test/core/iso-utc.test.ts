import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isoDate, isoUtc } from '../../src/app/events/iso.js';

describe('isoUtc', () => {
  it('formats exactly like Date.prototype.toISOString', () => {
    const min = Date.parse('-001000-01-01T00:00:00Z');
    const max = Date.parse('+012000-01-01T00:00:00Z');
    fc.assert(fc.property(fc.integer({ min, max }), (ms) => {
      expect(isoUtc(ms)).toBe(new Date(ms).toISOString());
      expect(isoDate(ms)).toBe(new Date(ms).toISOString().slice(0, 10));
    }), { numRuns: 5000 });
    for (const s of ['1969-12-31T23:59:59.999Z', '1970-01-01T00:00:00.000Z', '0000-01-01T00:00:00.000Z', '9999-12-31T23:59:59.999Z', '2024-02-29T12:34:56.789Z']) {
      expect(isoUtc(Date.parse(s))).toBe(s);
    }
    expect(isoUtc(1.5)).toBe(new Date(1.5).toISOString());
  });
});
