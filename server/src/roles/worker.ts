import type { AppContext } from '../app/context.js';
import type { RunningRole } from './index.js';
import { startWorker } from '../jobs/queue.js';
import { jobHandlers } from '../jobs/handlers.js';
import { closeMailers } from '../app/notify/mailer.js';
import { startReminderSweeper } from '../app/notify/reminders.js';

export async function start(ctx: AppContext): Promise<RunningRole> {
  const worker = await startWorker({ connectionString: ctx.connectionString, handlers: jobHandlers(ctx), concurrency: ctx.config.workerConcurrency, log: ctx.log,
    // Housekeeping (graphile-worker crontab: minute hour dom month dow task).
    crontab: '17 * * * * purge-sessions\n23 3 * * * purge-trash\n',
  });
  // Reminders are rows of the reminder table, taken in batches (app/notify/reminders.ts).
  const sweeper = startReminderSweeper(ctx);
  return { name: 'worker', stop: async () => { await sweeper.stop(); await worker.stop(); closeMailers(); } };
}
