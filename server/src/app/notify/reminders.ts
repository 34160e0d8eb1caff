/**
 * The reminder job (flow 5): re-read the event when due and check it is still valid — moved →
 * re-plan for the new time and send nothing now; cancelled, deleted or declined → drop; else
 * deliver through the user's channels (EMAIL and DISPLAY alarms alike: the server is the one
 * that reaches the person when no client is open) and plan the next occurrence's reminder.
 * Acknowledged alarms (ACKNOWLEDGED, X-MOZ-LASTACK) are skipped by alarmTriggers.
 */
import type { AppContext } from '../context.js';
import * as principals from '../../store/principals.js';
import * as objects from '../../store/objects.js';
import { enqueueMany } from '../../jobs/queue.js';
import { planReminders, type ReminderPayload } from '../events/reminders.js';
import { compiledFor } from '../events/compiled-cache.js';
import { dispatch } from './channels.js';
import { eventUrl } from './notifications.js';
import './notifications.js';

export type ReminderOutcome = 'sent' | 'replanned' | 'dropped' | 'late';

/** Reminders later than this (e.g. after a long outage) are not sent; the next one is planned. */
const MAX_LATENESS_MS = 6 * 3600_000;

export async function fireReminder(ctx: AppContext, p: ReminderPayload): Promise<ReminderOutcome> {
  const row = await objects.findObject(ctx.db, p.ownerId, p.objectId);
  const owner = await principals.findPrincipalById(ctx.db, p.ownerId);
  if (!row || !owner || owner.disabled || row.status === 'CANCELLED' || row.my_partstat === 'DECLINED' || !p.fireAt) return 'dropped';
  const compiled = compiledFor(row.etag, row.ical);
  const due = new Date(p.fireAt);
  // Re-plan from just before the planned time: if the event moved, the next firing differs.
  const fresh = await planReminders(ctx, ctx.db, row, compiled, owner, new Date(due.getTime() - 1000));
  const next = fresh[0]?.payload as ReminderPayload | undefined;
  if (!next || next.fireAt !== p.fireAt || next.occurrenceStart !== p.occurrenceStart) {
    await enqueueMany(ctx.db, fresh);
    return 'replanned';
  }
  let outcome: ReminderOutcome = 'late';
  if (Date.now() - due.getTime() < MAX_LATENESS_MS) {
    const start = new Date(p.occurrenceStart!);
    await dispatch(ctx, {
      kind: 'reminder', recipient: owner, key: `rem.${row.id}.${due.getTime()}.${start.getTime()}`,
      event: {
        objectId: row.id, uid: row.uid, summary: row.summary, start, allDay: row.all_day, location: row.location || undefined,
        organizerName: row.organizer ?? undefined, url: eventUrl(ctx, row.id),
      },
      reminder: { minutesBefore: Math.round((start.getTime() - due.getTime()) / 60_000), occurrenceStart: start },
    });
    outcome = 'sent';
  }
  await enqueueMany(ctx.db, await planReminders(ctx, ctx.db, row, compiled, owner, new Date(due.getTime() + 1000)));
  return outcome;
}
