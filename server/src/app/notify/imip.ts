/**
 * iMIP (RFC 6047) to external attendees and organizers: the 'imip-send' job.
 * - Message-ID is derived from the stable deliveryId, and the delivery log is checked first, so a
 *   retried job never sends twice (a crash between the SMTP "250" and the log write can duplicate;
 *   the duplicate carries the same Message-ID).
 * - Every zone the calendar references gets a VTIMEZONE (RFC 5546 §3.1; Outlook needs it).
 * - Temporary failures throw: the queue retries with exponential back-off. Permanent ones set
 *   SCHEDULE-STATUS 5.1 on the organizer's copy (RFC 6638 §7.3) and tell the organizer.
 */
import ICAL from 'ical.js';
import type { AppContext } from '../context.js';
import type { PrincipalRow } from '../../store/schema.js';
import * as principals from '../../store/principals.js';
import * as objects from '../../store/objects.js';
import { composeImip, isPermanentMailError } from '../../integrations/mail/index.js';
import { attachTimezones, indexResource, referencedTzids, type ResourceIndex } from '../../lib/ical/index.js';
import { normalizeAddress, plan, setScheduleStatus } from '../../lib/itip/index.js';
import { parseCalendar, schedulable, serialize } from '../../lib/itip/model.js';
import { messageStamp, type ImipBatchPayload, type ImipPayload, type ImipRecipient } from '../events/scheduling.js';
import { mailer, mailDomain } from './mailer.js';
import { WeightedLru } from '../../lib/weighted-lru.js';
import { lockUid } from '../events/write.js';
import { etagOf } from '../events/resource.js';
import { alreadySent, alreadySentMany, recordDelivery, type DeliveryEntry } from '../../store/mail.js';
import { DeliveryLogBuffer } from './delivery-log-buffer.js';
import { loadMessage } from '../../store/itip-messages.js';
import { enqueue } from '../../jobs/queue.js';
import { eventUrl, type NotifyPayload } from './notifications.js';
import { withSignedAttachments } from '../attachments.js';

/**
 * Adds the VTIMEZONE of every TZID used (canonical data when the calendar lacks one). A label
 * such as "(GMT +01:00)" that names no zone gets a fixed-offset VTIMEZONE under that label, so
 * the message still satisfies RFC 5546 §3.1 and the receiver sees the right time.
 */
export function withTimezones(ical: string): string {
  try {
    const cal = new ICAL.Component(ICAL.parse(ical) as never);
    const before = cal.getAllSubcomponents('vtimezone').length;
    attachTimezones(cal, [], true);
    const have = new Set(cal.getAllSubcomponents('vtimezone').map((z) => String(z.getFirstPropertyValue('tzid'))));
    for (const tzid of referencedTzids(cal)) {
      if (have.has(tzid)) continue;
      const m = /(?:GMT|UTC)\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?/i.exec(tzid) ?? (/^\(?\s*(?:GMT|UTC)\s*\)?/i.test(tzid) ? ['', '+', '0', '0'] : null);
      if (!m) continue;
      const off = `${m[1]}${m[2].padStart(2, '0')}${(m[3] ?? '00').padStart(2, '0')}`;
      cal.addSubcomponent(new ICAL.Component(ICAL.parse(['BEGIN:VTIMEZONE', `TZID:${tzid}`, 'BEGIN:STANDARD', 'DTSTART:19700101T000000', `TZOFFSETFROM:${off}`, `TZOFFSETTO:${off}`,
        'END:STANDARD', 'END:VTIMEZONE'].join('\r\n')) as never));
      have.add(tzid);
    }
    if (cal.getAllSubcomponents('vtimezone').length === before) return ical;
    return cal.toString().replace(/\r?\n/g, '\r\n');
  } catch {
    return ical;
  }
}

export function imipMessageId(ctx: AppContext, deliveryId: string): string {
  return `<imip.${deliveryId}@${mailDomain(ctx)}>`;
}

export type ImipOutcome = 'sent' | 'already-sent' | 'failed' | 'skipped';

/**
 * A fan-out sends the same iCalendar text to every attendee: its index and its VTIMEZONE-complete
 * form are computed once per text (a few recent texts are kept).
 */
const prepared = new Map<string, { ix: ResourceIndex | null; ical: string; at: number; ctx: AppContext }>();
function prepare(ctx: AppContext, text: string) {
  let v = prepared.get(text);
  // The signed attachment links in the text expire: a prepared text is reused for an hour at most.
  if (v && v.ctx === ctx && Date.now() - v.at < 3600_000) return v;
  let ix: ResourceIndex | null;
  try { ix = indexResource(text); } catch { ix = null; }
  // iMIP goes only to external addresses (internal ones get their copy delivered), who cannot
  // sign in: managed attachments go out as signed, expiring links.
  v = { ix, ical: withSignedAttachments(ctx, withTimezones(text)), at: Date.now(), ctx };
  if (prepared.size >= 32) prepared.delete(prepared.keys().next().value!);
  prepared.set(text, v);
  return v;
}

/** Senders change rarely; a fan-out looks the same one up for every message. */
const owners = new Map<string, { at: number; row: Promise<PrincipalRow | undefined> }>();
function ownerOf(ctx: AppContext, id: string) {
  const hit = owners.get(id);
  if (hit && Date.now() - hit.at < 5000) return hit.row;
  const row = principals.findPrincipalById(ctx.db, id);
  if (owners.size > 1000) owners.clear();
  owners.set(id, { at: Date.now(), row });
  row.catch(() => owners.delete(id));
  return row;
}

/**
 * `attempt` is the job's attempt number: on the first attempt of a job nothing can have been
 * sent for its deliveryId yet, so the delivery-log check is skipped (a job taken by a worker
 * that crashed runs again with a higher attempt number and is checked).
 */
export async function sendImip(ctx: AppContext, p: ImipPayload, attempt?: number): Promise<ImipOutcome> {
  const [owner, sent] = await Promise.all([ownerOf(ctx, p.ownerId), attempt === 1 ? false : alreadySent(ctx.db, 'imip', p.deliveryId, p.ownerId)]);
  if (!owner) return 'skipped';
  const recipient = p.recipient.toLowerCase();
  const log = { ownerId: owner.id, channel: 'imip', kind: `imip-${p.method.toLowerCase()}`, deliveryKey: p.deliveryId, recipient, uid: p.uid, method: p.method, messageId: imipMessageId(ctx, p.deliveryId) };
  if (sent) return 'already-sent';
  const text = p.current ? await currentRequest(ctx, owner, p) : p.ical ?? (p.messageId ? await loadMessage(ctx.db, p.ownerId, p.messageId) : null);
  if (text == null) {
    if (!p.current) ctx.log.warn({ uid: p.uid, to: p.recipient, messageId: p.messageId }, 'iMIP message no longer stored; not sent');
    return 'skipped';
  }
  const options = imipOptions(ctx, p, owner, text, p);
  try {
    const r = await mailer(ctx).send(options);
    if (r.rejected?.length) {
      const why = r.rejectedErrors?.[0]?.response ?? 'recipient refused';
      await recordDelivery(ctx.db, { ...log, status: 'failed', response: why });
      await permanentFailure(ctx, p, owner.id, null, why);
      return 'failed';
    }
    await recordDelivery(ctx.db, { ...log, status: 'sent', response: r.response });
    if (p.method === 'REQUEST' || p.method === 'CANCEL') await markStatus(ctx, p, '1.1');
    return 'sent';
  } catch (e) {
    const why = (e as Error).message ?? String(e);
    if (isPermanentMailError(e)) {
      await recordDelivery(ctx.db, { ...log, status: 'failed', response: why });
      await permanentFailure(ctx, p, owner.id, null, why);
      ctx.log.warn({ uid: p.uid, to: p.recipient, err: why }, 'iMIP delivery failed permanently');
      return 'failed';
    }
    await recordDelivery(ctx.db, { ...log, status: 'retrying', response: why });
    throw e; // temporary: the queue retries with back-off
  }
}

/**
 * The REQUEST a coalesced update sends: the organizer's copy as it is now, as RFC 5546 §3.2.2
 * has the organizer send it to this attendee (only the instances they are invited to, the
 * current SEQUENCE, a fresh DTSTAMP). Null when there is nothing to send any more: the event
 * was deleted or cancelled (its CANCEL went out at once) or the recipient is no longer invited.
 */
async function currentRequest(ctx: AppContext, owner: PrincipalRow, p: ImipPayload): Promise<string | null> {
  const row = await objects.findByUid(ctx.db, owner.id, p.uid);
  if (!row || row.status === 'CANCELLED' || row.role !== 'organizer') return null;
  // Every coalesced job of one update plans the same version: plan it once per etag, not once per
  // recipient (a 1,000-attendee meeting would otherwise plan 1,000 × 1,000 messages).
  let cached = currentRequests.get(row.etag, true);
  if (!cached) {
    const planned = plan({ oldText: null, newText: row.ical, actorEmail: owner.email, isOrganizerCopy: true, now: messageStamp(row.ical) });
    // Recipients invited to the same instances get the same text: one copy of each is kept.
    const texts = new Map<string, string>();
    const byRecipient = new Map<string, string>();
    for (const m of planned.messages) {
      if (m.method !== 'REQUEST') continue;
      if (!texts.has(m.ical)) texts.set(m.ical, m.ical);
      byRecipient.set(normalizeAddress(m.recipient), texts.get(m.ical)!);
    }
    cached = { byRecipient, chars: [...texts.keys()].reduce((n, t) => n + t.length, 0) };
    currentRequests.set(row.etag, cached);
  }
  return cached.byRecipient.get(normalizeAddress(p.recipient)) ?? null;
}

/** REQUEST texts per recipient of recently planned organizer versions (by etag), bounded by characters held. */
const currentRequests = new WeightedLru<string, { byRecipient: Map<string, string>; chars: number }>(8_000_000, (e) => e.chars + e.byRecipient.size * 64);

/** The mail of one recipient (its own Message-ID from its deliveryId; the text prepared once). */
function imipOptions(ctx: AppContext, p: Omit<ImipPayload, 'recipient' | 'recipientCn' | 'deliveryId'>, owner: PrincipalRow, text: string, r: ImipRecipient) {
  const { ix, ical } = prepare(ctx, text);
  const options = composeImip({
    method: p.method as never, ical,
    from: { email: ctx.config.mailFrom, name: owner.name || owner.email }, replyTo: { email: owner.email, name: owner.name || undefined },
    envelopeFrom: ctx.config.mailFrom,
    to: [{ email: r.recipient, name: r.recipientCn }], lang: owner.language, timezone: owner.timezone,
    messageId: `imip.${r.deliveryId}@${mailDomain(ctx)}`, threadId: `${p.uid}@${mailDomain(ctx)}`,
    summary: ix?.summary ?? '', start: ix?.firstStart ?? new Date(), end: ix?.lastEnd ?? undefined, allDay: ix?.allDay,
    location: ix?.location ?? undefined, organizerName: owner.name || owner.email, attendeeName: owner.name || owner.email,
  });
  // The ORGANIZER/attendee address is the user's own; Sender tells MUAs who sent it on their behalf.
  options.from = { address: owner.email, name: owner.name || owner.email };
  options.sender = ctx.config.mailFrom;
  return options;
}

/** Delivery-log rows of a batch are written in groups of this many while it sends. */
const IMIP_LOG_GROUP = 10;

/** Messages of one batch job in flight at a time (the pooled transport and per-domain limits queue the rest). */
export const IMIP_BATCH_CONCURRENCY = 8;

/** The 'imip-send' job: a batch payload (`recipients`) or the single-recipient one. */
export async function runImipJob(ctx: AppContext, p: ImipPayload | ImipBatchPayload, attempt?: number): Promise<ImipOutcome[]> {
  if ('recipients' in p && Array.isArray(p.recipients)) return sendImipBatch(ctx, p, attempt);
  return [await sendImip(ctx, p as ImipPayload, attempt)];
}

/**
 * Delivers one stored message to several external recipients, up to IMIP_BATCH_CONCURRENCY at a
 * time over the pooled transport. Per recipient, as sendImip: the delivery log is checked first
 * (on a retry), the Message-ID comes from its own deliveryId, the attempt is logged. The log rows
 * are written while the batch runs (DeliveryLogBuffer: a crash re-sends only the unlogged tail);
 * the SCHEDULE-STATUS write-back of the whole batch is one statement. When some
 * recipient failed temporarily the job throws after logging: the retry skips every recipient
 * already sent or permanently failed.
 */
export async function sendImipBatch(ctx: AppContext, p: ImipBatchPayload, attempt?: number): Promise<ImipOutcome[]> {
  const keys = p.recipients.map((r) => r.deliveryId);
  const [owner, sent] = await Promise.all([ownerOf(ctx, p.ownerId), attempt === 1 ? new Set<string>() : alreadySentMany(ctx.db, 'imip', keys, [p.ownerId])]);
  if (!owner) return p.recipients.map(() => 'skipped');
  const outcomes: ImipOutcome[] = p.recipients.map((r) => (sent.has(r.deliveryId) ? 'already-sent' : 'skipped'));
  const todo = p.recipients.map((r, i) => ({ r, i })).filter(({ r }) => !sent.has(r.deliveryId));
  if (!todo.length) return outcomes;
  const text = p.ical ?? (p.messageId ? await loadMessage(ctx.db, p.ownerId, p.messageId) : null);
  if (text == null) {
    ctx.log.warn({ uid: p.uid, to: todo.map(({ r }) => r.recipient), messageId: p.messageId }, 'iMIP message no longer stored; not sent');
    return outcomes;
  }
  const logs: DeliveryEntry[] = [];
  const logBuffer = new DeliveryLogBuffer(ctx.db, IMIP_LOG_GROUP);
  const log = (e: DeliveryEntry) => { logs.push(e); logBuffer.push(e); };
  const failures: { recipient: string; why: string }[] = [];
  let temporary: unknown = null;
  const entry = (r: ImipRecipient) => ({ ownerId: owner.id, channel: 'imip', kind: `imip-${p.method.toLowerCase()}`, deliveryKey: r.deliveryId, recipient: r.recipient.toLowerCase(), uid: p.uid, method: p.method, messageId: imipMessageId(ctx, r.deliveryId) });
  let next = 0;
  const worker = async () => {
    for (let k = next++; k < todo.length; k = next++) {
      const { r, i } = todo[k];
      try {
        const res = await mailer(ctx).send(imipOptions(ctx, p, owner, text, r));
        if (res.rejected?.length) {
          const why = res.rejectedErrors?.[0]?.response ?? 'recipient refused';
          log({ ...entry(r), status: 'failed', response: why });
          failures.push({ recipient: r.recipient, why });
          outcomes[i] = 'failed';
        } else {
          log({ ...entry(r), status: 'sent', response: res.response });
          outcomes[i] = 'sent';
        }
      } catch (e) {
        const why = (e as Error).message ?? String(e);
        if (isPermanentMailError(e)) {
          log({ ...entry(r), status: 'failed', response: why });
          failures.push({ recipient: r.recipient, why });
          outcomes[i] = 'failed';
          ctx.log.warn({ uid: p.uid, to: r.recipient, err: why }, 'iMIP delivery failed permanently');
        } else {
          log({ ...entry(r), status: 'retrying', response: why });
          temporary ??= e;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(IMIP_BATCH_CONCURRENCY, todo.length) }, worker));
  await logBuffer.close();
  const statuses = new Map<string, string>();
  if (p.method === 'REQUEST' || p.method === 'CANCEL') for (const l of logs) if (l.status === 'sent') statuses.set(l.recipient, '1.1');
  for (const f of failures) statuses.set(f.recipient.toLowerCase(), '5.1');
  if (statuses.size) await markStatuses(ctx, p, statuses);
  if (failures.length) {
    const row = await objects.findByUid(ctx.db, owner.id, p.uid);
    if (row) {
      for (const f of failures) {
        const payload: NotifyPayload = { kind: 'delivery-failed', recipientId: owner.id, ownerId: owner.id, objectId: row.id, failure: { recipient: f.recipient, status: '5.1', response: f.why } };
        await enqueue(ctx.db, 'notify', payload);
      }
    }
  }
  if (temporary) throw temporary; // temporary: the queue retries with back-off; sent ones are skipped then
  return outcomes;
}

/** SCHEDULE-STATUS 5.1 on the organizer's copy and a 'delivery-failed' notification to its owner. */
export async function permanentFailure(ctx: AppContext, p: { ownerId: string; uid: string; method: string; recipient: string }, ownerId: string, objectId: string | null, why: string, status = '5.1') {
  await markStatus(ctx, p, status);
  const row = objectId ? { id: objectId } : await objects.findByUid(ctx.db, ownerId, p.uid);
  if (!row) return;
  const payload: NotifyPayload = { kind: 'delivery-failed', recipientId: ownerId, ownerId, objectId: row.id, failure: { recipient: p.recipient, status, response: why } };
  await enqueue(ctx.db, 'notify', payload);
}

/**
 * Writes SCHEDULE-STATUS for the attendee back onto the organizer's copy (RFC 6638 §7.3).
 * Concurrent deliveries of one event are group-committed: while one write of the organizer's
 * copy runs, the statuses that arrive meanwhile are collected and written together by the next
 * one (a 1,000-attendee fan-out rewrites the event a few dozen times, not 1,000 times). Each
 * caller still waits until its own status is stored.
 */
export function markStatus(ctx: AppContext, p: { ownerId: string; uid: string; method: string; recipient: string }, status: string): Promise<void> {
  return markStatuses(ctx, p, new Map([[p.recipient.toLowerCase(), status]]));
}

/** markStatus for several attendees of one event (a batch job): written together. */
export function markStatuses(ctx: AppContext, p: { ownerId: string; uid: string; method: string }, statuses: Map<string, string>): Promise<void> {
  if (p.method !== 'REQUEST' && p.method !== 'CANCEL' && p.method !== 'ADD') return Promise.resolve();
  const key = `${p.ownerId}\n${p.uid}`;
  let s = statusWrites.get(key);
  if (!s) statusWrites.set(key, (s = { running: false, next: null }));
  if (!s.next) {
    let resolve!: () => void, reject!: (e: unknown) => void;
    const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
    s.next = { statuses: new Map(), promise, resolve, reject };
  }
  for (const [r, st] of statuses) s.next.statuses.set(r.toLowerCase(), st);
  const promise = s.next.promise;
  if (!s.running) void runStatusWrites(ctx, key, p.ownerId, p.uid);
  return promise;
}

interface StatusBatch { statuses: Map<string, string>; promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void }
const statusWrites = new Map<string, { running: boolean; next: StatusBatch | null }>();

async function runStatusWrites(ctx: AppContext, key: string, ownerId: string, uid: string) {
  const s = statusWrites.get(key)!;
  s.running = true;
  while (s.next) {
    const batch = s.next;
    s.next = null;
    try {
      await writeStatuses(ctx, ownerId, uid, batch.statuses);
      batch.resolve();
    } catch (e) {
      batch.reject(e);
    }
  }
  s.running = false;
  statusWrites.delete(key);
}

async function writeStatuses(ctx: AppContext, ownerId: string, uid: string, statuses: Map<string, string>) {
  await ctx.db.transaction().execute(async (trx) => {
    await lockUid(trx, uid);
    const row = await objects.findByUid(trx, ownerId, uid);
    if (!row || row.role !== 'organizer') return;
    const text = statuses.size === 1 ? setScheduleStatus(row.ical, ...[...statuses][0]) : setScheduleStatuses(row.ical, statuses);
    if (text !== row.ical) await objects.updateObject(trx, ownerId, row.id, { ical: text, etag: etagOf(text) });
  });
}

/** SCHEDULE-STATUS for many attendees in one parse and one serialisation (as setScheduleStatus does for one). */
function setScheduleStatuses(text: string, statuses: Map<string, string>): string {
  const cal = parseCalendar(text);
  for (const c of schedulable(cal)) {
    for (const a of c.getAllProperties('attendee')) {
      const st = statuses.get(normalizeAddress(String(a.getFirstValue() ?? '')));
      if (st !== undefined) a.setParameter('schedule-status', st);
    }
  }
  return serialize(cal);
}

export { eventUrl };
