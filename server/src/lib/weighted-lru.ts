/**
 * A map bounded by the total weight of its values (occurrences held, numbers, estimated bytes),
 * evicting the least recently set (or touched) entries first. The entry just set is never evicted
 * by its own insertion, so one oversized value stays usable until the next one arrives.
 */
export class WeightedLru<K, V> {
  private readonly map = new Map<K, { v: V; w: number }>();
  private total = 0;

  constructor(private max: number, private readonly weightOf: (v: V) => number) {}

  /** The value; `touch` makes it the most recently used. */
  get(k: K, touch = false): V | undefined {
    const e = this.map.get(k);
    if (e && touch) {
      this.map.delete(k);
      this.map.set(k, e);
    }
    return e?.v;
  }

  set(k: K, v: V): void {
    this.delete(k);
    const w = this.weightOf(v);
    this.map.set(k, { v, w });
    this.total += w;
    this.evict(k);
  }

  delete(k: K): void {
    const old = this.map.get(k);
    if (!old) return;
    this.total -= old.w;
    this.map.delete(k);
  }

  clear(): void {
    this.map.clear();
    this.total = 0;
  }

  /** A new bound; evicts down to it at once. */
  resize(max: number): void {
    this.max = max;
    this.evict();
  }

  get size(): number { return this.map.size; }
  get weight(): number { return this.total; }

  private evict(keep?: K): void {
    for (const [k, e] of this.map) {
      if (this.total <= this.max) break;
      if (k === keep) continue;
      this.map.delete(k);
      this.total -= e.w;
    }
  }
}
