/** The bot's tables (migration 0004_bot). Typed here so the shared schema file stays untouched. */
import type { Kysely, Generated } from 'kysely';
import type { Database } from '../../store/schema.js';
import type { DB } from '../../store/db.js';

export interface BotTables {
  bot_state: { key: string; value: string; updated_at: Generated<Date> };
  bot_chat: {
    owner_id: string; vkteams_id: string; chat_id: string; display_name: Generated<string>;
    linked_at: Generated<Date>; last_seen_at: Generated<Date>;
  };
  bot_message: {
    owner_id: string; key: string; kind: string; object_id: string | null; chat_id: string | null; msg_id: string | null;
    outcome: Generated<string>; detail: string | null; attempts: Generated<number>; created_at: Generated<Date>; sent_at: Date | null;
  };
  bot_callback: {
    owner_id: string; query_id: string; object_id: string | null; answer: string | null;
    outcome: Generated<string>; created_at: Generated<Date>; done_at: Date | null;
  };
}

export type BotDb = Kysely<Database & BotTables>;
export const botDb = (db: DB): BotDb => db as unknown as BotDb;

/** Delivery-log outcomes of an outgoing bot message. */
export type Outcome = 'sending' | 'sent' | 'retrying' | 'failed' | 'skipped-unlinked' | 'skipped-preference' | 'skipped-gone' | 'skipped-disabled';

export async function recordOutcome(db: DB, row: { ownerId: string; key: string; kind: string; objectId?: string | null; chatId?: string | null; msgId?: string | null; outcome: Outcome; detail?: string | null; attempt?: boolean }): Promise<void> {
  const sent = row.outcome === 'sent' ? new Date() : null;
  await botDb(db).insertInto('bot_message').values({
    owner_id: row.ownerId, key: row.key, kind: row.kind, object_id: row.objectId ?? null, chat_id: row.chatId ?? null,
    msg_id: row.msgId ?? null, outcome: row.outcome, detail: row.detail ?? null, attempts: row.attempt ? 1 : 0, sent_at: sent,
  }).onConflict((oc) => oc.columns(['owner_id', 'key']).doUpdateSet((eb) => ({
    outcome: row.outcome, detail: row.detail ?? null,
    chat_id: eb.fn.coalesce(eb.val(row.chatId ?? null), eb.ref('bot_message.chat_id')),
    msg_id: eb.fn.coalesce(eb.val(row.msgId ?? null), eb.ref('bot_message.msg_id')),
    sent_at: eb.fn.coalesce(eb.val(sent), eb.ref('bot_message.sent_at')),
    attempts: row.attempt ? eb('bot_message.attempts', '+', 1) : eb.ref('bot_message.attempts'),
  }))).execute();
}

export function findDelivery(db: DB, ownerId: string, key: string) {
  return botDb(db).selectFrom('bot_message').selectAll().where('owner_id', '=', ownerId).where('key', '=', key).executeTakeFirst();
}

export function findByMsgId(db: DB, ownerId: string, msgId: string) {
  return botDb(db).selectFrom('bot_message').selectAll().where('owner_id', '=', ownerId).where('msg_id', '=', msgId).executeTakeFirst();
}

export async function loadLastEventId(db: DB): Promise<number> {
  const r = await botDb(db).selectFrom('bot_state').select('value').where('key', '=', 'last_event_id').executeTakeFirst();
  const n = r ? Number(r.value) : 0;
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
}

/** Only ever moves forward (a deposed leader finishing late cannot move it back). */
export async function saveLastEventId(db: DB, id: number): Promise<void> {
  const { sql } = await import('kysely');
  await sql`insert into bot_state (key, value, updated_at) values ('last_event_id', ${String(id)}, now())
    on conflict (key) do update set value = excluded.value, updated_at = now()
    where bot_state.value::bigint < excluded.value::bigint`.execute(db);
}
