import type { AppContext } from '../app/context.js';
import type { RunningRole } from './index.js';

/** VK Teams bot. Turned on by VKTEAMS_API_URL and VKTEAMS_BOT_TOKEN. */
export async function start(ctx: AppContext): Promise<RunningRole> {
  if (ctx.config.vkteamsApiUrl && ctx.config.vkteamsBotToken) ctx.log.warn({ role: 'bot' }, 'the VK Teams bot is not wired in this build yet');
  return { name: 'bot', stop: async () => undefined };
}
