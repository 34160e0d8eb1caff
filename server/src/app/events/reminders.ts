/**
 * Reminder planning (flow 5). Each object has at most one pending reminder job, keyed by the
 * object (`rem:<id>`), for its next firing: any change re-plans it by replacing the job. The
 * handler re-reads the event when due, checks it is still valid, delivers, and plans the next.
 */
import type { AppContext } from '../context.js';
import type { DB } from '../../store/db.js';
import type { ObjectRow, PrincipalRow, Reminder } from '../../store/schema.js';
import { alarmTriggers, type CompiledSeries } from '../../lib/ical/index.js';
import { expandCompiled } from '../../lib/ical/expand.js';
import { removeJob, type JobSpec } from '../../jobs/queue.js';

export interface ReminderPayload {
  ownerId: string;
  objectId: string;
  /** The instant the reminder was planned for and the occurrence it is about. */
  fireAt?: string;
  occurrenceStart?: string;
  recurrenceId?: string;
  action?: string;
  etag?: string;
}

const HORIZON = 400 * 86_400_000;

export interface NextFiring { fireAt: Date; occurrenceStart: Date; recurrenceId: string; action: string }

/** The next reminder after `after` from the event's own VALARMs, or the calendar's defaults when it has none. */
export function nextFiring(compiled: CompiledSeries, defaults: Reminder[], after: Date, tz: string, firstStart?: Date | null): NextFiring | null {
  // The window reaches HORIZON past the later of now and the event's start: an event planned more
  // than HORIZON ahead got no reminder job at all (and nothing would plan one later).
  const to = new Date(Math.max(after.getTime(), firstStart?.getTime() ?? 0) + HORIZON);
  let best: NextFiring | null = null;
  const hasOwn = compiled.components.some((c) => c.getAllSubcomponents('valarm').length > 0);
  if (hasOwn) {
    for (const f of alarmTriggers(compiled, after, to, { defaultTz: tz })) {
      if (f.fireAt.getTime() <= after.getTime()) continue;
      if (!best || f.fireAt < best.fireAt) best = { fireAt: f.fireAt, occurrenceStart: f.occurrenceStart, recurrenceId: f.recurrenceId, action: f.action };
    }
    return best;
  }
  if (!defaults.length) return null;
  const maxLead = Math.max(...defaults.map((d) => d.minutesBefore)) * 60_000;
  for (const o of expandCompiled(compiled, new Date(after.getTime()), new Date(to.getTime() + maxLead), { defaultTz: tz, limit: 50 })) {
    if (o.status === 'CANCELLED') continue;
    for (const d of defaults) {
      const fireAt = new Date(o.start.getTime() - d.minutesBefore * 60_000);
      if (fireAt.getTime() <= after.getTime()) continue;
      if (!best || fireAt < best.fireAt) best = { fireAt, occurrenceStart: o.start, recurrenceId: o.recurrenceId, action: d.action };
    }
    if (best && o.start.getTime() > best.fireAt.getTime() + maxLead) break;
  }
  return best;
}

/**
 * The reminder job for an object's next firing (replacing the pending one). `known` saves the
 * calendar read when the caller already has its default reminders, and the job removal when
 * there cannot be a pending reminder (a new object).
 */
export async function planReminders(ctx: AppContext, db: DB, row: ObjectRow, compiled: CompiledSeries, owner: PrincipalRow, after = new Date(), known?: { defaultReminders: Reminder[]; isNew: boolean }): Promise<JobSpec[]> {
  const key = `rem:${row.id}`;
  const inactive = row.status === 'CANCELLED' || row.my_partstat === 'DECLINED' || owner.kind !== 'user';
  const defaults = inactive ? [] : known ? known.defaultReminders
    : ((await db.selectFrom('calendar').select(['default_reminders']).where('owner_id', '=', row.owner_id).where('id', '=', row.calendar_id).executeTakeFirst())?.default_reminders as Reminder[] | undefined) ?? [];
  const next = inactive ? null : nextFiring(compiled, defaults, after, owner.timezone, row.first_start);
  if (!next) {
    if (!known?.isNew) await removeJob(db, key);
    return [];
  }
  const payload: ReminderPayload = {
    ownerId: row.owner_id, objectId: row.id, fireAt: next.fireAt.toISOString(), occurrenceStart: next.occurrenceStart.toISOString(),
    recurrenceId: next.recurrenceId, action: next.action, etag: row.etag,
  };
  void ctx;
  return [{ name: 'reminder', payload, jobKey: key, runAt: next.fireAt, maxAttempts: 10 }];
}
