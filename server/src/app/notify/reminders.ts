/**
 * The reminder job (flow 5): re-read the event when due and check it is still valid — moved →
 * re-plan for the new time and send nothing now; cancelled, deleted or declined → drop; else
 * deliver and plan the next occurrence's reminder.
 */
import type { AppContext } from '../context.js';
import * as principals from '../../store/principals.js';
import * as objects from '../../store/objects.js';
import { composeReminder } from '../../integrations/mail/index.js';
import { enqueueMany } from '../../jobs/queue.js';
import { planReminders, type ReminderPayload } from '../events/reminders.js';
import { compiledFor } from '../events/compiled-cache.js';
import { publicUrl } from '../../config/load.js';
import { mailer, mailDomain } from './mailer.js';

export type ReminderOutcome = 'sent' | 'replanned' | 'dropped';

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
  if (Date.now() - due.getTime() < 6 * 3600_000 && wantsEmail(owner.notify as Record<string, string[]>)) {
    const start = new Date(p.occurrenceStart!);
    await mailer(ctx).send(composeReminder({
      from: { email: ctx.config.mailFrom, name: 'Calendula' }, to: [{ email: owner.email, name: owner.name || undefined }],
      lang: owner.language, timezone: owner.timezone, messageId: `r.${row.id}.${due.getTime()}@${mailDomain(ctx)}`, threadId: `${row.uid}@${mailDomain(ctx)}`,
      summary: row.summary, start, allDay: row.all_day, location: row.location || undefined,
      minutesBefore: Math.round((start.getTime() - due.getTime()) / 60_000), eventUrl: `${publicUrl(ctx.config)}/?event=${row.id}`,
    }));
  }
  await enqueueMany(ctx.db, await planReminders(ctx, ctx.db, row, compiled, owner, new Date(due.getTime() + 1000)));
  return 'sent';
}

function wantsEmail(prefs: Record<string, string[]>) {
  const list = prefs.reminder;
  return !list || list.includes('email');
}
