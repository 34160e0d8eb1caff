/** iMIP (RFC 6047) to external attendees and organizers: the 'imip-send' job. */
import type { AppContext } from '../context.js';
import * as principals from '../../store/principals.js';
import * as objects from '../../store/objects.js';
import { composeImip, isPermanentMailError } from '../../integrations/mail/index.js';
import { indexResource } from '../../lib/ical/index.js';
import { setScheduleStatus } from '../../lib/itip/index.js';
import type { ImipPayload } from '../events/scheduling.js';
import { mailer, mailDomain } from './mailer.js';
import { publicUrl } from '../../config/load.js';
import { lockUid } from '../events/write.js';
import { etagOf } from '../events/resource.js';

export async function sendImip(ctx: AppContext, p: ImipPayload): Promise<void> {
  const owner = await principals.findPrincipalById(ctx.db, p.ownerId);
  if (!owner) return;
  let ix;
  try { ix = indexResource(p.ical); } catch { ix = null; }
  const options = composeImip({
    method: p.method as never, ical: p.ical,
    from: { email: ctx.config.mailFrom, name: owner.name || owner.email }, replyTo: { email: owner.email, name: owner.name || undefined },
    to: [{ email: p.recipient, name: p.recipientCn }], lang: owner.language, timezone: owner.timezone,
    messageId: `${p.deliveryId}@${mailDomain(ctx)}`, threadId: `${p.uid}@${mailDomain(ctx)}`,
    summary: ix?.summary ?? '', start: ix?.firstStart ?? new Date(), end: ix?.lastEnd ?? undefined, allDay: ix?.allDay,
    location: ix?.location ?? undefined, organizerName: owner.name || owner.email, eventUrl: `${publicUrl(ctx.config)}/`,
  });
  try {
    const r = await mailer(ctx).send(options);
    if (r.rejected?.length) await markStatus(ctx, p, '5.1');
    else if (p.method === 'REQUEST' || p.method === 'CANCEL') await markStatus(ctx, p, '1.1');
  } catch (e) {
    if (isPermanentMailError(e)) {
      await markStatus(ctx, p, '5.1');
      ctx.log.warn({ uid: p.uid, to: p.recipient, err: (e as Error).message }, 'iMIP delivery failed permanently');
      return;
    }
    throw e; // temporary: the queue retries with back-off
  }
}

/** Writes SCHEDULE-STATUS for the attendee back onto the organizer's copy (RFC 6638 §7.3). */
async function markStatus(ctx: AppContext, p: ImipPayload, status: string) {
  if (p.method !== 'REQUEST' && p.method !== 'CANCEL') return;
  await ctx.db.transaction().execute(async (trx) => {
    await lockUid(trx, p.uid);
    const row = await objects.findByUid(trx, p.ownerId, p.uid);
    if (!row || row.role !== 'organizer') return;
    const text = setScheduleStatus(row.ical, p.recipient, status);
    if (text !== row.ical) await objects.updateObject(trx, p.ownerId, row.id, { ical: text, etag: etagOf(text) });
  });
}
