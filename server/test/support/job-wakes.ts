/**
 * Listens on graphile-worker's 'jobs:insert' channel (the NOTIFY that wakes a worker when jobs are
 * queued) over its own connection, for tests of code that queues jobs without add_jobs.
 */
import pg from 'pg';

export interface JobWakes { wakes: string[]; waitFor(n: number): Promise<void>; close(): Promise<void> }

export async function listenJobWakes(url: string): Promise<JobWakes> {
  const listener = new pg.Client({ connectionString: url });
  await listener.connect();
  const wakes: string[] = [];
  listener.on('notification', (n) => { if (n.channel === 'jobs:insert') wakes.push(n.payload ?? ''); });
  await listener.query('listen "jobs:insert"');
  return {
    wakes,
    /** Waits up to a second for at least n wakes (the caller asserts the count). */
    async waitFor(n) { for (let i = 0; i < 50 && wakes.length < n; i++) await new Promise((r) => setTimeout(r, 20)); },
    close: () => listener.end(),
  };
}
