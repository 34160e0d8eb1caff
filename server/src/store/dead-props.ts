/**
 * Dead properties of calendars and calendar objects (migration 0007). A resource is named by
 * its calendar id or its object id; every query names the owner (the calendar's owner).
 */
import { sql } from 'kysely';
import type { DB } from './db.js';

export type DeadResource = { calendarId: string; objectId?: undefined } | { objectId: string; calendarId?: undefined };

export interface DeadPropRow {
  resource: string;
  ns: string;
  name: string;
  xml: string;
}

const col = (r: DeadResource) => (r.objectId ? 'object_id' as const : 'calendar_id' as const);
const idOf = (r: DeadResource) => (r.objectId ?? r.calendarId)!;

/** Stored properties of several resources of one owner, by resource id (calendar or object id). */
export async function deadPropsOf(db: DB, ownerId: string, resourceIds: string[]): Promise<Map<string, DeadPropRow[]>> {
  const out = new Map<string, DeadPropRow[]>();
  if (!resourceIds.length) return out;
  const rows = await db.selectFrom('dead_property')
    .select([sql<string>`coalesce(calendar_id, object_id)`.as('resource'), 'ns', 'name', 'xml'])
    .where('owner_id', '=', ownerId)
    .where(sql<boolean>`coalesce(calendar_id, object_id) = any(${resourceIds}::uuid[])`)
    .orderBy('ns').orderBy('name')
    .execute();
  for (const r of rows) {
    const list = out.get(r.resource);
    if (list) list.push(r);
    else out.set(r.resource, [r]);
  }
  return out;
}

/** Names of the properties a resource holds now (for the per-resource limit). */
export async function deadPropNames(db: DB, ownerId: string, r: DeadResource): Promise<Set<string>> {
  const rows = await db.selectFrom('dead_property').select(['ns', 'name'])
    .where('owner_id', '=', ownerId).where(col(r), '=', idOf(r)).execute();
  return new Set(rows.map((x) => `{${x.ns}}${x.name}`));
}

/** Set (xml) or remove (null) properties of one resource, in order; call inside a transaction. */
export async function writeDeadProps(db: DB, ownerId: string, r: DeadResource, ops: Array<{ ns: string; name: string; xml: string | null }>): Promise<void> {
  for (const op of ops) {
    if (op.xml === null) {
      await db.deleteFrom('dead_property')
        .where('owner_id', '=', ownerId).where(col(r), '=', idOf(r)).where('ns', '=', op.ns).where('name', '=', op.name)
        .execute();
      continue;
    }
    await sql`
      insert into dead_property (owner_id, calendar_id, object_id, ns, name, xml)
      values (${ownerId}, ${r.calendarId ?? null}, ${r.objectId ?? null}, ${op.ns}, ${op.name}, ${op.xml})
      on conflict (owner_id, (coalesce(calendar_id, object_id)), ns, name) do update set xml = excluded.xml, updated_at = now()
    `.execute(db);
  }
}

/**
 * Copies every dead property of one object to another of the same owner (COPY and a renaming
 * MOVE store the text as a new object: RFC 4918 §9.8.2 — dead properties SHOULD be duplicated on
 * COPY; §9.9.1 — MOVE MUST move them). Values already on the target are replaced.
 */
export async function copyObjectDeadProps(db: DB, ownerId: string, fromObjectId: string, toObjectId: string): Promise<void> {
  await sql`
    insert into dead_property (owner_id, calendar_id, object_id, ns, name, xml)
    select owner_id, null, ${toObjectId}::uuid, ns, name, xml from dead_property
    where owner_id = ${ownerId} and object_id = ${fromObjectId}
    on conflict (owner_id, (coalesce(calendar_id, object_id)), ns, name) do update set xml = excluded.xml, updated_at = now()
  `.execute(db);
}
