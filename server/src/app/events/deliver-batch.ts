/**
 * Batched internal delivery: ONE 'schedule-deliver' job carries every internal recipient of one
 * organizer write (or of one slice of a fan-out) and writes all their copies set-based, instead
 * of one full write per attendee (RFC 6638 §3.2 semantics, applied by lib/itip as deliverMessage).
 *
 * One transaction: the per-UID lock (the same key as every write of the UID, so an attendee's own
 * answer and this update never interleave), one read of the existing copies and default
 * calendars, the planning (parse, index, reminders), a multi-row insert and a multi-row update,
 * then one statement that locks the calendars written to (in key order) and logs the changes,
 * and the reminder and notification jobs in one add_jobs each.
 *
 * LOCK_LATE: a calendar's row lock (the sync_seq update, held to commit) is what deliveries to the
 * same people wait for, so it is taken as late as possible: after the planning and after the
 * copies are written (their foreign-key checks take KEY SHARE on the calendars, which does not
 * conflict with it). In a burst of meetings with the same attendees, taking it before the planning
 * made the deliveries run one at a time (~85 ms of lock wait per delivery in the bench).
 * Whatever the set-based path does not cover (rooms — their auto-answer needs the per-room lock —,
 * replies, deletions, disabled or unknown recipients, UID/name clashes) goes through
 * deliverMessage, one by one, after the batch commits; a retried job re-applies nothing that is
 * already in place (the same message is stale, RFC 5546 §2.1.5), so retries are idempotent.
 */
import { createHash, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { AppContext } from '../context.js';
import type { DB } from '../../store/db.js';
import * as bulk from '../../store/objects-bulk.js';
import { findPrincipalsByIds } from '../../store/principals.js';
import type { ObjectRow, PrincipalRow, Reminder } from '../../store/schema.js';
import { apply, applyToNewCopies, type ApplyResult, type ItipMessage } from '../../lib/itip/index.js';
import { enqueueMany, type JobSpec } from '../../jobs/queue.js';
import { ensureDefaultCalendar } from '../calendars.js';
import { syncAttachmentUses } from '../attachments.js';
import { indexValues, ownerUnnamed, prepareResource, type PreparedResource } from './resource.js';
import { isActive, planFiring, planRow } from './reminders.js';
import { deleteReminders, saveReminders, type ReminderPlanRow } from '../../store/reminders.js';
import { deliverMessage, wantsNotification } from './deliver.js';
import type { DeliverPayload } from './scheduling.js';
import type { NotifyBatchPayload } from '../notify/notifications.js';

export interface DeliverBatchItem { recipientId: string; method: ItipMessage['method']; significant: boolean; /** index into texts / messageIds */ m: number }

/** The payload of a batched 'schedule-deliver' job (told apart from a single one by `items`). */
export interface DeliverBatchPayload {
  uid: string;
  sender: string;
  /** The distinct message texts, inline … */
  texts?: string[];
  /** … or stored once in itip_message (a fan-out), owned by messageOwnerId. */
  messageIds?: string[];
  messageOwnerId?: string;
  items: DeliverBatchItem[];
}

export function isBatchPayload(p: unknown): p is DeliverBatchPayload {
  return !!p && Array.isArray((p as DeliverBatchPayload).items);
}

/**
 * The one queue of every internal delivery about a UID (single or batched): they run one at a
 * time, in the order queued, so every recipient sees the messages of one event in order.
 */
export function deliverQueue(uid: string): string {
  return `deliver:${createHash('sha1').update(uid).digest('base64url').slice(0, 16)}`;
}

/**
 * Batched notification jobs run in NOTIFY_BATCH_QUEUES named queues, so at most that many worker
 * slots are held by them at once: one such job sends to many recipients and holds its slot
 * ~10× as long as a single notification, and a backlog of them in every slot made deliveries wait
 * for a free slot (copies at 4 creates/s after a burst: p50 72 → 304 ms). Order between them does
 * not matter; the queues only bound how many run together.
 */
export const NOTIFY_BATCH_QUEUES = 2;

export function notifyBatchQueue(uid: string): string {
  return `notify-batch:${createHash('sha1').update(uid).digest()[0] % NOTIFY_BATCH_QUEUES}`;
}

/** Recipients per batched job in a fan-out (the whole list when the write queues directly). */
export const DELIVER_BATCH = 50;

/**
 * Merges a write's plain 'schedule-deliver' specs (no job key or delay; not rooms) into batched
 * ones of at most `size` recipients, in place of the first of them (queue order is kept). A lone
 * delivery stays a single job.
 */
export function batchDeliverSpecs(specs: JobSpec[], isRoom: (recipientId: string) => boolean, size = Number.MAX_SAFE_INTEGER): JobSpec[] {
  const plain = (j: JobSpec) => j.name === 'schedule-deliver' && !j.jobKey && !j.runAt && !isBatchPayload(j.payload) && !isRoom((j.payload as DeliverPayload).recipientId);
  const group = specs.filter(plain);
  if (group.length < 2) return specs;
  const batches: JobSpec[] = [];
  for (let i = 0; i < group.length; i += size) {
    const slice = group.slice(i, i + size).map((j) => j.payload as DeliverPayload);
    const first = slice[0];
    const stored = first.messageId !== undefined;
    const refs: string[] = [];
    const index = new Map<string, number>();
    const items = slice.map((p) => {
      const ref = (stored ? p.messageId : p.ical) ?? '';
      let m = index.get(ref);
      if (m === undefined) { index.set(ref, (m = refs.length)); refs.push(ref); }
      return { recipientId: p.recipientId, method: p.method, significant: p.significant, m };
    });
    const payload: DeliverBatchPayload = { uid: first.uid, sender: first.sender, ...(stored ? { messageIds: refs, messageOwnerId: first.messageOwnerId } : { texts: refs }), items };
    batches.push({ ...specs.find((j) => j.payload === first)!, payload });
  }
  const out: JobSpec[] = [];
  let placed = false;
  for (const j of specs) {
    if (!plain(j)) { out.push(j); continue; }
    if (!placed) { out.push(...batches); placed = true; }
  }
  return out;
}

interface Planned {
  item: DeliverBatchItem;
  recipient: PrincipalRow;
  existing: ObjectRow | null;
  prepared: PreparedResource;
  values: bulk.CopyValues;
}

async function loadTexts(db: DB, p: DeliverBatchPayload): Promise<(string | null)[]> {
  if (p.texts) return p.texts;
  if (!p.messageIds?.length || !p.messageOwnerId) return [];
  const rows = await db.selectFrom('itip_message').select(['id', 'ical']).where('owner_id', '=', p.messageOwnerId).where('id', 'in', p.messageIds).execute();
  const byId = new Map(rows.map((r) => [r.id, r.ical]));
  return p.messageIds.map((id) => byId.get(id) ?? null);
}

export interface BatchOutcome { written: number; skipped: number; single: number }

export async function deliverBatch(ctx: AppContext, p: DeliverBatchPayload): Promise<BatchOutcome> {
  const ids = [...new Set(p.items.map((i) => i.recipientId))];
  const recipients = new Map((await findPrincipalsByIds(ctx.db, ids)).map((r) => [r.id, r]));
  const texts = await loadTexts(ctx.db, p);
  // The set-based path: enabled users receiving a REQUEST or CANCEL. The rest, one by one.
  const setBased = (i: DeliverBatchItem) => {
    const r = recipients.get(i.recipientId);
    return !!r && !r.disabled && r.kind === 'user' && (i.method === 'REQUEST' || i.method === 'CANCEL') && texts[i.m] != null;
  };
  const single: DeliverBatchItem[] = p.items.filter((i) => !setBased(i));
  let written = 0;
  let skipped = 0;
  const batchItems = p.items.filter(setBased);
  if (batchItems.length) {
    await ctx.db.transaction().execute(async (trx) => {
      await bulk.lockUids(trx, [p.uid]);
      const owners = batchItems.map((i) => i.recipientId);
      // The copies and the default calendars; the calendars are locked after the planning, for the writes.
      const targets = await bulk.copiesAndCalendars(trx, owners, p.uid);
      const existing = new Map(targets.copies.map((r) => [r.owner_id, r]));
      const defaults = targets.defaults;
      const preparedByText = new Map<string, PreparedResource>();
      const planned: Planned[] = [];
      const aliasOwners: string[] = [];
      // Recipients without a copy yet, per message: parsed and checked once, one text for all (applyToNewCopies).
      const fresh = new Map<DeliverBatchItem, ApplyResult>();
      const byMessage = new Map<string, DeliverBatchItem[]>();
      for (const item of batchItems) {
        if (existing.has(item.recipientId)) continue;
        const k = `${item.m}\n${item.method}`;
        byMessage.set(k, [...(byMessage.get(k) ?? []), item]);
      }
      for (const items of byMessage.values()) {
        const results = applyToNewCopies({ method: items[0].method, ical: texts[items[0].m]!, sender: p.sender }, items.map((i) => recipients.get(i.recipientId)!.email), { trust: 'trusted' });
        items.forEach((item, n) => fresh.set(item, results[n]));
      }
      for (const item of batchItems) {
        const recipient = recipients.get(item.recipientId)!;
        const ex = existing.get(recipient.id) ?? null;
        const result = fresh.get(item) ?? apply({ method: item.method, ical: texts[item.m]!, sender: p.sender }, ex?.ical ?? null, recipient.email, { trust: 'trusted' });
        if (result.action === 'delete') { single.push(item); continue; }
        if (result.action === 'ignore' || result.action === 'reject' || !result.newText || result.newText === ex?.ical) { skipped++; continue; }
        let prepared = preparedByText.get(result.newText);
        if (!prepared) preparedByText.set(result.newText, (prepared = prepareResource(result.newText)));
        let calendarId = ex?.calendar_id ?? defaults.get(recipient.id)?.id;
        if (!calendarId) calendarId = (await ensureDefaultCalendar({ ...ctx, db: trx }, recipient)).id;
        const name = ex?.name ?? `${encodeURIComponent(prepared.index.uid).slice(0, 200)}.ics`;
        if (ownerUnnamed(prepared, recipient.email)) aliasOwners.push(recipient.id);
        planned.push({ item, recipient, existing: ex, prepared, values: { id: ex?.id ?? randomUUID(), owner_id: recipient.id, calendar_id: calendarId, ...indexValues(prepared, { name, ownerEmail: recipient.email, origin: 'scheduler', actorId: recipient.id, hasAttachments: /^ATTACH[;:]/m.test(prepared.text) }) } });
      }
      if (aliasOwners.length) {
        // An invitation addressed to an alias: the index still has to recognise the owner.
        const aliases = await trx.selectFrom('principal_alias').select(['principal_id', 'email']).where('principal_id', 'in', aliasOwners).execute();
        for (const x of planned) {
          if (!aliasOwners.includes(x.recipient.id)) continue;
          const mine = aliases.filter((a) => a.principal_id === x.recipient.id).map((a) => a.email.toLowerCase());
          x.values = { ...x.values, ...indexValues(x.prepared, { name: x.values.name, ownerEmail: x.recipient.email, origin: 'scheduler', actorId: x.recipient.id, hasAttachments: x.values.has_attachments, ownerAliases: mine }) };
        }
      }
      // Deliveries keep the Schedule-Tag unless the organizer changed something (RFC 6638 §3.2.10).
      for (const x of planned) if (x.existing && x.existing.sequence === x.values.sequence) x.values.schedule_tag = x.existing.schedule_tag;
      if (planned.length && planned.every((x) => !x.existing && !x.values.has_attachments)) {
        // Only new copies (an invitation): copies, reminders and notifications in one statement, then the change logs.
        written = await insertNewCopies(trx, p, planned, defaults, single);
        return;
      }
      const rows = [
        ...(await bulk.updateCopies(trx, planned.filter((x) => x.existing).map((x) => x.values))),
        ...(await bulk.insertCopies(trx, planned.filter((x) => !x.existing).map((x) => x.values))),
      ];
      const byOwner = new Map(rows.map((r) => [r.owner_id, r]));
      // Not written (a name or UID clash in the calendar, or the copy went away): the single path decides.
      for (const x of planned) if (!byOwner.has(x.recipient.id)) single.push(x.item);
      const done = planned.filter((x) => byOwner.has(x.recipient.id));
      // The calendars written to locked (in key order) and their change logs written, last (LOCK_LATE).
      const reminders = await bulk.logCopyChanges(trx, rows.map((r) => ({ owner_id: r.owner_id, calendar_id: r.calendar_id, id: r.id, name: r.name, uid: r.uid })));
      const jobs: JobSpec[] = [];
      const updates: { key: string; spec: JobSpec }[] = [];
      const plans: ReminderPlanRow[] = [];
      const unplanned: ObjectRow[] = [];
      const now = new Date();
      for (const x of done) {
        const row = byOwner.get(x.recipient.id)!;
        // The copy's next reminder (as planReminders does for one write), saved below in one statement.
        const defaults = !isActive(row, x.recipient) || row.has_alarms ? [] : reminders.get(`${row.owner_id}/${row.calendar_id}`) ?? [];
        const next = isActive(row, x.recipient) ? planFiring(x.prepared.compiled, defaults, now, x.recipient.timezone, row.first_start) : null;
        if (next) plans.push(planRow(row, x.recipient.timezone, defaults, next));
        else if (x.existing) unplanned.push(row);
        if (row.has_attachments || x.existing?.has_attachments) await syncAttachmentUses(trx, row, { mode: 'delivery', actorId: null, previousIcal: x.existing?.ical });
        // Notifications, as deliverMessage queues them.
        const base = { recipientId: x.recipient.id, ownerId: x.recipient.id, objectId: row.id, from: p.sender };
        if (x.item.method === 'REQUEST' && (x.item.significant || !x.existing)) {
          const kind = x.existing ? 'update' : 'invitation';
          if (!wantsNotification(x.recipient, kind)) continue;
          if (kind === 'invitation') jobs.push({ name: 'notify', payload: { kind, ...base, previousIcal: null } });
          else updates.push({ key: `notify:update:${x.recipient.id}:${row.id}`, spec: { name: 'notify', payload: { kind, ...base, previousIcal: x.existing!.ical } } });
        } else if (x.item.method === 'CANCEL' && wantsNotification(x.recipient, 'cancellation')) {
          jobs.push({ name: 'notify', payload: { kind: 'cancellation', ...base } });
        }
      }
      await saveReminders(trx, plans);
      for (const row of unplanned) await deleteReminders(trx, row.owner_id, [row.id]);
      await enqueueMany(trx, jobs);
      if (updates.length) await queueCoalescedUpdates(ctx, trx, updates);
      written = done.length;
    });
  }
  // The rest through the full single path (each its own transaction), in the order given.
  for (const item of single) {
    const text = texts[item.m];
    const payload: DeliverPayload = { recipientId: item.recipientId, uid: p.uid, method: item.method, sender: p.sender, significant: item.significant,
      ...(text != null ? { ical: text } : p.messageIds ? { messageId: p.messageIds[item.m], messageOwnerId: p.messageOwnerId } : {}) };
    await deliverMessage(ctx, payload);
  }
  return { written, skipped, single: single.length };
}

/**
 * The batch's tail when every planned copy is new: reminders planned from the default reminders
 * read with the copies, and invitation notifications; one statement (insertCopiesWithJobs) writes
 * the copies and what applies to those actually inserted. Then (LOCK_LATE) one statement locks
 * the calendars and writes the change logs; reminders planned from defaults that changed
 * meanwhile are planned again (the lock is held to commit). A copy not inserted (UID or name clash) goes to `single`. Returns the number written.
 */
async function insertNewCopies(trx: DB, p: DeliverBatchPayload, planned: Planned[], defaults: bulk.CopyTargets['defaults'], single: DeliverBatchItem[]): Promise<number> {
  const now = new Date();
  const plans: ReminderPlanRow[] = [];
  const notes: Partial<Record<'invitation' | 'cancellation', NotifyBatchPayload['items']>> = {};
  const defaultsOf = (v: bulk.CopyValues) => { const d = defaults.get(v.owner_id); return d && d.id === v.calendar_id ? d.default_reminders : []; };
  const planFor = (x: Planned, calendarDefaults: Reminder[]) => {
    const v = x.values;
    const probe = { owner_id: v.owner_id, id: v.id, etag: v.etag, has_alarms: v.has_alarms, status: v.status, my_partstat: v.my_partstat, deleted_at: null };
    const active = isActive(probe, x.recipient);
    const used = !active || v.has_alarms ? [] : calendarDefaults;
    const next = active ? planFiring(x.prepared.compiled, used, now, x.recipient.timezone, v.first_start) : null;
    return { plan: next ? planRow(probe, x.recipient.timezone, used, next) : null };
  };
  for (const x of planned) {
    const { plan } = planFor(x, defaultsOf(x.values));
    if (plan) plans.push(plan);
    const kind = x.item.method === 'REQUEST' ? 'invitation' : x.item.method === 'CANCEL' ? 'cancellation' : null;
    if (kind && wantsNotification(x.recipient, kind)) (notes[kind] ??= []).push({ recipientId: x.recipient.id, ownerId: x.recipient.id, objectId: x.values.id });
  }
  // One notification job per kind for all the copies (sendNotificationBatch), not one per copy.
  const jobs: JobSpec[] = [];
  for (const [kind, items] of Object.entries(notes) as ['invitation' | 'cancellation', NotifyBatchPayload['items']][]) {
    if (items.length === 1) jobs.push({ name: 'notify', payload: { kind, ...items[0], from: p.sender, ...(kind === 'invitation' ? { previousIcal: null } : {}) } });
    else jobs.push({ name: 'notify', payload: { kind, from: p.sender, items } satisfies NotifyBatchPayload, queue: notifyBatchQueue(p.uid) });
  }
  const rows = await bulk.insertCopiesWithJobs(trx, planned.map((x) => x.values), { reminders: plans, jobs });
  const inserted = new Set(rows.map((r) => r.id));
  const done = planned.filter((x) => inserted.has(x.values.id));
  for (const x of planned) if (!inserted.has(x.values.id)) single.push(x.item);
  // The calendars locked and the change logs written (LOCK_LATE), with the default reminders read under the lock.
  const locked = await bulk.logCopyChanges(trx, done.map((x) => ({ owner_id: x.values.owner_id, calendar_id: x.values.calendar_id, id: x.values.id, name: x.values.name, uid: x.values.uid })));
  // Default reminders changed since they were read (or a calendar made just now has some): plan again.
  const again = done.filter((x) => !x.values.has_alarms && JSON.stringify(locked.get(`${x.values.owner_id}/${x.values.calendar_id}`) ?? []) !== JSON.stringify(defaultsOf(x.values)));
  if (again.length) {
    for (const x of again) await deleteReminders(trx, x.values.owner_id, [x.values.id]);
    await saveReminders(trx, again.map((x) => planFor(x, locked.get(`${x.values.owner_id}/${x.values.calendar_id}`) ?? []).plan).filter((r): r is ReminderPlanRow => !!r));
  }
  return done.length;
}

/**
 * Update notifications are coalesced per (recipient, event) as notifyJob does: the pending job's
 * payload is replaced but its run time and its oldest "previous" version are kept, so the mail
 * shows old → newest. One read of the pending payloads, one add_jobs for all.
 */
async function queueCoalescedUpdates(ctx: AppContext, db: DB, updates: { key: string; spec: JobSpec }[]): Promise<void> {
  const keys = updates.map((u) => u.key);
  // (graphile-worker's public `jobs` view has no payload column; _private_jobs is its table.)
  const pending = await sql<{ key: string; payload: { previousIcal?: string | null } }>`select key, payload from graphile_worker._private_jobs where key = any(${keys}::text[]) and locked_at is null`.execute(db);
  const previous = new Map(pending.rows.map((r) => [r.key, r.payload?.previousIcal]));
  const runAt = new Date(Date.now() + ctx.config.notifyCoalesceSeconds * 1000).toISOString();
  const specs = updates.map((u) => {
    const payload = u.spec.payload as { previousIcal?: string | null };
    const prev = previous.has(u.key) ? previous.get(u.key) : payload.previousIcal;
    return { identifier: 'notify', payload: { ...payload, previousIcal: prev ?? null }, queue_name: null, run_at: runAt, max_attempts: 25, job_key: u.key, priority: 0, flags: null };
  });
  await sql`select 1 from graphile_worker.add_jobs(
    array(select json_populate_record(null::graphile_worker.job_spec, x) from json_array_elements(${JSON.stringify(specs)}::json) x),
    true
  )`.execute(db);
}
