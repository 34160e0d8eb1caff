/** Notification e-mails to internal users (invitation, update, cancellation, an attendee's answer). */
import type { AppContext } from '../context.js';
import * as principals from '../../store/principals.js';
import * as objects from '../../store/objects.js';
import { composeNotification } from '../../integrations/mail/index.js';
import { indexResource } from '../../lib/ical/index.js';
import { signToken } from '../../domain/auth/secrets.js';
import { publicUrl } from '../../config/load.js';
import { mailer, mailDomain } from './mailer.js';

export interface NotifyPayload {
  kind: 'invitation' | 'update' | 'cancellation' | 'reply';
  recipientId: string; ownerId: string; objectId: string; from?: string; previousIcal?: string | null; partstat?: string;
}

const KIND = { invitation: 'created', update: 'updated', cancellation: 'cancelled', reply: 'reply' } as const;

export function answerLinks(ctx: AppContext, userId: string, objectId: string) {
  const base = `${publicUrl(ctx.config)}/api/v1/answer`;
  const link = (partstat: string) => `${base}?t=${encodeURIComponent(signToken(ctx.secret, 'answer', { u: userId, o: objectId, p: partstat }, 30 * 86400))}`;
  return { accept: link('ACCEPTED'), tentative: link('TENTATIVE'), decline: link('DECLINED') };
}

function wants(prefs: Record<string, string[]>, kind: string, channel: string) {
  const list = prefs[kind];
  return !list || list.includes(channel);
}

export async function sendNotification(ctx: AppContext, p: NotifyPayload): Promise<void> {
  const user = await principals.findPrincipalById(ctx.db, p.recipientId);
  if (!user || user.disabled || user.kind !== 'user') return;
  if (!wants(user.notify as Record<string, string[]>, p.kind, 'email')) return;
  const row = await objects.findObject(ctx.db, p.ownerId, p.objectId, { includeDeleted: true });
  if (!row) return;
  const ix = indexResource(row.ical);
  const sender = p.from ? await principals.findPrincipalByEmail(ctx.db, p.from) : undefined;
  const options = composeNotification({
    kind: KIND[p.kind],
    from: { email: ctx.config.mailFrom, name: 'Calendula' }, to: [{ email: user.email, name: user.name || undefined }],
    lang: user.language, timezone: user.timezone,
    messageId: `n.${p.kind}.${row.id}.${row.etag}.${user.id}@${mailDomain(ctx)}`, threadId: `${row.uid}@${mailDomain(ctx)}`,
    summary: ix.summary ?? '', start: ix.firstStart ?? new Date(), end: ix.lastEnd ?? undefined, allDay: ix.allDay, location: ix.location ?? undefined,
    organizerName: sender?.name || p.from, eventUrl: `${publicUrl(ctx.config)}/?event=${row.id}`,
    ...(p.kind === 'invitation' || p.kind === 'update' ? { actionUrls: answerLinks(ctx, user.id, row.id) } : {}),
    ...(p.kind === 'reply' ? { reply: { name: sender?.name || p.from || '', partstat: p.partstat ?? '' } } : {}),
  });
  await mailer(ctx).send(options);
}
