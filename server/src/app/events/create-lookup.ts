/**
 * What a create read before it wrote — its calendar, and the principals its attendees' addresses
 * resolve to — kept so the next create into the same calendar by its owner need not read them
 * again first (commands.ts createEventIn): one round trip to PostgreSQL instead of two.
 *
 * Never trusted: the create's single statement (objects.insertObjectWithJobs) compares the
 * fingerprints kept here with the database's own, computed in that statement, and writes nothing
 * when one differs — the calendar renamed, recoloured, re-zoned or deleted; a principal added,
 * changed or removed; an alias added for an address. The create then forgets what it used and
 * reads everything afresh. So this memory changes the number of round trips, never an answer, in
 * this process or with others writing; there is nothing to invalidate.
 *
 * Only the owner's own creates use it (a sharee's right to write is not fingerprinted), and only
 * when no address resolved to a group (a group's members are read per create).
 */
import type { AppContext } from '../context.js';
import type { CreateGuard } from '../../store/objects.js';
import { addressFingerprint } from '../../store/principals.js';
import type { CalendarRow, PrincipalRow } from '../../store/schema.js';

/** Entries kept at most (each map); the whole map is dropped when full (a new entry per create). */
const MAX_ENTRIES = 10_000;

interface Held {
  calendars: Map<string, { row: CalendarRow; fingerprint: string }>;
  /** By lower-case address: the principal it resolved to with its row's hash, or null (none). */
  addresses: Map<string, { row: PrincipalRow; hash: string } | null>;
}
/** Per app context (one database each). */
const held = new WeakMap<AppContext, Held>();
const heldOf = (ctx: AppContext): Held => {
  let h = held.get(ctx);
  if (!h) held.set(ctx, (h = { calendars: new Map(), addresses: new Map() }));
  return h;
};

const put = <V>(m: Map<string, V>, k: string, v: V) => {
  if (m.size >= MAX_ENTRIES && !m.has(k)) m.clear();
  m.set(k, v);
};

/** After a create read its calendar and addresses itself (principals.calendarAndAddresses). */
export function rememberLookup(ctx: AppContext, actorId: string | null, calendar: CalendarRow, fingerprint: string, list: string[], found: Map<string, PrincipalRow>, hashes: Map<string, string>): void {
  if (!actorId || calendar.owner_id !== actorId || !fingerprint) return;
  const { calendars, addresses } = heldOf(ctx);
  put(calendars, calendar.id, { row: calendar, fingerprint });
  for (const a of list) {
    const p = found.get(a);
    const hash = hashes.get(a);
    put(addresses, a, p && hash ? { row: p, hash } : null);
  }
}

/**
 * The calendar and the addresses' principals as last read, with the guard for the write — when
 * all of them are held, the actor owns the calendar and no address is a group's.
 */
export function recallLookup(ctx: AppContext, actorId: string | null, calendarId: string, list: string[]): { calendar: CalendarRow; found: Map<string, PrincipalRow>; guard: CreateGuard } | undefined {
  const { calendars, addresses } = heldOf(ctx);
  const cal = calendars.get(calendarId);
  if (!actorId || !cal || cal.row.owner_id !== actorId) return undefined;
  const found = new Map<string, PrincipalRow>();
  const hashes: Array<[string, string]> = [];
  for (const a of list) {
    const e = addresses.get(a);
    if (e === undefined || e?.row.kind === 'group') return undefined;
    if (e && !found.has(a)) {
      found.set(a, e.row);
      hashes.push([a, e.hash]);
    }
  }
  return { calendar: cal.row, found, guard: { calendar: cal.fingerprint, addresses: list.length ? [...new Set(list)] : null, addressFingerprint: addressFingerprint(hashes) } };
}

/** A guarded create wrote nothing (or failed before writing): forget what it used. */
export function forgetLookup(ctx: AppContext, calendarId: string, list: string[]): void {
  const { calendars, addresses } = heldOf(ctx);
  calendars.delete(calendarId);
  for (const a of list) addresses.delete(a);
}

/** Everything (tests). */
export function clearLookups(ctx: AppContext): void {
  held.delete(ctx);
}
