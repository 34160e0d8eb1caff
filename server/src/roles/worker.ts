import type { AppContext } from '../app/context.js';
import type { RunningRole } from './index.js';
import { startWorker } from '../jobs/queue.js';
import { jobHandlers } from '../jobs/handlers.js';
import { closeMailers } from '../app/notify/mailer.js';

export async function start(ctx: AppContext): Promise<RunningRole> {
  const worker = await startWorker({ connectionString: ctx.connectionString, handlers: jobHandlers(ctx), concurrency: ctx.config.workerConcurrency, log: ctx.log,
    // Housekeeping (graphile-worker crontab: minute hour dom month dow task).
    crontab: '17 * * * * purge-sessions\n23 3 * * * purge-trash\n',
  });
  return { name: 'worker', stop: async () => { await worker.stop(); closeMailers(); } };
}
