/**
 * Delivery log, inbound raw messages and the intake decision log. Per-user reads always filter
 * by owner_id; admin reads are explicit (`all*`).
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { prepared, type DB } from './db.js';
import type { Database } from './schema.js';
import type { Selectable } from 'kysely';
import { DIRECT_JOBS_COUNT, DIRECT_JOBS_CTES, jobSpecsJson, type JobSpec } from '../jobs/queue.js';

export type DeliveryRow = Selectable<Database['delivery_log']>;
export type DecisionRow = Selectable<Database['mail_decision']>;
export type InboundRow = Selectable<Database['inbound_message']>;

export interface DeliveryEntry {
  ownerId: string | null;
  channel: string;
  kind: string;
  deliveryKey: string;
  messageId?: string | null;
  recipient: string;
  uid?: string | null;
  objectId?: string | null;
  method?: string | null;
  status: DeliveryRow['status'];
  response?: string | null;
}

/** True when this delivery (channel + key) was already sent: the idempotency check before sending. */
export async function alreadySent(db: DB, channel: string, deliveryKey: string, ownerId?: string): Promise<boolean> {
  let q = db.selectFrom('delivery_log').select('status').where('channel', '=', channel).where('delivery_key', '=', deliveryKey);
  // The owner, when the caller knows it, keeps the look-up on one shard (docs/scaling.md).
  if (ownerId) q = q.where('owner_id', '=', ownerId);
  const r = await q.executeTakeFirst();
  return r?.status === 'sent' || r?.status === 'failed';
}

/** The delivery keys (of those given) already sent or permanently failed: one query for a batch. */
export async function alreadySentMany(db: DB, channel: string, deliveryKeys: string[], ownerIds?: string[]): Promise<Set<string>> {
  if (!deliveryKeys.length) return new Set();
  let q = db.selectFrom('delivery_log').select(['delivery_key', 'status']).where('channel', '=', channel).where('delivery_key', 'in', deliveryKeys);
  if (ownerIds?.length) q = q.where('owner_id', 'in', [...new Set(ownerIds)]);
  const rows = await q.execute();
  return new Set(rows.filter((r) => r.status === 'sent' || r.status === 'failed').map((r) => r.delivery_key));
}

/** recordDelivery for many deliveries in one statement (each row upserted as recordDelivery does). */
export async function recordDeliveries(db: DB, entries: DeliveryEntry[]): Promise<void> {
  if (!entries.length) return;
  await db.insertInto('delivery_log').values(entries.map((e) => ({
    owner_id: e.ownerId, channel: e.channel, kind: e.kind, delivery_key: e.deliveryKey, message_id: e.messageId ?? null,
    recipient: e.recipient, uid: e.uid ?? null, object_id: e.objectId ?? null, method: e.method ?? null, status: e.status,
    response: e.response ? e.response.slice(0, 1000) : null,
  }))).onConflict((oc) => oc.columns(['channel', 'delivery_key']).doUpdateSet({
    status: sql`excluded.status`, response: sql`excluded.response`, attempts: sql`delivery_log.attempts + 1`, updated_at: new Date(),
    message_id: sql`excluded.message_id`,
  })).execute();
}

/** Records an attempt: one row per delivery, updated by each attempt (attempts counts them). */
export async function recordDelivery(db: DB, e: DeliveryEntry): Promise<void> {
  const response = e.response ? e.response.slice(0, 1000) : null;
  await db.insertInto('delivery_log').values({
    owner_id: e.ownerId, channel: e.channel, kind: e.kind, delivery_key: e.deliveryKey, message_id: e.messageId ?? null,
    recipient: e.recipient, uid: e.uid ?? null, object_id: e.objectId ?? null, method: e.method ?? null, status: e.status, response,
  }).onConflict((oc) => oc.columns(['channel', 'delivery_key']).doUpdateSet({
    status: e.status, response, attempts: sql`delivery_log.attempts + 1`, updated_at: new Date(),
    message_id: e.messageId ?? null,
  })).execute();
}

export function listDeliveries(db: DB, opts: { ownerId?: string; limit: number; before?: string; status?: string; uid?: string }) {
  let q = db.selectFrom('delivery_log').selectAll().orderBy('id', 'desc').limit(opts.limit);
  if (opts.ownerId) q = q.where('owner_id', '=', opts.ownerId);
  if (opts.before) q = q.where('id', '<', opts.before);
  if (opts.status) q = q.where('status', '=', opts.status as 'sent');
  if (opts.uid) q = q.where('uid', '=', opts.uid);
  return q.execute();
}

export function findDeliveryByMessageId(db: DB, messageId: string) {
  return db.selectFrom('delivery_log').selectAll().where('message_id', '=', messageId).orderBy('id', 'desc').executeTakeFirst();
}

export function findDeliveryByUidRecipient(db: DB, uid: string, recipient: string) {
  return db.selectFrom('delivery_log').selectAll().where('uid', '=', uid).where('recipient', '=', recipient.toLowerCase()).where('channel', '=', 'imip')
    .orderBy('id', 'desc').executeTakeFirst();
}

export async function insertInbound(db: DB, m: { source: string; envelopeFrom: string | null; envelopeTo: string[]; remoteAddress: string | null; raw: Buffer }): Promise<string> {
  const r = await db.insertInto('inbound_message').values({
    source: m.source, envelope_from: m.envelopeFrom, envelope_to: m.envelopeTo, remote_address: m.remoteAddress, raw: m.raw, size: m.raw.length, message_id: null,
  }).returning('id').executeTakeFirstOrThrow();
  return r.id;
}

export interface IntakeJob {
  /** Envelope recipients this job handles; absent = every recipient of the message. */
  to?: string[];
  /** graphile-worker queue: jobs of one queue run one at a time, in order (one per recipient). */
  queue: string | null;
}

/**
 * How a receive statement queues its 'mail-intake' jobs (graphile-worker 0.17.3, pinned and
 * patched): a plain insert into graphile-worker's job table, instead of its add_job(s) functions.
 * add_jobs is plpgsql — four statements, each planned again on most calls (custom plans), for
 * what is here one prepared insert: the shared DIRECT_JOBS_CTES (jobs/queue.ts), which makes the
 * rows add_jobs makes for jobs without a key (a recipient's first message creates its queue) and
 * sends the same NOTIFY ('jobs:insert'); a task never used before goes through add_jobs.
 */
const INTAKE_TASK = 'mail-intake';

/**
 * Stores a raw message and queues its processing jobs in ONE statement (a data-modifying CTE,
 * atomic without an explicit transaction): one round trip per LMTP/SMTP DATA or HTTP request.
 */
export async function insertInboundWithJobs(db: DB, m: { source: string; envelopeFrom: string | null; envelopeTo: string[]; remoteAddress: string | null; raw: Buffer },
  jobs: IntakeJob[], o: { maxAttempts: number; priority: number }): Promise<string> {
  const specs = JSON.stringify(jobs.map((j) => ({ to: j.to ?? null, queue: j.queue })));
  const r = await sql<{ id: string }>`${prepared('intake_store_one_direct')}
    with m as (
      insert into inbound_message (source, envelope_from, envelope_to, remote_address, raw, size)
      values (${m.source}, ${m.envelopeFrom}, ${m.envelopeTo}::text[], ${m.remoteAddress}, ${m.raw}, ${m.raw.length})
      returning id
    ), js as (
      select ${INTAKE_TASK}::text as identifier,
             case when x.s->'to' = 'null'::jsonb then json_build_object('id', m.id, 'queue', x.s->>'queue') else json_build_object('id', m.id, 'to', x.s->'to', 'queue', x.s->>'queue') end as payload,
             x.s->>'queue' as queue_name, null::timestamptz as run_at, ${o.maxAttempts}::smallint as max_attempts, null::text as job_key, ${o.priority}::smallint as priority, null::text[] as flags, x.n
      from m cross join jsonb_array_elements(${specs}::jsonb) with ordinality as x(s, n)
    ), ${DIRECT_JOBS_CTES}
    select m.id from m where ${DIRECT_JOBS_COUNT} >= 0`.execute(db);
  return r.rows[0].id;
}

export interface InboundToStore {
  m: { source: string; envelopeFrom: string | null; envelopeTo: string[]; remoteAddress: string | null; raw: Buffer };
  jobs: IntakeJob[];
}

/**
 * Several received messages and all their jobs in ONE statement (one commit): the group commit
 * of app/intake/receive.ts. Ids are chosen here, so each caller learns its own without relying
 * on the order of RETURNING; the jobs are inserted in message order (so graphile-worker's ids,
 * and thus each recipient queue, keep the arrival order), as insertInboundWithJobs does.
 */
export async function insertInboundBatch(db: DB, items: InboundToStore[], o: { maxAttempts: number; priority: number }): Promise<string[]> {
  const ids = items.map(() => randomUUID());
  const meta = JSON.stringify(items.map((it, i) => ({
    i: i + 1, id: ids[i], source: it.m.source, envelope_from: it.m.envelopeFrom, envelope_to: it.m.envelopeTo, remote_address: it.m.remoteAddress, size: it.m.raw.length,
  })));
  const specs = JSON.stringify(items.flatMap((it, i) => it.jobs.map((j) => ({
    payload: j.to ? { id: ids[i], to: j.to, queue: j.queue } : { id: ids[i], queue: j.queue }, queue_name: j.queue,
  }))));
  await sql`${prepared('intake_store_group_direct')}
    with m as (
      insert into inbound_message (id, source, envelope_from, envelope_to, remote_address, raw, size)
      select x.id, x.source, x.envelope_from, x.envelope_to, x.remote_address, r.raw, x.size
      from jsonb_to_recordset(${meta}::jsonb) as x(i int, id uuid, source text, envelope_from text, envelope_to text[], remote_address text, size int)
      join unnest(${items.map((it) => it.m.raw)}::bytea[]) with ordinality as r(raw, i) on r.i = x.i
      returning 1
    ), js as (
      -- run_at a microsecond apart in arrival order: graphile-worker picks the next job of a queue
      -- by (priority, run_at) only, so jobs sharing this statement's now() could run in any order.
      select ${INTAKE_TASK}::text as identifier, x.s->'payload' as payload, x.s->>'queue_name' as queue_name, now() + (x.n * interval '1 microsecond') as run_at,
             ${o.maxAttempts}::smallint as max_attempts, null::text as job_key, ${o.priority}::smallint as priority, null::text[] as flags, x.n
      from json_array_elements(${specs}::json) with ordinality as x(s, n)
    ), ${DIRECT_JOBS_CTES}
    select (select count(*) from m) as messages, ${DIRECT_JOBS_COUNT} as jobs`.execute(db);
  return ids;
}

/**
 * The recipient's live copy of a UID and its default calendar, in one query (intake needs both:
 * the copy to decide, the calendar to put a new event in).
 */
export async function intakeTarget(db: DB, ownerId: string, uid: string): Promise<{ existing: Selectable<Database['calendar_object']> | null; defaultCalendarId: string | null }> {
  const r = await sql<Selectable<Database['calendar_object']> & { default_calendar_id: string | null }>`${prepared('intake_target')}
    select d.id as default_calendar_id, o.*
    from (select 1) one
    left join lateral (select id from calendar where owner_id = ${ownerId} and is_default limit 1) d on true
    left join lateral (select * from calendar_object where owner_id = ${ownerId} and uid = ${uid} and deleted_at is null order by created_at limit 1) o on true`.execute(db);
  const { default_calendar_id, ...row } = r.rows[0];
  return { existing: row.id ? row : null, defaultCalendarId: default_calendar_id };
}

/**
 * intakeTarget for the UIDs of a batch (one recipient) in one query: the live copy of each UID
 * the recipient has (the oldest, as intakeTarget picks) and the default calendar.
 */
export async function intakeTargets(db: DB, ownerId: string, uids: string[]): Promise<{ copies: Map<string, Selectable<Database['calendar_object']>>; defaultCalendarId: string | null }> {
  const r = await sql<Selectable<Database['calendar_object']> & { default_calendar_id: string | null }>`${prepared('intake_targets')}
    select d.id as default_calendar_id, o.*
    from (select 1) one
    left join lateral (select id from calendar where owner_id = ${ownerId} and is_default limit 1) d on true
    left join lateral (select distinct on (uid) * from calendar_object where owner_id = ${ownerId} and uid = any(${uids}::text[]) and deleted_at is null order by uid, created_at) o on true`.execute(db);
  const copies = new Map<string, Selectable<Database['calendar_object']>>();
  for (const { default_calendar_id: _, ...row } of r.rows) if (row.id) copies.set(row.uid, row);
  return { copies, defaultCalendarId: r.rows[0]?.default_calendar_id ?? null };
}

export interface WaitingIntakeJob { jobId: string; inboundId: string }

/**
 * The mail-intake jobs queued behind `jobId` in its named queue, in the order graphile-worker
 * would run them (priority, run_at, id), stopping at the first one that is not a plain first
 * attempt for the whole message (a split job for one of several recipients, a retry, another
 * task): those keep running as jobs of their own, so nothing is applied out of order. While
 * `jobId` runs, its queue is locked: none of these can be taken by another worker.
 * (graphile-worker's public `jobs` view has no payload column: its private tables are read.)
 */
export async function waitingIntakeJobs(db: DB, queue: string, jobId: string, limit: number): Promise<WaitingIntakeJob[]> {
  const r = await sql<{ id: string; inbound_id: string | null; whole: boolean; first: boolean; task: string; locked: boolean }>`${prepared('intake_waiting_jobs')}
    select j.id::text as id, j.payload->>'id' as inbound_id, (j.payload->'to') is null as whole, j.attempts = 0 as first,
           t.identifier as task, j.locked_at is not null as locked
    from graphile_worker._private_jobs j
    join graphile_worker._private_job_queues q on q.id = j.job_queue_id
    join graphile_worker._private_tasks t on t.id = j.task_id
    where q.queue_name = ${queue} and j.run_at <= now() and j.attempts < j.max_attempts
    order by j.priority, j.run_at, j.id
    limit ${limit + 1}::int`.execute(db);
  return waitingAfter(r.rows, jobId, limit);
}

/**
 * waitingIntakeJobs and the stored messages of the running job (`headId`) and of the jobs behind
 * it, in ONE statement (a batch's first read). The jobs are filtered as waitingIntakeJobs does;
 * a message is read only for a mail-intake job whose payload names one.
 */
export async function queuedIntakeBatch(db: DB, queue: string, jobId: string, headId: string, limit: number): Promise<{ waiting: WaitingIntakeJob[]; rows: Map<string, InboundRow> }> {
  const r = await sql<InboundRow & { w_n: string; w_job: string | null; w_inbound: string | null; w_whole: boolean; w_first: boolean; w_task: string; w_locked: boolean }>`${prepared('intake_queued_batch')}
    with w as materialized (
      select j.id::text as job_id, j.payload->>'id' as inbound_id, (j.payload->'to') is null as whole, j.attempts = 0 as first,
             t.identifier as task, j.locked_at is not null as locked,
             row_number() over (order by j.priority, j.run_at, j.id) as n
      from graphile_worker._private_jobs j
      join graphile_worker._private_job_queues q on q.id = j.job_queue_id
      join graphile_worker._private_tasks t on t.id = j.task_id
      where q.queue_name = ${queue} and j.run_at <= now() and j.attempts < j.max_attempts
      order by j.priority, j.run_at, j.id
      limit ${limit + 1}::int
    ), x as (
      select 0::bigint as n, null::text as job_id, ${headId}::text as inbound_id, true as whole, true as first, 'mail-intake'::text as task, false as locked
      union all
      select n, job_id, inbound_id, whole, first, task, locked from w
    )
    select x.n as w_n, x.job_id as w_job, x.inbound_id as w_inbound, x.whole as w_whole, x.first as w_first, x.task as w_task, x.locked as w_locked, m.*
    from x
    left join inbound_message m
      on m.id = case when x.task = 'mail-intake' and x.inbound_id ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then x.inbound_id::uuid end
    order by x.n`.execute(db);
  const rows = new Map<string, InboundRow>();
  const jobs: { id: string; inbound_id: string | null; whole: boolean; first: boolean; task: string; locked: boolean }[] = [];
  for (const x of r.rows) {
    const { w_n, w_job, w_inbound, w_whole, w_first, w_task, w_locked, ...row } = x;
    if (row.id) rows.set(row.id, row as InboundRow);
    if (Number(w_n) > 0 && w_job) jobs.push({ id: w_job, inbound_id: w_inbound, whole: w_whole, first: w_first, task: w_task, locked: w_locked });
  }
  return { waiting: waitingAfter(jobs, jobId, limit), rows };
}

/** The contiguous run of plain first-attempt mail-intake jobs right after `jobId` (see waitingIntakeJobs). */
function waitingAfter(jobs: { id: string; inbound_id: string | null; whole: boolean; first: boolean; task: string; locked: boolean }[], jobId: string, limit: number): WaitingIntakeJob[] {
  const at = jobs.findIndex((x) => x.id === jobId);
  if (at < 0) return [];
  const out: WaitingIntakeJob[] = [];
  for (const x of jobs.slice(at + 1)) {
    if (x.task !== 'mail-intake' || !x.whole || !x.first || x.locked || !x.inbound_id) break;
    out.push({ jobId: x.id, inboundId: x.inbound_id });
    if (out.length >= limit) break;
  }
  return out;
}

/**
 * lockUids (the batch's UIDs, sorted) and then lockQueuedInbound (its messages still queued,
 * FOR UPDATE) in ONE statement: the advisory locks are taken by a materialized CTE that the
 * row-locking scan joins, so they are held before any message row is locked.
 */
export async function lockIntakeBatch(db: DB, uids: Iterable<string>, ids: string[]): Promise<Set<string>> {
  const keys = [...new Set(uids)].sort().map((u) => 'uid:' + u);
  const r = await sql<{ id: string }>`${prepared('intake_lock_batch')}
    with l as materialized (
      select count(pg_advisory_xact_lock(hashtextextended(k, 0))) as n
      from (select k from unnest(${keys}::text[]) with ordinality as t(k, n) order by n) s
    )
    select m.id from l cross join inbound_message m
    where l.n >= 0 and m.id = any(${ids}::uuid[]) and m.state = 'queued'
    for update of m`.execute(db);
  return new Set(r.rows.map((x) => x.id));
}

/** Completes (deletes) jobs that are not running, inside the caller's transaction: graphile-worker's own complete_jobs. */
export async function completeWaitingJobs(db: DB, jobIds: string[]): Promise<number> {
  if (!jobIds.length) return 0;
  const r = await sql<{ n: string }>`${prepared('intake_complete_waiting')}select count(*) as n from graphile_worker.complete_jobs(${jobIds}::bigint[])`.execute(db);
  return Number(r.rows[0].n);
}

/** Of the given messages, those still queued, locked (FOR UPDATE) until the caller's transaction ends. */
export async function lockQueuedInbound(db: DB, ids: string[]): Promise<Set<string>> {
  if (!ids.length) return new Set();
  const r = await sql<{ id: string }>`${prepared('intake_lock_queued')}select id from inbound_message where id = any(${ids}::uuid[]) and state = 'queued' for update`.execute(db);
  return new Set(r.rows.map((x) => x.id));
}

/** Stored messages by id (any state). */
export function findInboundMany(db: DB, ids: string[]) {
  if (!ids.length) return Promise.resolve([] as InboundRow[]);
  return sql<InboundRow>`${prepared('intake_inbound_many')}select * from inbound_message where id = any(${ids}::uuid[])`.execute(db).then((r) => r.rows);
}

export function findInbound(db: DB, id: string) {
  return db.selectFrom('inbound_message').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function finishInbound(db: DB, id: string, state: 'processed' | 'failed', messageId: string | null) {
  await db.updateTable('inbound_message').set({ state, processed_at: new Date(), message_id: messageId }).where('id', '=', id).execute();
}

export interface NewDecision {
  ownerId: string | null; inboundId: string | null; messageId: string | null; sender: string | null; recipient: string | null;
  method: string | null; uid: string | null; objectId?: string | null; code: string; outcome: DecisionRow['outcome']; reason: string;
  ical?: string | null; details?: unknown;
}

export async function insertDecision(db: DB, d: NewDecision): Promise<string> {
  const r = await db.insertInto('mail_decision').values({
    owner_id: d.ownerId, inbound_id: d.inboundId, message_id: d.messageId, sender: d.sender, recipient: d.recipient, method: d.method, uid: d.uid,
    object_id: d.objectId ?? null, code: d.code, outcome: d.outcome, reason: d.reason.slice(0, 2000), ical: d.ical ?? null,
    details: d.details === undefined ? null : JSON.stringify(d.details),
  }).returning('id').executeTakeFirstOrThrow();
  return r.id;
}

/**
 * The decision-log records of one processing run and the message's new state, in one statement.
 * created_at keeps the order in which they were decided (a microsecond apart).
 */
export async function insertDecisionsAndFinish(db: DB, decisions: NewDecision[], finish: { id: string; messageId: string | null } | null): Promise<void> {
  return insertDecisionsAndFinishMany(db, decisions, finish ? [finish] : []);
}

/**
 * The decision records (JSON) and the finished messages (ids and Message-IDs, as arrays) as the
 * parameters of the statements below. The messages are matched by `id = any(ids)`, an index
 * lookup whatever the plan: a join with a JSON record set was planned once, as a prepared
 * statement's generic plan, while inbound_message was small, and then read the whole table
 * (every stored message) for every batch.
 */
function decisionParams(decisions: NewDecision[], finished: { id: string; messageId: string | null }[]): { rows: string; done: string[]; doneMessageIds: (string | null)[] } {
  const rows = JSON.stringify(decisions.map((d) => ({
    owner_id: d.ownerId, inbound_id: d.inboundId, message_id: d.messageId, sender: d.sender, recipient: d.recipient, method: d.method, uid: d.uid,
    object_id: d.objectId ?? null, code: d.code, outcome: d.outcome, reason: d.reason.slice(0, 2000), ical: d.ical ?? null, details: d.details === undefined ? null : d.details,
  })));
  return { rows, done: finished.map((f) => f.id), doneMessageIds: finished.map((f) => f.messageId) };
}

/**
 * The same for several messages (a batch of one recipient's queue): every record in decision
 * order (created_at a microsecond apart, so arrival order survives one shared transaction time),
 * every message marked processed, in one statement.
 */
export async function insertDecisionsAndFinishMany(db: DB, decisions: NewDecision[], finished: { id: string; messageId: string | null }[]): Promise<void> {
  if (!decisions.length && !finished.length) return;
  const { rows, done, doneMessageIds } = decisionParams(decisions, finished);
  await sql`${prepared('intake_decisions_finish')}
    with d as (
      insert into mail_decision (owner_id, inbound_id, message_id, sender, recipient, method, uid, object_id, code, outcome, reason, ical, details, created_at)
      select x.owner_id, x.inbound_id, x.message_id, x.sender, x.recipient, x.method, x.uid, x.object_id, x.code, x.outcome, x.reason, x.ical, x.details,
             now() + (n * interval '1 microsecond')
      from jsonb_populate_recordset(null::mail_decision, ${rows}::jsonb) with ordinality as x(id, owner_id, inbound_id, message_id, sender, recipient, method, uid, object_id, code, outcome, reason, ical, details, created_at, decided_at, n)
      returning 1
    )
    update inbound_message m set state = 'processed', processed_at = now(), message_id = (${doneMessageIds}::text[])[array_position(${done}::uuid[], m.id)]
    where m.id = any(${done}::uuid[]) and (select count(*) from d) >= 0`.execute(db);
}

/**
 * The end of a mail intake batch in ONE statement: insertDecisionsAndFinishMany's records and
 * message states, the batch's jobs (its notifications; keys with replace semantics only, see
 * jobSpecsJson) queued by one add_jobs, and the queued jobs of the messages it took along
 * completed (graphile_worker.complete_jobs, which leaves running jobs alone).
 *
 * `running`: the job whose run this batch is (and the pool holding it: a job some other pool
 * took over is left alone) is completed here too, as graphile-worker's completion would
 * (batchCompleteJobs: delete the job, unlock its named queue if this pool holds it), so the
 * batch's commit is the only write transaction of the run; graphile-worker then sends no
 * completion of its own (patched; unpatched, its completion finds no row and writes nothing). A batch that
 * rolls back leaves the job to graphile-worker, as before. Returns whether the running job was
 * deleted here (the caller then tells graphile-worker: JobHelpers.completedInTransaction).
 */
export async function finishIntakeBatch(db: DB, decisions: NewDecision[], finished: { id: string; messageId: string | null }[], jobs: JobSpec[], completeJobIds: string[], running: { id: string; lockedBy: string | null } | null = null): Promise<boolean> {
  if (jobs.some((j) => j.jobKeyMode === 'preserve_run_at')) throw new Error('finishIntakeBatch: preserve_run_at job keys need enqueueMany');
  const { rows, done, doneMessageIds } = decisionParams(decisions, finished);
  // Data-modifying CTEs always run; the function calls (add_jobs, complete_jobs) run because the final select reads them.
  const r = await sql<{ running: string }>`${prepared('intake_finish_batch')}
    with d as (
      insert into mail_decision (owner_id, inbound_id, message_id, sender, recipient, method, uid, object_id, code, outcome, reason, ical, details, created_at)
      select x.owner_id, x.inbound_id, x.message_id, x.sender, x.recipient, x.method, x.uid, x.object_id, x.code, x.outcome, x.reason, x.ical, x.details,
             now() + (n * interval '1 microsecond')
      from jsonb_populate_recordset(null::mail_decision, ${rows}::jsonb) with ordinality as x(id, owner_id, inbound_id, message_id, sender, recipient, method, uid, object_id, code, outcome, reason, ical, details, created_at, decided_at, n)
      returning 1
    ), m as (
      update inbound_message m set state = 'processed', processed_at = now(), message_id = (${doneMessageIds}::text[])[array_position(${done}::uuid[], m.id)]
      where m.id = any(${done}::uuid[])
      returning 1
    ), js as (
      select * from json_populate_recordset(null::graphile_worker.job_spec, ${jobSpecsJson(jobs)}::json)
        with ordinality as x(identifier, payload, queue_name, run_at, max_attempts, job_key, priority, flags, n)
    ), ${DIRECT_JOBS_CTES}, c as (
      select id from graphile_worker.complete_jobs(${completeJobIds}::bigint[]) where cardinality(${completeJobIds}::bigint[]) > 0
    ), r as (
      delete from graphile_worker._private_jobs where id = ${running?.id ?? null}::bigint and locked_by is not distinct from ${running?.lockedBy ?? null}::text
      returning job_queue_id, locked_by
    ), rq as (
      update graphile_worker._private_job_queues q set locked_by = null, locked_at = null
      from r where q.id = r.job_queue_id and q.locked_by = r.locked_by
      returning 1
    )
    select (select count(*) from d) as decisions, (select count(*) from m) as messages, ${DIRECT_JOBS_COUNT} as jobs, (select count(*) from c) as completed,
           (select count(*) from rq) as unlocked, (select count(*) from r) as running`.execute(db);
  return Number(r.rows[0].running) > 0;
}

/** Principals (of those given) that already have a decision for this message: a retried job skips them. */
export async function decidedOwners(db: DB, inboundId: string, ownerIds: string[]): Promise<Set<string>> {
  if (!ownerIds.length) return new Set();
  const rows = await db.selectFrom('mail_decision').select('owner_id').distinct().where('inbound_id', '=', inboundId).where('owner_id', 'in', ownerIds).execute();
  return new Set(rows.map((r) => r.owner_id!).filter(Boolean));
}

export function listDecisions(db: DB, opts: { ownerId?: string; limit: number; outcome?: string[]; inboundId?: string }) {
  let q = db.selectFrom('mail_decision').selectAll().orderBy('created_at', 'desc').orderBy('id').limit(opts.limit);
  if (opts.ownerId) q = q.where('owner_id', '=', opts.ownerId);
  if (opts.outcome?.length) q = q.where('outcome', 'in', opts.outcome as DecisionRow['outcome'][]);
  if (opts.inboundId) q = q.where('inbound_id', '=', opts.inboundId);
  return q.execute();
}

export function findDecision(db: DB, ownerId: string, id: string) {
  return db.selectFrom('mail_decision').selectAll().where('owner_id', '=', ownerId).where('id', '=', id).executeTakeFirst();
}

export async function closeDecision(db: DB, ownerId: string, id: string, outcome: DecisionRow['outcome'], fromOutcome: DecisionRow['outcome'], reason?: string): Promise<boolean> {
  const r = await db.updateTable('mail_decision').set({ outcome, decided_at: new Date(), ...(reason ? { reason } : {}) })
    .where('owner_id', '=', ownerId).where('id', '=', id).where('outcome', '=', fromOutcome).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}
