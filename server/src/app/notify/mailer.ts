/** The process's outgoing mail transport: SMTP_URL, or the outbox folder in the data dir. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AppContext } from '../context.js';
import type { Config } from '../../config/schema.js';
import { createMailTransport, parseDomainRates, type MailTransport, type MailTransportOptions } from '../../integrations/mail/index.js';

const transports = new Map<string, MailTransport>();

/** DKIM options from CALENDULA_DKIM_* (all three or none); the key is PEM text or a file path. */
export function dkimOptions(config: Pick<Config, 'dkimDomain' | 'dkimSelector' | 'dkimPrivateKey'>): MailTransportOptions['dkim'] {
  const { dkimDomain, dkimSelector, dkimPrivateKey } = config;
  if (!dkimDomain && !dkimSelector && !dkimPrivateKey) return undefined;
  if (!dkimDomain || !dkimSelector || !dkimPrivateKey) throw new Error('DKIM signing needs CALENDULA_DKIM_DOMAIN, CALENDULA_DKIM_SELECTOR and CALENDULA_DKIM_PRIVATE_KEY');
  const privateKey = dkimPrivateKey.includes('-----BEGIN') ? dkimPrivateKey.replace(/\\n/g, '\n') : readFileSync(dkimPrivateKey, 'utf8');
  return { domainName: dkimDomain, keySelector: dkimSelector, privateKey };
}

export function transportOptions(config: Config): MailTransportOptions {
  return {
    smtpUrl: config.smtpUrl, outboxDir: join(config.dataDir, 'outbox'),
    maxConnections: config.smtpMaxConnections,
    ratePerDomain: config.smtpRatePerDomain, domainRates: parseDomainRates(config.smtpRateLimits ?? []),
    dkim: dkimOptions(config),
  };
}

export function mailer(ctx: AppContext): MailTransport {
  const c = ctx.config;
  const key = [c.smtpUrl ?? join(c.dataDir, 'outbox'), c.smtpMaxConnections, c.smtpRatePerDomain, (c.smtpRateLimits ?? []).join(','), c.dkimDomain, c.dkimSelector].join('|');
  let t = transports.get(key);
  if (!t) transports.set(key, (t = createMailTransport(transportOptions(c))));
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
