import { describe, expect, it } from 'vitest';
import { WeightedLru } from '../../src/lib/weighted-lru.js';

describe('WeightedLru', () => {
  it('evicts the oldest entries over the bound, never the one just set', () => {
    const c = new WeightedLru<string, number[]>(5, (v) => v.length);
    c.set('a', [1, 2]);
    c.set('b', [1, 2]);
    expect(c.weight).toBe(4);
    c.set('c', [1, 2]);
    expect(c.get('a')).toBeUndefined();
    expect([c.size, c.weight]).toEqual([2, 4]);
    c.set('big', [1, 2, 3, 4, 5, 6, 7]);
    expect([c.size, c.weight, c.get('big')?.length]).toEqual([1, 7, 7]);
  });

  it('a touched entry outlives older ones; replacing a key re-weighs it; resize evicts at once', () => {
    const c = new WeightedLru<string, number>(3, (v) => v);
    c.set('a', 1);
    c.set('b', 1);
    c.get('a', true);
    c.set('c', 2);
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')).toBe(1);
    c.set('a', 1);
    expect(c.weight).toBe(3);
    c.resize(0);
    expect([c.size, c.weight]).toEqual([0, 0]);
  });
});
