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
import { dispatch, dispatchMany, registerChannel, type Notification, type NotificationKind, type DispatchStatus } from './channels.js';
import { sql } from 'kysely';
import { emailChannel } from './email-channel.js';
import { wallToUtc, zoneOf } from '../../lib/ical/zones/zone.js';

registerChannel(emailChannel);

export interface NotifyPayload {
  kind: Exclude<NotificationKind, 'reminder'>;
  recipientId: string; ownerId: string; objectId: string; from?: string; previousIcal?: string | null; partstat?: string;
  comment?: string;
  counter?: { from: string; start?: string; end?: string; comment?: string };
  declined?: { by: string; start?: string; end?: string; comment?: string };
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

type Principal = NonNullable<Awaited<ReturnType<typeof principals.findPrincipalById>>>;

/** The part of a notification every kind shares: the recipient, the event as their copy says, the sender. */
function baseNotification(ctx: AppContext, kind: Notification['kind'], key: string, user: Principal, row: ObjectRow, ix: ResourceIndex | null,
  organizerName: string | undefined, from: string | undefined, senderName: string | undefined): Notification {
  // Floating times (RFC 5545 §3.3.5) are wall times read as UTC in the index: the recipient sees
  // them at that wall time in their own zone.
  const floating = ix ? ix.floating : row.floating;
  const zone = floating ? zoneOf(user.timezone ?? 'UTC') : null;
  const at = (d: Date | null | undefined) => (d && zone ? new Date(wallToUtc(d.getTime(), zone)) : d);
  return {
    kind, recipient: user, key,
    event: {
      objectId: row.id, uid: row.uid, summary: row.summary, start: at(ix?.firstStart ?? row.first_start) ?? new Date(), end: at(ix?.lastEnd ?? row.last_end) ?? undefined,
      allDay: row.all_day, location: row.location || undefined, organizerName: organizerName || row.organizer || undefined, url: eventUrl(ctx, row.id),
    },
    ...(from ? { from: { email: from, name: senderName || undefined } } : {}),
  };
}

/** An attendee's copy of a live event gets answer links that work without sign-in. */
const wantsAnswerLinks = (row: ObjectRow) => row.role === 'attendee' && !row.deleted_at && row.status !== 'CANCELLED';

export async function buildNotification(ctx: AppContext, p: NotifyPayload, key: string): Promise<{ n: Notification; row: ObjectRow } | null> {
  const user = await principals.findPrincipalById(ctx.db, p.recipientId);
  if (!user || user.disabled || user.kind !== 'user') return null;
  const row = await objects.findObject(ctx.db, p.ownerId, p.objectId, { includeDeleted: true });
  if (!row) return null;
  const ix = safeIndex(row.ical);
  const sender = p.from ? await principals.findPrincipalByEmail(ctx.db, p.from) : undefined;
  const organizer = row.organizer ? await principals.findPrincipalByEmail(ctx.db, row.organizer) : undefined;
  const n = baseNotification(ctx, p.kind, key, user, row, ix, organizer?.name, p.from, sender?.name);
  if (p.kind === 'update') {
    const d = diffForMail(p.previousIcal, row.ical);
    n.changes = d.changes; n.addedAttendees = d.added; n.removedAttendees = d.removed;
  }
  if ((p.kind === 'invitation' || p.kind === 'update') && wantsAnswerLinks(row)) n.answerLinks = answerLinks(ctx, user.id, row.id);
  if (p.kind === 'reply') n.reply = { name: sender?.name || p.from || '', partstat: p.partstat ?? '', ...(p.comment ? { comment: p.comment } : {}) };
  if (p.counter) n.counter = p.counter;
  if (p.declined) n.declined = p.declined;
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

/**
 * One 'notify' job for the invitations (or cancellations) of many recipients of ONE organizer
 * write — what a batched delivery queues instead of a job per copy — or for the invitations (or
 * cancellations) from one sender that a mail intake batch applied for its recipient (one
 * recipient, several events). Each item is the recipient's own copy; `from` is the organizer.
 */
export interface NotifyBatchPayload {
  kind: 'invitation' | 'cancellation';
  from?: string;
  items: { recipientId: string; ownerId: string; objectId: string }[];
}

/**
 * The per-item part of a batched job's idempotency keys: the recipient — a batched delivery lists
 * each recipient once — and, when a recipient is listed more than once (mail intake's batch: one
 * recipient, several events), also the event, and the occurrence for a repeated pair. Derived from
 * the payload only, so a retry computes the same keys.
 */
export function batchItemKeys(items: NotifyBatchPayload['items']): string[] {
  const perRecipient = new Map<string, number>();
  for (const it of items) perRecipient.set(it.recipientId, (perRecipient.get(it.recipientId) ?? 0) + 1);
  const seen = new Map<string, number>();
  return items.map((it) => {
    if (perRecipient.get(it.recipientId) === 1) return it.recipientId;
    const k = `${it.recipientId}.${it.objectId}`;
    const n = seen.get(k) ?? 0;
    seen.set(k, n + 1);
    return n ? `${k}.${n}` : k;
  });
}

export function isNotifyBatch(p: unknown): p is NotifyBatchPayload {
  return !!p && Array.isArray((p as NotifyBatchPayload).items);
}

/**
 * A batched notify job: the same notifications sendNotification builds for each item, with the
 * reads done once for all (recipients, copies, sender and organizer, the parse of the copy's text)
 * and sent through dispatchMany (one idempotency query per channel, delivery log in one
 * statement). Each item's key is the job id plus batchItemKeys' part (the recipient, and the event
 * when a recipient is listed more than once), stable across retries: a retry re-sends only what
 * did not go out. Throws (the job is retried) if any send failed temporarily.
 */
export async function sendNotificationBatch(ctx: AppContext, p: NotifyBatchPayload, jobId?: string): Promise<Record<string, DispatchStatus>[]> {
  const ids = [...new Set(p.items.map((i) => i.recipientId))];
  const users = new Map((ids.length ? await ctx.db.selectFrom('principal').selectAll().where('id', 'in', ids).execute() : []).map((u) => [u.id, u]));
  const r = p.items.length ? await sql<ObjectRow>`select o.* from calendar_object o
    join unnest(${p.items.map((i) => i.ownerId)}::uuid[], ${p.items.map((i) => i.objectId)}::uuid[]) as k(owner_id, id) on o.owner_id = k.owner_id and o.id = k.id`.execute(ctx.db) : { rows: [] };
  const rows = new Map(r.rows.map((x) => [`${x.owner_id}/${x.id}`, x]));
  const sender = p.from ? await principals.findPrincipalByEmail(ctx.db, p.from) : undefined;
  const organizers = new Map<string, Awaited<ReturnType<typeof principals.findPrincipalByEmail>>>();
  const indexes = new Map<string, ResourceIndex | null>();
  const ns: Notification[] = [];
  const itemKeys = batchItemKeys(p.items);
  for (const [i, item] of p.items.entries()) {
    const user = users.get(item.recipientId);
    const row = rows.get(`${item.ownerId}/${item.objectId}`);
    if (!user || user.disabled || user.kind !== 'user' || !row) continue;
    if (!indexes.has(row.ical)) indexes.set(row.ical, safeIndex(row.ical));
    const ix = indexes.get(row.ical)!;
    if (row.organizer && !organizers.has(row.organizer)) organizers.set(row.organizer, await principals.findPrincipalByEmail(ctx.db, row.organizer));
    const organizer = row.organizer ? organizers.get(row.organizer) : undefined;
    const key = jobId ? `notify.${p.kind}.${jobId}.${itemKeys[i]}` : notifyKey({ kind: p.kind, ...item, from: p.from });
    const n = baseNotification(ctx, p.kind, key, user, row, ix, organizer?.name, p.from, sender?.name);
    if (p.kind === 'invitation' && wantsAnswerLinks(row)) n.answerLinks = answerLinks(ctx, user.id, row.id);
    ns.push(n);
  }
  const results = await dispatchMany(ctx, ns);
  const retry = results.find((x) => x.retry)?.retry;
  if (retry) throw retry;
  return results.map((x) => x.status);
}
