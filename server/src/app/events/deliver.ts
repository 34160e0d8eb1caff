/**
 * Internal delivery of an iTIP message to a calendar user's own copy (RFC 6638 §3.2 semantics,
 * applied by lib/itip). Runs as the single-recipient 'schedule-deliver' job (rooms, replies,
 * deletions; one ordered queue per UID — the internal copies of a write go batched, deliver-batch.ts).
 * The same function applies iTIP arriving by e-mail (mail intake) with a trust decision.
 */
import { sql } from 'kysely';
import type { AppContext } from '../context.js';
import type { DB } from '../../store/db.js';
import type { Actor } from '../../domain/actor.js';
import * as objects from '../../store/objects.js';
import * as principals from '../../store/principals.js';
import type { ObjectRow, PrincipalRow } from '../../store/schema.js';
import { apply, type ApplyResult } from '../../lib/itip/index.js';
import { compileResource } from '../../lib/ical/index.js';
import { expandCompiled } from '../../lib/ical/expand.js';
import type { Occurrence } from '../../lib/ical/index.js';
import { EXPAND_AHEAD_MS, MAX_PER_SERIES } from './expansions.js';
import type { Period } from './busy-periods.js';
import { ensureDefaultCalendar } from '../calendars.js';
import { lockUid, saveObject, trashObjectWithScheduling } from './write.js';
import { busyOf } from './freebusy.js';
import { setPartstat } from './ical-edits.js';
import { enqueue, type JobSpec } from '../../jobs/queue.js';
import type { DeliverPayload } from './scheduling.js';
import { loadMessage } from '../../store/itip-messages.js';
import { registeredChannels, wantsChannel, type NotificationKind } from '../notify/channels.js';

/** Runs fn in a transaction: the caller's when ctx.db already is one (mail intake applies a backlog in one), else a new one. */
function inTransaction<T>(db: DB, fn: (trx: DB) => Promise<T>): Promise<T> {
  return db.isTransaction ? fn(db) : db.transaction().execute(fn);
}

export interface DeliveryOutcome { result: ApplyResult; row: ObjectRow | null }

const schedulerActor = (recipient: PrincipalRow): Actor => ({ userId: recipient.id, email: recipient.email, via: 'scheduler' });

/**
 * Notification jobs queued in this transaction are collected in `into` instead of one add_job
 * each; the caller queues them all with one statement before it commits (mail intake's batch).
 * Coalesced update notifications are not collected (they replace a pending job by key).
 */
const deferred = new WeakMap<object, JobSpec[]>();
export function deferNotifyJobs(trx: DB, into: JobSpec[]): void {
  deferred.set(trx, into);
}

export async function notifyJob(ctx: AppContext, db: AppContext['db'], p: { kind: 'invitation' | 'update' | 'cancellation' | 'reply' | 'counter' | 'counter-declined' | 'delivery-failed'; recipientId: string; ownerId: string; objectId: string; from?: string; previousIcal?: string | null; partstat?: string; comment?: string; counter?: unknown; declined?: unknown; failure?: unknown }) {
  if (p.kind !== 'update') {
    const into = deferred.get(db);
    if (into) { into.push({ name: 'notify', payload: p }); return; }
    return enqueue(db, 'notify', p);
  }
  // Updates are coalesced (one mail per window). The payload of the pending job is replaced, so
  // carry the oldest "previous" version forward: the mail then shows old → newest.
  const key = `notify:update:${p.recipientId}:${p.objectId}`;
  // (graphile-worker's public `jobs` view has no payload column; _private_jobs is its table.)
  const pending = await sql<{ payload: { previousIcal?: string | null } }>`select payload from graphile_worker._private_jobs where key = ${key} and locked_at is null`.execute(db);
  const previousIcal = pending.rows[0]?.payload?.previousIcal ?? p.previousIcal;
  await enqueue(db, 'notify', { ...p, previousIcal }, { jobKey: key, jobKeyMode: 'preserve_run_at', runAt: new Date(Date.now() + ctx.config.notifyCoalesceSeconds * 1000) });
}

/** False when the user's notification settings turn this kind off on every channel (then no job is queued). */
export function wantsNotification(user: PrincipalRow, kind: NotificationKind): boolean {
  if (user.kind !== 'user') return false;
  const names = new Set(['email', 'messenger', ...registeredChannels().map((c) => c.name)]);
  return [...names].some((c) => wantsChannel(user, kind, c));
}

export interface DeliverOptions {
  trust?: 'enforce' | 'trusted';
  acceptPartyCrashers?: boolean;
  recipientAddress?: string;
  /** The recipient, its current copy of the UID (null: none) and its default calendar, when the caller just read them. */
  known?: { recipient: PrincipalRow; existing: ObjectRow | null; defaultCalendarId?: string | null };
  /** The recipient's aliases (lower-case), passed on to the write path. */
  ownerAliases?: readonly string[];
  /** The caller's transaction already holds the UID's lock (mail intake's batch locks its UIDs up front). */
  uidLocked?: boolean;
  /**
   * Runs inside the write transaction, after the object and its notification job: a caller's own
   * record of the outcome (mail intake's decision log) commits with the calendar change.
   */
  beforeCommit?: (trx: DB, out: DeliveryOutcome) => Promise<void>;
}

export async function deliverMessage(ctx: AppContext, payload: DeliverPayload, opts: DeliverOptions = {}): Promise<DeliveryOutcome> {
  const recipient = opts.known?.recipient ?? await principals.findPrincipalById(ctx.db, payload.recipientId);
  if (!recipient || recipient.disabled) return { result: { action: 'ignore', code: 'UNKNOWN_UID', reason: 'The recipient no longer exists or is disabled' }, row: null };
  const ical = payload.ical ?? (payload.messageId && payload.messageOwnerId ? await loadMessage(ctx.db, payload.messageOwnerId, payload.messageId) : null);
  if (ical == null) return { result: { action: 'ignore', code: 'UNKNOWN_UID', reason: 'The message is no longer stored' }, row: null };
  const read = opts.known ? opts.known.existing ?? undefined : await objects.findByUid(ctx.db, recipient.id, payload.uid);
  const applyTo = (existing: ObjectRow | undefined) =>
    apply({ method: payload.method, ical, sender: payload.sender }, existing?.ical ?? null, opts.recipientAddress ?? recipient.email, { trust: opts.trust ?? 'trusted', acceptPartyCrashers: opts.acceptPartyCrashers });
  const actor = schedulerActor(recipient);
  const isWrite = (r: ApplyResult) => !(r.action === 'ignore' || r.action === 'reject' || !r.newText);
  /** What to do when the message changes nothing (or deletes the copy). */
  const settle = async (result: ApplyResult, existing: ObjectRow | undefined): Promise<DeliveryOutcome> => {
    if (result.action === 'delete' && existing) {
      await trashObjectWithScheduling(ctx, actor, recipient.id, existing.id, { schedule: false });
      return { result, row: null };
    }
    return { result, row: existing ?? null };
  };
  const first = applyTo(read);
  if (!isWrite(first)) return settle(await finishRoomAnswer(ctx, recipient, payload, first, read, opts), read);
  const isReply = payload.method === 'REPLY';
  const out = await inTransaction(ctx.db, async (trx): Promise<{ settled: ApplyResult; existing: ObjectRow | undefined } | { row: ObjectRow; result: ApplyResult }> => {
    let result = first;
    let existing = read;
    if (!opts.uidLocked) {
      // Read-modify-write under the UID lock (all writes to a UID are serialised): the copy read
      // above may have changed since — the attendee answered, say — and merging the message into
      // that stale text would undo the change (a lost update). Re-read and merge again if so.
      await lockUid(trx, payload.uid);
      const now = (await objects.findByUid(trx, recipient.id, payload.uid)) ?? undefined;
      if ((now?.etag ?? null) !== (existing?.etag ?? null)) {
        existing = now;
        result = applyTo(existing);
        if (!isWrite(result)) return { settled: result, existing };
      }
    }
    // A room's copy and answer are written under the room's lock, taken before the copy (locks in
    // the order UID, room, then the rows the save touches — as finishRoomAnswer takes them).
    if (recipient.kind === 'room' && payload.method === 'REQUEST') await lockRoom(trx, recipient.id);
    const calendarId = existing?.calendar_id ?? opts.known?.defaultCalendarId ?? (await ensureDefaultCalendar({ ...ctx, db: trx }, recipient)).id;
    // A REPLY changes the organizer's copy: plan again so other attendees see the answer.
    let { row } = await saveObject(ctx, actor, { ownerId: recipient.id, calendarId, existingId: existing?.id, ical: result.newText!, schedule: isReply, ...(opts.ownerAliases ? { ownerAliases: opts.ownerAliases } : {}), uidLocked: true }, trx);
    if (recipient.kind === 'user') {
      if (isReply && result.reply) {
        if (wantsNotification(recipient, 'reply')) await notifyJob(ctx, trx, { kind: 'reply', recipientId: recipient.id, ownerId: recipient.id, objectId: row.id, from: result.reply.attendee, partstat: result.reply.partstat, ...(result.reply.comment ? { comment: result.reply.comment } : {}) });
      } else if (payload.method === 'REQUEST' && (payload.significant || !existing)) {
        if (wantsNotification(recipient, existing ? 'update' : 'invitation')) await notifyJob(ctx, trx, { kind: existing ? 'update' : 'invitation', recipientId: recipient.id, ownerId: recipient.id, objectId: row.id, from: payload.sender, previousIcal: existing?.ical ?? null });
      } else if (payload.method === 'CANCEL') {
        if (wantsNotification(recipient, 'cancellation')) await notifyJob(ctx, trx, { kind: 'cancellation', recipientId: recipient.id, ownerId: recipient.id, objectId: row.id, from: payload.sender });
      }
    }
    if (recipient.kind === 'room' && payload.method === 'REQUEST' && row.status !== 'CANCELLED') {
      // The room's answer commits with its copy (same transaction, under the UID and room locks
      // held here): a worker that dies between the two leaves
      // neither, and the retried job delivers and answers again. Before this, the answer ran in
      // a transaction of its own after the copy committed; a crash in between left the room
      // NEEDS-ACTION for ever, since the retry saw its message as already applied.
      await deliverTestHooks.beforeRoomDecision?.();
      row = await roomDecision(ctx, trx, recipient, row.id) ?? row;
    }
    if (opts.beforeCommit) await opts.beforeCommit(trx, { result, row });
    return { row, result };
  });
  if ('settled' in out) return settle(await finishRoomAnswer(ctx, recipient, payload, out.settled, out.existing, opts), out.existing);
  return { result: out.result, row: out.row };
}

/** Test seams of the delivery (no effect unless a test sets them). */
export const deliverTestHooks: { beforeRoomDecision?: () => void | Promise<void> } = {};

/**
 * A REQUEST to a room that changes nothing (a retried or repeated delivery) still finishes an
 * undecided answer: a copy left NEEDS-ACTION under an automatic policy — by a delivery that
 * committed its copy and not its answer (before the two shared a transaction) — is decided now.
 */
async function finishRoomAnswer(ctx: AppContext, room: PrincipalRow, payload: DeliverPayload, result: ApplyResult, existing: ObjectRow | undefined, opts: DeliverOptions): Promise<ApplyResult> {
  if (room.kind !== 'room' || payload.method !== 'REQUEST' || !existing || result.action === 'delete') return result;
  if ((room.room_auto_accept ?? 'accept-if-free') === 'manual') return result;
  if (existing.role !== 'attendee' || existing.status === 'CANCELLED' || (existing.my_partstat ?? 'NEEDS-ACTION') !== 'NEEDS-ACTION') return result;
  await inTransaction(ctx.db, async (trx) => {
    if (!opts.uidLocked) await lockUid(trx, existing.uid);
    await roomDecision(ctx, trx, room, existing.id);
  });
  return result;
}

/**
 * Rooms answer by policy (room_auto_accept): 'accept-if-free' accepts when no occurrence of the
 * booking overlaps busy time of the room, else declines; 'always' accepts; 'manual' leaves the
 * answer to a person (someone acting as the room: an administrator can issue an API token for
 * the room, POST /tokens with its userId, and answer with POST /events/:id/respond).
 *
 * Runs in the caller's transaction, which holds the booking's UID lock (locks are always taken
 * UID first, then room, then rows: the delivery takes the room's lock before saving the copy).
 * The per-room advisory lock makes check-and-accept atomic: two bookings of one room are decided
 * one after the other, the second seeing the first's answer — no double booking. Returns the
 * saved copy (undefined: nothing changed).
 *
 * Recurring bookings: the whole series is declined if any occurrence within the horizon
 * conflicts (like Exchange's resource booking with its defaults, Set-CalendarProcessing
 * MaximumConflictInstances = 0 and ConflictPercentageAllowed = 0). The horizon is the one the
 * server expands series to elsewhere (EXPAND_AHEAD_MS, two years, past the later of today and the
 * booking's start), and at most MAX_PER_SERIES occurrences. Occurrences after it are not checked
 * now; a booking arriving later for such a time is checked against the accepted series (busy
 * time expands it for any range), so it is the later booking that gets declined.
 */
async function roomDecision(ctx: AppContext, trx: DB, room: PrincipalRow, objectId: string): Promise<ObjectRow | undefined> {
  const policy = room.room_auto_accept ?? 'accept-if-free';
  if (policy === 'manual') return undefined;
  await lockRoom(trx, room.id);
  const current = await objects.findObject(trx, room.id, objectId, { forUpdate: true });
  if (!current || current.role !== 'attendee' || current.status === 'CANCELLED') return undefined;
  let partstat = 'ACCEPTED';
  if (policy === 'accept-if-free') {
    const occs = occurrencesToCheck(room, current).filter((o) => o.status !== 'CANCELLED' && o.end > o.start);
    if (occs.length) {
      const busy = await busyOf({ ...ctx, db: trx }, room, occs[0].start, new Date(Math.max(...occs.map((o) => o.end.getTime()))), current.uid);
      if (anyOverlap(occs, busy)) partstat = 'DECLINED';
    }
  }
  if (current.my_partstat === partstat) return undefined;
  const text = setPartstat(current.ical, room.email, partstat);
  return (await saveObject(ctx, schedulerActor(room), { ownerId: room.id, calendarId: current.calendar_id, existingId: current.id, ical: text, schedule: true, uidLocked: true }, trx)).row;
}

/**
 * Answers a room's bookings that wait for an answer (NEEDS-ACTION, not cancelled, not over), by
 * the room's policy now — after the room was switched from 'manual' to an automatic one. One
 * booking at a time in start order, each under its UID lock then the room's lock, as a delivery
 * decides: the earlier booking wins a conflict.
 */
export async function decidePendingRoomBookings(ctx: AppContext, roomId: string): Promise<number> {
  const room = await principals.findPrincipalById(ctx.db, roomId);
  if (!room || room.kind !== 'room' || (room.room_auto_accept ?? 'accept-if-free') === 'manual') return 0;
  const pending = await ctx.db.selectFrom('calendar_object').select(['id', 'uid']).where('owner_id', '=', room.id).where('deleted_at', 'is', null)
    .where('role', '=', 'attendee').where('my_partstat', '=', 'NEEDS-ACTION').where(objects.rangeBounds(new Date(), null))
    .where((eb) => eb.or([eb('status', 'is', null), eb('status', '!=', 'CANCELLED')])).orderBy('first_start').execute();
  let decided = 0;
  for (const p of pending) {
    const saved = await inTransaction(ctx.db, async (trx) => {
      await lockUid(trx, p.uid);
      return roomDecision(ctx, trx, room, p.id);
    });
    if (saved) decided++;
  }
  return decided;
}

/** The per-room lock of roomDecision (a transaction-level advisory lock; taking it again is free). */
async function lockRoom(trx: DB, roomId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${'room:' + roomId}, 0))`.execute(trx);
}

/** The booking's occurrences the room checks (see roomDecision: the horizon), sorted by start. */
function occurrencesToCheck(room: PrincipalRow, row: ObjectRow): Occurrence[] {
  // The horizon counts from the event's own start (a meeting booked far ahead is checked too).
  // A floating event (RFC 5545 §3.3.5) happens at its wall time in the room's zone (where its
  // busy time is read too): its index columns are that wall time read as UTC, so the window is
  // widened by the largest zone offset and the event expanded in the room's zone.
  const margin = row.floating ? objects.FLOAT_MARGIN_MS : 0;
  const from = new Date(Math.max(Date.now() - 86_400_000, (row.first_start?.getTime() ?? Date.now()) - margin));
  const horizon = new Date(from.getTime() + EXPAND_AHEAD_MS);
  const until = row.last_end ? new Date(row.last_end.getTime() + margin) : null;
  return expandCompiled(compileResource(row.ical), from, until && until < horizon ? until : horizon, { limit: MAX_PER_SERIES, ...(row.floating ? { defaultTz: room.timezone } : {}) })
    .sort((a, b) => a.start.getTime() - b.start.getTime());
}

/**
 * Whether an occurrence overlaps a firm busy period (BUSY-TENTATIVE does not block a room).
 * The periods are merged and sorted (busyOf), so each occurrence needs one binary search.
 */
export function anyOverlap(occs: readonly { start: Date; end: Date }[], busy: readonly Period[]): boolean {
  const firm = busy.filter((b) => b.type !== 'BUSY-TENTATIVE');
  for (const o of occs) {
    const s = o.start.getTime();
    const e = o.end.getTime();
    // The first period ending after the occurrence starts (ends are sorted: periods don't overlap).
    let lo = 0;
    let hi = firm.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (firm[mid].end <= s) lo = mid + 1;
      else hi = mid;
    }
    if (lo < firm.length && firm[lo].start < e) return true;
  }
  return false;
}
