import { sql } from 'kysely';
import { prepared, type DB } from './db.js';
import type { CalendarRow, PrincipalRow, WorkingHours, NotifyPrefs } from './schema.js';
import { TtlCache, SESSION_TTL_MS } from './cache.js';

/** Users by id, for the per-request authentication path; every update here invalidates. */
export const principalCache = new TtlCache<PrincipalRow>(SESSION_TTL_MS);

export interface NewPrincipal {
  kind: 'user' | 'group' | 'room';
  email: string;
  name?: string;
  isAdmin?: boolean;
  passwordHash?: string | null;
  language?: 'en' | 'ru';
  timezone?: string;
  roomCapacity?: number | null;
  roomAutoAccept?: 'accept-if-free' | 'always' | 'manual' | null;
  oidcSubject?: string | null;
}

/** Lower-cased search terms: the address, its local part, and each word of the name. */
export function searchTerms(email: string, name: string): string[] {
  const e = email.toLowerCase();
  const words = name.toLowerCase().split(/[\s,.;()"'«»\-]+/u).filter(Boolean);
  return [...new Set([e, e.split('@')[0], name.toLowerCase().trim(), ...words].filter((t) => t && t.length <= 200))];
}

async function writeTerms(db: DB, id: string, email: string, name: string): Promise<void> {
  await db.deleteFrom('principal_term').where('principal_id', '=', id).execute();
  const terms = searchTerms(email, name);
  if (terms.length) await db.insertInto('principal_term').values(terms.map((term) => ({ term, principal_id: id }))).onConflict((oc) => oc.doNothing()).execute();
}

export async function insertPrincipal(db: DB, p: NewPrincipal): Promise<PrincipalRow> {
  const row = await db
    .insertInto('principal')
    .values({
      kind: p.kind,
      email: p.email.trim(),
      name: p.name?.trim() ?? '',
      is_admin: p.isAdmin ?? false,
      password_hash: p.passwordHash ?? null,
      language: p.language ?? 'en',
      timezone: p.timezone ?? 'UTC',
      room_capacity: p.roomCapacity ?? null,
      room_auto_accept: p.kind === 'room' ? (p.roomAutoAccept ?? 'accept-if-free') : null,
      oidc_subject: p.oidcSubject ?? null,
      vkteams_id: null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  await writeTerms(db, row.id, row.email, row.name);
  return row;
}

export async function updatePrincipal(db: DB, id: string, patch: Partial<{
  name: string; email: string; is_admin: boolean; disabled: boolean; password_hash: string; language: 'en' | 'ru';
  timezone: string; working_hours: WorkingHours; notify: NotifyPrefs; room_capacity: number | null;
  room_auto_accept: 'accept-if-free' | 'always' | 'manual'; vkteams_id: string | null; oidc_subject: string;
}>): Promise<PrincipalRow | undefined> {
  const values: Record<string, unknown> = { ...patch, updated_at: new Date() };
  if (patch.working_hours) values.working_hours = JSON.stringify(patch.working_hours);
  if (patch.notify) values.notify = JSON.stringify(patch.notify);
  const row = await db.updateTable('principal').set(values).where('id', '=', id).returningAll().executeTakeFirst();
  principalCache.delete(id);
  if (row && (patch.name !== undefined || patch.email !== undefined)) await writeTerms(db, row.id, row.email, row.name);
  return row;
}

export function findPrincipalById(db: DB, id: string): Promise<PrincipalRow | undefined> {
  return db.selectFrom('principal').selectAll().where('id', '=', id).executeTakeFirst();
}

/** The same, served from the short-lived cache (authentication only: data may be seconds old across processes). */
export async function findPrincipalByIdCached(db: DB, id: string): Promise<PrincipalRow | undefined> {
  const hit = principalCache.get(id);
  if (hit) return hit;
  const row = await findPrincipalById(db, id);
  if (row) principalCache.set(id, row);
  return row;
}

/** By address, including aliases. */
export async function findPrincipalByEmail(db: DB, email: string): Promise<PrincipalRow | undefined> {
  const e = email.trim().toLowerCase();
  const direct = await db.selectFrom('principal').selectAll().where(sql`lower(email)`, '=', e).executeTakeFirst();
  if (direct) return direct;
  return db
    .selectFrom('principal_alias')
    .innerJoin('principal', 'principal.id', 'principal_alias.principal_id')
    .selectAll('principal')
    .where('principal_alias.email', '=', e)
    .executeTakeFirst();
}

/** Addresses → principals (direct and aliases) in at most two queries. Keys are lower-case addresses. */
export async function resolveAddresses(db: DB, emails: string[]): Promise<Map<string, PrincipalRow>> {
  const list = [...new Set(emails.map((e) => e.trim().toLowerCase()))];
  const out = new Map<string, PrincipalRow>();
  if (!list.length) return out;
  for (const p of await findPrincipalsByEmails(db, list)) out.set(p.email.toLowerCase(), p);
  const rest = list.filter((e) => !out.has(e));
  if (rest.length) {
    const rows = await db.selectFrom('principal_alias').innerJoin('principal', 'principal.id', 'principal_alias.principal_id')
      .selectAll('principal').select('principal_alias.email as alias').where('principal_alias.email', 'in', rest).execute();
    for (const r of rows) {
      const { alias, ...p } = r as typeof r & { alias: string };
      out.set(alias, p as PrincipalRow);
    }
  }
  return out;
}

/**
 * The principals some (lower-case) addresses resolve to, as resolveAddresses finds them — by main
 * address, else by alias — as rows (k: the address, p: the principal row). Shared by the create's
 * read (calendarAndAddresses) and its write's check (addressFingerprintsSql), so both see the same.
 */
const addressMatches = (list: string[] | null) => sql`
    select lower(p.email) as k, p from principal p where lower(p.email) = any(${list}::text[])
    union all
    select a.email, p from principal_alias a join principal p on p.id = a.principal_id
    where a.email = any(${list}::text[]) and not exists (select 1 from principal q where lower(q.email) = a.email)`;

/**
 * A calendar row and the principals of some (lower-case) addresses (addressMatches) in ONE
 * statement: the create reads both before it writes. No row (undefined calendar, empty map) when
 * the calendar does not exist. The principals travel as JSON and are typed again here.
 *
 * With them, the fingerprints a later create may check instead of reading them again
 * (app/events/create-lookup.ts, objects.insertObjectWithJobs): the calendar's (CALENDAR_FINGERPRINT)
 * and each found address's principal row's md5 (as addressFingerprintsSql computes it).
 */
export async function calendarAndAddresses(db: DB, calendarId: string, emails: string[]): Promise<{ calendar: CalendarRow | undefined; found: Map<string, PrincipalRow>; fingerprint: string; hashes: Map<string, string> }> {
  const list = [...new Set(emails.map((e) => e.trim().toLowerCase()))];
  type Found = { k: string; h: string; p: Omit<PrincipalRow, 'created_at' | 'updated_at'> & { created_at: string; updated_at: string } };
  const r = await sql<CalendarRow & { _addresses: Found[]; _fp: string }>`${prepared('calendar_and_addresses')}select c.*, ${sql.raw(CALENDAR_FINGERPRINT('c'))} as _fp, (
      select coalesce(json_agg(json_build_object('k', x.k, 'h', md5(x.p::text), 'p', x.p)), '[]'::json) from (${addressMatches(list)}) x
    ) as _addresses
    from calendar c where c.id = ${calendarId}`.execute(db);
  const row = r.rows[0];
  const found = new Map<string, PrincipalRow>();
  const hashes = new Map<string, string>();
  if (!row) return { calendar: undefined, found, fingerprint: '', hashes };
  const { _addresses, _fp, ...calendar } = row;
  for (const { k, h, p } of _addresses) {
    found.set(k, { ...p, created_at: new Date(p.created_at), updated_at: new Date(p.updated_at) });
    hashes.set(k, h);
  }
  return { calendar, found, fingerprint: _fp, hashes };
}

/**
 * SQL of a calendar row's fingerprint: every column but the two each write of one of its objects
 * changes (sync_seq, updated_at). `c` names the row (an alias, or the table in an UPDATE).
 */
export const CALENDAR_FINGERPRINT = (c: string) => `md5((to_jsonb(${c}) - 'sync_seq' - 'updated_at')::text)`;

/**
 * SQL of the fingerprint of what some (lower-case) addresses resolve to (addressMatches):
 * `<address>=<md5 of the principal row>` for each found one, in byte order of the address, joined
 * by commas ('' when none is found). addressFingerprint() makes the same text from
 * calendarAndAddresses' hashes.
 */
export const addressFingerprintsSql = (list: string[] | null) =>
  sql<string>`(select coalesce(string_agg(x.k || '=' || md5(x.p::text), ',' order by x.k collate "C"), '') from (${addressMatches(list)}) x)`;

/** addressFingerprintsSql's text for these found addresses and their row hashes. */
export function addressFingerprint(hashes: Iterable<[string, string]>): string {
  // Byte order of UTF-8 (collate "C") is code point order, which is UTF-16 order but for surrogates.
  const cmp = (a: string, b: string) => (/[\uD800-\uDFFF]/.test(a + b) ? Buffer.compare(Buffer.from(a), Buffer.from(b)) : a < b ? -1 : a > b ? 1 : 0);
  return [...hashes].sort((a, b) => cmp(a[0], b[0])).map(([k, h]) => `${k}=${h}`).join(',');
}

/** Principals by id: one statement text for any number of ids (a named prepared statement). */
export async function findPrincipalsByIds(db: DB, ids: string[]): Promise<PrincipalRow[]> {
  if (!ids.length) return [];
  return (await sql<PrincipalRow>`${prepared('principals_by_ids')}select * from principal where id = any(${ids}::uuid[])`.execute(db)).rows;
}

export async function findPrincipalsByEmails(db: DB, emails: string[]): Promise<PrincipalRow[]> {
  if (!emails.length) return [];
  // One statement text for any number of addresses (a named prepared statement: parsed and planned once per connection).
  return (await sql<PrincipalRow>`${prepared('principals_by_emails')}select * from principal where lower(email) = any(${emails.map((e) => e.toLowerCase())}::text[])`.execute(db)).rows;
}

export function listPrincipals(db: DB, opts: { kind?: string; limit: number; offset: number }) {
  let q = db.selectFrom('principal').selectAll().orderBy('email').limit(opts.limit).offset(opts.offset);
  if (opts.kind) q = q.where('kind', '=', opts.kind as 'user');
  return q.execute();
}

export async function countAdmins(db: DB): Promise<number> {
  const r = await db.selectFrom('principal').select((eb) => eb.fn.countAll<string>().as('n')).where('is_admin', '=', true).where('disabled', '=', false).executeTakeFirstOrThrow();
  return Number(r.n);
}

/**
 * Directory search by prefix of the address or of any name word (participant autocomplete).
 * Uses the principal_term prefix index; LIKE metacharacters in the query are escaped.
 */
export async function searchPrincipals(db: DB, query: string, opts: { limit: number; kinds?: string[] }): Promise<PrincipalRow[]> {
  const q = query.trim().toLowerCase();
  if (!q) return [];
  const pattern = q.replace(/[\\%_]/g, (c) => '\\' + c) + '%';
  // A range scan of the prefix index that stops after a few matching terms (no GROUP BY: that
  // would aggregate every match of a short prefix first). Disabled principals and the kind
  // filter are applied inside, so they cannot crowd the wanted rows out of the limit.
  let ids = db
    .selectFrom('principal_term')
    .innerJoin('principal as p2', 'p2.id', 'principal_term.principal_id')
    .select('principal_term.principal_id')
    .where('principal_term.term', 'like', pattern)
    .where('p2.disabled', '=', false)
    .limit(opts.limit * 5);
  if (opts.kinds?.length) ids = ids.where('p2.kind', 'in', opts.kinds as ('user' | 'group' | 'room')[]);
  return db.selectFrom('principal').selectAll().where('id', 'in', ids).orderBy('name').orderBy('email').limit(opts.limit).execute();
}

export async function groupMembers(db: DB, groupId: string): Promise<PrincipalRow[]> {
  return db.selectFrom('group_member').innerJoin('principal', 'principal.id', 'group_member.member_id').selectAll('principal').where('group_member.group_id', '=', groupId).execute();
}

export async function setGroupMembers(db: DB, groupId: string, memberIds: string[]): Promise<void> {
  await db.deleteFrom('group_member').where('group_id', '=', groupId).execute();
  if (memberIds.length) await db.insertInto('group_member').values(memberIds.map((member_id) => ({ group_id: groupId, member_id }))).execute();
}

export async function groupIdsOf(db: DB, memberId: string): Promise<string[]> {
  const rows = await db.selectFrom('group_member').select('group_id').where('member_id', '=', memberId).execute();
  return rows.map((r) => r.group_id);
}
