/** The bot's jobs; building them also plugs the messenger channel into notification dispatch. */
import type { AppContext } from '../context.js';
import type { JobHandler } from '../../jobs/queue.js';
import { botSendHandlers } from './outbox.js';
import { registerMessengerChannel } from './channel.js';

export function botJobHandlers(ctx: AppContext): Record<'bot-send' | 'bot-edit', JobHandler> {
  registerMessengerChannel(ctx);
  return botSendHandlers(ctx);
}
