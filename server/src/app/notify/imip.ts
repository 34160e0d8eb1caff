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
import * as principals from '../../store/principals.js';
import * as objects from '../../store/objects.js';
import { composeImip, isPermanentMailError } from '../../integrations/mail/index.js';
import { attachTimezones, indexResource } from '../../lib/ical/index.js';
import { setScheduleStatus } from '../../lib/itip/index.js';
import type { ImipPayload } from '../events/scheduling.js';
import { mailer, mailDomain } from './mailer.js';
import { lockUid } from '../events/write.js';
import { etagOf } from '../events/resource.js';
import { alreadySent, recordDelivery } from '../../store/mail.js';
import { enqueue } from '../../jobs/queue.js';
import { eventUrl, type NotifyPayload } from './notifications.js';

/** Adds the VTIMEZONE of every TZID used (canonical data when the calendar lacks one). */
export function withTimezones(ical: string): string {
  try {
    const cal = new ICAL.Component(ICAL.parse(ical) as never);
    const before = cal.getAllSubcomponents('vtimezone').length;
    attachTimezones(cal, [], true);
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

export async function sendImip(ctx: AppContext, p: ImipPayload): Promise<ImipOutcome> {
  const owner = await principals.findPrincipalById(ctx.db, p.ownerId);
  if (!owner) return 'skipped';
  const recipient = p.recipient.toLowerCase();
  const log = { ownerId: owner.id, channel: 'imip', kind: `imip-${p.method.toLowerCase()}`, deliveryKey: p.deliveryId, recipient, uid: p.uid, method: p.method, messageId: imipMessageId(ctx, p.deliveryId) };
  if (await alreadySent(ctx.db, 'imip', p.deliveryId)) return 'already-sent';
  let ix;
  try { ix = indexResource(p.ical); } catch { ix = null; }
  const ical = withTimezones(p.ical);
  const row = await objects.findByUid(ctx.db, owner.id, p.uid);
  const options = composeImip({
    method: p.method as never, ical,
    from: { email: ctx.config.mailFrom, name: owner.name || owner.email }, replyTo: { email: owner.email, name: owner.name || undefined },
    envelopeFrom: ctx.config.mailFrom,
    to: [{ email: p.recipient, name: p.recipientCn }], lang: owner.language, timezone: owner.timezone,
    messageId: `imip.${p.deliveryId}@${mailDomain(ctx)}`, threadId: `${p.uid}@${mailDomain(ctx)}`,
    summary: ix?.summary ?? '', start: ix?.firstStart ?? new Date(), end: ix?.lastEnd ?? undefined, allDay: ix?.allDay,
    location: ix?.location ?? undefined, organizerName: owner.name || owner.email, attendeeName: owner.name || owner.email,
  });
  // The ORGANIZER/attendee address is the user's own; Sender tells MUAs who sent it on their behalf.
  options.from = { address: owner.email, name: owner.name || owner.email };
  options.sender = ctx.config.mailFrom;
  try {
    const r = await mailer(ctx).send(options);
    if (r.rejected?.length) {
      const why = r.rejectedErrors?.[0]?.response ?? 'recipient refused';
      await recordDelivery(ctx.db, { ...log, status: 'failed', response: why });
      await permanentFailure(ctx, p, owner.id, row?.id ?? null, why);
      return 'failed';
    }
    await recordDelivery(ctx.db, { ...log, status: 'sent', response: r.response });
    if (p.method === 'REQUEST' || p.method === 'CANCEL') await markStatus(ctx, p, '1.1');
    return 'sent';
  } catch (e) {
    const why = (e as Error).message ?? String(e);
    if (isPermanentMailError(e)) {
      await recordDelivery(ctx.db, { ...log, status: 'failed', response: why });
      await permanentFailure(ctx, p, owner.id, row?.id ?? null, why);
      ctx.log.warn({ uid: p.uid, to: p.recipient, err: why }, 'iMIP delivery failed permanently');
      return 'failed';
    }
    await recordDelivery(ctx.db, { ...log, status: 'retrying', response: why });
    throw e; // temporary: the queue retries with back-off
  }
}

/** SCHEDULE-STATUS 5.1 on the organizer's copy and a 'delivery-failed' notification to its owner. */
export async function permanentFailure(ctx: AppContext, p: { ownerId: string; uid: string; method: string; recipient: string }, ownerId: string, objectId: string | null, why: string, status = '5.1') {
  await markStatus(ctx, p, status);
  const row = objectId ? { id: objectId } : await objects.findByUid(ctx.db, ownerId, p.uid);
  if (!row) return;
  const payload: NotifyPayload = { kind: 'delivery-failed', recipientId: ownerId, ownerId, objectId: row.id, failure: { recipient: p.recipient, status, response: why } };
  await enqueue(ctx.db, 'notify', payload);
}

/** Writes SCHEDULE-STATUS for the attendee back onto the organizer's copy (RFC 6638 §7.3). */
export async function markStatus(ctx: AppContext, p: { ownerId: string; uid: string; method: string; recipient: string }, status: string) {
  if (p.method !== 'REQUEST' && p.method !== 'CANCEL' && p.method !== 'ADD') return;
  await ctx.db.transaction().execute(async (trx) => {
    await lockUid(trx, p.uid);
    const row = await objects.findByUid(trx, p.ownerId, p.uid);
    if (!row || row.role !== 'organizer') return;
    const text = setScheduleStatus(row.ical, p.recipient, status);
    if (text !== row.ical) await objects.updateObject(trx, p.ownerId, row.id, { ical: text, etag: etagOf(text) });
  });
}

export { eventUrl };
