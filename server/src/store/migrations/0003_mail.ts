import { sql, type Kysely } from 'kysely';

/**
 * Mail delivery and intake: the delivery log (every attempt of every channel, and the
 * idempotency record that keeps a retried job from sending twice), inbound raw messages (stored
 * before the sender gets its answer), and the intake decision log (one record per inbound
 * message and recipient, including held unverified invitations and COUNTER proposals).
 * Per-user tables carry owner_id first (docs/scaling.md).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table delivery_log (
      id bigserial,
      owner_id uuid,
      channel text not null,
      kind text not null,
      delivery_key text not null,
      message_id text,
      recipient text not null,
      uid text,
      object_id uuid,
      method text,
      status text not null check (status in ('sent','failed','retrying','skipped')),
      attempts int not null default 1,
      response text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      primary key (id)
    );
    create unique index delivery_log_key on delivery_log (channel, delivery_key);
    create index delivery_log_owner on delivery_log (owner_id, created_at desc);
    create index delivery_log_message on delivery_log (message_id);
    create index delivery_log_uid on delivery_log (uid, recipient);

    create table inbound_message (
      id uuid primary key default gen_random_uuid(),
      source text not null,
      envelope_from text,
      envelope_to text[] not null default '{}',
      remote_address text,
      raw bytea not null,
      size int not null,
      state text not null default 'queued' check (state in ('queued','processed','failed')),
      message_id text,
      received_at timestamptz not null default now(),
      processed_at timestamptz
    );
    create index inbound_message_received on inbound_message (received_at desc);

    create table mail_decision (
      id uuid primary key default gen_random_uuid(),
      owner_id uuid references principal(id) on delete cascade,
      inbound_id uuid references inbound_message(id) on delete set null,
      message_id text,
      sender text,
      recipient text,
      method text,
      uid text,
      object_id uuid,
      code text not null,
      outcome text not null check (outcome in ('applied','ignored','rejected','held','accepted','discarded','counter','bounce')),
      reason text not null,
      ical text,
      details jsonb,
      created_at timestamptz not null default now(),
      decided_at timestamptz
    );
    create index mail_decision_owner on mail_decision (owner_id, created_at desc);
    create index mail_decision_inbound on mail_decision (inbound_id);
    create index mail_decision_held on mail_decision (owner_id) where outcome in ('held','counter');
  `.execute(db);
}
