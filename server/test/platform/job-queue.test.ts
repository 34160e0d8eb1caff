import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { createTestEnv, eventually, type TestEnv } from '../support/harness.js';
import { sql } from 'kysely';
import { enqueue, enqueueMany, startWorker, checkCatalogue, queuePatchApplied, collectEmptyQueues, JOB_NAMES } from '../../src/jobs/queue.js';
import { jobHandlers } from '../../src/jobs/handlers.js';

let env: TestEnv;
beforeAll(async () => { env = await createTestEnv(); });
afterAll(() => env.close());

describe('job queue', () => {
  it('runs the jobs of one named queue one at a time and in order, others in parallel', async () => {
    let active = 0;
    let maxActive = 0;
    const order: number[] = [];
    let parallelSeen = 0;
    const worker = await startWorker({
      connectionString: env.url, concurrency: 8, log: pino({ level: 'silent' }), names: ['t-serial', 't-free'],
      handlers: {
        't-serial': async (p: { i: number }) => {
          active++;
          maxActive = Math.max(maxActive, active);
          await new Promise((r) => setTimeout(r, 15));
          order.push(p.i);
          active--;
        },
        't-free': async () => { parallelSeen++; },
      },
    });
    try {
      await enqueueMany(env.ctx.db, [
        ...Array.from({ length: 20 }, (_, i) => ({ name: 't-serial', payload: { i }, queue: 'deliver:one-user' })),
        ...Array.from({ length: 10 }, () => ({ name: 't-free', payload: {} })),
      ]);
      await eventually(async () => order.length === 20 && parallelSeen === 10, 20_000, 'all jobs');
      expect(maxActive).toBe(1);
      expect(order).toEqual([...Array(20).keys()]);
    } finally {
      await worker.stop();
    }
  });

  it('a handler that completed its own job in its transaction (completedInTransaction) gets no completion statement; the queue goes on', async () => {
    const seen: string[] = [];
    const pg = (await import('pg')).default;
    const orig = pg.Client.prototype.query;
    pg.Client.prototype.query = function (this: unknown, ...args: unknown[]) {
      const q = args[0] as string | { text?: string };
      const text = typeof q === 'string' ? q : q?.text;
      if (text) seen.push(text);
      return (orig as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof orig;
    const ran: number[] = [];
    const worker = await startWorker({
      connectionString: env.url, concurrency: 2, localQueue: 2, log: pino({ level: 'silent' }), names: ['t-self'],
      handlers: {
        't-self': async (p: { i: number }, h) => {
          // As mail intake's batch does: delete the job and unlock its queue in the handler's own transaction.
          await env.ctx.db.transaction().execute(async (trx) => {
            const r = await sql<{ job_queue_id: number; locked_by: string }>`delete from graphile_worker._private_jobs where id = ${h.jobId}::bigint and locked_by is not distinct from ${h.lockedBy ?? null}::text returning job_queue_id, locked_by`.execute(trx);
            expect(r.rows).toHaveLength(1);
            await sql`update graphile_worker._private_job_queues set locked_by = null, locked_at = null where id = ${r.rows[0].job_queue_id} and locked_by = ${r.rows[0].locked_by}`.execute(trx);
          });
          h.completedInTransaction?.();
          ran.push(p.i);
        },
      },
    });
    try {
      for (let i = 0; i < 5; i++) await enqueue(env.ctx.db, 't-self', { i }, { queue: 'self:one' });
      await eventually(async () => ran.length === 5, 20_000, 'all jobs');
      expect(ran).toEqual([0, 1, 2, 3, 4]);
      // graphile-worker's completion (batchCompleteJobs: "delete from … _private_jobs … using unnest") was never sent.
      expect(seen.filter((t) => /delete from "graphile_worker"._private_jobs as jobs\s+using unnest/.test(t))).toEqual([]);
      const left = await sql<{ n: string }>`select count(*) as n from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id where t.identifier = 't-self'`.execute(env.ctx.db);
      expect(Number(left.rows[0].n)).toBe(0);
    } finally {
      pg.Client.prototype.query = orig;
      await worker.stop();
    }
  });

  it('node_modules/graphile-worker carries the one-job-per-named-queue patch (patches/, applied on npm ci)', () => {
    expect(queuePatchApplied()).toBe(true);
  });

  // graphile/worker#621: with the local queue (batch fetch) on, 0.17.3 hands several jobs of one
  // named queue to different workers at once. The patch keeps one job per named queue per batch.
  it('with the local queue on, a backlog in ONE named queue never runs two at once and runs in order', async () => {
    const N = 30;
    // The backlog exists before the worker starts, so its first batch fetch sees all of it.
    for (let i = 0; i < N; i++) await enqueue(env.ctx.db, 't-backlog', { i }, { queue: 'intake:backlog' });
    let active = 0;
    let maxActive = 0;
    const order: number[] = [];
    let releaseFirst!: () => void;
    const firstHeld = new Promise<void>((r) => { releaseFirst = r; });
    let firstStarted = false;
    const worker = await startWorker({
      connectionString: env.url, concurrency: 8, localQueue: 8, log: pino({ level: 'silent' }), names: ['t-backlog'],
      handlers: {
        't-backlog': async (p: { i: number }) => {
          active++;
          maxActive = Math.max(maxActive, active);
          if (order.length === 0 && !firstStarted) {
            firstStarted = true;
            await firstHeld;
          } else {
            await new Promise((r) => setImmediate(r));
          }
          order.push(p.i);
          active--;
        },
      },
    });
    try {
      await eventually(async () => firstStarted, 20_000, 'the first job to start');
      // While the first job runs, the local queue holds no other job of its queue (locked_at is
      // set only on the job in flight); unpatched, the whole batch of 8 is locked.
      const locked = await sql<{ n: string }>`
        select count(*) as n from graphile_worker._private_jobs j join graphile_worker._private_job_queues q on q.id = j.job_queue_id
        where q.queue_name = 'intake:backlog' and j.locked_at is not null`.execute(env.ctx.db);
      expect(Number(locked.rows[0].n)).toBe(1);
      releaseFirst();
      await eventually(async () => order.length === N, 30_000, 'the whole backlog');
      expect(maxActive).toBe(1);
      expect(order).toEqual([...Array(N).keys()]);
    } finally {
      releaseFirst();
      await worker.stop();
    }
  });

  it('with the local queue on, different named queues still run in parallel', async () => {
    // Queue A's job waits until queue B's job has started: it can only finish if both run at once.
    let bStarted = false;
    const done: string[] = [];
    const worker = await startWorker({
      connectionString: env.url, concurrency: 4, localQueue: 4, log: pino({ level: 'silent' }), names: ['t-a', 't-b'],
      handlers: {
        't-a': async () => { await eventually(async () => bStarted, 20_000, 'queue B to start'); done.push('a'); },
        't-b': async () => { bStarted = true; await new Promise((r) => setImmediate(r)); done.push('b'); },
      },
    });
    try {
      await enqueue(env.ctx.db, 't-a', {}, { queue: 'par:a' });
      await enqueue(env.ctx.db, 't-b', {}, { queue: 'par:b' });
      await eventually(async () => done.length === 2, 30_000, 'both jobs');
      expect(done.sort()).toEqual(['a', 'b']);
    } finally {
      await worker.stop();
    }
  });

  it('empty named queues are deleted; a queue with a job, a running one, or one a transaction is filling now is kept', async () => {
    const queue = (name: string) => env.ctx.db.selectFrom('graphile_worker._private_job_queues' as never).select('id' as never).where('queue_name' as never, '=', name as never).executeTakeFirst();
    // Three queues: 'gc:empty' (its job gone), 'gc:pending' (a job waiting), 'gc:running' (locked: its job runs).
    await enqueueMany(env.ctx.db, ['gc:empty', 'gc:pending', 'gc:running'].map((q) => ({ name: 't-gc', payload: { q }, queue: q })));
    await sql`delete from graphile_worker._private_jobs where payload->>'q' = 'gc:empty'`.execute(env.ctx.db);
    await sql`update graphile_worker._private_job_queues set locked_at = now(), locked_by = 'test-pool' where queue_name = 'gc:running'`.execute(env.ctx.db);
    await sql`delete from graphile_worker._private_jobs where payload->>'q' = 'gc:running'`.execute(env.ctx.db);
    // A transaction queueing into a new queue, not committed yet: the collection waits for it, then
    // gives up (lock_timeout) rather than delete a queue whose job it cannot see.
    const open = await env.ctx.pool.connect();
    try {
      await open.query('begin');
      await open.query(`select graphile_worker.add_job('t-gc', '{"q":"gc:filling"}'::json, queue_name => 'gc:filling')`);
      expect(await collectEmptyQueues(env.ctx.pool, 100)).toBeNull();
      await open.query('commit');
    } finally {
      open.release();
    }
    expect(await collectEmptyQueues(env.ctx.pool)).toBeGreaterThanOrEqual(1);
    expect(await queue('gc:empty')).toBeUndefined();
    expect(await queue('gc:pending')).toBeDefined();
    expect(await queue('gc:running')).toBeDefined();
    expect(await queue('gc:filling')).toBeDefined();
    // Its job done, the queue goes at the next collection; a later job in it makes it again.
    await sql`delete from graphile_worker._private_jobs where payload->>'q' in ('gc:pending', 'gc:filling')`.execute(env.ctx.db);
    await sql`update graphile_worker._private_job_queues set locked_at = null, locked_by = null where queue_name = 'gc:running'`.execute(env.ctx.db);
    await collectEmptyQueues(env.ctx.pool);
    for (const q of ['gc:pending', 'gc:running', 'gc:filling']) expect(await queue(q)).toBeUndefined();
    await enqueue(env.ctx.db, 't-gc', { q: 'gc:pending' }, { queue: 'gc:pending' });
    expect(await queue('gc:pending')).toBeDefined();
    await sql`delete from graphile_worker._private_jobs where payload->>'q' = 'gc:pending'`.execute(env.ctx.db);
    await collectEmptyQueues(env.ctx.pool);
    // Many empty queues go in short batches: 25 with batches of 10, at most 2 per call.
    await sql`insert into graphile_worker._private_job_queues (queue_name) select 'gc:many-' || g from generate_series(1, 25) g`.execute(env.ctx.db);
    expect(await collectEmptyQueues(env.ctx.pool, 50, 10, 2)).toBe(20);
    expect(await collectEmptyQueues(env.ctx.pool, 50, 10, 2)).toBe(5);
    expect(await collectEmptyQueues(env.ctx.pool, 50, 10, 2)).toBe(0);
  });

  it('refuses to start when a catalogued job has no handler', () => {
    const handlers = jobHandlers(env.ctx) as Record<string, unknown>;
    expect(() => checkCatalogue(handlers as never, JOB_NAMES)).not.toThrow();
    const { reminder: _drop, ...rest } = handlers;
    expect(() => checkCatalogue(rest as never, JOB_NAMES)).toThrow(/no handler for reminder/);
  });
});
