// The delivery log of a batch is written while the batch runs, so a crash mid-batch re-sends only
// the unlogged tail (reliability.test.ts measures the duplicates under SIGKILL).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createTestEnv, makeUser, eventually, type TestEnv } from '../support/harness.js';
import { DeliveryLogBuffer } from '../../src/app/notify/delivery-log-buffer.js';

let env: TestEnv;
let ownerId: string;
beforeAll(async () => {
  env = await createTestEnv();
  ownerId = (await makeUser(env.ctx, 'buffer@example.com')).id;
}, 120_000);
afterAll(async () => { await env?.close(); });

const entry = (k: string) => ({ ownerId, channel: 'imip', kind: 'imip-request', deliveryKey: k, recipient: `${k}@x.org`, status: 'sent' as const, response: '250 ok' });
const count = async (prefix: string) => Number((await sql<{ n: string }>`select count(*) as n from delivery_log where delivery_key like ${prefix + '%'}`.execute(env.ctx.db)).rows[0].n);

describe('DeliveryLogBuffer', () => {
  it('writes every `every` rows without waiting for the end of the batch', async () => {
    const b = new DeliveryLogBuffer(env.ctx.db, 4, 60_000);
    for (let i = 0; i < 9; i++) b.push(entry(`every-${i}`));
    await eventually(async () => (await count('every-')) === 8, 5000, 'two full groups written');
    expect(await count('every-')).toBe(8); // the ninth waits for its group, its age or close()
    await b.close();
    expect(await count('every-')).toBe(9);
  });

  it('writes a partial group once its oldest row is maxAgeMs old', async () => {
    const b = new DeliveryLogBuffer(env.ctx.db, 100, 50);
    b.push(entry('age-0'));
    b.push(entry('age-1'));
    await eventually(async () => (await count('age-')) === 2, 5000, 'the partial group written by age');
    await b.close();
  });

  it('close() fails when a write failed, so the job is retried', async () => {
    const b = new DeliveryLogBuffer(env.ctx.db, 1, 60_000);
    b.push({ ...entry('bad-0'), ownerId: 'not-a-uuid' }); // refused by PostgreSQL
    await expect(b.close()).rejects.toThrow();
  });
});
