/** name → handler for every job in the catalogue (checked at worker start). */
import { trashCutoff } from '../domain/trash.js';
import type { AppContext } from '../app/context.js';
import type { JobHandler, JobName } from './queue.js';
import { decidePendingRoomBookings, deliverMessage } from '../app/events/deliver.js';
import { deliverBatch, isBatchPayload } from '../app/events/deliver-batch.js';
import { runFanout } from '../app/events/fanout.js';
import { purgeMessages } from '../store/itip-messages.js';
import { runImport } from '../app/events/transfer.js';
import { replanReminders } from '../app/events/reminders-replan.js';
import { collectGarbage } from '../app/attachments.js';
import { deliveryHandlers } from './delivery-handlers.js';
import { botJobHandlers } from '../app/bot/jobs.js';

export function jobHandlers(ctx: AppContext): Record<JobName, JobHandler> {
  return {
    'purge-sessions': async () => {
      await ctx.db.deleteFrom('session').where('expires_at', '<', new Date()).execute();
      await ctx.db.deleteFrom('signin_throttle').where('window_started_at', '<', new Date(Date.now() - 86400_000)).execute();
      await ctx.db.deleteFrom('edit_lease').where('expires_at', '<', new Date()).execute();
    },
    'purge-trash': async () => {
      // Trash keeps deleted events for 30 days (restorable), then they are purged for good.
      const cutoff = trashCutoff();
      const rows = await ctx.db.selectFrom('calendar_object').select(['id', 'owner_id']).where('deleted_at', '<', cutoff).limit(5000).execute();
      for (const r of rows) await ctx.db.deleteFrom('calendar_object').where('owner_id', '=', r.owner_id).where('id', '=', r.id).execute();
      await collectGarbage(ctx);
      // Stored iTIP texts of fan-outs: their jobs have run (or failed for good) long before.
      await purgeMessages(ctx.db, cutoff);
    },
    // One recipient, or (payload.items) every internal recipient of one write, set-based.
    'schedule-deliver': async (payload) => {
      if (isBatchPayload(payload)) await deliverBatch(ctx, payload);
      else await deliverMessage(ctx, payload);
    },
    'schedule-fanout': async (payload) => {
      await runFanout(ctx, payload);
    },
    // A room switched to an automatic policy: its bookings still waiting for an answer get one.
    'room-decide-pending': async (payload) => {
      await decidePendingRoomBookings(ctx, String((payload as { roomId?: unknown }).roomId ?? ''));
    },
    'import-ics': async (payload) => {
      await runImport(ctx, payload);
    },
    // After a change of the user's zone or of a calendar's default reminders (app/events/reminders-replan.ts).
    'reminders-replan': async (payload) => {
      await replanReminders(ctx, payload);
    },
    ...deliveryHandlers(ctx),
    // VK Teams: 'bot-send' / 'bot-edit'; also registers the 'messenger' notification channel (app/bot/channel.ts).
    ...botJobHandlers(ctx),
  };
}
