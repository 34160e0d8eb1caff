import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { createTestEnv, eventually, type TestEnv } from '../support/harness.js';
import { enqueueMany, startWorker, checkCatalogue, JOB_NAMES } from '../../src/jobs/queue.js';
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

  it('refuses to start when a catalogued job has no handler', () => {
    const handlers = jobHandlers(env.ctx) as Record<string, unknown>;
    expect(() => checkCatalogue(handlers as never, JOB_NAMES)).not.toThrow();
    const { reminder: _drop, ...rest } = handlers;
    expect(() => checkCatalogue(rest as never, JOB_NAMES)).toThrow(/no handler for reminder/);
  });
});
