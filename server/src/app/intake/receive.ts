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
import { insertInboundBatch, insertInboundWithJobs, type InboundToStore, type IntakeJob } from '../../store/mail.js';
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
  return storeGrouped(ctx, { m: { source, envelopeFrom: env.from, envelopeTo, remoteAddress: env.remoteAddress ?? null, raw }, jobs });
}

const RECEIVE_OPTS = { maxAttempts: 10, priority: INTAKE_PRIORITY };
/** Most messages one group commit stores. */
const GROUP_MAX = 64;

/**
 * Group commit: while store statements run, messages arriving on other connections wait and are
 * then stored together by the next statement (one commit, one WAL flush, one add_jobs for all of
 * them). An idle server stores a message at once, alone, as before; under load the groups grow by
 * themselves. At most STORE_IN_FLIGHT statements run at a time (one can execute while another
 * waits for its commit to reach the disk). Each sender still gets its answer only after its own
 * message is committed. If a group fails, its messages are stored one by one, so one bad message
 * cannot make the others' senders retry.
 */
const STORE_IN_FLIGHT = 2;
interface Waiting { item: InboundToStore; resolve: (id: string) => void; reject: (e: unknown) => void }
interface Group { waiting: Waiting[]; running: number }
const groups = new WeakMap<object, Group>();

function storeGrouped(ctx: AppContext, item: InboundToStore): Promise<string> {
  let g = groups.get(ctx.db);
  if (!g) groups.set(ctx.db, (g = { waiting: [], running: 0 }));
  const group = g;
  return new Promise<string>((resolve, reject) => {
    group.waiting.push({ item, resolve, reject });
    if (group.running < STORE_IN_FLIGHT) void drain(ctx, group);
  });
}

async function drain(ctx: AppContext, g: Group): Promise<void> {
  g.running++;
  try {
    while (g.waiting.length) {
      const batch = g.waiting.splice(0, GROUP_MAX);
      if (batch.length === 1) {
        const [w] = batch;
        await insertInboundWithJobs(ctx.db, w.item.m, w.item.jobs, RECEIVE_OPTS).then(w.resolve, w.reject);
        continue;
      }
      try {
        const ids = await insertInboundBatch(ctx.db, batch.map((w) => w.item), RECEIVE_OPTS);
        batch.forEach((w, i) => w.resolve(ids[i]));
      } catch {
        for (const w of batch) await insertInboundWithJobs(ctx.db, w.item.m, w.item.jobs, RECEIVE_OPTS).then(w.resolve, w.reject);
      }
    }
  } finally {
    g.running--;
  }
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
