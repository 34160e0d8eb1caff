/**
 * Implicit scheduling (RFC 6638 semantics, computed by the pure lib/itip planner): which iTIP
 * messages a write produces, and the jobs that deliver them — to internal users' own copies
 * (one ordered queue per recipient) or by iMIP to external addresses. Queued in the writer's
 * transaction, so a committed change can never lose its messages.
 */
import { createHash, randomUUID } from 'node:crypto';
import type ICAL from 'ical.js';
import type { AppContext } from '../context.js';
import type { Actor } from '../../domain/actor.js';
import { DomainError } from '../../domain/errors.js';
import { isInternal, isValidEmail } from '../../domain/addresses.js';
import type { DB } from '../../store/db.js';
import * as principals from '../../store/principals.js';
import type { ObjectRow, PrincipalRow } from '../../store/schema.js';
import { plan, validateAttendeeChange, normalizeAddress, type ItipMessage } from '../../lib/itip/index.js';
import type { JobSpec } from '../../jobs/queue.js';
import { fanoutPending, insertFanout, insertMessages } from '../../store/itip-messages.js';
import { batchDeliverSpecs, deliverQueue, DELIVER_BATCH } from './deliver-batch.js';
import { checkExternalAddresses } from './address-checks.js';

/**
 * A job carries the iTIP text itself (`ical`, small writes and mail intake) or a reference to it
 * in itip_message (`messageId`, owned by `messageOwnerId` / `ownerId`): a fan-out stores each
 * distinct text once.
 */
export interface DeliverPayload {
  recipientId: string;
  uid: string;
  method: ItipMessage['method'];
  sender: string;
  ical?: string;
  messageId?: string;
  messageOwnerId?: string;
  significant: boolean;
}

export interface ImipPayload {
  ownerId: string;
  uid: string;
  method: ItipMessage['method'];
  sender: string;
  recipient: string;
  recipientCn?: string;
  ical?: string;
  /** In itip_message, owned by ownerId. */
  messageId?: string;
  significant: boolean;
  /** Stable per delivery: the Message-ID and the idempotency key. */
  deliveryId: string;
  /**
   * A coalesced update: build the REQUEST from the organizer's copy as it is when the job runs
   * (no `ical`); nothing is sent if the recipient is no longer invited or the event is gone.
   */
  current?: boolean;
}

/** One recipient of a batched iMIP job: its own address, name and stable deliveryId. */
export interface ImipRecipient { recipient: string; recipientCn?: string; deliveryId: string }

/**
 * An 'imip-send' job for several external recipients of the same stored message (a fan-out
 * queues one per IMIP_BATCH recipients). Each recipient keeps its own deliveryId (Message-ID and
 * idempotency key), so a retried batch re-sends only the ones not yet logged as done.
 */
export interface ImipBatchPayload extends Omit<ImipPayload, 'recipient' | 'recipientCn' | 'deliveryId'> {
  recipients: ImipRecipient[];
}

/** External recipients per 'imip-send' job queued by a fan-out. */
export const IMIP_BATCH = 50;

/**
 * Merges the fan-out's single-recipient 'imip-send' specs that share one stored message (same
 * messageId, method and UID) into batch jobs of at most `size` recipients. Other specs keep their
 * order; batches follow them (iMIP jobs have no queue, so their relative order does not matter).
 */
export function batchImipSpecs(specs: JobSpec[], size = IMIP_BATCH): JobSpec[] {
  const out: JobSpec[] = [];
  const groups = new Map<string, { base: ImipPayload; spec: JobSpec; recipients: ImipRecipient[] }>();
  for (const j of specs) {
    const p = j.payload as ImipPayload;
    if (j.name !== 'imip-send' || !p.messageId || p.ical !== undefined || j.queue || j.jobKey || j.runAt) { out.push(j); continue; }
    const key = `${p.messageId}\n${p.method}\n${p.uid}\n${p.ownerId}\n${p.sender}\n${p.significant}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { base: p, spec: j, recipients: [] }));
    g.recipients.push({ recipient: p.recipient, ...(p.recipientCn !== undefined ? { recipientCn: p.recipientCn } : {}), deliveryId: p.deliveryId });
  }
  for (const g of groups.values()) {
    const { recipient: _r, recipientCn: _c, deliveryId: _d, ...rest } = g.base;
    for (let i = 0; i < g.recipients.length; i += size) {
      const recipients = g.recipients.slice(i, i + size);
      if (recipients.length === 1) {
        out.push({ ...g.spec, payload: { ...rest, ...recipients[0] } satisfies ImipPayload });
      } else {
        out.push({ ...g.spec, payload: { ...rest, recipients } satisfies ImipBatchPayload });
      }
    }
  }
  return out;
}

/** Unfolded lines without the parts that change when only answers change. */
function answerNeutral(text: string): string {
  return text.replace(/\r?\n[ \t]/g, '').split(/\r?\n/)
    .filter((l) => !/^(DTSTAMP|LAST-MODIFIED)[;:]/i.test(l))
    .map((l) => (/^ATTENDEE[;:]/i.test(l) ? l.replace(/;(PARTSTAT|RSVP|SCHEDULE-STATUS|X-CALENDULA-REPLY-DTSTAMP)=("[^"]*"|[^;:]*)/gi, '') : l))
    .join('\n');
}

export function onlyAnswersChanged(oldText: string | null, newText: string | null): boolean {
  return !!oldText && !!newText && answerNeutral(oldText) === answerNeutral(newText);
}

/**
 * Address checks (the reference's mailapi): syntax for every new attendee; an address in the
 * organisation's own domains must be a known user, group or room. `known` holds the resolved ones.
 */
export async function checkAttendeeAddresses(ctx: AppContext, emails: Iterable<string>, known: Map<string, PrincipalRow>, opts: { external?: boolean } = {}): Promise<void> {
  const external: string[] = [];
  for (const e of emails) {
    if (known.has(e)) continue;
    if (!isValidEmail(e)) throw new DomainError('INVALID_ADDRESS', `"${e}" is not a valid e-mail address`, { email: e });
    if (isInternal(e, ctx.config.mailDomains)) throw new DomainError('UNKNOWN_ADDRESS', `No user, group or room has the address ${e}`, { email: e });
    external.push(e);
  }
  // The pluggable checks of external addresses (address-checks.ts; none unless configured).
  if (opts.external !== false) await checkExternalAddresses(ctx, external);
}

/** Entry points where a person chose the attendees: their new attendees are checked. */
export const INTERACTIVE_VIA: ReadonlySet<string> = new Set(['rest', 'web', 'caldav', 'bot', 'import']);

let deliveryCounter = 0;

/**
 * DTSTAMP for the messages of a write: now, but strictly later than every DTSTAMP of the previous
 * version. Recipients order messages of one SEQUENCE by DTSTAMP (RFC 5546 §2.1.5), which has
 * one-second resolution: without this, a second change (or answer) within the same second as the
 * previous one was ignored as stale by every recipient.
 */
export function messageStamp(previous: string | null, now = Date.now()): Date {
  let last = 0;
  if (previous) {
    for (const m of previous.matchAll(/^DTSTAMP[^:\r\n]*:(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z?\r?$/gm)) {
      last = Math.max(last, Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
    }
  }
  return new Date(Math.max(now, last + 1000));
}

/**
 * A new event's text and messages as the planner would make them, computed by the caller
 * (lib/itip buildFreshEvent, the REST create): the plan is taken as it is.
 */
export interface PlannedCreate { newText: string; messages: ItipMessage[] }

/**
 * The iTIP messages of a write and their jobs. `component`: the new version already parsed (the
 * create path built it; `text` may then be null) — planned in place, not parsed again.
 * `noWrites`: the caller is not in a transaction, so planning must not write (a fan-out would):
 * returns null instead, and the caller takes the transactional path.
 */
export async function planScheduling(ctx: AppContext, db: DB, p: { owner: PrincipalRow; previous: ObjectRow | null; text: string | null; component?: ICAL.Component; actor: Actor; enforceAttendeeRules: boolean; known?: Map<string, PrincipalRow>; freshUid?: boolean; planned?: PlannedCreate; noWrites: true }): Promise<{ text: string; jobs: JobSpec[] } | null>;
export async function planScheduling(ctx: AppContext, db: DB, p: { owner: PrincipalRow; previous: ObjectRow | null; text: string | null; component?: ICAL.Component; actor: Actor; enforceAttendeeRules: boolean; known?: Map<string, PrincipalRow>; freshUid?: boolean; planned?: PlannedCreate; noWrites?: false }): Promise<{ text: string; jobs: JobSpec[] }>;
export async function planScheduling(ctx: AppContext, db: DB, p: { owner: PrincipalRow; previous: ObjectRow | null; text: string | null; component?: ICAL.Component; actor: Actor; enforceAttendeeRules: boolean; known?: Map<string, PrincipalRow>; freshUid?: boolean; planned?: PlannedCreate; noWrites?: boolean }): Promise<{ text: string; jobs: JobSpec[] } | null> {
  const ownerEmail = p.owner.email.toLowerCase();
  const oldText = p.previous?.ical ?? null;
  if (p.enforceAttendeeRules && p.previous?.role === 'attendee' && p.text) {
    const bad = validateAttendeeChange(p.previous.ical, p.text, ownerEmail);
    if (bad.length) {
      throw new DomainError('FORBIDDEN', `Only the organizer can change ${[...new Set(bad.map((b) => b.property))].join(', ')} of this event`, { precondition: 'allowed-attendee-object-change', changes: bad });
    }
  }
  let result: { newText: string | null; messages: ItipMessage[] };
  if (p.planned && !p.previous) {
    result = p.planned;
  } else {
    try {
      result = plan({ oldText, newText: p.text, newComponent: p.component, actorEmail: ownerEmail, now: messageStamp(oldText) });
    } catch (e) {
      throw new DomainError('INVALID_ICALENDAR', `Cannot plan scheduling: ${(e as Error).message}`);
    }
  }
  const text = result.newText ?? p.text ?? '';
  if (!result.messages.length) return { text, jobs: [] };

  const recipients = [...new Set(result.messages.map((m) => normalizeAddress(m.recipient)))];
  // New attendees of an interactive write are checked; replies and cancellations always go out.
  const interactive = INTERACTIVE_VIA.has(p.actor.via);
  // One lookup for every recipient; new attendees of an interactive write are checked against it.
  const missing = p.known ? recipients.filter((r) => !p.known!.has(r)) : recipients;
  const known = new Map([...(p.known ?? []), ...(missing.length ? await principals.resolveAddresses(db, missing) : [])]);
  if (interactive) {
    const isNew = (r: string) => !p.previous?.attendees.includes(r) || result.messages.some((m) => m.method === 'REPLY');
    // An answer goes to whoever invited: the external checks never stop someone from answering.
    const answering = result.messages.some((m) => m.method === 'REPLY' || m.method === 'COUNTER');
    await checkAttendeeAddresses(ctx, recipients.filter(isNew), known, { external: !answering });
  }
  const partstatOnly = onlyAnswersChanged(oldText, p.text);
  const jobs: JobSpec[] = [];
  const now = Date.now();
  for (const m of result.messages) {
    const to = normalizeAddress(m.recipient);
    if (to === ownerEmail) continue;
    const principal = known.get(to);
    if (principal && principal.kind !== 'group') {
      const payload: DeliverPayload = { recipientId: principal.id, uid: m.uid, method: m.method, sender: ownerEmail, ical: m.ical, significant: m.significantChange };
      const cosmetic = m.method === 'REQUEST' && !m.significantChange && partstatOnly;
      jobs.push({
        // Calendar state first: copies and answers jump ahead of mail and bot messages (lower runs first).
        // One ordered queue per UID: messages about one event apply in order for every recipient
        // (all copies of a UID are written under one lock anyway), different events in parallel.
        name: 'schedule-deliver', payload, queue: deliverQueue(m.uid), priority: -10,
        // Answer-only updates to other attendees are coalesced: the last one wins.
        ...(cosmetic ? { jobKey: `refresh:${m.uid}:${principal.id}`, runAt: new Date(now + 2000) } : {}),
      });
    } else if (!principal) {
      if (m.method === 'REQUEST' && partstatOnly) continue; // external attendees are not mailed about others' answers
      const deliveryId = `${now.toString(36)}.${(deliveryCounter++).toString(36)}.${Math.random().toString(36).slice(2, 8)}`;
      // Updates to someone already invited are coalesced (issue 5 §3): one job per (event,
      // recipient) that keeps the first update's time and sends the organizer's state as it is
      // when the window closes. Invitations, cancellations and replies go out at once.
      const update = m.method === 'REQUEST' && !!oldText && !!p.previous?.attendees.includes(to) && ctx.config.notifyCoalesceSeconds > 0;
      if (update) {
        const payload: ImipPayload = { ownerId: p.owner.id, uid: m.uid, method: m.method, sender: ownerEmail, recipient: to, recipientCn: m.recipientCn, significant: m.significantChange, deliveryId, current: true };
        jobs.push({ name: 'imip-send', payload, jobKey: imipUpdateKey(p.owner.id, m.uid, to), jobKeyMode: 'preserve_run_at', runAt: new Date(now + ctx.config.notifyCoalesceSeconds * 1000) });
        continue;
      }
      const payload: ImipPayload = { ownerId: p.owner.id, uid: m.uid, method: m.method, sender: ownerEmail, recipient: to, recipientCn: m.recipientCn, ical: m.ical, significant: m.significantChange, deliveryId };
      jobs.push({ name: 'imip-send', payload, queue: undefined });
    }
  }
  if (!jobs.length) return { text, jobs };
  const uid = result.messages[0].uid;
  // Rooms keep one job each: their auto-answer runs under a per-room lock (deliver.ts).
  const rooms = new Set([...known.values()].filter((x) => x.kind === 'room').map((x) => x.id));
  const isRoom = (id: string) => rooms.has(id);
  // Small meetings queue their deliveries directly (all internal copies in one batched job) —
  // unless a fan-out of this event is still queueing: then these go through the fan-out queue
  // too, after it (per-recipient order).
  // (A UID the server just made cannot have a fan-out yet: no lookup.)
  if (jobs.length <= FANOUT_MIN && (p.freshUid || !(await fanoutPending(db, p.owner.id, uid)))) return { text, jobs: batchDeliverSpecs(jobs, isRoom) };
  if (p.noWrites) return null;
  return { text, jobs: [await deferToFanout(db, p.owner.id, uid, jobs, isRoom)] };
}

/** The job key of the coalesced update of one event for one external recipient. */
export function imipUpdateKey(ownerId: string, uid: string, recipient: string): string {
  return `imip-update:${ownerId}:${createHash('sha1').update(uid).digest('base64url').slice(0, 16)}:${recipient}`;
}

/** Above this many deliveries, a write queues one 'schedule-fanout' job instead of one job each. */
export const FANOUT_MIN = 20;

export interface FanoutPayload { ownerId: string; fanoutId: string; uid: string }

/**
 * Stores each distinct message text once (itip_message) and the per-recipient job specs, now
 * referencing it, in itip_fanout; returns the one job that queues them later in batches. The
 * writer's transaction then holds a few rows and one job, not a payload per recipient.
 */
async function deferToFanout(db: DB, ownerId: string, uid: string, jobs: JobSpec[], isRoom: (id: string) => boolean): Promise<JobSpec> {
  const ids = new Map<string, string>();
  const specs = jobs.map((j) => {
    const payload = { ...(j.payload as DeliverPayload | ImipPayload) };
    if (payload.ical !== undefined) {
      let id = ids.get(payload.ical);
      if (!id) ids.set(payload.ical, (id = randomUUID()));
      delete payload.ical;
      payload.messageId = id;
      if (j.name === 'schedule-deliver') (payload as DeliverPayload).messageOwnerId = ownerId;
    }
    return { ...j, payload };
  });
  await insertMessages(db, ownerId, uid, [...ids].map(([ical, id]) => ({ id, ical })));
  const fanoutId = randomUUID();
  await insertFanout(db, ownerId, fanoutId, uid, batchImipSpecs(batchDeliverSpecs(specs, isRoom, DELIVER_BATCH)));
  const payload: FanoutPayload = { ownerId, fanoutId, uid };
  // One queue per (organizer, UID): fan-outs of one event queue their deliveries in order.
  return { name: 'schedule-fanout', payload, queue: `fanout:${ownerId}:${createHash('sha1').update(uid).digest('base64url').slice(0, 16)}`, priority: -10 };
}
