/**
 * The jobs port over graphile-worker. Jobs are enqueued with SQL inside the caller's transaction
 * (DESIGN.md principle 2): the data and its side effects commit together or not at all.
 */
import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type pg from 'pg';
import { prepared } from '../store/db.js';

export interface EnqueueOptions {
  /** Run no earlier than this. */
  runAt?: Date;
  /** A later enqueue with the same key replaces this job (re-plan a reminder). */
  jobKey?: string;
  jobKeyMode?: 'replace' | 'preserve_run_at' | 'unsafe_dedupe';
  /** Jobs in one named queue run one at a time, in order (per-UID serialisation). */
  queue?: string;
  maxAttempts?: number;
  priority?: number;
}

export async function enqueue(db: Kysely<any>, name: string, payload: unknown, o: EnqueueOptions = {}): Promise<void> {
  await sql`${prepared('job_add')}select graphile_worker.add_job(
    identifier => ${name},
    payload => ${JSON.stringify(payload ?? {})}::json,
    queue_name => ${o.queue ?? null},
    run_at => ${o.runAt ?? null}::timestamptz,
    max_attempts => ${o.maxAttempts ?? 25},
    job_key => ${o.jobKey ?? null},
    priority => ${o.priority ?? 0},
    job_key_mode => ${o.jobKeyMode ?? 'replace'}
  )`.execute(db);
}

export interface JobSpec extends Omit<EnqueueOptions, 'jobKeyMode'> { name: string; payload: unknown; jobKeyMode?: 'replace' | 'preserve_run_at' }

/**
 * Many jobs in one statement (graphile_worker.add_jobs): a meeting with many attendees queues its
 * deliveries without one round trip each. Keys use replace semantics unless a spec asks for
 * 'preserve_run_at' (a coalescing window: the first job of the window keeps its time, later ones
 * only replace the payload); those go in a second add_jobs call with job_key_preserve_run_at.
 */
export async function enqueueMany(db: Kysely<any>, jobs: JobSpec[]): Promise<void> {
  if (!jobs.length) return;
  if (jobs.length === 1) {
    const j = jobs[0];
    return enqueue(db, j.name, j.payload, j);
  }
  const keep = (j: JobSpec) => !!j.jobKey && j.jobKeyMode === 'preserve_run_at';
  const preserve = jobs.filter(keep);
  const rest = preserve.length ? jobs.filter((j) => !keep(j)) : jobs;
  for (const [group, keepRunAt] of [[rest, false], [preserve, true]] as const) {
    if (!group.length) continue;
    await sql`${prepared('jobs_add')}select 1 from graphile_worker.add_jobs(
      array(select json_populate_record(null::graphile_worker.job_spec, x) from json_array_elements(${jobSpecsJson(group)}::json) x),
      ${keepRunAt}
    )`.execute(db);
  }
}

/**
 * The JSON array of graphile_worker.job_spec records for add_jobs (as enqueueMany sends it), for
 * statements that queue jobs inside a larger data-modifying CTE. Keys use replace semantics: a
 * spec with jobKeyMode 'preserve_run_at' needs add_jobs(…, true) and must not be mixed in.
 */
export function jobSpecsJson(jobs: JobSpec[]): string {
  return JSON.stringify(jobs.map((j) => ({
    identifier: j.name, payload: j.payload ?? {}, queue_name: j.queue ?? null, run_at: j.runAt?.toISOString() ?? null,
    max_attempts: j.maxAttempts ?? 25, job_key: j.jobKey ?? null, priority: j.priority ?? 0, flags: null,
  })));
}

/**
 * Jobs queued inside a larger data-modifying CTE without graphile_worker.add_jobs, as store/mail.ts
 * queues its intake jobs (graphile-worker 0.17.3, pinned and patched): add_jobs is plpgsql — four
 * statements, re-planned on most calls — where a job without a key is one insert. The statement
 * must define a CTE `js` with the columns of graphile_worker.job_spec plus `n` (the order), e.g.
 * `json_populate_recordset(null::graphile_worker.job_spec, …) with ordinality as x(identifier,
 * payload, queue_name, run_at, max_attempts, job_key, priority, flags, n)`; these CTEs follow it
 * (`), ${DIRECT_JOBS_CTES}`) and the final select must use DIRECT_JOBS_COUNT (a CTE nobody reads
 * is not run). The rows are add_jobs' own: the task looked up, the named queue created when
 * missing (a create's per-UID delivery queue is new), the job with add_jobs' defaults, and the
 * 'jobs:insert' NOTIFY that wakes the worker. A job with a key or flags, an unknown task (its
 * first job ever), or a queue another transaction is creating at that moment (not visible, not
 * inserted) goes through add_jobs, as before. Keys use replace semantics (see jobSpecsJson).
 */
export const DIRECT_JOBS_CTES = sql.raw(`jt as (
      select js.*, (select t.id from graphile_worker._private_tasks t where t.identifier = js.identifier) as task_id from js
    ), nq as (
      insert into graphile_worker._private_job_queues (queue_name)
      select distinct jt.queue_name from jt where jt.queue_name is not null and jt.job_key is null and jt.flags is null and jt.task_id is not null
      on conflict do nothing
      returning id, queue_name
    ), jq as (
      select jt.*, q.id as queue_id,
        jt.task_id is not null and jt.job_key is null and jt.flags is null and (jt.queue_name is null or q.id is not null) as direct
      from jt left join lateral (
        -- scalar look-ups by the unique index (a join was planned as a scan of every queue)
        select coalesce((select nq.id from nq where nq.queue_name = jt.queue_name),
          (select q.id from graphile_worker._private_job_queues q where q.queue_name = jt.queue_name)) as id
      ) q on true
    ), jd as (
      insert into graphile_worker._private_jobs (job_queue_id, task_id, payload, run_at, max_attempts, priority)
      select jq.queue_id, jq.task_id, coalesce(jq.payload, '{}'::json), coalesce(jq.run_at, now()), coalesce(jq.max_attempts, 25), coalesce(jq.priority, 0)
      from jq where jq.direct order by jq.n
      returning 1
    ), jf as (
      select (graphile_worker.add_jobs(array(
        select (jq.identifier, jq.payload, jq.queue_name, jq.run_at, jq.max_attempts, jq.job_key, jq.priority, jq.flags)::graphile_worker.job_spec
        from jq where not jq.direct order by jq.n), false)).id
      where exists (select 1 from jq where not jq.direct)
    ), jwake as (
      select pg_notify('jobs:insert', '{"r":' || random()::text || ',"count":' || c.n::text || '}') from (select count(*) as n from jd) c where c.n > 0
    )`);
/** The number of jobs queued by DIRECT_JOBS_CTES (and the NOTIFY): referencing it runs them. */
export const DIRECT_JOBS_COUNT = sql.raw('((select count(*) from jd) + (select count(*) from jf) + (select count(*) from jwake) * 0)');

export async function removeJob(db: Kysely<any>, jobKey: string): Promise<void> {
  await sql`select graphile_worker.remove_job(${jobKey})`.execute(db);
}

export async function queueDepth(db: Kysely<any>): Promise<{ ready: number; scheduled: number; failed: number }> {
  const r = await sql<{ ready: string; scheduled: string; failed: string }>`
    select count(*) filter (where run_at <= now() and attempts < max_attempts) as ready,
           count(*) filter (where run_at > now()) as scheduled,
           count(*) filter (where attempts >= max_attempts) as failed
    from graphile_worker.jobs`.execute(db);
  const row = r.rows[0];
  return { ready: Number(row.ready), scheduled: Number(row.scheduled), failed: Number(row.failed) };
}

export interface JobHelpers {
  jobId: string;
  attempts: number;
  log: Logger;
  /** The worker pool that holds the job (graphile-worker's locked_by). */
  lockedBy?: string | null;
  /**
   * The handler's own transaction deleted this job and unlocked its named queue, as
   * graphile-worker's completion would (mail intake's batch, store/mail.ts finishIntakeBatch):
   * graphile-worker then sends no completion statement (patches/graphile-worker+0.17.3.patch).
   * Call it only after that transaction committed.
   */
  completedInTransaction?: () => void;
}
export type JobHandler = (payload: any, helpers: JobHelpers) => Promise<void>;

/**
 * The catalogue: every job name the code can enqueue. A worker refuses to start if any of
 * them has no handler, so a job can never sit unprocessed because its handler was forgotten.
 */
export const JOB_NAMES = ['purge-trash', 'purge-sessions', 'schedule-deliver', 'schedule-fanout', 'imip-send', 'notify', 'reminder', 'import-ics', 'mail-intake', 'bot-send', 'bot-edit', 'reminders-replan', 'room-decide-pending'] as const;
export type JobName = (typeof JOB_NAMES)[number];

export function checkCatalogue(handlers: Record<string, JobHandler>, names: readonly string[] = JOB_NAMES): void {
  const missing = names.filter((n) => typeof handlers[n] !== 'function');
  if (missing.length) throw new Error(`job catalogue incomplete: no handler for ${missing.join(', ')}`);
}

/**
 * Deletes the named queues that hold no job. graphile-worker 0.17 keeps a row per queue name for
 * ever, and its job fetch (getJobs strategy 2) locks every available queue row on each fetch; with
 * a queue per UID for deliveries (and per recipient for mail intake) the rows grow with every event
 * ever scheduled, and so did the cost of every fetch (each row lock written to the WAL; in the
 * creates bench, ≤ 840 rows, a fetch cost 1.8 ms of PostgreSQL before this and 1.1 ms after).
 *
 * Safe against a job being queued at the same moment: every statement that queues a job into a
 * named queue also inserts into _private_job_queues (add_job/add_jobs, DIRECT_JOBS_CTES), which
 * takes ROW EXCLUSIVE on the table until its transaction ends. SHARE ROW EXCLUSIVE waits for those
 * transactions and holds new ones off, so the delete sees every job that refers to a queue. The
 * wait is bounded (lock_timeout): when it cannot get the lock at once, this round is skipped (null).
 * A locked queue (its job is running) is kept. Deletes in batches (collectBatch), each its own
 * short transaction; returns the number deleted.
 */
export async function collectEmptyQueues(pool: pg.Pool, lockTimeoutMs = 50, batch = 2000, maxBatches = 10): Promise<number | null> {
  let total = 0;
  for (let i = 0; i < maxBatches; i++) {
    const n = await collectBatch(pool, lockTimeoutMs, batch);
    if (n === null) return i === 0 ? null : total;
    total += n;
    if (n < batch) break;
  }
  return total;
}

/**
 * One transaction of collectEmptyQueues, at most `batch` rows: the table lock it holds stops every
 * job from being queued, so it is kept short (a database with years of queue rows is cleared over
 * several rounds). The jobs' queue ids are read once (a hashed NOT IN), not looked up per queue.
 */
async function collectBatch(pool: pg.Pool, lockTimeoutMs: number, batch: number): Promise<number | null> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    try {
      await client.query(`set local lock_timeout = ${Math.max(1, Math.floor(lockTimeoutMs))}`);
      await client.query('lock table graphile_worker._private_job_queues in share row exclusive mode');
      const r = await client.query(`delete from graphile_worker._private_job_queues where id in (
          select q.id from graphile_worker._private_job_queues q
          where q.locked_at is null
            and q.id not in (select j.job_queue_id from graphile_worker._private_jobs j where j.job_queue_id is not null)
          limit $1)`, [batch]);
      await client.query('commit');
      return r.rowCount ?? 0;
    } catch (e) {
      await client.query('rollback').catch(() => undefined);
      if ((e as { code?: string }).code === '55P03') return null; // lock_not_available: busy now, next round
      throw e;
    }
  } finally {
    client.release();
  }
}

/** How often a worker deletes empty named queues (collectEmptyQueues). */
export const QUEUE_GC_MS = 10_000;

export interface RunningWorker { stop(): Promise<void> }

/** Jobs fetched per batch: one per worker, so none waits in the local queue while a worker is idle. */
export function localQueueSize(concurrency: number): number {
  return Math.max(1, concurrency);
}

/**
 * Whether node_modules/graphile-worker carries our patch (patches/graphile-worker+0.17.3.patch,
 * applied by patch-package on install). Without it a batch fetch can run two jobs of one named
 * queue at once, so the worker then fetches one job at a time instead (slower, still in order).
 */
export function queuePatchApplied(): boolean {
  try {
    const file = createRequire(import.meta.url).resolve('graphile-worker/dist/sql/getJobs.js');
    return readFileSync(file, 'utf8').includes('Calendula patch');
  } catch {
    return false;
  }
}

export async function startWorker(opts: {
  connectionString: string; handlers: Record<string, JobHandler>; concurrency: number; log: Logger; names?: readonly string[]; crontab?: string;
  /** Local queue size; default `localQueueSize(concurrency)` when the patch is applied, else none (tests set it). */
  localQueue?: number;
  /** Interval of the empty-queue collection (default QUEUE_GC_MS). */
  queueGcMs?: number;
}): Promise<RunningWorker> {
  checkCatalogue(opts.handlers, opts.names);
  let localSize = opts.localQueue ?? localQueueSize(opts.concurrency);
  if (opts.localQueue === undefined && !queuePatchApplied()) {
    opts.log.warn({ component: 'jobs' }, 'graphile-worker is not patched (run `npm ci`, which applies patches/): jobs are fetched one at a time');
    localSize = -1;
  }
  const { run, Logger: GwLogger } = await import('graphile-worker');
  const gwLog = new GwLogger(() => (level, message) => {
    if (level === 'error') opts.log.error({ component: 'jobs' }, message);
    else if (level === 'warning') opts.log.warn({ component: 'jobs' }, message);
  });
  const taskList: Record<string, (payload: unknown, h: any) => Promise<void>> = {};
  for (const [name, handler] of Object.entries(opts.handlers)) {
    taskList[name] = async (payload, h) => {
      const started = Date.now();
      try {
        await handler(payload, { jobId: String(h.job.id), attempts: h.job.attempts, log: opts.log, lockedBy: h.job.locked_by ?? null, completedInTransaction: () => { h.job.calendulaCompleted = true; } });
        opts.log.debug({ job: name, id: String(h.job.id), ms: Date.now() - started }, 'job done');
      } catch (e) {
        opts.log.warn({ job: name, id: String(h.job.id), attempt: h.job.attempts, err: (e as Error).message }, 'job failed, will retry');
        throw e;
      }
    };
  }
  const { default: pg } = await import('pg');
  const pgPool = new pg.Pool({ connectionString: opts.connectionString, max: opts.concurrency + 4 });
  pgPool.on('error', (e) => opts.log.warn({ component: 'jobs', err: e.message }, 'idle queue connection lost'));
  pgPool.on('connect', (client) => client.on('error', (e) => opts.log.warn({ component: 'jobs', err: e.message }, 'queue connection error')));
  // Crash recovery: free the jobs of worker pools that died without shutting down (liveness.ts).
  const { EventEmitter } = await import('node:events');
  const { startLiveness } = await import('./liveness.js');
  const events = new EventEmitter();
  const liveness: { stop(): Promise<void> }[] = [];
  events.on('pool:create', ({ workerPool }: { workerPool: { id: string } }) => {
    liveness.push(startLiveness({ connectionString: opts.connectionString, poolId: workerPool.id, log: opts.log }));
  });
  const runner = await run({
    pgPool,
    events: events as any,
    concurrency: opts.concurrency,
    noHandleSignals: true,
    pollInterval: 200,
    logger: gwLog,
    taskList,
    crontab: opts.crontab ?? '',
    // The pool fetches up to `concurrency` jobs in one statement and hands them to its workers
    // (one fetch query per batch instead of one per job and per idle worker). graphile-worker
    // 0.17.3 alone would let such a batch hold several jobs of one named queue and run them at
    // once (graphile/worker#621); patches/graphile-worker+0.17.3.patch keeps only the first job
    // per named queue in a batch (the 0.18 fix) and fetches again when a queued job completes.
    // refetchDelay: after a fetch that found nothing, wait 25–75 ms before the next one, so a
    // burst of new jobs for one busy (locked) queue does not cost one empty fetch each.
    preset: {
      worker: {
        completeJobBatchDelay: -1,
        failJobBatchDelay: -1,
        ...(localSize >= 1 ? { localQueue: { size: localSize, refetchDelay: { durationMs: 50, threshold: 0 } } } : {}),
      },
    } as any,
  });
  // Empty named queues deleted now and then (collectEmptyQueues), at start too (rows left by earlier versions).
  let gcRunning: Promise<unknown> | null = null;
  const gc = () => {
    if (gcRunning) return; // the previous round is still at it
    gcRunning = collectEmptyQueues(pgPool).then(
      (n) => { if (n) opts.log.debug({ component: 'jobs', queues: n }, 'empty job queues deleted'); },
      (e) => opts.log.warn({ component: 'jobs', err: (e as Error).message }, 'deleting empty job queues failed'),
    ).finally(() => { gcRunning = null; });
  };
  gc();
  const gcTimer = setInterval(gc, opts.queueGcMs ?? QUEUE_GC_MS);
  gcTimer.unref();
  return {
    stop: async () => {
      clearInterval(gcTimer);
      await gcRunning;
      await runner.stop();
      await Promise.all(liveness.map((l) => l.stop()));
      await pgPool.end();
    },
  };
}
