/**
 * Re-planning a user's reminders after a change that moves them without touching the events:
 * - the user's time zone: floating times (RFC 5545 §3.3.5) and all-day dates (§3.3.4) happen at
 *   their wall time in the owner's zone, so their reminders move with it;
 * - a calendar's default reminders: they apply to the events of that calendar without VALARMs
 *   of their own.
 * Without this, a plan made under the old setting would only be corrected when it fires — too late
 * when the new setting makes a reminder earlier. The change queues one `reminders-replan` job (same
 * transaction, keyed per owner and calendar so a burst of changes runs once); the job walks the
 * affected objects in chunks and writes each plan only if the object is still the version it read
 * (a concurrent event write plans for itself).
 */
import type { AppContext } from '../context.js';
import type { DB } from '../../store/db.js';
import type { ObjectRow, PrincipalRow, Reminder } from '../../store/schema.js';
import { replaceRemindersIfCurrent, type ReminderPlanRow } from '../../store/reminders.js';
import { compileResource } from '../../lib/ical/index.js';
import { enqueue } from '../../jobs/queue.js';
import { updatePrincipal } from '../../store/principals.js';
import { isActive, planFiring, planRow } from './reminders.js';

export interface ReplanPayload {
  ownerId: string;
  /** 'zone': every calendar of the owner, floating and all-day objects; 'defaults': this calendar, objects without own VALARMs. */
  reason: 'zone' | 'defaults';
  calendarId?: string;
}

/** Queues the re-plan in `db` (the transaction of the change). */
export function queueReplan(db: DB, p: ReplanPayload): Promise<void> {
  return enqueue(db, 'reminders-replan', p, { jobKey: `reminders-replan:${p.ownerId}:${p.reason === 'zone' ? '*' : p.calendarId}` });
}

const CHUNK = 500;

export async function replanReminders(ctx: AppContext, p: ReplanPayload, now = new Date()): Promise<{ planned: number; removed: number }> {
  const owner = await ctx.db.selectFrom('principal').selectAll().where('id', '=', p.ownerId).executeTakeFirst() as PrincipalRow | undefined;
  if (!owner) return { planned: 0, removed: 0 };
  const defaults = new Map((await ctx.db.selectFrom('calendar').select(['id', 'default_reminders']).where('owner_id', '=', p.ownerId).execute())
    .map((c) => [c.id, (c.default_reminders as Reminder[] | null) ?? []]));
  // An object whose whole span ended more than a day ago (the widest zone offset) fires no more.
  const horizon = new Date(now.getTime() - 86_400_000);
  let after = '00000000-0000-0000-0000-000000000000';
  let planned = 0, removed = 0;
  for (;;) {
    let q = ctx.db.selectFrom('calendar_object').selectAll()
      .where('owner_id', '=', p.ownerId).where('deleted_at', 'is', null).where('id', '>', after)
      .where((eb) => eb.or([eb('last_end', 'is', null), eb('last_end', '>', horizon)]));
    q = p.reason === 'zone'
      ? q.where((eb) => eb.or([eb('floating', '=', true), eb('all_day', '=', true)]))
      : q.where('calendar_id', '=', p.calendarId!).where('has_alarms', '=', false);
    const rows = await q.orderBy('id').limit(CHUNK).execute() as ObjectRow[];
    if (!rows.length) break;
    const plans: ReminderPlanRow[] = [];
    const drops: { objectId: string; etag: string }[] = [];
    for (const row of rows) {
      const defs = row.has_alarms ? [] : defaults.get(row.calendar_id) ?? [];
      let next = null;
      if (isActive(row, owner)) {
        try {
          next = planFiring(compileResource(row.ical), defs, now, owner.timezone, row.first_start);
        } catch {
          continue; // not readable: left as it is (the firing re-checks it)
        }
      }
      if (next) plans.push(planRow(row, owner.timezone, defs, next));
      else drops.push({ objectId: row.id, etag: row.etag });
    }
    const r = await replaceRemindersIfCurrent(ctx.db, p.ownerId, plans, drops);
    planned += r.planned;
    removed += r.removed;
    after = rows[rows.length - 1].id;
  }
  ctx.log.info({ ownerId: p.ownerId, reason: p.reason, calendarId: p.calendarId, planned, removed }, 'reminders re-planned');
  return { planned, removed };
}

/** Whether two default-reminder lists plan the same firings. */
export const sameDefaults = (a: Reminder[] | null | undefined, b: Reminder[] | null | undefined) =>
  JSON.stringify((a ?? []).map((d) => [d.minutesBefore, d.action])) === JSON.stringify((b ?? []).map((d) => [d.minutesBefore, d.action]));

/** updatePrincipal, and — when the zone changes — the re-plan of the user's reminders in the same transaction. */
export async function updatePrincipalZoneAware(ctx: AppContext, current: PrincipalRow, patch: Parameters<typeof updatePrincipal>[2]): Promise<PrincipalRow | undefined> {
  if (patch.timezone === undefined || patch.timezone === current.timezone || current.kind !== 'user') return updatePrincipal(ctx.db, current.id, patch);
  return ctx.db.transaction().execute(async (trx) => {
    const row = await updatePrincipal(trx, current.id, patch);
    await queueReplan(trx, { ownerId: current.id, reason: 'zone' });
    return row;
  });
}
