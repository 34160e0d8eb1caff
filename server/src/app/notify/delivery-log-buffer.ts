/**
 * Delivery-log rows of a batch of sends, written while the batch runs: a flush after every
 * `every` finished sends or `maxAgeMs` after the oldest unwritten one, one statement each,
 * flushes applied in order. A worker that dies mid-batch then re-sends (same Message-IDs) only
 * the sends it had not logged yet — the retry skips what the log says was sent — instead of the
 * whole batch. A failed flush fails `close()`, so the job is retried: a send is never recorded
 * as done without its row.
 */
import type { DB } from '../../store/db.js';
import { recordDeliveries, type DeliveryEntry } from '../../store/mail.js';

export class DeliveryLogBuffer {
  private pending: DeliveryEntry[] = [];
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly db: DB, private readonly every = 16, private readonly maxAgeMs = 250) {}

  push(entry: DeliveryEntry): void {
    this.pending.push(entry);
    if (this.pending.length >= this.every) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.maxAgeMs);
      this.timer.unref();
    }
  }

  /** Writes what is pending (after the flushes before it); resolves when it is written. */
  flush(): Promise<void> {
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    if (this.pending.length) {
      const rows = this.pending;
      this.pending = [];
      this.chain = this.chain.then(() => recordDeliveries(this.db, rows));
      this.chain.catch(() => {}); // surfaced by close(); no unhandled rejection meanwhile
    }
    return this.chain;
  }

  /** Flushes the rest; rejects if any flush failed. */
  close(): Promise<void> {
    return this.flush();
  }
}
