import { sql, type Kysely } from 'kysely';

/**
 * WebDAV dead properties (RFC 4918 §4.2): what a client PROPPATCHes that Calendula does not
 * interpret (Apple's refreshrate, Thunderbird's and others' own properties) is stored and given
 * back by PROPFIND. One row per (resource, property); the resource is a calendar or a calendar
 * object — exactly one of calendar_id / object_id is set, so deleting either (or the owner)
 * removes its properties, and an object moved to another calendar keeps them. `xml` is the
 * property element re-serialised by lib/dav (namespaces declared on it), so it reads back as is.
 * Per-user table: owner_id (the calendar owner) is the first key column.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table dead_property (
      owner_id uuid not null references principal(id) on delete cascade,
      calendar_id uuid references calendar(id) on delete cascade,
      object_id uuid references calendar_object(id) on delete cascade,
      ns text not null,
      name text not null,
      xml text not null,
      updated_at timestamptz not null default now(),
      check ((calendar_id is null) <> (object_id is null)),
      check (octet_length(xml) <= 65536)
    );
    create unique index dead_property_key on dead_property (owner_id, coalesce(calendar_id, object_id), ns, name);
    -- For the cascades from calendar and calendar_object deletes.
    create index dead_property_calendar on dead_property (calendar_id) where calendar_id is not null;
    create index dead_property_object on dead_property (object_id) where object_id is not null;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists dead_property`.execute(db);
}
