import { sql, type Kysely } from 'kysely';

/**
 * Calendar object resources (iCalendar text + derived index columns), the per-calendar change log
 * (sync tokens and tombstones), editing leases, attachments and imports. Every per-user table has
 * owner_id as its first key column so it can be distributed by owner (docs/scaling.md).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table calendar_object (
      id uuid primary key default gen_random_uuid(),
      owner_id uuid not null references principal(id) on delete cascade,
      calendar_id uuid not null references calendar(id) on delete cascade,
      name text not null,
      uid text not null,
      component text not null check (component in ('VEVENT','VTODO')),
      ical text not null,
      etag text not null,
      schedule_tag text not null,
      first_start timestamptz,
      last_end timestamptz,
      recurring boolean not null default false,
      all_day boolean not null default false,
      organizer text,
      role text not null default 'none' check (role in ('none','organizer','attendee')),
      my_partstat text,
      status text,
      transp text,
      class text,
      summary text not null default '',
      location text not null default '',
      description text not null default '',
      attendees text[] not null default '{}',
      sequence int not null default 0,
      has_alarms boolean not null default false,
      has_attachments boolean not null default false,
      origin text not null default 'rest',
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      updated_by uuid,
      deleted_at timestamptz,
      deleted_by uuid
    );
    create unique index calendar_object_name on calendar_object (owner_id, calendar_id, name) where deleted_at is null;
    create unique index calendar_object_uid on calendar_object (owner_id, calendar_id, uid) where deleted_at is null;
    create index calendar_object_range on calendar_object (owner_id, calendar_id, first_start) where deleted_at is null;
    create index calendar_object_owner_uid on calendar_object (owner_id, uid);
    create index calendar_object_trash on calendar_object (owner_id, deleted_at) where deleted_at is not null;
    create index calendar_object_invites on calendar_object (owner_id) where deleted_at is null and role = 'attendee' and my_partstat = 'NEEDS-ACTION';

    create table calendar_change (
      owner_id uuid not null,
      calendar_id uuid not null references calendar(id) on delete cascade,
      seq bigint not null,
      object_id uuid not null,
      name text not null,
      uid text not null,
      kind text not null check (kind in ('put','delete')),
      at timestamptz not null default now(),
      primary key (owner_id, calendar_id, seq)
    );

    create table edit_lease (
      uid text primary key,
      holder_id uuid not null references principal(id) on delete cascade,
      holder_name text not null,
      expires_at timestamptz not null
    );

    create table attachment (
      id uuid primary key default gen_random_uuid(),
      owner_id uuid not null references principal(id) on delete cascade,
      filename text not null,
      content_type text not null,
      size bigint not null,
      sha256 text not null,
      storage_key text not null,
      created_at timestamptz not null default now()
    );
    create index attachment_owner on attachment (owner_id);

    create table attachment_use (
      owner_id uuid not null,
      attachment_id uuid not null references attachment(id) on delete cascade,
      object_id uuid not null references calendar_object(id) on delete cascade,
      primary key (owner_id, attachment_id, object_id)
    );
    create index attachment_use_object on attachment_use (object_id);

    create table import_run (
      id uuid primary key default gen_random_uuid(),
      owner_id uuid not null references principal(id) on delete cascade,
      calendar_id uuid not null references calendar(id) on delete cascade,
      state text not null default 'queued',
      total int not null default 0,
      done int not null default 0,
      imported int not null default 0,
      failed int not null default 0,
      errors jsonb not null default '[]',
      source text,
      created_at timestamptz not null default now(),
      finished_at timestamptz
    );
    create index import_run_owner on import_run (owner_id);
  `.execute(db);
}
