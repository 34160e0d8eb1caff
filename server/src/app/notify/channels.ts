/**
 * Notification channels — the one interface every "tell a person" path goes through.
 *
 * Design (issue 5 §3, and the plug-in point for the VK Teams messenger channel):
 *
 *   Notification      what to tell whom: kind ('invitation' | 'update' | 'cancellation' | 'reply' |
 *                     'reminder' | 'counter' | 'delivery-failed'), the recipient (a PrincipalRow:
 *                     language, time zone, vkteams_id, notify prefs), the event facts, what
 *                     changed, signed one-click answer links, and `key` — a stable idempotency
 *                     key (the same on every retry of the same job).
 *   NotificationChannel   { name, reachable(user), send(ctx, n) }. `send` delivers ONCE; it throws
 *                     for temporary failures (the job is retried with back-off) and throws an
 *                     error with `permanent: true` (or a 5xx SMTP error) when retrying cannot help.
 *   registerChannel(c)    adds a channel for this process (the e-mail channel is built in; the bot
 *                     role/worker registers 'messenger' at start).
 *   wantsChannel(user, kind, channel)   the per-user preference check (settings `notify` JSON:
 *                     kind → list of channels; a missing kind means every channel).
 *   recordDelivery / alreadySent (store/mail.ts)   the delivery-log write and the idempotency
 *                     check, keyed by (channel, key).
 *   dispatch(ctx, n)  the hook called for invitation/update/cancellation/reply/reminder (and
 *                     counter/delivery-failed): for every registered channel the user wants and
 *                     can be reached on, skip if (channel, key) was already delivered, send, log.
 *                     One channel failing temporarily re-throws after the others were tried, so
 *                     a retry re-sends only what did not go out.
 *
 * A channel never decides *whether* to notify (hygiene lives in the planners and in dispatch);
 * it only renders and delivers.
 */
import type { AppContext } from '../context.js';
import type { PrincipalRow } from '../../store/schema.js';
import type { Change } from '../../integrations/mail/index.js';
import { alreadySent, alreadySentMany, recordDelivery, type DeliveryEntry } from '../../store/mail.js';
import { DeliveryLogBuffer } from './delivery-log-buffer.js';
import { isPermanentMailError } from '../../integrations/mail/index.js';

export const NOTIFICATION_KINDS = ['invitation', 'update', 'cancellation', 'reply', 'reminder', 'counter', 'counter-declined', 'delivery-failed'] as const;
export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];

export interface EventFacts {
  objectId: string;
  uid: string;
  summary: string;
  start: Date;
  end?: Date;
  allDay: boolean;
  location?: string;
  organizerName?: string;
  /** Link to the event in the web UI. */
  url: string;
}

export interface Notification {
  kind: NotificationKind;
  recipient: PrincipalRow;
  /** Idempotency key: stable across retries of the same job. */
  key: string;
  event: EventFacts;
  /** Who caused it (the organizer for invitations, the attendee for replies). */
  from?: { email: string; name?: string };
  changes?: Change[];
  addedAttendees?: string[];
  removedAttendees?: string[];
  /** Signed, expiring, single-purpose one-click answers (invitation/update). */
  answerLinks?: { accept: string; tentative: string; decline: string };
  reply?: { name: string; partstat: string; comment?: string };
  reminder?: { minutesBefore: number; occurrenceStart: Date };
  counter?: { from: string; start?: string; end?: string; comment?: string };
  /** counter-declined: the organizer's answer to the recipient's proposal (RFC 5546 §3.2.8). */
  declined?: { by: string; start?: string; end?: string; comment?: string };
  failure?: { recipient: string; status: string; response?: string };
}

export interface ChannelResult { messageId?: string; response?: string }

export interface NotificationChannel {
  readonly name: string;
  /** Whether this user can be reached on the channel at all (an e-mail address, a messenger id). */
  reachable(user: PrincipalRow): boolean;
  /** Deliver once. Throw to retry; throw an error with `permanent: true` when retrying cannot help. */
  send(ctx: AppContext, n: Notification): Promise<ChannelResult>;
}

const channels = new Map<string, NotificationChannel>();

export function registerChannel(c: NotificationChannel): void {
  channels.set(c.name, c);
}

export function unregisterChannel(name: string): void {
  channels.delete(name);
}

export function registeredChannels(): NotificationChannel[] {
  return [...channels.values()];
}

/** The user's preference: which channels a kind goes to (settings `notify`; missing = all). */
export function wantsChannel(user: Pick<PrincipalRow, 'notify'>, kind: NotificationKind, channel: string): boolean {
  const prefs = (user.notify ?? {}) as Record<string, string[] | undefined>;
  // Counter proposals, their refusals and delivery failures are answers: they follow 'reply'.
  const list = prefs[kind] ?? (kind === 'counter' || kind === 'counter-declined' || kind === 'delivery-failed' ? prefs.reply : undefined);
  return !list || list.includes(channel);
}

export type DispatchStatus = 'sent' | 'already-sent' | 'not-wanted' | 'unreachable' | 'failed';

function isPermanent(e: unknown): boolean {
  return !!(e && typeof e === 'object' && (e as { permanent?: boolean }).permanent) || isPermanentMailError(e);
}

export async function dispatch(ctx: AppContext, n: Notification): Promise<Record<string, DispatchStatus>> {
  const out: Record<string, DispatchStatus> = {};
  if (n.recipient.disabled || n.recipient.kind !== 'user') return out;
  let retry: unknown = null;
  for (const c of channels.values()) {
    if (!wantsChannel(n.recipient, n.kind, c.name)) { out[c.name] = 'not-wanted'; continue; }
    if (!c.reachable(n.recipient)) { out[c.name] = 'unreachable'; continue; }
    if (await alreadySent(ctx.db, c.name, n.key, n.recipient.id)) { out[c.name] = 'already-sent'; continue; }
    const base = { ownerId: n.recipient.id, channel: c.name, kind: n.kind, deliveryKey: n.key, recipient: c.name === 'email' ? n.recipient.email.toLowerCase() : n.recipient.id, uid: n.event.uid, objectId: n.event.objectId };
    try {
      const r = await c.send(ctx, n);
      await recordDelivery(ctx.db, { ...base, status: 'sent', messageId: r.messageId ?? null, response: r.response ?? null });
      out[c.name] = 'sent';
    } catch (e) {
      const permanent = isPermanent(e);
      await recordDelivery(ctx.db, { ...base, status: permanent ? 'failed' : 'retrying', response: (e as Error).message ?? String(e) });
      out[c.name] = 'failed';
      if (!permanent) retry ??= e;
      ctx.log.warn({ channel: c.name, kind: n.kind, to: n.recipient.id, err: (e as Error).message, permanent }, 'notification delivery failed');
    }
  }
  if (retry) throw retry;
  return out;
}

export interface BatchDispatchResult {
  status: Record<string, DispatchStatus>;
  /** A temporary failure on some channel: retry this notification later (what went out is logged). */
  retry?: unknown;
}

/**
 * dispatch() for many notifications at once (the reminder sweeper): per channel, one idempotency
 * query for the whole batch, up to `concurrency` sends in flight (the SMTP pool queues the rest),
 * and one delivery-log statement per `logEvery` finished sends.
 */
export async function dispatchMany(ctx: AppContext, ns: Notification[], opts: { concurrency?: number; logEvery?: number } = {}): Promise<BatchDispatchResult[]> {
  const out: BatchDispatchResult[] = ns.map(() => ({ status: {} }));
  const concurrency = Math.max(1, opts.concurrency ?? 16);
  const logEvery = Math.max(1, opts.logEvery ?? 100);
  for (const c of channels.values()) {
    const todo: number[] = [];
    for (let i = 0; i < ns.length; i++) {
      const n = ns[i];
      if (n.recipient.disabled || n.recipient.kind !== 'user') continue;
      if (!wantsChannel(n.recipient, n.kind, c.name)) { out[i].status[c.name] = 'not-wanted'; continue; }
      if (!c.reachable(n.recipient)) { out[i].status[c.name] = 'unreachable'; continue; }
      todo.push(i);
    }
    const done = await alreadySentMany(ctx.db, c.name, [...new Set(todo.map((i) => ns[i].key))], todo.map((i) => ns[i].recipient.id));
    const seen = new Set<string>();
    const send = todo.filter((i) => {
      const k = ns[i].key;
      if (done.has(k) || seen.has(k)) { out[i].status[c.name] = 'already-sent'; return false; }
      seen.add(k);
      return true;
    });
    const log = new DeliveryLogBuffer(ctx.db, logEvery);
    let next = 0;
    const lane = async () => {
      for (let j = next++; j < send.length; j = next++) {
        const i = send[j];
        const n = ns[i];
        const base = { ownerId: n.recipient.id, channel: c.name, kind: n.kind, deliveryKey: n.key, recipient: c.name === 'email' ? n.recipient.email.toLowerCase() : n.recipient.id, uid: n.event.uid, objectId: n.event.objectId };
        try {
          const r = await c.send(ctx, n);
          log.push({ ...base, status: 'sent', messageId: r.messageId ?? null, response: r.response ?? null });
          out[i].status[c.name] = 'sent';
        } catch (e) {
          const permanent = isPermanent(e);
          log.push({ ...base, status: permanent ? 'failed' : 'retrying', response: (e as Error).message ?? String(e) });
          out[i].status[c.name] = 'failed';
          if (!permanent) out[i].retry ??= e;
          ctx.log.warn({ channel: c.name, kind: n.kind, to: n.recipient.id, err: (e as Error).message, permanent }, 'notification delivery failed');
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, send.length) }, lane));
    await log.close();
  }
  return out;
}
