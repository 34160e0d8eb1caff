/**
 * Mail intake, second step: the 'mail-intake' job. Parses the stored message, resolves its
 * recipients (envelope, else To/Cc and the ATTENDEE/ORGANIZER addresses; aliases and +tags),
 * decides trust (policy.ts), applies iTIP through the same delivery path as internal scheduling
 * (deliverMessage → lib/itip apply → saveObject), and writes one decision-log record per
 * message and recipient: what was applied, or why nothing was.
 */
import ICAL from 'ical.js';
import type { AppContext } from '../context.js';
import type { ObjectRow, PrincipalRow } from '../../store/schema.js';
import * as principals from '../../store/principals.js';
import * as objects from '../../store/objects.js';
import { extractCalendarParts, normalizeRecipient, type CalendarPart, type InboundMail } from '../../integrations/mail/index.js';
import { deliverMessage, notifyJob, deferNotifyJobs, type DeliveryOutcome } from '../events/deliver.js';
import type { DB } from '../../store/db.js';
import { requestFor, normalizeAddress } from '../../lib/itip/index.js';
import { findInbound, intakeTarget, intakeTargets, insertDecisionsAndFinish, finishIntakeBatch, decidedOwners, findDeliveryByMessageId, findDeliveryByUidRecipient, recordDelivery, queuedIntakeBatch, lockIntakeBatch, type InboundRow, type NewDecision } from '../../store/mail.js';
import { enqueue, type JobSpec } from '../../jobs/queue.js';
import { permanentFailure } from '../notify/imip.js';
import type { NotifyBatchPayload, NotifyPayload } from '../notify/notifications.js';
import { notifyBatchQueue } from '../events/deliver-batch.js';
import type { ImipPayload } from '../events/scheduling.js';
import { authVerdict, decideTrust, ORGANIZER_SIDE, ATTENDEE_SIDE, type TrustPolicy } from './policy.js';
import { isBounceAddress, UNROUTED_QUEUE } from './receive.js';

export interface PartFacts { organizer: string | null; sentBy: string | null; attendees: string[]; uid: string | null }

/** ORGANIZER (+SENT-BY) and ATTENDEE addresses of the first schedulable component(s). */
export function partFacts(ical: string): PartFacts {
  const facts: PartFacts = { organizer: null, sentBy: null, attendees: [], uid: null };
  try {
    const root = new ICAL.Component(ICAL.parse(ical) as never);
    for (const name of ['vevent', 'vtodo']) {
      for (const c of root.getAllSubcomponents(name)) {
        facts.uid ??= c.getFirstPropertyValue('uid') ? String(c.getFirstPropertyValue('uid')) : null;
        const org = c.getFirstProperty('organizer');
        if (org && !facts.organizer) {
          facts.organizer = normalizeAddress(String(org.getFirstValue()));
          const sb = org.getParameter('sent-by');
          if (sb) facts.sentBy = normalizeAddress(String(sb));
        }
        for (const a of c.getAllProperties('attendee')) {
          const e = normalizeAddress(String(a.getFirstValue()));
          if (e && !facts.attendees.includes(e)) facts.attendees.push(e);
        }
      }
    }
  } catch { /* reported by apply as INVALID_MESSAGE */ }
  return facts;
}

interface Recipient {
  principal: PrincipalRow;
  /** The owner's addresses known so far (main, envelope forms, aliases once loaded), lower-case. */
  addresses: Set<string>;
  aliasesLoaded: boolean;
}

/** The principal_alias rows of a recipient, loaded only when the calendar names none of its known addresses. */
async function loadAliases(ctx: AppContext, r: Recipient): Promise<void> {
  if (r.aliasesLoaded) return;
  r.aliasesLoaded = true;
  const aliases = await ctx.db.selectFrom('principal_alias').select('email').where('principal_id', '=', r.principal.id).execute();
  for (const a of aliases) r.addresses.add(a.email.toLowerCase());
}

/**
 * Envelope recipients (else, for HTTP intake without an envelope, the header recipients and
 * every internal address named in the calendar) → principals, in one lookup.
 */
async function resolveRecipients(ctx: AppContext, envelopeTo: string[], mail: InboundMail, facts: (p: CalendarPart) => PartFacts): Promise<Recipient[]> {
  const candidates: string[] = [];
  if (envelopeTo.length) candidates.push(...envelopeTo);
  else {
    for (const a of [...mail.to, ...mail.cc]) candidates.push(a.address);
    for (const part of mail.parts) {
      const f = facts(part);
      candidates.push(...(ATTENDEE_SIDE.has(part.method ?? '') ? [f.organizer ?? ''] : f.attendees));
    }
  }
  const list = [...new Set(candidates.map((a) => a.trim().replace(/^<|>$/g, '').toLowerCase()).filter((a) => a && !isBounceAddress(ctx, a)))];
  if (!list.length) return [];
  const found = await principals.resolveAddresses(ctx.db, [...list, ...list.map(normalizeRecipient)]);
  const byId = new Map<string, Recipient>();
  for (const addr of list) {
    const p = found.get(addr) ?? found.get(normalizeRecipient(addr));
    if (!p || p.disabled || p.kind === 'group') continue;
    const r = byId.get(p.id);
    if (r) { r.addresses.add(addr); r.addresses.add(normalizeRecipient(addr)); }
    else byId.set(p.id, { principal: p, addresses: new Set([p.email.toLowerCase(), addr, normalizeRecipient(addr)]), aliasesLoaded: false });
  }
  return [...byId.values()];
}

function senderAddresses(mail: InboundMail): string[] {
  return [mail.from?.address, mail.sender?.address].filter((x): x is string => !!x).map((x) => normalizeAddress(x));
}

export interface ProcessSummary { decisions: number; applied: number }

/**
 * Processes one stored message: every recipient, or (`to`) only the given envelope recipients —
 * a message for several users is split into one job per user, each in that user's queue. The
 * decision-log records and the message's state are written together at the end.
 *
 * With `jobId` (the running job of a recipient's queue), the messages already queued behind it
 * for the same recipient are applied in the same run: see processQueued.
 */
export function processInbound(ctx: AppContext, id: string, opts: { to?: string[]; queue?: string; jobId?: string; lockedBy?: string | null; onJobCompleted?: () => void } = {}): Promise<ProcessSummary | null> {
  const batchable = !opts.to && !!opts.jobId && !!opts.queue && opts.queue.startsWith('intake:') && opts.queue !== UNROUTED_QUEUE;
  return inOrder(opts.queue, () => batchable ? processQueued(ctx, id, opts.jobId!, opts.queue!, { lockedBy: opts.lockedBy ?? null, onJobCompleted: opts.onJobCompleted }) : processOne(ctx, id, opts));
}

/** Most messages one run applies (the running job's own and those queued behind it). */
export const INTAKE_BATCH_MAX = 32;

/**
 * One recipient, a backlog: the running job's message and the messages queued behind it in the
 * recipient's queue (waitingIntakeJobs: a contiguous run of plain first attempts) are applied in
 * arrival order inside ONE transaction, whose last statement (finishIntakeBatch) writes the
 * decision records, message states and notification jobs and completes the jobs of the messages
 * taken along. A message with nothing queued behind it is a batch of one (bounces excepted). So a backlog costs one commit (one WAL flush), one job fetch and one job
 * completion per batch instead of per message, and the batch grows with the backlog.
 *
 * All or nothing: a worker that dies mid-batch commits nothing (the running job is freed by
 * liveness.ts, the others are still queued). If anything in the batch fails, the transaction is
 * rolled back and the running job's message is processed alone, exactly as without batching; the
 * others stay queued as jobs of their own (a bad message cannot hold up the ones before it, and
 * fails on its own job with its own retries).
 *
 * Locks: every UID of the batch is locked up front, in one order (sorted), before the first
 * write. The single-message path takes its UID lock before the calendar row; taking later UIDs
 * after an earlier message's calendar row could deadlock with a CalDAV or REST write.
 */
async function processQueued(ctx: AppContext, id: string, jobId: string, queue: string, running: { lockedBy: string | null; onJobCompleted?: () => void }): Promise<ProcessSummary | null> {
  // The jobs queued behind this one and all their messages: one statement.
  const { waiting, rows } = await queuedIntakeBatch(ctx.db, queue, jobId, id, INTAKE_BATCH_MAX - 1);
  const head = rows.get(id);
  if (!head || head.state !== 'queued') return processOne(ctx, id, {});
  const batch: { jobId: string | null; row: InboundRow | null; mail: InboundMail | null }[] = [{ jobId: null, row: head, mail: await extractCalendarParts(head.raw, { maxBytes: ctx.config.intakeMaxBytes }) }];
  for (const w of waiting) {
    const row = rows.get(w.inboundId);
    // A job whose message is gone or already processed is completed with the batch (it would do nothing).
    if (!row || row.state !== 'queued') { batch.push({ jobId: w.jobId, row: null, mail: null }); continue; }
    const mail = await extractCalendarParts(row.raw, { maxBytes: ctx.config.intakeMaxBytes });
    // Bounces touch other people's delivery state: left to a run of their own (and everything after them).
    if (mail.dsn) break;
    batch.push({ jobId: w.jobId, row, mail });
  }
  const headMail = batch[0].mail!;
  // A message alone goes the same way (a batch of one): its UID locked and its copy read once, in one transaction.
  if (headMail.dsn) return processOne(ctx, id, {}, { row: head, mail: headMail });
  const uids = new Set<string>();
  for (const b of batch) for (const p of b.mail?.parts ?? []) {
    const uid = p.uid ?? partFacts(p.ical).uid;
    if (uid) uids.add(uid);
  }
  try {
    let runningCompleted = false;
    const out = await ctx.db.transaction().execute(async (trx) => {
      // The UID locks, then the messages still queued now that the batch holds them (they were
      // read before the transaction began), locked: one statement.
      const queued = await lockIntakeBatch(trx, uids, batch.flatMap((b) => (b.row ? [b.row.id] : [])));
      const tctx: AppContext = { ...ctx, db: trx };
      // The queue's recipient's copies of the batch's UIDs and default calendar, read once under the
      // UID locks (so current): each is used by the first message of its UID (see BatchSink.targets).
      const owner = queue.slice('intake:'.length);
      const targets = uids.size && /^[0-9a-f-]{36}$/i.test(owner) ? { ownerId: owner, ...(await intakeTargets(trx, owner, [...uids])) } : undefined;
      // The batch's decision records, message states and notification jobs are written once, at the end.
      const sink: BatchSink = { decisions: [], finished: [], recipients: new Map(), lockedUids: uids, ...(targets ? { targets } : {}) };
      const notifications: JobSpec[] = [];
      deferNotifyJobs(trx, notifications);
      let first: ProcessSummary | null = null;
      for (const [i, b] of batch.entries()) {
        if (!b.row || !b.mail || !queued.has(b.row.id)) continue;
        const s = await processOne(tctx, b.row.id, {}, { row: b.row, mail: b.mail }, sink);
        if (i === 0) first = s;
      }
      // The running job is completed by this commit too (graphile-worker's completion then writes nothing).
      runningCompleted = await finishIntakeBatch(trx, sink.decisions, sink.finished, batchNotifications(notifications), batch.flatMap((b) => (b.jobId ? [b.jobId] : [])), { id: jobId, lockedBy: running.lockedBy });
      return first;
    });
    // Committed: graphile-worker need not complete the job again.
    if (runningCompleted) running.onJobCompleted?.();
    return out;
  } catch (e) {
    ctx.log.info({ inbound: id, batch: batch.length, err: (e as Error).message }, 'mail intake batch rolled back; processing the first message alone');
    return processOne(ctx, id, {});
  }
}

/**
 * The notification jobs a batch collected, with its invitations and its cancellations merged into
 * one 'notify' job per kind and sender (sendNotificationBatch: the same mails, with the reads done
 * once and the delivery log written in one statement) instead of one job per message: under a
 * backlog that is one job fetch and completion per batch instead of one per message. Other kinds
 * (answers, counter proposals) stay jobs of their own, in the order they were queued. A merged job
 * runs in one of the notify-batch queues, as a batched delivery's does (notifyBatchQueue).
 */
const MERGEABLE_FIELDS = new Set(['kind', 'recipientId', 'ownerId', 'objectId', 'from', 'previousIcal']);

export function batchNotifications(jobs: JobSpec[]): JobSpec[] {
  const out: JobSpec[] = [];
  const merged = new Map<string, { kind: 'invitation' | 'cancellation'; from: string | undefined; items: NotifyBatchPayload['items'] }>();
  for (const j of jobs) {
    const p = j.payload as NotifyPayload;
    const plain = j.name === 'notify' && !j.jobKey && !j.runAt && !j.queue && (p.kind === 'invitation' || p.kind === 'cancellation') && !p.previousIcal
      && Object.keys(p).every((k) => MERGEABLE_FIELDS.has(k));
    if (!plain) { out.push(j); continue; }
    const key = `${p.kind}\n${p.from ?? ''}`;
    let m = merged.get(key);
    if (!m) merged.set(key, (m = { kind: p.kind as 'invitation' | 'cancellation', from: p.from, items: [] }));
    m.items.push({ recipientId: p.recipientId, ownerId: p.ownerId, objectId: p.objectId });
  }
  for (const m of merged.values()) {
    if (m.items.length === 1) {
      out.push({ name: 'notify', payload: { kind: m.kind, ...m.items[0], ...(m.from ? { from: m.from } : {}), ...(m.kind === 'invitation' ? { previousIcal: null } : {}) } });
    } else {
      out.push({ name: 'notify', payload: { kind: m.kind, ...(m.from ? { from: m.from } : {}), items: m.items } satisfies NotifyBatchPayload, queue: notifyBatchQueue(m.items[0].recipientId) });
    }
  }
  return out;
}

/**
 * Jobs of one recipient queue run one after the other, in the order the worker started them.
 * graphile-worker promises this for named queues; 0.17.3's local queue (batch fetch) broke it
 * (graphile/worker#621), which patches/graphile-worker+0.17.3.patch fixes. This second guard
 * keeps the order within a worker process should the patch be missing (it costs nothing when
 * jobs already arrive one at a time). Entered synchronously when the job starts.
 */
const chains = new Map<string, Promise<unknown>>();
function inOrder<T>(key: string | undefined, fn: () => Promise<T>): Promise<T> {
  if (!key) return fn();
  const run = (chains.get(key) ?? Promise.resolve()).then(fn, fn);
  const tail = run.then(() => undefined, () => undefined);
  chains.set(key, tail);
  void tail.then(() => { if (chains.get(key) === tail) chains.delete(key); });
  return run;
}

/**
 * Inside a batch (processQueued): where processOne leaves its decision records and finished
 * message instead of writing them itself, the recipients it resolved (one recipient queue: the
 * same envelope every time), and the UIDs the batch already locked.
 */
interface BatchSink {
  decisions: NewDecision[];
  finished: { id: string; messageId: string | null }[];
  recipients: Map<string, Recipient[]>;
  lockedUids: ReadonlySet<string>;
  /**
   * What intakeTarget would read for the queue's recipient, read for all the batch's UIDs at once.
   * An entry serves the first message of its UID only and is then dropped: a later message of the
   * same UID (which the earlier one may have written) reads its copy again.
   */
  targets?: { ownerId: string; copies: Map<string, ObjectRow>; defaultCalendarId: string | null; used?: Set<string> };
}

/** intakeTarget, from the batch's prefetch when it has the answer (see BatchSink.targets). */
async function targetOf(ctx: AppContext, ownerId: string, uid: string, sink: BatchSink | undefined): Promise<{ existing: ObjectRow | null; defaultCalendarId: string | null }> {
  const t = sink?.targets;
  if (t && t.ownerId === ownerId && !(t.used ??= new Set()).has(uid)) {
    t.used.add(uid);
    return { existing: t.copies.get(uid) ?? null, defaultCalendarId: t.defaultCalendarId };
  }
  return intakeTarget(ctx.db, ownerId, uid);
}

async function processOne(ctx: AppContext, id: string, opts: { to?: string[] }, loaded?: { row: InboundRow; mail: InboundMail }, sink?: BatchSink): Promise<ProcessSummary | null> {
  const row = loaded?.row ?? await findInbound(ctx.db, id);
  if (!row) return null;
  const partial = !!opts.to;
  if (!partial && row.state !== 'queued') return null;
  const mail = loaded?.mail ?? await extractCalendarParts(row.raw, { maxBytes: ctx.config.intakeMaxBytes });
  // Each calendar part is parsed once for its ORGANIZER/ATTENDEE facts, whatever the number of recipients.
  const factsCache = new Map<CalendarPart, PartFacts>();
  const facts = (p: CalendarPart) => {
    let f = factsCache.get(p);
    if (!f) factsCache.set(p, (f = partFacts(p.ical)));
    return f;
  };
  const envelopeTo = opts.to ?? row.envelope_to;
  const summary: ProcessSummary = { decisions: 0, applied: 0 };
  const base = { inboundId: id, messageId: mail.messageId, sender: mail.from?.address?.toLowerCase() ?? row.envelope_from ?? null };
  const pending: NewDecision[] = [];
  const finish = { id, messageId: mail.messageId };
  let finished = false;
  const decide = async (d: Omit<NewDecision, 'inboundId' | 'messageId' | 'sender'>) => {
    summary.decisions++;
    if (d.outcome === 'applied') summary.applied++;
    pending.push({ ...base, ...d });
  };
  try {
    if (mail.dsn) {
      await handleBounce(ctx, mail, decide);
    } else if (!mail.parts.length) {
      await decide({ ownerId: null, recipient: envelopeTo.join(', ') || null, method: null, uid: null, code: 'NO_CALENDAR', outcome: 'rejected',
        reason: mail.errors.length ? `No usable calendar part: ${mail.errors.join('; ')}` : 'The message has no text/calendar part or .ics attachment' });
    } else {
      const key = envelopeTo.length ? envelopeTo.join('\n') : null;
      let recipients = (key !== null ? sink?.recipients.get(key) : undefined) ?? await resolveRecipients(ctx, envelopeTo, mail, facts);
      if (sink && key !== null) sink.recipients.set(key, recipients);
      if (partial && recipients.length) {
        // A retried split job: recipients already decided for this message are done.
        const done = await decidedOwners(ctx.db, id, recipients.map((r) => r.principal.id));
        recipients = recipients.filter((r) => !done.has(r.principal.id));
        if (!recipients.length) return summary;
      }
      if (!recipients.length) {
        await decide({ ownerId: null, recipient: envelopeTo.join(', ') || mail.to.map((a) => a.address).join(', ') || null, method: mail.parts[0].method, uid: mail.parts[0].uid,
          code: 'UNKNOWN_RECIPIENT', outcome: 'rejected', reason: 'No recipient of this message is a user of this calendar' });
      }
      // One calendar part for one user (the usual invitation): its decision record and the
      // message's state are written in the calendar write's own transaction (one commit less).
      const single = mail.parts.length === 1 && recipients.length === 1 && recipients[0].principal.kind === 'user';
      const finishIn = single && !sink ? async (trx: DB) => { await insertDecisionsAndFinish(trx, pending, finish); finished = true; } : undefined;
      for (const part of mail.parts) for (const r of recipients) await applyPart(ctx, mail, part, facts(part), r, decide, finishIn, sink);
    }
    if (sink) {
      // Written by the batch, in this same transaction, after its last message.
      sink.decisions.push(...pending);
      sink.finished.push(finish);
    } else if (!finished) await insertDecisionsAndFinish(ctx.db, pending, finish);
  } catch (e) {
    // The job retries; after the last attempt the message stays 'queued' for an admin to look at.
    ctx.log.warn({ inbound: id, err: (e as Error).message }, 'mail intake processing failed');
    throw e;
  }
  return summary;
}

type Decide = (d: Omit<NewDecision, 'inboundId' | 'messageId' | 'sender'>) => Promise<void>;

/** Writes the pending decision records and finishes the message inside the given transaction. */
type FinishIn = (trx: DB) => Promise<void>;

async function applyPart(ctx: AppContext, mail: InboundMail, part: CalendarPart, facts: PartFacts, r: Recipient, decide: Decide, finishIn?: FinishIn, sink?: BatchSink) {
  const lockedUids = sink?.lockedUids;
  const method = (part.method ?? '').toUpperCase();
  const uid = part.uid ?? facts.uid;
  const base = { ownerId: r.principal.id, method: method || null, uid };
  if (!ORGANIZER_SIDE.has(method) && !ATTENDEE_SIDE.has(method)) {
    return decide({ ...base, recipient: r.principal.email, code: method ? 'UNSUPPORTED_METHOD' : 'NO_METHOD', outcome: 'rejected',
      reason: method ? `METHOD ${method} is not an iTIP scheduling message (PUBLISH calendars are imported, not mailed)` : 'The calendar has no METHOD: it is not an iTIP message' });
  }
  const organizerSide = ORGANIZER_SIDE.has(method);
  // The recipient's own address as the calendar names it (an alias, a +tag address, the main one).
  const nameIn = () => organizerSide ? facts.attendees.find((a) => r.addresses.has(a)) : (facts.organizer && r.addresses.has(facts.organizer) ? facts.organizer : undefined);
  let named = nameIn();
  if (!named) {
    await loadAliases(ctx, r);
    named = nameIn();
  }
  const recipientAddress = named ?? r.principal.email.toLowerCase();
  const senders = senderAddresses(mail);
  let identityMatches = false;
  let speaker = senders[0] ?? '';
  let identityWhy: string;
  if (organizerSide) {
    const hit = senders.find((s) => s === facts.organizer || (facts.sentBy && s === facts.sentBy));
    identityMatches = !!hit;
    if (hit) speaker = facts.organizer ?? hit;
    identityWhy = hit ? `sender ${hit} is the organizer${hit === facts.sentBy ? "'s SENT-BY" : ''}` : `sender ${senders.join(', ') || '(none)'} is not the organizer ${facts.organizer ?? '(none)'}`;
  } else {
    const hit = senders.find((s) => facts.attendees.includes(s));
    identityMatches = !!hit;
    if (hit) speaker = hit;
    identityWhy = hit ? `sender ${hit} is the answering attendee` : `sender ${senders.join(', ') || '(none)'} is not the attendee ${facts.attendees.join(', ') || '(none)'}`;
  }
  // The copy of this UID and the default calendar in one query (deliverMessage needs both and does not read them again).
  const target0 = uid ? await targetOf(ctx, r.principal.id, uid, sink) : { existing: null, defaultCalendarId: null };
  const existing = target0.existing ?? undefined;
  // Someone else's UID: never hold it for acceptance either (UID guessing must change nothing).
  if (organizerSide && existing?.organizer && facts.organizer && normalizeAddress(existing.organizer) !== facts.organizer) {
    return decide({ ...base, recipient: recipientAddress, objectId: existing.id, code: 'ORGANIZER_MISMATCH', outcome: 'rejected',
      reason: `The stored event is organised by ${existing.organizer}; this message claims ${facts.organizer}` });
  }
  if (!organizerSide && (!existing || existing.role !== 'organizer')) {
    return decide({ ...base, recipient: recipientAddress, objectId: existing?.id ?? null, code: existing ? 'NOT_ORGANIZER_COPY' : 'UNKNOWN_UID', outcome: 'ignored',
      reason: existing ? `A ${method} goes to the organizer; ${r.principal.email} is not the organizer of ${uid}` : `No event with UID ${uid} organised by ${r.principal.email}` });
  }
  // Attendee-side messages go to the organizer's copy under the address it is stored with.
  const target = organizerSide ? recipientAddress : (existing?.organizer ?? recipientAddress);
  const known = organizerSide && ctx.config.intakeTrust === 'known' && facts.organizer
    ? !!existing || !!(await ctx.db.selectFrom('calendar_object').select('id').where('owner_id', '=', r.principal.id).where('organizer', '=', facts.organizer).limit(1).executeTakeFirst())
    : false;
  const verdict = decideTrust({
    policy: (['default', 'authenticated', 'known', 'never'].includes(ctx.config.intakeTrust) ? ctx.config.intakeTrust : 'default') as TrustPolicy,
    method, identityMatches, identityWhy, auth: authVerdict(mail.authResults, ctx.config.intakeTrustedAuthserv), knownCorrespondent: known,
  });
  if (!verdict.apply) {
    const hold = organizerSide && method !== 'DECLINECOUNTER';
    return decide({ ...base, recipient: recipientAddress, objectId: existing?.id ?? null, code: verdict.code, outcome: hold ? 'held' : 'rejected',
      reason: hold ? `Held as an unverified invitation: ${verdict.reason}` : verdict.reason, ...(hold ? { ical: part.ical, details: { recipientAddress, sender: speaker } } : {}) });
  }
  const ownerAliases = [...r.addresses].filter((a) => a !== r.principal.email.toLowerCase());
  await applyVerified(ctx, r.principal, { method, ical: part.ical, sender: speaker, uid, recipientAddress: target }, decide, 'enforce', undefined,
    { recipient: r.principal, existing: existing ?? null, defaultCalendarId: target0.defaultCalendarId, ownerAliases, uidLocked: !!uid && !!lockedUids?.has(uid) }, finishIn);
}

/** Applies a message whose sender is trusted (or that the user accepted) and records the result. */
export async function applyVerified(ctx: AppContext, recipient: PrincipalRow, m: { method: string; ical: string; sender: string; uid: string | null; recipientAddress: string }, decide: Decide, trust: 'enforce' | 'trusted', acceptedFrom?: string,
  known?: { recipient: PrincipalRow; existing: ObjectRow | null; defaultCalendarId: string | null; ownerAliases: string[]; uidLocked?: boolean }, finishIn?: FinishIn) {
  const base = { ownerId: recipient.id, method: m.method, uid: m.uid, recipient: m.recipientAddress };
  const details = acceptedFrom ? { acceptedFrom } : undefined;
  // A plain outcome (not a counter-proposal or refresh, which queue more work afterwards) is
  // recorded inside the write transaction when the caller allows it: see processOne.
  let decidedInTrx = false;
  const beforeCommit = finishIn
    ? async (trx: DB, o: DeliveryOutcome) => {
      if (o.result.code === 'COUNTER_PROPOSAL' || o.result.code === 'REFRESH_REQUESTED') return;
      await decide(plainDecision(base, o, details));
      await finishIn(trx);
      decidedInTrx = true;
    }
    : undefined;
  // The recipient and its copy were just read by the caller (same job, same recipient queue): not read again.
  const out = await deliverMessage(ctx, { recipientId: recipient.id, uid: m.uid ?? '', method: m.method as ImipPayload['method'], sender: m.sender, ical: m.ical, significant: true },
    { trust, acceptPartyCrashers: ctx.config.intakeAcceptPartyCrashers, recipientAddress: m.recipientAddress,
      ...(known ? { known: { recipient: known.recipient, existing: known.existing, defaultCalendarId: known.defaultCalendarId }, ownerAliases: known.ownerAliases, uidLocked: !!known.uidLocked } : {}),
      ...(beforeCommit ? { beforeCommit } : {}) });
  if (decidedInTrx) return;
  const res = out.result;
  const objectId = out.row?.id ?? null;
  if (res.code === 'COUNTER_PROPOSAL' && res.counterProposal && out.row) {
    const cp = res.counterProposal;
    await decide({ ...base, objectId, code: res.code, outcome: 'counter', reason: res.reason, ical: m.ical, details: { ...cp, ical: undefined } });
    await notifyJob(ctx, ctx.db, { kind: 'counter', recipientId: recipient.id, ownerId: recipient.id, objectId: out.row.id, from: cp.from,
      counter: { from: cp.from, ...(cp.dtstart ? { start: cp.dtstart } : {}), ...(cp.dtend ? { end: cp.dtend } : {}), ...(cp.comment ? { comment: cp.comment } : {}) } } as never);
    return;
  }
  if (res.code === 'REFRESH_REQUESTED' && res.refreshFor && out.row) {
    const req = requestFor(out.row.ical, res.refreshFor);
    if (req) {
      const payload: ImipPayload = { ownerId: recipient.id, uid: out.row.uid, method: 'REQUEST', sender: recipient.email.toLowerCase(), recipient: res.refreshFor, ical: req.ical, significant: false, deliveryId: `refresh.${Date.now().toString(36)}.${Math.random().toString(36).slice(2, 8)}` };
      await enqueue(ctx.db, 'imip-send', payload);
    }
    return decide({ ...base, objectId, code: res.code, outcome: 'applied', reason: `${res.reason} The current version was sent again to ${res.refreshFor}.`, details });
  }
  await decide(plainDecision(base, out, details));
}

function plainDecision(base: { ownerId: string; method: string; uid: string | null; recipient: string }, out: DeliveryOutcome, details: { acceptedFrom: string } | undefined) {
  const res = out.result;
  const outcome = res.action === 'create' || res.action === 'update' || res.action === 'delete' ? 'applied' as const : res.action === 'ignore' ? 'ignored' as const : 'rejected' as const;
  return { ...base, objectId: out.row?.id ?? null, code: res.code, outcome, reason: res.reason, details };
}

/** A DSN for an invitation we sent: SCHEDULE-STATUS 5.x on the attendee, the organizer told. */
async function handleBounce(ctx: AppContext, mail: InboundMail, decide: Decide) {
  const dsn = mail.dsn!;
  const uidInIcal = dsn.originalIcal ? partFacts(dsn.originalIcal).uid : null;
  if (dsn.action && dsn.action !== 'failed') {
    return decide({ ownerId: null, recipient: dsn.recipient, method: 'DSN', uid: uidInIcal, code: 'DSN_NOT_FAILURE', outcome: 'ignored', reason: `Delivery status "${dsn.action}" needs no action` });
  }
  let delivery = dsn.originalMessageId ? await findDeliveryByMessageId(ctx.db, dsn.originalMessageId) : undefined;
  if (!delivery && uidInIcal && dsn.recipient) delivery = await findDeliveryByUidRecipient(ctx.db, uidInIcal, dsn.recipient);
  if (!delivery || delivery.channel !== 'imip' || !delivery.owner_id || !delivery.uid) {
    return decide({ ownerId: null, recipient: dsn.recipient, method: 'DSN', uid: uidInIcal, code: 'BOUNCE_UNMATCHED', outcome: 'ignored',
      reason: `A bounce for ${dsn.recipient ?? '(unknown recipient)'} that matches no invitation we sent` });
  }
  const status = dsn.status?.startsWith('5') ? '5.1' : '5.1';
  const why = `${dsn.status ?? ''} ${dsn.diagnostic ?? 'bounced'}`.trim();
  await recordDelivery(ctx.db, { ownerId: delivery.owner_id, channel: 'imip', kind: delivery.kind, deliveryKey: delivery.delivery_key, recipient: delivery.recipient, uid: delivery.uid, method: delivery.method, messageId: delivery.message_id, status: 'failed', response: `bounced: ${why}` });
  await permanentFailure(ctx, { ownerId: delivery.owner_id, uid: delivery.uid, method: delivery.method ?? 'REQUEST', recipient: delivery.recipient }, delivery.owner_id, null, why, status);
  const row = await objects.findByUid(ctx.db, delivery.owner_id, delivery.uid);
  return decide({ ownerId: delivery.owner_id, recipient: delivery.recipient, method: 'DSN', uid: delivery.uid, objectId: row?.id ?? null, code: 'BOUNCE_APPLIED', outcome: 'bounce',
    reason: `The invitation to ${delivery.recipient} bounced (${why}); SCHEDULE-STATUS ${status} set and the organizer told` });
}
