/**
 * Crash recovery for the job queue. graphile-worker locks the jobs a worker pool has taken
 * (`locked_by` = the pool id) and only frees the locks of a pool that died without a clean
 * shutdown (SIGKILL, OOM, power loss) after 4 hours. That would hold up to `concurrency` +
 * local-queue jobs — notifications, reminders — for hours after every crash.
 *
 * Every worker pool keeps one small database session named `calendula-worker:<pool id>` for as
 * long as it lives (PostgreSQL ends the session when the process dies: the socket closes). Each
 * worker, at start and then every few seconds, frees the locks of pools that have no such
 * session. The grace period covers a pool that has taken jobs before its session is open.
 * Freed jobs run again; the delivery log makes that safe (a message already logged as sent is
 * not sent again).
 */
import pg from 'pg';
import type { Logger } from 'pino';

export const LIVENESS_PREFIX = 'calendula-worker:';

export interface Liveness { stop(): Promise<void> }

/** Frees the jobs locked by worker pools that no longer have a live session. Returns the pool ids. */
export async function unlockDeadWorkers(client: { query: pg.Client['query'] }, graceSeconds = 5): Promise<string[]> {
  const r = await client.query<{ locked_by: string }>(`
    with live as (
      select substr(application_name, ${LIVENESS_PREFIX.length + 1}) as id from pg_stat_activity where application_name like '${LIVENESS_PREFIX}%'
    ), dead as (
      select distinct locked_by from graphile_worker._private_jobs
       where locked_by is not null and locked_at < now() - make_interval(secs => $1) and locked_by not in (select id from live)
      union
      select distinct locked_by from graphile_worker._private_job_queues
       where locked_by is not null and locked_at < now() - make_interval(secs => $1) and locked_by not in (select id from live)
    )
    select locked_by from dead`, [graceSeconds]);
  const ids = r.rows.map((x) => x.locked_by);
  if (ids.length) await client.query('select graphile_worker.force_unlock_workers($1::text[])', [ids]);
  return ids;
}

/**
 * Holds the liveness session of one pool and sweeps dead pools' locks every `intervalMs`.
 * Errors are logged and retried; they never stop the worker.
 */
export function startLiveness(opts: { connectionString: string; poolId: string; log: Logger; intervalMs?: number }): Liveness {
  const interval = opts.intervalMs ?? 5000;
  let client: pg.Client | null = null;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  const connect = async () => {
    const c = new pg.Client({ connectionString: opts.connectionString, application_name: `${LIVENESS_PREFIX}${opts.poolId}` });
    c.on('error', (e) => {
      opts.log.warn({ component: 'jobs', err: e.message }, 'liveness session lost');
      if (client === c) client = null;
    });
    await c.connect();
    if (stopped) { await c.end().catch(() => {}); return null; }
    return c;
  };
  const tick = async () => {
    try {
      client ??= await connect();
      if (client) {
        const ids = await unlockDeadWorkers(client);
        if (ids.length) opts.log.warn({ component: 'jobs', pools: ids }, 'freed the jobs of crashed workers');
      }
    } catch (e) {
      opts.log.warn({ component: 'jobs', err: (e as Error).message }, 'liveness sweep failed');
      const c = client;
      client = null;
      await c?.end().catch(() => {});
    }
    if (!stopped) timer = setTimeout(() => void tick(), interval * (0.75 + Math.random() * 0.5));
  };
  void tick();
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      const c = client;
      client = null;
      await c?.end().catch(() => {});
    },
  };
}
