/**
 * Reminder planning (flow 5). Each object has at most one planned reminder — a row of the
 * `reminder` table keyed by (owner, object) holding its next firing — written in the same
 * transaction as the event: any change re-plans it by replacing the row. The worker's reminder
 * sweeper (app/notify/reminders.ts) takes due rows in batches, checks each is still valid,
 * delivers, and plans the next.
 */
import type { AppContext } from '../context.js';
import type { DB } from '../../store/db.js';
import type { ObjectRow, PrincipalRow, Reminder } from '../../store/schema.js';
import { alarmTriggers, type CompiledSeries } from '../../lib/ical/index.js';
import { expandCompiled } from '../../lib/ical/expand.js';
import { deleteReminders, saveReminders, type ReminderPlanRow } from '../../store/reminders.js';

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

export interface PlannedFiring extends NextFiring {
  /** No firing can follow this one (not recurring, no second alarm): nothing to plan after it. */
  single: boolean;
}

export function isRecurring(c: CompiledSeries): boolean {
  return !!c.rule || c.rdates.length > 0 || c.overrides.size > 0 || c.components.length > 1;
}

/** nextFiring, plus whether another firing can follow it. */
export function planFiring(compiled: CompiledSeries, defaults: Reminder[], after: Date, tz: string, firstStart?: Date | null): PlannedFiring | null {
  const next = nextFiring(compiled, defaults, after, tz, firstStart);
  if (!next) return null;
  return { ...next, single: !isRecurring(compiled) && !nextFiring(compiled, defaults, next.fireAt, tz, firstStart) };
}

/**
 * What a plan was computed from: the event text (etag), the owner's zone (floating times), and —
 * only for events without their own VALARMs — the calendar's default reminders. The same basis at
 * firing time means the same plan, so the sweeper need not re-parse the event to validate it.
 */
export function reminderBasis(etag: string, tz: string, hasOwnAlarms: boolean, defaults: Reminder[]): string {
  return hasOwnAlarms ? `${etag}|${tz}` : `${etag}|${tz}|${JSON.stringify(defaults.map((d) => [d.minutesBefore, d.action]))}`;
}

export function planRow(row: Pick<ObjectRow, 'owner_id' | 'id' | 'etag' | 'has_alarms'>, tz: string, defaults: Reminder[], f: PlannedFiring): ReminderPlanRow {
  return {
    ownerId: row.owner_id, objectId: row.id, fireAt: f.fireAt, occurrenceStart: f.occurrenceStart, recurrenceId: f.recurrenceId, action: f.action,
    etag: row.etag, basis: reminderBasis(row.etag, tz, row.has_alarms, defaults), single: f.single,
  };
}

export function isActive(row: Pick<ObjectRow, 'status' | 'my_partstat' | 'deleted_at'>, owner: Pick<PrincipalRow, 'kind' | 'disabled'>): boolean {
  return !row.deleted_at && row.status !== 'CANCELLED' && row.my_partstat !== 'DECLINED' && owner.kind === 'user' && !owner.disabled;
}

export function toPayload(p: ReminderPlanRow): ReminderPayload {
  return { ownerId: p.ownerId, objectId: p.objectId, fireAt: p.fireAt.toISOString(), occurrenceStart: p.occurrenceStart.toISOString(), recurrenceId: p.recurrenceId, action: p.action, etag: p.etag };
}

/**
 * Plans the object's next reminder (replacing the planned one) in `db` — the caller's
 * transaction for writes. `known` saves the calendar read when the caller already has its default
 * reminders, and the delete when there cannot be a planned reminder (a new object).
 */
export async function planReminders(ctx: AppContext, db: DB, row: ObjectRow, compiled: CompiledSeries, owner: PrincipalRow, after = new Date(), known?: { defaultReminders: Reminder[]; isNew: boolean }): Promise<ReminderPayload | null> {
  const inactive = !isActive(row, owner);
  const defaults = inactive || row.has_alarms ? [] : known ? known.defaultReminders
    : ((await db.selectFrom('calendar').select(['default_reminders']).where('owner_id', '=', row.owner_id).where('id', '=', row.calendar_id).executeTakeFirst())?.default_reminders as Reminder[] | undefined) ?? [];
  const next = inactive ? null : planFiring(compiled, defaults, after, owner.timezone, row.first_start);
  void ctx;
  if (!next) {
    if (!known?.isNew) await deleteReminders(db, row.owner_id, [row.id]);
    return null;
  }
  const plan = planRow(row, owner.timezone, defaults, next);
  await saveReminders(db, [plan]);
  return toPayload(plan);
}
