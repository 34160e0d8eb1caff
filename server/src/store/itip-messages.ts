/**
 * iTIP message texts stored once per scheduling write (migration 0008) and the deferred
 * per-recipient jobs of a large fan-out. Jobs reference a message by (owner, id).
 */
import { sql } from 'kysely';
import type { DB } from './db.js';

/** Inserts the texts (ids chosen by the caller) in one statement. */
export async function insertMessages(db: DB, ownerId: string, uid: string, messages: { id: string; ical: string }[]): Promise<void> {
  if (!messages.length) return;
  await db.insertInto('itip_message').values(messages.map((m) => ({ owner_id: ownerId, id: m.id, uid, ical: m.ical }))).execute();
}

/**
 * The text of a stored message; null when it is gone (owner deleted, purged). A fan-out reads the
 * same message for every recipient: recent texts are kept in memory (immutable rows).
 */
const cache = new Map<string, Promise<string | null>>();
export function loadMessage(db: DB, ownerId: string, id: string): Promise<string | null> {
  const key = `${ownerId}/${id}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const p = db.selectFrom('itip_message').select('ical').where('owner_id', '=', ownerId).where('id', '=', id).executeTakeFirst().then((r) => r?.ical ?? null);
  if (cache.size >= 64) cache.delete(cache.keys().next().value!);
  cache.set(key, p);
  p.then((v) => { if (v === null) cache.delete(key); }, () => cache.delete(key));
  return p;
}

export async function insertFanout(db: DB, ownerId: string, id: string, uid: string, jobs: unknown[]): Promise<void> {
  await db.insertInto('itip_fanout').values({ owner_id: ownerId, id, uid, jobs: JSON.stringify(jobs) }).execute();
}

/** True while a fan-out of this event still has jobs to queue (later messages must queue after them). */
export async function fanoutPending(db: DB, ownerId: string, uid: string): Promise<boolean> {
  const r = await db.selectFrom('itip_fanout').select('id').where('owner_id', '=', ownerId).where('uid', '=', uid).limit(1).executeTakeFirst();
  return !!r;
}

/** Messages and unfinished fan-outs older than the cutoff (their jobs have long run or failed for good). */
export async function purgeMessages(db: DB, before: Date): Promise<void> {
  await sql`delete from itip_message where created_at < ${before}`.execute(db);
  await sql`delete from itip_fanout where created_at < ${before}`.execute(db);
}
