/**
 * Delivery jobs: iMIP e-mail to external attendees, notifications to internal users, reminders.
 * The notifications issue owns these; this file keeps the catalogue complete.
 */
import type { AppContext } from '../app/context.js';
import type { JobHandler } from './queue.js';
import { sendImip } from '../app/notify/imip.js';
import { sendNotification } from '../app/notify/notifications.js';
import { fireReminder } from '../app/notify/reminders.js';

export function deliveryHandlers(ctx: AppContext): Record<'imip-send' | 'notify' | 'reminder', JobHandler> {
  return {
    'imip-send': (payload) => sendImip(ctx, payload),
    notify: (payload) => sendNotification(ctx, payload),
    reminder: async (payload) => { await fireReminder(ctx, payload); },
  };
}
