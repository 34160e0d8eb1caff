/**
 * Mail intake, first step (issue 6): keep the raw message durably and queue its processing in
 * one statement, before the sender gets any answer. Parsing and iTIP happen in the
 * 'mail-intake' job, so a parser bug or a database hiccup later can never lose a message.
 *
 * Ordering: one job per recipient principal, in that principal's queue (`intake:<id>`), so the
 * messages of one recipient are applied one at a time in arrival order (an update never
 * overtakes its invitation), while different recipients are processed in parallel. Messages
 * whose recipients are not known yet (HTTP intake without an envelope, DSNs to the bounce
 * address) share the queue `intake:unrouted`.
 */
import type { AppContext } from '../context.js';
import type { PrincipalRow } from '../../store/schema.js';
import * as principals from '../../store/principals.js';
import { insertInboundWithJobs, type IntakeJob } from '../../store/mail.js';
import { normalizeRecipient } from '../../integrations/mail/index.js';

export interface ReceivedEnvelope {
  from: string | null;
  /** Envelope recipients as given (RCPT TO) — resolved again when processed. */
  to: string[];
  remoteAddress?: string | null;
}

/** Calendar state first: intake jobs run after scheduling deliveries (-10), before notifications (0). */
export const INTAKE_PRIORITY = -5;
export const UNROUTED_QUEUE = 'intake:unrouted';

/**
 * Address → principal for the RCPT check and for routing, kept a few seconds: an MTA hands
 * over many messages for the same few recipients, and RCPT TO is followed by DATA at once.
 * A disabled or removed user is refused at most ADDRESS_TTL_MS later (the job checks again).
 */
const ADDRESS_TTL_MS = 10_000;
/** Unknown addresses are re-checked sooner: a user created a moment ago gets mail at once. */
const UNKNOWN_TTL_MS = 2_000;
type AddressCache = Map<string, { p: PrincipalRow | undefined; at: number }>;
/** Per database (tests run several servers in one process). */
const caches = new WeakMap<object, AddressCache>();

export function clearAddressCache(ctx: AppContext): void {
  caches.get(ctx.db)?.clear();
}

function usable(p: PrincipalRow | undefined): PrincipalRow | undefined {
  return p && !p.disabled && p.kind !== 'group' ? p : undefined;
}

const clean = (address: string) => address.trim().replace(/^<|>$/g, '').toLowerCase();

/**
 * Who each address is: the exact address or alias first, then without its +tag. One query
 * (two when some address is an alias) for everything not cached.
 */
export async function principalsForAddresses(ctx: AppContext, addresses: string[]): Promise<Map<string, PrincipalRow | undefined>> {
  const now = Date.now();
  let addressCache = caches.get(ctx.db);
  if (!addressCache) caches.set(ctx.db, (addressCache = new Map()));
  const out = new Map<string, PrincipalRow | undefined>();
  const missing: string[] = [];
  for (const a of addresses) {
    const key = clean(a);
    const hit = addressCache.get(key);
    if (hit && now - hit.at < (hit.p ? ADDRESS_TTL_MS : UNKNOWN_TTL_MS)) out.set(key, hit.p);
    else missing.push(key);
  }
  if (missing.length) {
    const found = await principals.resolveAddresses(ctx.db, [...missing, ...missing.map(normalizeRecipient)]);
    if (addressCache.size > 10_000) addressCache.clear();
    for (const key of missing) {
      const p = usable(found.get(key) ?? found.get(normalizeRecipient(key)));
      addressCache.set(key, { p, at: now });
      out.set(key, p);
    }
  }
  return out;
}

export async function principalForAddress(ctx: AppContext, address: string): Promise<PrincipalRow | undefined> {
  return (await principalsForAddresses(ctx, [address])).get(clean(address));
}

/**
 * The jobs for one message: one per recipient principal (its envelope addresses), in that
 * principal's queue. A single principal (the usual case) gets one job for the whole message.
 */
export async function intakeJobs(ctx: AppContext, envelopeTo: string[]): Promise<IntakeJob[]> {
  if (!envelopeTo.length) return [{ queue: UNROUTED_QUEUE }];
  const found = await principalsForAddresses(ctx, envelopeTo);
  const groups = new Map<string, string[]>();
  for (const a of envelopeTo) {
    const p = found.get(clean(a));
    const q = p ? `intake:${p.id}` : UNROUTED_QUEUE;
    groups.set(q, [...(groups.get(q) ?? []), a]);
  }
  if (groups.size === 1) return [{ queue: [...groups.keys()][0] }];
  return [...groups].map(([queue, to]) => ({ queue, to }));
}

export async function receiveMail(ctx: AppContext, raw: Buffer, env: ReceivedEnvelope, source: 'lmtp' | 'smtp' | 'http'): Promise<string> {
  const envelopeTo = env.to.map((a) => a.trim().toLowerCase());
  // Routing needs the recipients' ids; if that lookup fails the message is still stored (unrouted).
  const jobs = await intakeJobs(ctx, envelopeTo).catch(() => [{ queue: UNROUTED_QUEUE }] as IntakeJob[]);
  return insertInboundWithJobs(ctx.db, { source, envelopeFrom: env.from, envelopeTo, remoteAddress: env.remoteAddress ?? null, raw }, jobs, { maxAttempts: 10, priority: INTAKE_PRIORITY });
}

/** The bounce address of our outgoing mail (MAIL FROM): DSNs come back to it. */
export function isBounceAddress(ctx: AppContext, address: string): boolean {
  const a = normalizeRecipient(address);
  return a === normalizeRecipient(ctx.config.mailFrom);
}

/** LMTP/SMTP RCPT TO check: a user or room (incl. aliases and +tags), or our bounce address. */
export async function acceptsRecipient(ctx: AppContext, address: string): Promise<boolean> {
  if (isBounceAddress(ctx, address)) return true;
  return !!(await principalForAddress(ctx, address));
}
