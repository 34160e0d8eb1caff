import type { AppContext } from '../app/context.js';
import type { RunningRole } from './index.js';

/** Exchange sync. Not implemented yet: the role starts and does nothing. */
export async function start(ctx: AppContext): Promise<RunningRole> {
  ctx.log.debug({ role: 'exchange' }, 'Exchange sync is not configured');
  return { name: 'exchange', stop: async () => undefined };
}
