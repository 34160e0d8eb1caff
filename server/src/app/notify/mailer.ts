/** The process's outgoing mail transport: SMTP_URL, or the outbox folder in the data dir. */
import { join } from 'node:path';
import type { AppContext } from '../context.js';
import { createMailTransport, type MailTransport } from '../../integrations/mail/index.js';

const transports = new Map<string, MailTransport>();

export function mailer(ctx: AppContext): MailTransport {
  const key = ctx.config.smtpUrl ?? join(ctx.config.dataDir, 'outbox');
  let t = transports.get(key);
  if (!t) transports.set(key, (t = createMailTransport({ smtpUrl: ctx.config.smtpUrl, outboxDir: join(ctx.config.dataDir, 'outbox') })));
  return t;
}

export function mailDomain(ctx: AppContext): string {
  return ctx.config.mailFrom.split('@')[1] ?? 'localhost';
}

/** Closes pooled SMTP connections (process shutdown, tests). */
export function closeMailers(): void {
  for (const t of transports.values()) t.close();
  transports.clear();
}
