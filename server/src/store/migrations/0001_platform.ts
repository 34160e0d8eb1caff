import { sql, type Kysely } from 'kysely';

/** Principals (users, groups, rooms), sign-in, calendars and sharing. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table server_secret (
      name text primary key,
      value text not null,
      created_at timestamptz not null default now()
    );

    create table principal (
      id uuid primary key default gen_random_uuid(),
      kind text not null check (kind in ('user','group','room')),
      email text not null,
      name text not null default '',
      is_admin boolean not null default false,
      disabled boolean not null default false,
      password_hash text,
      language text not null default 'en' check (language in ('en','ru')),
      timezone text not null default 'UTC',
      working_hours jsonb not null default '{"days":[1,2,3,4,5],"start":"09:00","end":"18:00"}',
      notify jsonb not null default '{}',
      room_capacity int,
      room_auto_accept text check (room_auto_accept in ('accept-if-free','always','manual')),
      vkteams_id text,
      oidc_subject text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    );
    create unique index principal_email on principal (lower(email));
    create unique index principal_oidc on principal (oidc_subject) where oidc_subject is not null;

    -- Directory search: every prefixable term of a principal (e-mail, its local part, each name word).
    create table principal_term (
      term text not null,
      principal_id uuid not null references principal(id) on delete cascade,
      primary key (term, principal_id)
    );
    create index principal_term_prefix on principal_term (term text_pattern_ops);
    create index principal_term_principal on principal_term (principal_id);

    create table principal_alias (
      email text primary key,
      principal_id uuid not null references principal(id) on delete cascade
    );

    create table group_member (
      group_id uuid not null references principal(id) on delete cascade,
      member_id uuid not null references principal(id) on delete cascade,
      primary key (group_id, member_id)
    );

    create table session (
      id text primary key,
      owner_id uuid not null references principal(id) on delete cascade,
      csrf text not null,
      created_at timestamptz not null default now(),
      expires_at timestamptz not null,
      last_seen_at timestamptz not null default now(),
      user_agent text,
      ip text
    );
    create index session_owner on session (owner_id);

    create table app_password (
      id uuid primary key default gen_random_uuid(),
      owner_id uuid not null references principal(id) on delete cascade,
      name text not null,
      secret_hash text not null unique,
      created_at timestamptz not null default now(),
      last_used_at timestamptz,
      revoked_at timestamptz
    );
    create index app_password_owner on app_password (owner_id);

    create table api_token (
      id uuid primary key default gen_random_uuid(),
      owner_id uuid not null references principal(id) on delete cascade,
      name text not null,
      secret_hash text not null unique,
      scopes text[] not null,
      created_at timestamptz not null default now(),
      expires_at timestamptz,
      last_used_at timestamptz,
      revoked_at timestamptz
    );
    create index api_token_owner on api_token (owner_id);

    create table signin_throttle (
      key text primary key,
      failures int not null default 0,
      window_started_at timestamptz not null default now(),
      locked_until timestamptz
    );

    create table calendar (
      id uuid primary key default gen_random_uuid(),
      owner_id uuid not null references principal(id) on delete cascade,
      name text not null,
      description text not null default '',
      color text not null default '#3b82f6',
      timezone text,
      default_reminders jsonb not null default '[]',
      sort_order int not null default 0,
      hidden boolean not null default false,
      is_default boolean not null default false,
      components text[] not null default '{VEVENT,VTODO}',
      sync_seq bigint not null default 0,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    );
    create index calendar_owner on calendar (owner_id);
    create unique index calendar_one_default on calendar (owner_id) where is_default;

    create table calendar_share (
      calendar_id uuid not null references calendar(id) on delete cascade,
      owner_id uuid not null references principal(id) on delete cascade,
      grantee_id uuid not null references principal(id) on delete cascade,
      access text not null check (access in ('read','read-write','freebusy')),
      created_at timestamptz not null default now(),
      primary key (calendar_id, grantee_id)
    );
    create index calendar_share_grantee on calendar_share (grantee_id);

    create table audit_log (
      id bigserial primary key,
      owner_id uuid,
      actor_id uuid,
      via text not null,
      action text not null,
      target text,
      details jsonb,
      at timestamptz not null default now()
    );
    create index audit_log_owner on audit_log (owner_id, at);
  `.execute(db);
}
