import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mergePeriods, type BusyType, type Period } from '../../src/app/events/busy-periods.js';

const RANK: Record<BusyType, number> = { 'BUSY-TENTATIVE': 1, BUSY: 2, 'BUSY-UNAVAILABLE': 3 };
const period = fc.record({
  start: fc.integer({ min: 0, max: 200 }),
  len: fc.integer({ min: 0, max: 40 }),
  type: fc.constantFrom<BusyType>('BUSY', 'BUSY-TENTATIVE', 'BUSY-UNAVAILABLE'),
}).map((p): Period => ({ start: p.start, end: p.start + p.len, type: p.type }));

/** Brute force: the strongest type busy at each unit of time. */
function perUnit(ps: Period[]): (BusyType | null)[] {
  const out: (BusyType | null)[] = new Array(260).fill(null);
  for (const p of ps) for (let t = p.start; t < p.end; t++) if (!out[t] || RANK[p.type] > RANK[out[t]!]) out[t] = p.type;
  return out;
}

describe('free/busy merging', () => {
  it('agrees with a per-unit reference, and merged output is ordered, disjoint and coalesced', () => {
    fc.assert(fc.property(fc.array(period, { maxLength: 40 }), (ps) => {
      const merged = mergePeriods(ps);
      expect(perUnit(merged)).toEqual(perUnit(ps));
      for (let i = 1; i < merged.length; i++) {
        expect(merged[i].start).toBeGreaterThanOrEqual(merged[i - 1].end);
        if (merged[i].start === merged[i - 1].end) expect(merged[i].type).not.toBe(merged[i - 1].type);
      }
    }), { numRuns: 500 });
  });

  it('the free/busy of a merged set is the union of each set', () => {
    fc.assert(fc.property(fc.array(period, { maxLength: 20 }), fc.array(period, { maxLength: 20 }), (a, b) => {
      expect(perUnit(mergePeriods([...mergePeriods(a), ...mergePeriods(b)]))).toEqual(perUnit([...a, ...b]));
    }), { numRuns: 300 });
  });
});
