import type { AppContext } from '../app/context.js';
import type { JobHandler, JobName } from './queue.js';

/** name → handler for every job in the catalogue (checked at worker start). */
export function jobHandlers(ctx: AppContext): Record<JobName, JobHandler> {
  return {
    'purge-sessions': async () => {
      await ctx.db.deleteFrom('session').where('expires_at', '<', new Date()).execute();
      await ctx.db.deleteFrom('signin_throttle').where('window_started_at', '<', new Date(Date.now() - 86400_000)).execute();
    },
    'purge-trash': async () => {
      // Trash arrives with the calendar core; until then there is nothing to purge.
    },
  };
}
