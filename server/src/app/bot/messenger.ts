/** The process's Bot API client (when VKTEAMS_API_URL and VKTEAMS_BOT_TOKEN are set) and the callback-token key. */
import { createHmac } from 'node:crypto';
import type { AppContext } from '../context.js';
import { BotApiClient, type MessengerPort } from '../../integrations/vkteams/index.js';

const clients = new Map<string, MessengerPort>();
let override: MessengerPort | null = null;

export function botConfigured(ctx: AppContext): boolean {
  return !!(ctx.config.vkteamsApiUrl && ctx.config.vkteamsBotToken);
}

/** The messenger, or null when the bot is off. One client per (URL, token), shared by jobs and the poller. */
export function messengerFor(ctx: AppContext): MessengerPort | null {
  if (override) return override;
  if (!botConfigured(ctx)) return null;
  const key = `${ctx.config.vkteamsApiUrl}\0${ctx.config.vkteamsBotToken}`;
  let c = clients.get(key);
  if (!c) {
    c = new BotApiClient({ baseUrl: ctx.config.vkteamsApiUrl!, token: ctx.config.vkteamsBotToken!, logger: ctx.log.child({ component: 'vkteams' }) });
    clients.set(key, c);
  }
  return c;
}

/** Tests and benchmarks only: replace the messenger (null restores the configured one). */
export function setMessengerOverride(m: MessengerPort | null): void { override = m; }

/** HMAC key of callbackData tokens, derived from the server secret (never the secret itself). */
export function callbackKey(ctx: AppContext): Buffer {
  return createHmac('sha256', ctx.secret).update('calendula/vkteams-callback-key').digest();
}

/** Buttons older than this answer "expired" (staleness is checked separately by SEQUENCE). */
export const CALLBACK_MAX_AGE_MS = 400 * 86_400_000;
