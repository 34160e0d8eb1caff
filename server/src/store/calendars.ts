import { sql } from 'kysely';
import { prepared, type DB } from './db.js';
import type { CalendarRow, Reminder } from './schema.js';

export type Access = 'owner' | 'read-write' | 'read' | 'freebusy';

export interface CalendarView extends CalendarRow {
  access: Access;
  owner_email?: string;
  owner_name?: string;
}

export async function insertCalendar(db: DB, c: { id?: string; ownerId: string; name: string; color?: string; timezone?: string | null; description?: string; isDefault?: boolean; defaultReminders?: Reminder[]; sortOrder?: number; components?: string[] }) {
  return db.insertInto('calendar').values({
    ...(c.id ? { id: c.id } : {}), owner_id: c.ownerId, name: c.name, color: c.color, timezone: c.timezone ?? null, description: c.description,
    is_default: c.isDefault ?? false, default_reminders: JSON.stringify(c.defaultReminders ?? []), sort_order: c.sortOrder, components: c.components,
  }).returningAll().executeTakeFirstOrThrow();
}

export function ownCalendars(db: DB, ownerId: string) {
  return db.selectFrom('calendar').selectAll().where('owner_id', '=', ownerId).orderBy('sort_order').orderBy('created_at').execute();
}

/** Calendars shared with the user directly or through one of their groups. */
export async function sharedCalendars(db: DB, userId: string, groupIds: string[]): Promise<CalendarView[]> {
  const grantees = [userId, ...groupIds];
  const rows = await db
    .selectFrom('calendar_share')
    .innerJoin('calendar', 'calendar.id', 'calendar_share.calendar_id')
    .innerJoin('principal', 'principal.id', 'calendar.owner_id')
    .selectAll('calendar')
    .select(['calendar_share.access', 'principal.email as owner_email', 'principal.name as owner_name'])
    .where('calendar_share.grantee_id', 'in', grantees)
    .execute();
  // A user may get the same calendar directly and through a group: keep the strongest grant.
  const rank = { freebusy: 0, read: 1, 'read-write': 2, owner: 3 } as const;
  const best = new Map<string, CalendarView>();
  for (const r of rows) {
    const prev = best.get(r.id);
    if (!prev || rank[r.access] > rank[prev.access]) best.set(r.id, r as CalendarView);
  }
  return [...best.values()];
}

export function findCalendar(db: DB, ownerId: string, id: string) {
  return db.selectFrom('calendar').selectAll().where('owner_id', '=', ownerId).where('id', '=', id).executeTakeFirst();
}

/** Directory-level lookup by id alone (used before the owner is known; calendar ids are global). */
export async function findCalendarAnyOwner(db: DB, id: string): Promise<CalendarRow | undefined> {
  return (await sql<CalendarRow>`${prepared('calendar_by_id')}select * from calendar where id = ${id}`.execute(db)).rows[0];
}

export function defaultCalendar(db: DB, ownerId: string) {
  return db.selectFrom('calendar').selectAll().where('owner_id', '=', ownerId).where('is_default', '=', true).executeTakeFirst();
}

export async function updateCalendar(db: DB, ownerId: string, id: string, patch: Partial<{ name: string; description: string; color: string; timezone: string | null; sort_order: number; hidden: boolean; default_reminders: Reminder[] }>) {
  const values: Record<string, unknown> = { ...patch, updated_at: new Date() };
  if (patch.default_reminders) values.default_reminders = JSON.stringify(patch.default_reminders);
  return db.updateTable('calendar').set(values).where('owner_id', '=', ownerId).where('id', '=', id).returningAll().executeTakeFirst();
}

export async function deleteCalendar(db: DB, ownerId: string, id: string): Promise<boolean> {
  const r = await db.deleteFrom('calendar').where('owner_id', '=', ownerId).where('id', '=', id).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

export function listShares(db: DB, ownerId: string, calendarId: string) {
  return db
    .selectFrom('calendar_share')
    .innerJoin('principal', 'principal.id', 'calendar_share.grantee_id')
    .select(['calendar_share.grantee_id', 'calendar_share.access', 'principal.email', 'principal.name', 'principal.kind'])
    .where('calendar_share.owner_id', '=', ownerId)
    .where('calendar_share.calendar_id', '=', calendarId)
    .execute();
}

export async function upsertShare(db: DB, ownerId: string, calendarId: string, granteeId: string, access: 'read' | 'read-write' | 'freebusy') {
  await db.insertInto('calendar_share').values({ owner_id: ownerId, calendar_id: calendarId, grantee_id: granteeId, access })
    .onConflict((oc) => oc.columns(['calendar_id', 'grantee_id']).doUpdateSet({ access })).execute();
}

export async function deleteShare(db: DB, ownerId: string, calendarId: string, granteeId: string): Promise<boolean> {
  const r = await db.deleteFrom('calendar_share').where('owner_id', '=', ownerId).where('calendar_id', '=', calendarId).where('grantee_id', '=', granteeId).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/** The access a user has to a calendar: owner, a share (direct or via group), or none. */
export async function accessTo(db: DB, userId: string, groupIds: string[], calendar: CalendarRow): Promise<Access | null> {
  if (calendar.owner_id === userId) return 'owner';
  const rows = await db.selectFrom('calendar_share').select('access').where('owner_id', '=', calendar.owner_id).where('calendar_id', '=', calendar.id).where('grantee_id', 'in', [userId, ...groupIds]).execute();
  if (!rows.length) return null;
  const rank = { freebusy: 0, read: 1, 'read-write': 2 } as const;
  return rows.map((r) => r.access).sort((a, b) => rank[b] - rank[a])[0];
}

/** A calendar as the range listing needs it (GET /events): no descriptions, reminders or owner names. */
export interface ListingCalendarRow { id: string; owner_id: string; color: string; hidden: boolean; sync_seq: string; access: Access }

/**
 * The same calendars as ownCalendars + sharedCalendars (strongest grant per shared calendar), in
 * one round trip and with only the columns the listing uses, sync_seq included (its memo's
 * freshness check: store/objects.ts advances it with every object write).
 */
export async function listingCalendars(db: DB, userId: string): Promise<ListingCalendarRow[]> {
  const r = await sql<ListingCalendarRow & { shared: boolean }>`
    select id, owner_id, color, hidden, sync_seq::text as sync_seq, 'owner' as access, false as shared
      from calendar where owner_id = ${userId}
    union all
    select c.id, c.owner_id, c.color, c.hidden, c.sync_seq::text, s.access, true
      from calendar_share s join calendar c on c.owner_id = s.owner_id and c.id = s.calendar_id
     where s.grantee_id = any(array(select ${userId}::uuid union all select group_id from group_member where member_id = ${userId}))`.execute(db);
  const rank = { freebusy: 0, read: 1, 'read-write': 2, owner: 3 } as const;
  const own: ListingCalendarRow[] = [];
  const best = new Map<string, ListingCalendarRow>();
  for (const { shared, ...c } of r.rows) {
    if (!shared) { own.push(c); continue; }
    const prev = best.get(c.id);
    if (!prev || rank[c.access] > rank[prev.access]) best.set(c.id, c);
  }
  return own.concat([...best.values()]);
}
