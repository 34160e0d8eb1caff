/**
 * The `calendula_dav` change feed (migration 0011): one LISTEN connection per process that hands
 * each committed change's payload to a subscriber (the CalDAV read cache, http/dav/read-cache.ts),
 * and a fence that makes this process's own writes visible to its next cached read.
 *
 * - `live` is true only while the LISTEN connection is up and proven to hear: a notification sent
 *   through the pool must arrive on it before it goes live, and again every 10 s. When it drops, the subscriber is told to
 *   forget everything (`reset`) and must not serve from memory until the feed is live again (a
 *   reconnect resets once more: what changed while it was down was never announced).
 * - fence(): PostgreSQL delivers notifications to a listener in commit order (NOTIFY, PostgreSQL
 *   docs). So after this process's writes have committed, a NOTIFY of a fence token sent by this
 *   process arrives after theirs: when the listener sees the token, every invalidation those
 *   writes caused has been applied. store/db.ts counts completed writes; a cached read calls
 *   fence() when the count moved since the last fence, so a client that PUTs then GETs (or an
 *   admin who revokes an app password, then the next request) sees the change at once in this
 *   process; other processes see it when the notification reaches them (typically < 1 ms).
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { writesCompleted } from './db.js';

export const CHANNEL = 'calendula_dav';
/** A fence not answered within this time counts as a lost connection (the feed resets). */
const FENCE_TIMEOUT_MS = 2_000;
const RETRY_MIN_MS = 500;
const HEARTBEAT_MS = 10_000;
const RETRY_MAX_MS = 30_000;

export interface ChangeSubscriber {
  /** A change payload (`c:<id>`, `u:<id>`, `*`). */
  change(payload: string): void;
  /** Everything may have changed (connection lost or re-established): forget all. */
  reset(): void;
}

export class ChangeFeed {
  private client: pg.Client | null = null;
  private stopped = false;
  private retryMs = RETRY_MIN_MS;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly token = `f:${randomUUID()}:`;
  private fenceSeq = 0;
  private readonly waiting = new Map<number, () => void>();
  /** The completed-write count up to which fences have been seen (writesCompleted()). */
  private fencedThrough = 0;
  private inFlight: { upTo: number; done: Promise<boolean> } | null = null;
  /** Counters for metrics and tests. */
  readonly stats = { notifications: 0, fences: 0, resets: 0, connects: 0 };
  live = false;

  constructor(private readonly connect: () => pg.Client, private readonly send: (text: string, values: unknown[]) => Promise<unknown>, private readonly subscriber: ChangeSubscriber) {}

  start(): void {
    this.stopped = false;
    void this.open();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.down();
    for (const w of this.waiting.values()) w();
    this.waiting.clear();
  }

  /** Whether reads may be served from memory now without a fence (no write of this process since the last one). */
  fenced(): boolean {
    return this.live && writesCompleted() === this.fencedThrough;
  }

  /**
   * Wait until every invalidation caused by this process's completed writes has been applied.
   * Resolves true when the cache may be used, false when the feed is not live (read the database).
   */
  fence(): Promise<boolean> {
    if (!this.live) return Promise.resolve(false);
    const upTo = writesCompleted();
    if (upTo === this.fencedThrough) return Promise.resolve(true);
    // A fence already sent after these writes completed covers them too.
    if (this.inFlight && this.inFlight.upTo >= upTo) return this.inFlight.done;
    const done = this.roundTrip().then((ok) => {
      if (ok && this.live) this.fencedThrough = Math.max(this.fencedThrough, upTo);
      return ok && this.live;
    });
    this.stats.fences++;
    const entry = { upTo, done };
    this.inFlight = entry;
    void done.finally(() => { if (this.inFlight === entry) this.inFlight = null; });
    return done;
  }

  /**
   * A fence token sent through another connection (the pool) and seen by this listener: true when
   * it arrived in time on the same connection. Not answered counts as a lost connection.
   */
  private roundTrip(): Promise<boolean> {
    const client = this.client;
    if (!client) return Promise.resolve(false);
    const n = ++this.fenceSeq;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(n);
        if (this.client === client) this.lost();
        resolve(false);
      }, FENCE_TIMEOUT_MS);
      this.waiting.set(n, () => {
        clearTimeout(timer);
        resolve(this.client === client);
      });
      this.send('select pg_notify($1, $2)', [CHANNEL, `${this.token}${n}`]).catch(() => {
        this.waiting.get(n)?.();
        this.waiting.delete(n);
      });
    });
  }

  private async open(): Promise<void> {
    if (this.stopped || this.client) return;
    const client = this.connect();
    this.client = client;
    client.on('error', () => { if (this.client === client) this.lost(); });
    client.on('end', () => { if (this.client === client) this.lost(); });
    client.on('notification', (msg) => { if (this.client === client) this.message(msg.payload ?? ''); });
    try {
      await client.connect();
      await client.query(`listen ${CHANNEL}`);
    } catch {
      if (this.client === client) this.lost();
      return;
    }
    if (this.client !== client || this.stopped) return;
    // A connection that accepted LISTEN but gets no notifications (a transaction-mode pooler in
    // between) must never serve: a notification sent through the pool has to arrive first.
    if (!(await this.roundTrip()) || this.client !== client || this.stopped) {
      if (this.client === client) this.lost();
      return;
    }
    // Changes made while no connection listened were never announced: start empty.
    this.subscriber.reset();
    // Writes completed before now are covered by starting empty.
    this.fencedThrough = writesCompleted();
    this.retryMs = RETRY_MIN_MS;
    this.stats.connects++;
    this.live = true;
    this.heartbeat(client);
  }

  /** While live, a round trip every HEARTBEAT_MS: a listener that stopped hearing is noticed without a write. */
  private heartbeat(client: pg.Client): void {
    const t = setTimeout(() => {
      if (this.client !== client || !this.live) return;
      void this.roundTrip().then((ok) => { if (ok) this.heartbeat(client); });
    }, HEARTBEAT_MS);
    t.unref?.();
  }

  private message(payload: string): void {
    if (payload.startsWith(this.token)) {
      const n = Number(payload.slice(this.token.length));
      // Fences complete in order: an earlier one still waiting is covered by this one.
      for (const [k, w] of this.waiting) {
        if (k > n) continue;
        this.waiting.delete(k);
        w();
      }
      return;
    }
    if (payload.startsWith('f:')) return; // another process's fence
    this.stats.notifications++;
    this.subscriber.change(payload);
  }

  private down(): void {
    const c = this.client;
    this.client = null;
    this.live = false;
    this.subscriber.reset();
    this.stats.resets++;
    if (c) {
      c.removeAllListeners('notification');
      c.on('error', () => undefined);
      void c.end().catch(() => undefined);
    }
  }

  private lost(): void {
    this.down();
    for (const [k, w] of this.waiting) {
      this.waiting.delete(k);
      w();
    }
    if (this.stopped || this.retryTimer) return;
    const wait = this.retryMs;
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.open();
    }, wait);
    this.retryTimer.unref?.();
  }
}
