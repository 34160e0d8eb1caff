/**
 * Delivery jobs: iMIP e-mail to external attendees, notifications to internal users (every
 * channel), reminders, and mail intake processing.
 */
import type { AppContext } from '../app/context.js';
import type { JobHandler } from './queue.js';
import { runImipJob } from '../app/notify/imip.js';
import { isNotifyBatch, sendNotification, sendNotificationBatch } from '../app/notify/notifications.js';
import { fireReminder } from '../app/notify/reminders.js';
import { processInbound } from '../app/intake/process.js';

export function deliveryHandlers(ctx: AppContext): Record<'imip-send' | 'notify' | 'reminder' | 'mail-intake', JobHandler> {
  return {
    'imip-send': async (payload, h) => { await runImipJob(ctx, payload, h.attempts); },
    // One job per notification, or one for the invitations/cancellations of a batched delivery.
    notify: async (payload, h) => { if (isNotifyBatch(payload)) await sendNotificationBatch(ctx, payload, h.jobId); else await sendNotification(ctx, payload, h.jobId); },
    // Reminder jobs queued before migration 0009 (rem:<object id>): fired once, then planned as a
    // row of the reminder table, which the worker's sweeper takes in batches (app/notify/reminders.ts).
    reminder: async (payload) => { await fireReminder(ctx, payload); },
    // jobId: the run also applies the messages queued behind this one for the same recipient (processQueued).
    'mail-intake': async (payload, h) => { await processInbound(ctx, payload.id, { ...(Array.isArray(payload.to) ? { to: payload.to } : {}), ...(typeof payload.queue === 'string' ? { queue: payload.queue } : {}), jobId: h.jobId, lockedBy: h.lockedBy ?? null, ...(h.completedInTransaction ? { onJobCompleted: h.completedInTransaction } : {}) }); },
  };
}
