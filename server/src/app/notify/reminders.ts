/**
 * Firing reminders (flow 5). When a reminder is due it is re-checked against the event:
 * moved → re-plan for the new time and send nothing now; cancelled, deleted or declined → drop;
 * else deliver through the user's channels (EMAIL and DISPLAY alarms alike: the server is the one
 * that reaches the person when no client is open) and plan the next occurrence's reminder.
 * Acknowledged alarms (ACKNOWLEDGED, X-MOZ-LASTACK) are skipped by alarmTriggers.
 *
 * Throughput (issue 5: 100,000 reminders due in one minute): the worker's sweeper takes due rows of
 * the `reminder` table in batches and handles a batch with set-based statements — one read each for
 * the objects, their owners and (only for events without own VALARMs) calendar defaults, one
 * idempotency query and a few delivery-log inserts per channel, one statement per kind of finish.
 * A plan whose basis (etag, zone, defaults) is unchanged is valid without re-parsing the event.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { AppContext } from '../context.js';
import type { ObjectRow, PrincipalRow, Reminder } from '../../store/schema.js';
import { claimDueReminders, extendClaim, finishReminders, saveReminders, deleteReminders, type ClaimedReminder, type FinishedReminders, type ReminderPlanRow } from '../../store/reminders.js';
import { isActive, planFiring, planRow, reminderBasis, type ReminderPayload } from '../events/reminders.js';
import { compiledFor } from '../events/compiled-cache.js';
import { dispatchMany, type Notification } from './channels.js';
import { eventUrl } from './notifications.js';
import './notifications.js';

export type ReminderOutcome = 'sent' | 'replanned' | 'dropped' | 'late' | 'retry';

/** Reminders later than this (e.g. after a long outage) are not sent; the next one is planned. */
const MAX_LATENESS_MS = 6 * 3600_000;
/** A reminder claimed this many times without finishing is given up (its next firing is planned). */
const MAX_ATTEMPTS = 10;

/** A reminder to fire: a claimed row (with gen), or a bare payload (an old queue job, a test). */
type Item = Omit<ReminderPlanRow, 'basis' | 'single'> & { basis?: string; single?: boolean; gen?: string; attempts?: number };

interface Result { outcome: ReminderOutcome; next?: ReminderPlanRow; error?: unknown }

function backoffMs(attempts: number): number {
  return Math.min(10 * 60_000, 5000 * 2 ** Math.max(0, attempts - 1));
}

async function loadBatch(ctx: AppContext, items: Item[]) {
  const ownerIds = [...new Set(items.map((i) => i.ownerId))];
  const owners = new Map((await ctx.db.selectFrom('principal').selectAll().where('id', 'in', ownerIds).execute()).map((p) => [p.id, p as PrincipalRow]));
  const objs = await sql<ObjectRow>`
    select o.* from unnest(${items.map((i) => i.ownerId)}::uuid[], ${items.map((i) => i.objectId)}::uuid[]) as b(owner_id, id)
    join calendar_object o on o.owner_id = b.owner_id and o.id = b.id
    where o.deleted_at is null`.execute(ctx.db);
  const rows = new Map(objs.rows.map((r) => [r.id, r]));
  // Default reminders matter only for events without VALARMs of their own.
  const need = objs.rows.filter((r) => !r.has_alarms);
  const defaults = new Map<string, Reminder[]>();
  if (need.length) {
    const cals = await sql<{ owner_id: string; id: string; default_reminders: Reminder[] | null }>`
      select c.owner_id, c.id, c.default_reminders from unnest(${need.map((r) => r.owner_id)}::uuid[], ${need.map((r) => r.calendar_id)}::uuid[]) as b(owner_id, id)
      join calendar c on c.owner_id = b.owner_id and c.id = b.id`.execute(ctx.db);
    for (const c of cals.rows) defaults.set(`${c.owner_id}/${c.id}`, c.default_reminders ?? []);
  }
  return { owners, rows, defaultsOf: (r: ObjectRow) => (r.has_alarms ? [] : defaults.get(`${r.owner_id}/${r.calendar_id}`) ?? []) };
}

/**
 * Fires a batch of due reminders. Each gets an outcome, and — unless it is dropped or to be
 * retried — the next firing to plan (or none).
 */
async function fireBatch(ctx: AppContext, items: Item[], opts: { concurrency?: number } = {}): Promise<Result[]> {
  const { owners, rows, defaultsOf } = await loadBatch(ctx, items);
  const results: Result[] = items.map(() => ({ outcome: 'dropped' }));
  const sends: { i: number; n: Notification }[] = [];
  const after: (() => ReminderPlanRow | undefined)[] = [];
  items.forEach((it, i) => {
    const row = rows.get(it.objectId);
    const owner = owners.get(it.ownerId);
    if (!row || row.owner_id !== it.ownerId || !owner || !isActive(row, owner)) return;
    const tz = owner.timezone;
    const defaults = defaultsOf(row);
    const due = it.fireAt;
    let single = it.single ?? false;
    if (it.basis !== reminderBasis(row.etag, tz, row.has_alarms, defaults)) {
      // The event (or the zone, or the defaults) changed since planning: re-plan from just before
      // the planned time; if the next firing differs, the event moved — send nothing now.
      const fresh = planFiring(compiledFor(row.etag, row.ical), defaults, new Date(due.getTime() - 1000), tz, row.first_start);
      if (!fresh || fresh.fireAt.getTime() !== due.getTime() || fresh.occurrenceStart.getTime() !== it.occurrenceStart.getTime()) {
        results[i] = { outcome: 'replanned', ...(fresh ? { next: planRow(row, tz, defaults, fresh) } : {}) };
        return;
      }
      single = fresh.single;
    }
    const nextAfter = () => {
      if (single) return undefined;
      const f = planFiring(compiledFor(row.etag, row.ical), defaults, new Date(due.getTime() + 1000), tz, row.first_start);
      return f ? planRow(row, tz, defaults, f) : undefined;
    };
    const lateness = Date.now() - due.getTime();
    if (lateness >= MAX_LATENESS_MS || (it.attempts ?? 0) > MAX_ATTEMPTS) {
      if (lateness < MAX_LATENESS_MS) ctx.log.warn({ ownerId: it.ownerId, objectId: it.objectId, attempts: it.attempts }, 'reminder given up after repeated attempts');
      results[i] = { outcome: 'late', next: nextAfter() };
      return;
    }
    const start = it.occurrenceStart;
    sends.push({ i, n: {
      kind: 'reminder', recipient: owner, key: `rem.${row.id}.${due.getTime()}.${start.getTime()}`,
      event: {
        objectId: row.id, uid: row.uid, summary: row.summary, start, allDay: row.all_day, location: row.location || undefined,
        organizerName: row.organizer ?? undefined, url: eventUrl(ctx, row.id),
      },
      reminder: { minutesBefore: Math.round((start.getTime() - due.getTime()) / 60_000), occurrenceStart: start },
    } });
    after[i] = nextAfter;
  });
  if (sends.length) {
    const sent = await dispatchMany(ctx, sends.map((s) => s.n), { concurrency: opts.concurrency });
    sends.forEach((s, k) => {
      results[s.i] = sent[k].retry ? { outcome: 'retry', error: sent[k].retry } : { outcome: 'sent', next: after[s.i]() };
    });
  }
  return results;
}

/** Fires one reminder from a payload (a job queued before the reminder table, tests); throws to retry. */
export async function fireReminder(ctx: AppContext, p: ReminderPayload): Promise<ReminderOutcome> {
  if (!p.fireAt || !p.occurrenceStart) return 'dropped';
  const item: Item = {
    ownerId: p.ownerId, objectId: p.objectId, fireAt: new Date(p.fireAt), occurrenceStart: new Date(p.occurrenceStart),
    recurrenceId: p.recurrenceId ?? '', action: p.action ?? 'DISPLAY', etag: p.etag ?? '',
  };
  const [r] = await fireBatch(ctx, [item]);
  if (r.outcome === 'retry') throw r.error;
  // Not a claimed row: what is written is computed from the event as it is now.
  if (r.next) await saveReminders(ctx.db, [r.next]);
  else await deleteReminders(ctx.db, p.ownerId, [p.objectId]);
  return r.outcome;
}

/** Fires claimed rows and finishes them (only the generation taken; a re-plan meanwhile wins). */
export async function fireClaimed(ctx: AppContext, claimed: ClaimedReminder[], opts: { concurrency?: number } = {}): Promise<Record<ReminderOutcome, number>> {
  const results = await fireBatch(ctx, claimed, opts);
  const f: FinishedReminders = { next: [], done: [], retry: [] };
  const counts: Record<ReminderOutcome, number> = { sent: 0, replanned: 0, dropped: 0, late: 0, retry: 0 };
  results.forEach((r, i) => {
    const c = claimed[i];
    const key = { ownerId: c.ownerId, objectId: c.objectId, gen: c.gen };
    counts[r.outcome]++;
    if (r.outcome === 'retry') f.retry.push({ ...key, delayMs: backoffMs(c.attempts), error: String((r.error as Error)?.message ?? r.error) });
    else if (r.next) f.next.push({ ...r.next, gen: c.gen });
    else f.done.push(key);
  });
  await finishReminders(ctx.db, f);
  return counts;
}

export interface SweeperOptions {
  /** Batches handled at the same time (each: one claim, its sends, its finish). */
  lanes?: number;
  /** Reminders per claim. */
  batch?: number;
  /** Sends in flight per lane. */
  concurrency?: number;
  /** How long a claim holds when its process dies; renewed while the batch runs. */
  leaseMs?: number;
  /** Idle poll interval. */
  pollMs?: number;
}

/**
 * The reminder sweeper of a worker process: `lanes` loops, each claiming up to `batch` due
 * reminders (FOR UPDATE SKIP LOCKED, so any number of worker processes share the work), firing
 * them and finishing them. Crash safety: a claim is a lease (due_at moved forward, renewed every
 * leaseMs/3); rows of a dead process are due again when it runs out, and the delivery log keeps a
 * reminder already sent from going out twice.
 */
export function startReminderSweeper(ctx: AppContext, o: SweeperOptions = {}): { stop(): Promise<void> } {
  const lanes = o.lanes ?? 3;
  const batch = o.batch ?? 200;
  const leaseMs = o.leaseMs ?? 60_000;
  const pollMs = o.pollMs ?? 200;
  const concurrency = o.concurrency ?? Math.max(8, 4 * (ctx.config.smtpMaxConnections ?? 5));
  const token = randomUUID();
  let stopped = false;
  const wakers = new Set<() => void>();
  const sleep = (ms: number) => new Promise<void>((resolve) => {
    const done = () => { clearTimeout(t); wakers.delete(done); resolve(); };
    const t = setTimeout(done, ms);
    wakers.add(done);
  });
  const lane = async (n: number) => {
    await sleep((pollMs * n) / lanes); // stagger the idle polls
    while (!stopped) {
      let claimed: ClaimedReminder[];
      try {
        claimed = await claimDueReminders(ctx.db, token, batch, leaseMs);
      } catch (e) {
        ctx.log.warn({ err: (e as Error).message }, 'reminder claim failed');
        await sleep(1000);
        continue;
      }
      if (!claimed.length) {
        await sleep(pollMs);
        continue;
      }
      const hb = setInterval(() => { extendClaim(ctx.db, token, claimed, leaseMs).catch((e) => ctx.log.warn({ err: (e as Error).message }, 'reminder lease renewal failed')); }, leaseMs / 3);
      try {
        const counts = await fireClaimed(ctx, claimed, { concurrency });
        ctx.log.debug({ component: 'reminders', ...counts }, 'reminder batch done');
      } catch (e) {
        ctx.log.warn({ err: (e as Error).message, n: claimed.length }, 'reminder batch failed; retrying later');
        await finishReminders(ctx.db, { next: [], done: [], retry: claimed.map((c) => ({ ownerId: c.ownerId, objectId: c.objectId, gen: c.gen, delayMs: backoffMs(c.attempts), error: (e as Error).message })) })
          .catch(() => {}); // the lease runs out instead
      } finally {
        clearInterval(hb);
      }
    }
  };
  const running = Array.from({ length: lanes }, (_, n) => lane(n));
  return {
    stop: async () => {
      stopped = true;
      for (const w of [...wakers]) w();
      await Promise.all(running);
    },
  };
}
