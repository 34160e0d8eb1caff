import { sql, type Kysely } from 'kysely';

/**
 * The VK Teams bot (issue 8): the poller's lastEventId, each user's chat link, the outgoing
 * message log (delivery outcome + msgId so a message can be edited later), and processed button
 * presses (idempotency). Per-user tables carry owner_id as their first key column.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table bot_state (
      key text primary key,
      value text not null,
      updated_at timestamptz not null default now()
    );

    create table bot_chat (
      owner_id uuid primary key references principal(id) on delete cascade,
      vkteams_id text not null,
      chat_id text not null,
      display_name text not null default '',
      linked_at timestamptz not null default now(),
      last_seen_at timestamptz not null default now()
    );
    create index bot_chat_vkteams_id on bot_chat (lower(vkteams_id));

    create table bot_message (
      owner_id uuid not null references principal(id) on delete cascade,
      key text not null,
      kind text not null,
      object_id uuid,
      chat_id text,
      msg_id text,
      outcome text not null default 'pending',
      detail text,
      attempts int not null default 0,
      created_at timestamptz not null default now(),
      sent_at timestamptz,
      primary key (owner_id, key)
    );
    create index bot_message_msg on bot_message (owner_id, msg_id) where msg_id is not null;
    create index bot_message_object on bot_message (owner_id, object_id, sent_at desc) where msg_id is not null;

    create table bot_callback (
      owner_id uuid not null references principal(id) on delete cascade,
      query_id text not null,
      object_id uuid,
      answer text,
      outcome text not null default 'processing',
      created_at timestamptz not null default now(),
      done_at timestamptz,
      primary key (owner_id, query_id)
    );
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists bot_callback, bot_message, bot_chat, bot_state`.execute(db);
}
