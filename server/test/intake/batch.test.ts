// Mail intake under a backlog: the running job of a recipient's queue also applies the messages
// queued behind it for that recipient, in one transaction (app/intake/process.ts, processQueued).
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, makeUser, recordStatements, type TestEnv } from '../support/harness.js';
import { listenJobWakes } from '../support/job-wakes.js';
import { receiveMail } from '../../src/app/intake/receive.js';
import { processInbound } from '../../src/app/intake/process.js';
import { listDecisions } from '../../src/store/mail.js';
import * as objects from '../../src/store/objects.js';
import type { PrincipalRow } from '../../src/store/schema.js';

const CRLF = '\r\n';
let env: TestEnv;
let dina: PrincipalRow;
let anna: PrincipalRow;

beforeAll(async () => {
  env = await createTestEnv({ mailDomains: ['example.com'], mailFrom: 'calendar@example.com', dataDir: `/tmp/calendula-intake-batch-${process.pid}` });
  dina = await makeUser(env.ctx, 'dina@example.com');
  anna = await makeUser(env.ctx, 'anna@example.com');
}, 60_000);
afterAll(async () => env.close());

function message(uid: string, method: 'REQUEST' | 'CANCEL', seq: number, to: string[], extra: string[] = []) {
  const ical = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Test//EN', `METHOD:${method}`, 'BEGIN:VEVENT', `UID:${uid}`, `DTSTAMP:2031010${seq + 1}T000000Z`,
    'DTSTART:20310605T100000Z', 'DTEND:20310605T110000Z', 'SUMMARY:Batch', `SEQUENCE:${seq}`, 'ORGANIZER:mailto:ceo@partner.org',
    ...to.map((a) => `ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:${a}`), ...extra, 'END:VEVENT', 'END:VCALENDAR', ''].join(CRLF);
  return Buffer.from([`From: ceo@partner.org`, `To: ${to.join(', ')}`, `Subject: ${method}`, `Message-ID: <${uid}.${seq}@partner.org>`, 'MIME-Version: 1.0',
    `Content-Type: text/calendar; method=${method}; charset=utf-8`, '', ical].join(CRLF));
}

async function receive(uid: string, method: 'REQUEST' | 'CANCEL', seq: number, to: string[], extra: string[] = []) {
  return receiveMail(env.ctx, message(uid, method, seq, to, extra), { from: 'ceo@partner.org', to }, 'lmtp');
}

/** The intake jobs of a recipient's queue, in the order graphile-worker runs them. */
async function queueJobs(p: PrincipalRow) {
  const r = await sql<{ id: string; payload: { id: string; queue: string; to?: string[] } }>`
    select j.id::text as id, j.payload from graphile_worker._private_jobs j
    join graphile_worker._private_job_queues q on q.id = j.job_queue_id
    where q.queue_name = ${`intake:${p.id}`} order by j.priority, j.run_at, j.id`.execute(env.ctx.db);
  return r.rows;
}

/** What the 'mail-intake' handler does for the job at the head of the recipient's queue. */
async function runHead(p: PrincipalRow) {
  const [head] = await queueJobs(p);
  const out = await processInbound(env.ctx, head.payload.id, { queue: head.payload.queue, jobId: head.id });
  // graphile-worker then completes the job that ran.
  await sql`select graphile_worker.complete_jobs(array[${head.id}::bigint])`.execute(env.ctx.db);
  return out;
}

const state = async (id: string) => (await env.ctx.db.selectFrom('inbound_message').select('state').where('id', '=', id).executeTakeFirstOrThrow()).state;

describe('a backlog of one recipient', () => {
  it('is applied by one job run, in arrival order, in one transaction; the jobs taken along are completed', async () => {
    const ids = [
      await receive('b1@partner.org', 'REQUEST', 0, [dina.email]),
      await receive('b1@partner.org', 'REQUEST', 1, [dina.email], ['LOCATION:Room 2']),
      await receive('b2@partner.org', 'REQUEST', 0, [dina.email]),
      await receive('b2@partner.org', 'CANCEL', 1, [dina.email], ['STATUS:CANCELLED']),
    ];
    expect((await queueJobs(dina)).map((j) => j.payload.id)).toEqual(ids);
    await runHead(dina);
    expect(await queueJobs(dina)).toEqual([]);
    expect(await objects.findByUid(env.ctx.db, dina.id, 'b1@partner.org')).toMatchObject({ location: 'Room 2', sequence: 1 });
    expect(await objects.findByUid(env.ctx.db, dina.id, 'b2@partner.org')).toMatchObject({ status: 'CANCELLED' });
    for (const id of ids) {
      expect(await state(id)).toBe('processed');
      expect((await listDecisions(env.ctx.db, { inboundId: id, limit: 5 })).map((d) => d.outcome)).toEqual(['applied']);
    }
    // One transaction wrote all four decision records (one commit for the backlog).
    const tx = await sql<{ n: string }>`select count(distinct xmin::text) as n from mail_decision where inbound_id = any(${ids}::uuid[])`.execute(env.ctx.db);
    expect(Number(tx.rows[0].n)).toBe(1);
    // Each message's notification was queued with the batch (the update one coalesced by key, as always).
    const b1 = await objects.findByUid(env.ctx.db, dina.id, 'b1@partner.org');
    const b2 = await objects.findByUid(env.ctx.db, dina.id, 'b2@partner.org');
    // The batch's invitations are one batched job (sendNotificationBatch), the others jobs of their own.
    const jobs = await sql<{ payload: { kind: string; objectId?: string; recipientId?: string; items?: { objectId: string; recipientId: string }[] } }>`
      select j.payload from graphile_worker._private_jobs j
      join graphile_worker._private_tasks t on t.id = j.task_id where t.identifier = 'notify' order by j.id`.execute(env.ctx.db);
    const notes = jobs.rows.flatMap(({ payload: p }) => (p.items ?? [{ objectId: p.objectId!, recipientId: p.recipientId! }]).map((i) => ({ kind: p.kind, objectId: i.objectId, recipientId: i.recipientId })))
      .filter((n) => n.recipientId === dina.id).map(({ kind, objectId }) => ({ kind, objectId }));
    expect(jobs.rows.filter((j) => j.payload.kind === 'invitation').map((j) => j.payload.items?.map((i) => i.objectId))).toEqual([[b1!.id, b2!.id]]);
    // (Notification jobs carry no queue: they run in parallel, in no promised order.)
    const byKey = (a: { kind: string; objectId: string }, b: { kind: string; objectId: string }) => `${a.kind}${a.objectId}`.localeCompare(`${b.kind}${b.objectId}`);
    expect(notes.sort(byKey)).toEqual([{ kind: 'invitation', objectId: b1!.id }, { kind: 'update', objectId: b1!.id }, { kind: 'invitation', objectId: b2!.id }, { kind: 'cancellation', objectId: b2!.id }].sort(byKey));
    // The decision log keeps the arrival order.
    const order = await env.ctx.db.selectFrom('mail_decision').select('inbound_id').where('inbound_id', 'in', ids).orderBy('created_at').execute();
    expect(order.map((d) => d.inbound_id)).toEqual(ids);
  });

  it('a failing message rolls the batch back: the running job\'s message is applied alone, the others stay queued as jobs', async () => {
    const ids = [
      await receive('f1@partner.org', 'REQUEST', 0, [dina.email]),
      await receive('f2@partner.org', 'REQUEST', 0, [dina.email]),
      await receive('f3@partner.org', 'REQUEST', 0, [dina.email]),
    ];
    // The decision log refuses the second message's record (a trigger in this test's own database).
    await sql`create function test_refuse_f2() returns trigger language plpgsql as $$ begin raise exception 'refused f2'; end $$`.execute(env.ctx.db);
    await sql`create trigger test_refuse_f2 before insert on mail_decision for each row when (new.uid = 'f2@partner.org') execute function test_refuse_f2()`.execute(env.ctx.db);
    try {
      await runHead(dina);
    } finally {
      await sql`drop trigger test_refuse_f2 on mail_decision`.execute(env.ctx.db);
      await sql`drop function test_refuse_f2()`.execute(env.ctx.db);
    }
    expect(await objects.findByUid(env.ctx.db, dina.id, 'f1@partner.org')).toMatchObject({ my_partstat: 'NEEDS-ACTION' });
    expect(await state(ids[0])).toBe('processed');
    // Nothing of the rolled-back batch remains: f3 (which came after the failure) is not applied either.
    expect(await objects.findByUid(env.ctx.db, dina.id, 'f2@partner.org')).toBeUndefined();
    expect(await objects.findByUid(env.ctx.db, dina.id, 'f3@partner.org')).toBeUndefined();
    expect([await state(ids[1]), await state(ids[2])]).toEqual(['queued', 'queued']);
    expect((await queueJobs(dina)).map((j) => j.payload.id)).toEqual([ids[1], ids[2]]);
    // Their own jobs then apply them (the trigger is gone: as a retry would find it).
    await runHead(dina);
    expect(await objects.findByUid(env.ctx.db, dina.id, 'f2@partner.org')).toBeDefined();
    expect(await objects.findByUid(env.ctx.db, dina.id, 'f3@partner.org')).toBeDefined();
    expect(await queueJobs(dina)).toEqual([]);
    expect((await listDecisions(env.ctx.db, { inboundId: ids[0], limit: 5 })).map((d) => d.outcome)).toEqual(['applied']);
  });

  it('reads the recipient\'s copies of the batch\'s UIDs with one statement, not one per message', async () => {
    await runHeadsUntilEmpty(dina);
    const n = 6;
    const ids = [];
    for (let i = 0; i < n; i++) ids.push(await receive(`c${i}@partner.org`, 'REQUEST', 0, [dina.email]));
    // One of them updates an event dina already has (its copy comes from the same read).
    await receive('c0@partner.org', 'REQUEST', 1, [dina.email], ['LOCATION:Moved']);
    const { seen } = await recordStatements(() => runHead(dina));
    expect(await queueJobs(dina)).toEqual([]);
    for (const id of ids) expect(await state(id)).toBe('processed');
    expect(await objects.findByUid(env.ctx.db, dina.id, 'c0@partner.org')).toMatchObject({ location: 'Moved', sequence: 1 });
    const named = (name: string) => seen.filter((t) => t.includes(`prepared:${name}*/`)).length;
    expect(named('intake_targets')).toBe(1);
    // c0's second message reads its copy again (the first one just wrote it); nothing else does.
    expect(named('intake_target')).toBe(1);
    // Per message: its calendar write (and, with the principal cache off in tests, the owner's row).
    expect(seen.filter((t) => /insert into calendar_object|update calendar_object|update "calendar_object"/.test(t)).length).toBe(n + 1);
    // Decision records, message states, notification jobs and the completion of the jobs taken along: one statement.
    expect(named('intake_finish_batch')).toBe(1);
    expect(seen.filter((t) => t.includes('complete_jobs') && !t.includes('intake_finish_batch')).length).toBe(1); // this test's own, for the running job
    // All told (this test's own two job statements included): 38 with one target read per message and separate finishing statements.
    expect(seen.length).toBeLessThanOrEqual(31);
  });

  it('a message alone takes the same way: one transaction, its copy read once under the UID lock', async () => {
    await runHeadsUntilEmpty(dina);
    const id = await receive('alone@partner.org', 'REQUEST', 0, [dina.email]);
    const { seen } = await recordStatements(() => runHead(dina));
    expect(await state(id)).toBe('processed');
    expect((await listDecisions(env.ctx.db, { inboundId: id, limit: 5 })).map((d) => d.outcome)).toEqual(['applied']);
    const named = (name: string) => seen.filter((t) => t.includes(`prepared:${name}*/`)).length;
    expect([named('intake_targets'), named('intake_target'), named('intake_finish_batch')]).toEqual([1, 0, 1]);
    expect(seen.filter((t) => /^\s*(begin|commit)\s*$/i.test(t))).toEqual(['begin', 'commit']);
  });

  it('the running job is completed by the batch\'s own commit (its queue unlocked); graphile-worker\'s completion then finds nothing', async () => {
    await runHeadsUntilEmpty(dina);
    const ids = [await receive('rj1@partner.org', 'REQUEST', 0, [dina.email]), await receive('rj2@partner.org', 'REQUEST', 0, [dina.email])];
    const [head] = await queueJobs(dina);
    // As graphile-worker's fetch leaves them: the job and its named queue locked by the pool.
    await sql`update graphile_worker._private_jobs set locked_by = 'test-pool', locked_at = now(), attempts = attempts + 1 where id = ${head.id}::bigint`.execute(env.ctx.db);
    await sql`update graphile_worker._private_job_queues set locked_by = 'test-pool', locked_at = now() where queue_name = ${`intake:${dina.id}`}`.execute(env.ctx.db);
    let told = 0;
    const { seen } = await recordStatements(() => processInbound(env.ctx, head.payload.id, { queue: head.payload.queue, jobId: head.id, lockedBy: 'test-pool', onJobCompleted: () => { told++; } }));
    for (const id of ids) expect(await state(id)).toBe('processed');
    // graphile-worker is told, so it sends no completion of its own.
    expect(told).toBe(1);
    // The batch's notification job (a plain insert: its task exists) is what add_jobs would have made.
    const note = await sql<{ payload: { kind: string; items?: unknown[] }; priority: number; max_attempts: number; attempts: number; key: string | null; queue_name: string | null }>`
      select j.payload, j.priority, j.max_attempts, j.attempts, j.key, q.queue_name from graphile_worker._private_jobs j
      join graphile_worker._private_tasks t on t.id = j.task_id left join graphile_worker._private_job_queues q on q.id = j.job_queue_id
      where t.identifier = 'notify' and j.payload::jsonb @> ${JSON.stringify({ kind: 'invitation', items: [{ recipientId: dina.id }] })}::jsonb order by j.id desc limit 1`.execute(env.ctx.db);
    expect(note.rows[0]).toMatchObject({ priority: 0, max_attempts: 25, attempts: 0, key: null });
    expect(note.rows[0].queue_name).toMatch(/^notify-batch/);
    expect(note.rows[0].payload.items).toHaveLength(2);
    expect(await queueJobs(dina)).toEqual([]);
    const q = await sql<{ locked_by: string | null }>`select locked_by from graphile_worker._private_job_queues where queue_name = ${`intake:${dina.id}`}`.execute(env.ctx.db);
    expect(q.rows[0].locked_by).toBeNull();
    // One write transaction for the whole run: no statement outside it wrote the job.
    const named = (name: string) => seen.filter((t) => t.includes(`prepared:${name}*/`)).length;
    expect([named('intake_queued_batch'), named('intake_lock_batch'), named('intake_targets'), named('intake_finish_batch')]).toEqual([1, 1, 1, 1]);
    expect(seen.filter((t) => /^\s*(begin|commit)\s*$/i.test(t))).toEqual(['begin', 'commit']);
    // graphile-worker's completion of the job (batchCompleteJobs, named queue) now finds no job to delete.
    const done = await sql`delete from graphile_worker._private_jobs as jobs using unnest(${[head.id]}::bigint[]) n(n) where id = n`.execute(env.ctx.db);
    expect(Number(done.numAffectedRows ?? 0)).toBe(0);
  });

  it('a queue locked by another pool is not unlocked by the batch; a job another pool holds is not completed', async () => {
    await runHeadsUntilEmpty(dina);
    await receive('rj3@partner.org', 'REQUEST', 0, [dina.email]);
    const [head] = await queueJobs(dina);
    await sql`update graphile_worker._private_jobs set locked_by = 'test-pool', locked_at = now() where id = ${head.id}::bigint`.execute(env.ctx.db);
    await sql`update graphile_worker._private_job_queues set locked_by = 'other-pool', locked_at = now() where queue_name = ${`intake:${dina.id}`}`.execute(env.ctx.db);
    try {
      await processInbound(env.ctx, head.payload.id, { queue: head.payload.queue, jobId: head.id, lockedBy: 'test-pool' });
      const q = await sql<{ locked_by: string | null }>`select locked_by from graphile_worker._private_job_queues where queue_name = ${`intake:${dina.id}`}`.execute(env.ctx.db);
      expect(q.rows[0].locked_by).toBe('other-pool');
      expect(await queueJobs(dina)).toEqual([]);
      // A job that another pool took over (liveness.ts freed it, another worker fetched it) is left to that pool.
      await receive('rj4@partner.org', 'REQUEST', 0, [dina.email]);
      const [next] = await queueJobs(dina);
      await sql`update graphile_worker._private_jobs set locked_by = 'other-pool', locked_at = now() where id = ${next.id}::bigint`.execute(env.ctx.db);
      let told = 0;
      await processInbound(env.ctx, next.payload.id, { queue: next.payload.queue, jobId: next.id, lockedBy: 'test-pool', onJobCompleted: () => { told++; } });
      expect(await state(next.payload.id)).toBe('processed');
      expect((await queueJobs(dina)).map((j) => j.id)).toEqual([next.id]);
      expect(told).toBe(0);
      await sql`select graphile_worker.complete_jobs(array[${next.id}::bigint])`.execute(env.ctx.db);
      await sql`delete from graphile_worker._private_jobs where id = ${next.id}::bigint`.execute(env.ctx.db);
    } finally {
      await sql`update graphile_worker._private_job_queues set locked_by = null, locked_at = null where queue_name = ${`intake:${dina.id}`}`.execute(env.ctx.db);
    }
  });

  it('stops at a job for one of several recipients: what comes after it waits for its turn', async () => {
    const a = await receive('s1@partner.org', 'REQUEST', 0, [dina.email]);
    // One message for two users: split into one job per user (payload.to), here between the others.
    const shared = await receive('s2@partner.org', 'REQUEST', 0, [dina.email, anna.email]);
    const c = await receive('s3@partner.org', 'REQUEST', 0, [dina.email]);
    const jobs = await queueJobs(dina);
    expect(jobs.map((j) => [j.payload.id, !!j.payload.to])).toEqual([[a, false], [shared, true], [c, false]]);
    await runHead(dina);
    expect(await state(a)).toBe('processed');
    expect(await objects.findByUid(env.ctx.db, dina.id, 's3@partner.org')).toBeUndefined();
    expect((await queueJobs(dina)).map((j) => j.payload.id)).toEqual([shared, c]);
  });
});

describe('receiving under load (group commit)', () => {
  const inboundOf = (ids: string[]) => sql<{ id: string; tx: string }>`select id, xmin::text as tx from inbound_message where id = any(${ids}::uuid[])`.execute(env.ctx.db);

  it('messages arriving while stores run are stored together by the next statement, their jobs in arrival order', async () => {
    await runHeadsUntilEmpty(dina);
    await receive('warm@partner.org', 'REQUEST', 0, [dina.email]); // the recipient's address is cached from here on
    const ids = await Promise.all([0, 1, 2, 3, 4].map((i) => receive(`g${i}@partner.org`, 'REQUEST', 0, [dina.email])));
    expect(new Set(ids).size).toBe(5);
    const rows = (await inboundOf(ids)).rows;
    expect(rows).toHaveLength(5);
    // The first two went alone (two stores may run at once); the three that arrived meanwhile shared one commit.
    const tx = rows.map((r) => r.tx);
    expect(new Set(tx).size).toBe(3);
    const group = ids.slice(2);
    expect(new Set(group.map((id) => rows.find((r) => r.id === id)!.tx)).size).toBe(1);
    // Within the group the jobs keep the arrival order (the first two were stored concurrently: either order).
    const queued = (await queueJobs(dina)).map((j) => j.payload.id);
    expect(queued.slice(-5).sort()).toEqual([...ids].sort());
    expect(queued.filter((id) => group.includes(id))).toEqual(group);
  });

  it('queues the job with a plain insert once the recipient\'s queue exists (through add_job before), as add_job would, and wakes the worker', async () => {
    const erin = await makeUser(env.ctx, 'erin@example.com');
    const listener = await listenJobWakes(env.url);
    const { wakes } = listener;
    try {
      const jobsOf = () => sql<{ payload: { id: string; queue: string; to?: string[] }; priority: number; max_attempts: number; attempts: number; key: string | null; task: string; queue_name: string | null }>`
        select j.payload, j.priority, j.max_attempts, j.attempts, j.key, t.identifier as task, q.queue_name
        from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id
        left join graphile_worker._private_job_queues q on q.id = j.job_queue_id where q.queue_name = ${`intake:${erin.id}`} order by j.id`.execute(env.ctx.db);
      // The first message creates the recipient's queue (add_job); the second goes by the plain insert.
      const { seen: first } = await recordStatements(() => receive('pi1@partner.org', 'REQUEST', 0, [erin.email]));
      const { seen: second } = await recordStatements(() => receive('pi2@partner.org', 'REQUEST', 0, [erin.email]));
      // A message for a user with a queue and one without (split jobs, in one statement): both queued.
      const frank = await makeUser(env.ctx, 'frank@example.com');
      const both = await receive('pi3@partner.org', 'REQUEST', 0, [erin.email, frank.email]);
      expect(first.some((t) => t.includes('prepared:intake_store_one_direct*/'))).toBe(true);
      expect(second.some((t) => t.includes('prepared:intake_store_one_direct*/'))).toBe(true);
      const rows = (await jobsOf()).rows;
      expect(rows.map((r) => r.payload.id).slice(0, 2)).toHaveLength(2);
      for (const r of rows) expect({ task: r.task, priority: r.priority, max_attempts: r.max_attempts, attempts: r.attempts, key: r.key }).toEqual({ task: 'mail-intake', priority: -5, max_attempts: 10, attempts: 0, key: null });
      expect(rows[0].payload).toEqual({ id: rows[0].payload.id, queue: `intake:${erin.id}` });
      expect(rows[2].payload).toEqual({ id: both, to: [erin.email], queue: `intake:${erin.id}` });
      const frankJobs = await queueJobs(frank);
      expect(frankJobs.map((j) => j.payload)).toEqual([{ id: both, to: [frank.email], queue: `intake:${frank.id}` }]);
      // Every receive woke the worker.
      await listener.waitFor(3);
      expect(wakes.length).toBeGreaterThanOrEqual(3);
      await runHeadsUntilEmpty(erin);
      await runHeadsUntilEmpty(frank);
      expect(await objects.findByUid(env.ctx.db, erin.id, 'pi2@partner.org')).toBeDefined();
      expect(await objects.findByUid(env.ctx.db, frank.id, 'pi3@partner.org')).toBeDefined();
    } finally {
      await listener.close();
    }
  });

  it('a message the database refuses is refused alone: the others of its group are stored', async () => {
    await sql`create function test_refuse_inbound() returns trigger language plpgsql as $$ begin if new.envelope_from = 'bad@partner.org' then raise exception 'refused'; end if; return new; end $$`.execute(env.ctx.db);
    await sql`create trigger test_refuse_inbound before insert on inbound_message for each row execute function test_refuse_inbound()`.execute(env.ctx.db);
    try {
      const send = (from: string, uid: string) => receiveMail(env.ctx, message(uid, 'REQUEST', 0, [dina.email]), { from, to: [dina.email] }, 'lmtp');
      const results = await Promise.allSettled([send('ceo@partner.org', 'r0@partner.org'), send('ceo@partner.org', 'r1@partner.org'), send('bad@partner.org', 'r2@partner.org'), send('ceo@partner.org', 'r3@partner.org')]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
      const ids = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      expect((await inboundOf(ids)).rows).toHaveLength(3);
    } finally {
      await sql`drop trigger test_refuse_inbound on inbound_message`.execute(env.ctx.db);
      await sql`drop function test_refuse_inbound()`.execute(env.ctx.db);
    }
  });
});

async function runHeadsUntilEmpty(p: PrincipalRow) {
  while ((await queueJobs(p)).length) await runHead(p);
}

describe('lockIntakeBatch', () => {
  it('takes one advisory lock per distinct UID, then locks and returns the messages still queued', async () => {
    const { lockIntakeBatch } = await import('../../src/store/mail.js');
    const a = await receive('lb1@partner.org', 'REQUEST', 0, [anna.email]);
    const b = await receive('lb2@partner.org', 'REQUEST', 0, [anna.email]);
    await env.ctx.db.updateTable('inbound_message').set({ state: 'processed' }).where('id', '=', b).execute();
    const held = () => sql<{ n: string }>`select count(*) as n from pg_locks where locktype = 'advisory' and granted and pid <> pg_backend_pid() and database = (select oid from pg_database where datname = current_database())`.execute(env.ctx.db);
    const rowLocked = async (id: string) => (await sql`select 1 from inbound_message where id = ${id}::uuid for update skip locked`.execute(env.ctx.db)).rows.length === 0;
    const before = Number((await held()).rows[0].n);
    let during = -1;
    let queued = new Set<string>();
    let locked: boolean[] = [];
    await env.ctx.db.transaction().execute(async (trx) => {
      queued = await lockIntakeBatch(trx, ['lb-b@x', 'lb-a@x', 'lb-b@x'], [a, b]);
      during = Number((await held()).rows[0].n);
      locked = [await rowLocked(a), await rowLocked(b)];
    });
    expect([...queued]).toEqual([a]);
    expect(during - before).toBe(2);
    expect(locked).toEqual([true, false]);
    expect(Number((await held()).rows[0].n)).toBe(before);
    expect(await lockIntakeBatch(env.ctx.db, [], [])).toEqual(new Set());
    await runHeadsUntilEmpty(anna);
  });
});

describe('lockUids', () => {
  it('holds one advisory lock per distinct UID until the transaction ends', async () => {
    const { lockUids } = await import('../../src/app/events/write.js');
    const held = () => sql<{ n: string }>`select count(*) as n from pg_locks where locktype = 'advisory' and granted and pid <> pg_backend_pid() and database = (select oid from pg_database where datname = current_database())`.execute(env.ctx.db);
    const before = Number((await held()).rows[0].n);
    let during = -1;
    await env.ctx.db.transaction().execute(async (trx) => {
      await lockUids(trx, ['lock-b@x', 'lock-a@x', 'lock-b@x', 'lock-c@x']);
      during = Number((await held()).rows[0].n);
    });
    expect(during - before).toBe(3);
    expect(Number((await held()).rows[0].n)).toBe(before);
  });
});
