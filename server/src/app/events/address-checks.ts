/**
 * Address checks of new attendees (the reference's mailapi), pluggable. The built-in rules —
 * syntax, and an address in the organisation's own domains must be a known user, group or room —
 * are checkAttendeeAddresses in scheduling.ts. Checks of external addresses are added per
 * application context:
 *  - the mail-domain check (CALENDULA_ADDRESS_MX_CHECK, off by default): the domain must accept
 *    mail (integrations/dns/mail-domain.ts);
 *  - any other, with registerAddressCheck (a directory of partners, a deny list, a company mail
 *    API): it answers, for the addresses it is given, which ones it refuses and why.
 * A refused address fails the write with UNDELIVERABLE_ADDRESS naming it. A check that throws
 * refuses nothing (it is logged): an outage of a check must not stop people from inviting.
 */
import type { AppContext } from '../context.js';
import { DomainError } from '../../domain/errors.js';
import { domainOf } from '../../domain/addresses.js';
import { createMailDomainCheck } from '../../integrations/dns/mail-domain.js';

export interface ExternalAddressCheck {
  readonly name: string;
  /** The refused ones among `emails` (lower-case, valid, outside the own domains), each with a reason people can read. */
  refused(emails: string[]): Promise<Map<string, string>>;
}

const registered = new WeakMap<AppContext, ExternalAddressCheck[]>();

/** The checks of this context: the configured built-in ones first, then those registered. */
export function addressChecksOf(ctx: AppContext): ExternalAddressCheck[] {
  let list = registered.get(ctx);
  if (!list) {
    list = [];
    if (ctx.config.addressMxCheck) list.push(mailDomainAddressCheck(ctx));
    registered.set(ctx, list);
  }
  return list;
}

export function registerAddressCheck(ctx: AppContext, check: ExternalAddressCheck): () => void {
  const list = addressChecksOf(ctx);
  list.push(check);
  return () => {
    const i = list.indexOf(check);
    if (i >= 0) list.splice(i, 1);
  };
}

const REASONS: Record<string, string> = {
  'no-domain': 'the domain does not exist',
  'no-mail-server': 'the domain has no mail server',
  'null-mx': 'the domain accepts no mail',
};

function mailDomainAddressCheck(ctx: AppContext): ExternalAddressCheck {
  const dns = createMailDomainCheck({ servers: ctx.config.dnsServers, timeoutMs: ctx.config.addressCheckTimeoutMs });
  return {
    name: 'mail-domain',
    async refused(emails) {
      const out = new Map<string, string>();
      const domains = [...new Set(emails.map(domainOf))];
      const verdicts = new Map(await Promise.all(domains.map(async (d) => [d, await dns.verdict(d)] as const)));
      for (const [d, v] of verdicts) if (v.accepts === 'unknown') ctx.log.warn({ domain: d, err: v.error }, 'mail domain check: no DNS answer; the address passes');
      for (const e of emails) {
        const v = verdicts.get(domainOf(e));
        if (v && v.accepts === false) out.set(e, REASONS[v.reason]);
      }
      return out;
    },
  };
}

async function refusals(ctx: AppContext, emails: string[]): Promise<Map<string, { reason: string; check: string }>> {
  const out = new Map<string, { reason: string; check: string }>();
  for (const check of addressChecksOf(ctx)) {
    const todo = emails.filter((e) => !out.has(e));
    if (!todo.length) break;
    try {
      for (const [e, reason] of await check.refused(todo)) if (todo.includes(e)) out.set(e, { reason, check: check.name });
    } catch (err) {
      ctx.log.warn({ check: check.name, err: (err as Error).message }, 'address check failed; its addresses pass');
    }
  }
  return out;
}

/** Refuses the write when a check refuses one of these external addresses (the first, in order). */
export async function checkExternalAddresses(ctx: AppContext, emails: string[]): Promise<void> {
  if (!emails.length || !addressChecksOf(ctx).length) return;
  const refused = await refusals(ctx, emails);
  for (const e of emails) {
    const r = refused.get(e);
    if (r) throw new DomainError('UNDELIVERABLE_ADDRESS', `Mail to ${e} cannot be delivered: ${r.reason}`, { email: e, reason: r.reason, check: r.check });
  }
}

/**
 * Runs the checks ahead of a write, outside its transaction, so the lookups they keep (DNS
 * answers) are at hand when the write checks its new attendees under the event's lock.
 * Refuses nothing itself: only the write knows which attendees are new.
 */
export async function warmAddressChecks(ctx: AppContext, emails: string[]): Promise<void> {
  if (!emails.length || !addressChecksOf(ctx).length) return;
  await refusals(ctx, emails).catch(() => undefined);
}
