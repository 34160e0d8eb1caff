import type { AppContext } from '../app/context.js';
import type { RunningRole } from './index.js';
import { startLmtpServer, startSmtpIntakeServer, type IntakeServer, type IntakeServerOptions } from '../integrations/mail/index.js';
import { acceptsRecipient, receiveMail } from '../app/intake/receive.js';

/**
 * Mail intake (issue 6): LMTP when LMTP_PORT is set, SMTP when SMTP_IN_PORT is set. Unknown
 * recipients are refused at RCPT time (550); a message is answered 250 only after it is stored
 * with its processing job (451 if the database cannot take it; 552 when too big).
 */
export async function start(ctx: AppContext): Promise<RunningRole> {
  const servers: IntakeServer[] = [];
  const options = (source: 'lmtp' | 'smtp'): Omit<IntakeServerOptions, 'port' | 'host'> => ({
    maxBytes: ctx.config.intakeMaxBytes,
    name: ctx.config.mailFrom.split('@')[1] || 'calendula',
    resolveRecipient: (address) => acceptsRecipient(ctx, address),
    store: async (raw, env) => { await receiveMail(ctx, raw, { from: env.from, to: env.rcptTo, remoteAddress: env.remoteAddress }, source); },
    onError: (err, phase) => ctx.log.warn({ role: 'mail-in', source, phase, err: (err as Error)?.message }, 'mail intake error'),
  });
  try {
    if (ctx.config.lmtpPort) servers.push(await startLmtpServer({ ...options('lmtp'), host: ctx.config.lmtpHost, port: ctx.config.lmtpPort }));
    if (ctx.config.smtpInPort) servers.push(await startSmtpIntakeServer({ ...options('smtp'), host: ctx.config.smtpInHost, port: ctx.config.smtpInPort }));
  } catch (e) {
    await Promise.all(servers.map((s) => s.close()));
    throw e;
  }
  for (const s of servers) ctx.log.info({ role: 'mail-in', host: s.host, port: s.port }, 'mail intake listening');
  return { name: 'mail-in', stop: async () => { await Promise.all(servers.map((s) => s.close())); } };
}
