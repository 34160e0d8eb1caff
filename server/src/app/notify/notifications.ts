/**
 * The 'notify' job: internal users hear about invitations, updates (with what changed, computed
 * from the previous iCalendar carried in the payload), cancellations, answers, counter proposals
 * and failed deliveries, through every channel they want (channels.ts).
 */
import { createHash } from 'node:crypto';
import type { AppContext } from '../context.js';
import * as principals from '../../store/principals.js';
import * as objects from '../../store/objects.js';
import type { ObjectRow } from '../../store/schema.js';
import type { Change } from '../../integrations/mail/index.js';
import { indexResource, type ResourceIndex } from '../../lib/ical/index.js';
import { signToken } from '../../domain/auth/secrets.js';
import { publicUrl } from '../../config/load.js';
import { dispatch, registerChannel, type Notification, type NotificationKind, type DispatchStatus } from './channels.js';
import { emailChannel } from './email-channel.js';

registerChannel(emailChannel);

export interface NotifyPayload {
  kind: Exclude<NotificationKind, 'reminder'>;
  recipientId: string; ownerId: string; objectId: string; from?: string; previousIcal?: string | null; partstat?: string;
  comment?: string;
  counter?: { from: string; start?: string; end?: string; comment?: string };
  failure?: { recipient: string; status: string; response?: string };
}

/** One-click answer links: signed with the server secret, expiring (30 days), single purpose ('answer'). */
export function answerLinks(ctx: AppContext, userId: string, objectId: string) {
  const base = `${publicUrl(ctx.config)}/api/v1/answer`;
  const link = (partstat: string) => `${base}?t=${encodeURIComponent(signToken(ctx.secret, 'answer', { u: userId, o: objectId, p: partstat }, 30 * 86400))}`;
  return { accept: link('ACCEPTED'), tentative: link('TENTATIVE'), decline: link('DECLINED') };
}

export function eventUrl(ctx: AppContext, objectId: string) {
  return `${publicUrl(ctx.config)}/?event=${objectId}`;
}

function safeIndex(text: string | null | undefined): ResourceIndex | null {
  if (!text) return null;
  try { return indexResource(text); } catch { return null; }
}

/** What changed between two versions, for the update mail (old → new). */
export function diffForMail(prevText: string | null | undefined, curText: string): { changes: Change[]; added: string[]; removed: string[] } {
  const a = safeIndex(prevText);
  const b = safeIndex(curText);
  if (!a || !b) return { changes: [], added: [], removed: [] };
  const changes: Change[] = [];
  const t = (d: Date | null) => d?.getTime() ?? null;
  if (t(a.firstStart) !== t(b.firstStart)) changes.push({ field: 'start', old: a.firstStart, new: b.firstStart });
  if (!a.recurring && !b.recurring && t(a.lastEnd) !== t(b.lastEnd)) changes.push({ field: 'end', old: a.lastEnd, new: b.lastEnd });
  if ((a.summary ?? '') !== (b.summary ?? '')) changes.push({ field: 'summary', old: a.summary, new: b.summary });
  if ((a.location ?? '') !== (b.location ?? '')) changes.push({ field: 'location', old: a.location, new: b.location });
  if ((a.status ?? '') !== (b.status ?? '')) changes.push({ field: 'status', old: a.status, new: b.status });
  const rr = (s: string) => /^RRULE:(.*)$/m.exec(s.replace(/\r?\n[ \t]/g, ''))?.[1]?.trim() ?? '';
  if (rr(prevText!) !== rr(curText)) changes.push({ field: 'rrule', old: rr(prevText!), new: rr(curText) });
  const label = (x: ResourceIndex['attendees'][number]) => (x.cn ? `${x.cn} <${x.email}>` : x.email);
  const before = new Map(a.attendees.map((x) => [x.email.toLowerCase(), x]));
  const after = new Map(b.attendees.map((x) => [x.email.toLowerCase(), x]));
  const added = [...after].filter(([k]) => !before.has(k)).map(([, v]) => label(v));
  const removed = [...before].filter(([k]) => !after.has(k)).map(([, v]) => label(v));
  return { changes, added, removed };
}

export async function buildNotification(ctx: AppContext, p: NotifyPayload, key: string): Promise<{ n: Notification; row: ObjectRow } | null> {
  const user = await principals.findPrincipalById(ctx.db, p.recipientId);
  if (!user || user.disabled || user.kind !== 'user') return null;
  const row = await objects.findObject(ctx.db, p.ownerId, p.objectId, { includeDeleted: true });
  if (!row) return null;
  const ix = safeIndex(row.ical);
  const sender = p.from ? await principals.findPrincipalByEmail(ctx.db, p.from) : undefined;
  const organizer = row.organizer ? await principals.findPrincipalByEmail(ctx.db, row.organizer) : undefined;
  const n: Notification = {
    kind: p.kind, recipient: user, key,
    event: {
      objectId: row.id, uid: row.uid, summary: row.summary, start: ix?.firstStart ?? row.first_start ?? new Date(), end: ix?.lastEnd ?? row.last_end ?? undefined,
      allDay: row.all_day, location: row.location || undefined, organizerName: organizer?.name || row.organizer || undefined, url: eventUrl(ctx, row.id),
    },
    ...(p.from ? { from: { email: p.from, name: sender?.name || undefined } } : {}),
  };
  if (p.kind === 'update') {
    const d = diffForMail(p.previousIcal, row.ical);
    n.changes = d.changes; n.addedAttendees = d.added; n.removedAttendees = d.removed;
  }
  if ((p.kind === 'invitation' || p.kind === 'update') && row.role === 'attendee' && !row.deleted_at && row.status !== 'CANCELLED') n.answerLinks = answerLinks(ctx, user.id, row.id);
  if (p.kind === 'reply') n.reply = { name: sender?.name || p.from || '', partstat: p.partstat ?? '', ...(p.comment ? { comment: p.comment } : {}) };
  if (p.counter) n.counter = p.counter;
  if (p.failure) n.failure = p.failure;
  return { n, row };
}

/** The idempotency key of a notify job: the job id is stable across its retries. */
export function notifyKey(p: NotifyPayload, jobId?: string): string {
  if (jobId) return `notify.${p.kind}.${jobId}`;
  const h = createHash('sha256').update(JSON.stringify(p)).digest('hex').slice(0, 16);
  return `notify.${p.kind}.${p.objectId}.${p.recipientId}.${h}`;
}

export async function sendNotification(ctx: AppContext, p: NotifyPayload, jobId?: string): Promise<Record<string, DispatchStatus> | null> {
  const built = await buildNotification(ctx, p, notifyKey(p, jobId));
  if (!built) return null;
  // An update about an event that has since been cancelled or deleted says nothing new.
  if (p.kind === 'update' && (built.row.deleted_at || built.row.status === 'CANCELLED')) return null;
  return dispatch(ctx, built.n);
}
