/**
 * Does a mail domain accept mail? The optional address check for external attendees
 * (CALENDULA_ADDRESS_MX_CHECK): a DNS lookup of the domain's mail servers as an SMTP client makes
 * it (RFC 5321 §5.1):
 *  - MX records → accepts mail, unless the only record is the "null MX" (preference 0, exchange
 *    ".", RFC 7505 §3), which says the domain accepts none;
 *  - no MX records, but the domain exists → its A/AAAA address is the implicit mail server;
 *    without one either, mail cannot be delivered;
 *  - the domain does not exist (NXDOMAIN) → mail cannot be delivered;
 *  - anything else (time-out, SERVFAIL, no DNS server reachable) is not an answer: the address
 *    passes, so a DNS outage never stops people from inviting (the mail itself is retried).
 * Answers are kept (accepting ones for an hour, refusals for ten minutes) so a fan-out or a
 * series of edits asks once per domain.
 */
import { Resolver } from 'node:dns/promises';
import { domainToASCII } from 'node:url';

export type MailDomainVerdict =
  | { accepts: true }
  | { accepts: false; reason: 'no-domain' | 'no-mail-server' | 'null-mx' }
  | { accepts: 'unknown'; error: string };

export interface MailDomainCheckOptions {
  /** DNS servers ("host" or "host:port"); empty or unset: the system's resolvers. */
  servers?: string[];
  /** Per query attempt, ms. */
  timeoutMs?: number;
  now?: () => number;
}

const ACCEPT_TTL_MS = 60 * 60_000;
const REFUSE_TTL_MS = 10 * 60_000;
const MAX_KEPT = 10_000;

/** DNS "no such record" answers of node:dns (c-ares): the name exists without that record. */
const NO_DATA = new Set(['ENODATA']);
/** NXDOMAIN. */
const NO_NAME = new Set(['ENOTFOUND']);

export interface MailDomainCheck {
  verdict(domain: string): Promise<MailDomainVerdict>;
}

export function createMailDomainCheck(opts: MailDomainCheckOptions = {}): MailDomainCheck {
  const resolver = new Resolver({ timeout: opts.timeoutMs ?? 3000, tries: 2 });
  if (opts.servers?.length) resolver.setServers(opts.servers);
  const now = opts.now ?? Date.now;
  const kept = new Map<string, { v: MailDomainVerdict; until: number }>();
  const pending = new Map<string, Promise<MailDomainVerdict>>();

  const code = (e: unknown) => String((e as { code?: unknown })?.code ?? '');

  async function lookUp(domain: string): Promise<MailDomainVerdict> {
    try {
      const mx = await resolver.resolveMx(domain);
      // RFC 7505 §3: a single MX of preference 0 naming the root ("." — node gives '') means no mail.
      if (mx.length === 1 && mx[0].exchange.replace(/\.$/, '') === '' && mx[0].priority === 0) return { accepts: false, reason: 'null-mx' };
      if (mx.some((r) => r.exchange.replace(/\.$/, '') !== '')) return { accepts: true };
    } catch (e) {
      if (NO_NAME.has(code(e))) return { accepts: false, reason: 'no-domain' };
      if (!NO_DATA.has(code(e))) return { accepts: 'unknown', error: code(e) || (e as Error).message };
    }
    // RFC 5321 §5.1: no MX — the domain itself, through its address records.
    let unknown: string | null = null;
    for (const family of ['resolve4', 'resolve6'] as const) {
      try {
        if ((await resolver[family](domain)).length) return { accepts: true };
      } catch (e) {
        if (NO_NAME.has(code(e))) return { accepts: false, reason: 'no-domain' };
        if (!NO_DATA.has(code(e))) unknown ??= code(e) || (e as Error).message;
      }
    }
    return unknown ? { accepts: 'unknown', error: unknown } : { accepts: false, reason: 'no-mail-server' };
  }

  return {
    async verdict(raw: string): Promise<MailDomainVerdict> {
      const domain = domainToASCII(raw.trim().toLowerCase().replace(/\.$/, ''));
      if (!domain) return { accepts: false, reason: 'no-domain' };
      const hit = kept.get(domain);
      if (hit && hit.until > now()) return hit.v;
      let p = pending.get(domain);
      if (!p) {
        p = lookUp(domain).finally(() => pending.delete(domain));
        pending.set(domain, p);
      }
      const v = await p;
      if (v.accepts !== 'unknown') {
        if (kept.size >= MAX_KEPT) kept.clear();
        kept.set(domain, { v, until: now() + (v.accepts ? ACCEPT_TTL_MS : REFUSE_TTL_MS) });
      }
      return v;
    },
  };
}
