import type { AppContext } from '../app/context.js';
import type { RunningRole } from './index.js';

/** Mail intake (LMTP/SMTP). Wired when LMTP_PORT or SMTP_IN_PORT is set. */
export async function start(ctx: AppContext): Promise<RunningRole> {
  if (ctx.config.lmtpPort || ctx.config.smtpInPort) ctx.log.warn({ role: 'mail-in' }, 'mail intake listeners are not wired in this build yet');
  return { name: 'mail-in', stop: async () => undefined };
}
