/**
 * Mail intake, first step (issue 6): keep the raw message durably and queue its processing in
 * one transaction, before the sender gets any answer. Parsing and iTIP happen in the
 * 'mail-intake' job, so a parser bug or a database hiccup later can never lose a message.
 */
import type { AppContext } from '../context.js';
import * as principals from '../../store/principals.js';
import { insertInbound } from '../../store/mail.js';
import { enqueue } from '../../jobs/queue.js';
import { normalizeRecipient } from '../../integrations/mail/index.js';

export interface ReceivedEnvelope {
  from: string | null;
  /** Envelope recipients as given (RCPT TO) — resolved again when processed. */
  to: string[];
  remoteAddress?: string | null;
}

export async function receiveMail(ctx: AppContext, raw: Buffer, env: ReceivedEnvelope, source: 'lmtp' | 'smtp' | 'http'): Promise<string> {
  return ctx.db.transaction().execute(async (trx) => {
    const id = await insertInbound(trx, { source, envelopeFrom: env.from, envelopeTo: env.to.map((a) => a.trim().toLowerCase()), remoteAddress: env.remoteAddress ?? null, raw });
    await enqueue(trx, 'mail-intake', { id }, { maxAttempts: 10 });
    return id;
  });
}

/** The bounce address of our outgoing mail (MAIL FROM): DSNs come back to it. */
export function isBounceAddress(ctx: AppContext, address: string): boolean {
  const a = normalizeRecipient(address);
  return a === normalizeRecipient(ctx.config.mailFrom);
}

/** Who an envelope address is: the exact address or alias first, then without its +tag. */
export async function principalForAddress(ctx: AppContext, address: string) {
  const exact = address.trim().replace(/^<|>$/g, '').toLowerCase();
  const p = (await principals.findPrincipalByEmail(ctx.db, exact)) ?? (await principals.findPrincipalByEmail(ctx.db, normalizeRecipient(exact)));
  return p && !p.disabled && p.kind !== 'group' ? p : undefined;
}

/** LMTP/SMTP RCPT TO check: a user or room (incl. aliases and +tags), or our bounce address. */
export async function acceptsRecipient(ctx: AppContext, address: string): Promise<boolean> {
  if (isBounceAddress(ctx, address)) return true;
  return !!(await principalForAddress(ctx, address));
}
