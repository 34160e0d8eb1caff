/**
 * Short-lived in-process caches for the hottest reads: sessions, API tokens, users and the
 * calendar list. Within a process every write invalidates at once (sign-out, revocation, user
 * change, any calendar write); across processes an entry lives at most TTL (a few seconds), which
 * bounds how long another api process may still accept a revoked session or show a stale list.
 */
export const cacheSettings = { sessionTtlMs: 5_000, listTtlMs: 2_000 };
/** Set from configuration (CALENDULA_AUTH_CACHE_MS); 0 turns the caches off. */
export function configureCaches(sessionTtlMs: number, listTtlMs = Math.min(sessionTtlMs, 2_000)) {
  cacheSettings.sessionTtlMs = sessionTtlMs;
  cacheSettings.listTtlMs = listTtlMs;
}
export const SESSION_TTL_MS = () => cacheSettings.sessionTtlMs;
export const LIST_TTL_MS = () => cacheSettings.listTtlMs;

interface Entry<T> { value: T; at: number }

export class TtlCache<T> {
  private map = new Map<string, Entry<T>>();
  constructor(private ttlMs: () => number, private max = 50_000) {}
  get(key: string): T | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    if (Date.now() - e.at > this.ttlMs()) {
      this.map.delete(key);
      return undefined;
    }
    return e.value;
  }
  set(key: string, value: T): void {
    if (this.ttlMs() <= 0) return;
    if (this.map.size >= this.max) this.map.delete(this.map.keys().next().value!);
    this.map.set(key, { value, at: Date.now() });
  }
  delete(key: string): void {
    this.map.delete(key);
  }
  deleteWhere(pred: (value: T) => boolean): void {
    for (const [k, e] of this.map) if (pred(e.value)) this.map.delete(k);
  }
  clear(): void {
    this.map.clear();
  }
}

/** Bumped by every calendar-data write in this process; cached calendar lists carry the generation they saw. */
let generation = 0;
export const calendarGeneration = () => generation;
export const bumpCalendarGeneration = () => { generation++; };
