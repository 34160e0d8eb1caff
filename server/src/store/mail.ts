/**
 * Delivery log, inbound raw messages and the intake decision log. Per-user reads always filter
 * by owner_id; admin reads are explicit (`all*`).
 */
import { sql } from 'kysely';
import type { DB } from './db.js';
import type { Database } from './schema.js';
import type { Selectable } from 'kysely';

export type DeliveryRow = Selectable<Database['delivery_log']>;
export type DecisionRow = Selectable<Database['mail_decision']>;
export type InboundRow = Selectable<Database['inbound_message']>;

export interface DeliveryEntry {
  ownerId: string | null;
  channel: string;
  kind: string;
  deliveryKey: string;
  messageId?: string | null;
  recipient: string;
  uid?: string | null;
  objectId?: string | null;
  method?: string | null;
  status: DeliveryRow['status'];
  response?: string | null;
}

/** True when this delivery (channel + key) was already sent: the idempotency check before sending. */
export async function alreadySent(db: DB, channel: string, deliveryKey: string): Promise<boolean> {
  const r = await db.selectFrom('delivery_log').select('status').where('channel', '=', channel).where('delivery_key', '=', deliveryKey).executeTakeFirst();
  return r?.status === 'sent' || r?.status === 'failed';
}

/** Records an attempt: one row per delivery, updated by each attempt (attempts counts them). */
export async function recordDelivery(db: DB, e: DeliveryEntry): Promise<void> {
  const response = e.response ? e.response.slice(0, 1000) : null;
  await db.insertInto('delivery_log').values({
    owner_id: e.ownerId, channel: e.channel, kind: e.kind, delivery_key: e.deliveryKey, message_id: e.messageId ?? null,
    recipient: e.recipient, uid: e.uid ?? null, object_id: e.objectId ?? null, method: e.method ?? null, status: e.status, response,
  }).onConflict((oc) => oc.columns(['channel', 'delivery_key']).doUpdateSet({
    status: e.status, response, attempts: sql`delivery_log.attempts + 1`, updated_at: new Date(),
    message_id: e.messageId ?? null,
  })).execute();
}

export function listDeliveries(db: DB, opts: { ownerId?: string; limit: number; before?: string; status?: string; uid?: string }) {
  let q = db.selectFrom('delivery_log').selectAll().orderBy('id', 'desc').limit(opts.limit);
  if (opts.ownerId) q = q.where('owner_id', '=', opts.ownerId);
  if (opts.before) q = q.where('id', '<', opts.before);
  if (opts.status) q = q.where('status', '=', opts.status as 'sent');
  if (opts.uid) q = q.where('uid', '=', opts.uid);
  return q.execute();
}

export function findDeliveryByMessageId(db: DB, messageId: string) {
  return db.selectFrom('delivery_log').selectAll().where('message_id', '=', messageId).orderBy('id', 'desc').executeTakeFirst();
}

export function findDeliveryByUidRecipient(db: DB, uid: string, recipient: string) {
  return db.selectFrom('delivery_log').selectAll().where('uid', '=', uid).where('recipient', '=', recipient.toLowerCase()).where('channel', '=', 'imip')
    .orderBy('id', 'desc').executeTakeFirst();
}

export async function insertInbound(db: DB, m: { source: string; envelopeFrom: string | null; envelopeTo: string[]; remoteAddress: string | null; raw: Buffer }): Promise<string> {
  const r = await db.insertInto('inbound_message').values({
    source: m.source, envelope_from: m.envelopeFrom, envelope_to: m.envelopeTo, remote_address: m.remoteAddress, raw: m.raw, size: m.raw.length, message_id: null,
  }).returning('id').executeTakeFirstOrThrow();
  return r.id;
}

export function findInbound(db: DB, id: string) {
  return db.selectFrom('inbound_message').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function finishInbound(db: DB, id: string, state: 'processed' | 'failed', messageId: string | null) {
  await db.updateTable('inbound_message').set({ state, processed_at: new Date(), message_id: messageId }).where('id', '=', id).execute();
}

export interface NewDecision {
  ownerId: string | null; inboundId: string | null; messageId: string | null; sender: string | null; recipient: string | null;
  method: string | null; uid: string | null; objectId?: string | null; code: string; outcome: DecisionRow['outcome']; reason: string;
  ical?: string | null; details?: unknown;
}

export async function insertDecision(db: DB, d: NewDecision): Promise<string> {
  const r = await db.insertInto('mail_decision').values({
    owner_id: d.ownerId, inbound_id: d.inboundId, message_id: d.messageId, sender: d.sender, recipient: d.recipient, method: d.method, uid: d.uid,
    object_id: d.objectId ?? null, code: d.code, outcome: d.outcome, reason: d.reason.slice(0, 2000), ical: d.ical ?? null,
    details: d.details === undefined ? null : JSON.stringify(d.details),
  }).returning('id').executeTakeFirstOrThrow();
  return r.id;
}

export function listDecisions(db: DB, opts: { ownerId?: string; limit: number; outcome?: string[]; inboundId?: string }) {
  let q = db.selectFrom('mail_decision').selectAll().orderBy('created_at', 'desc').orderBy('id').limit(opts.limit);
  if (opts.ownerId) q = q.where('owner_id', '=', opts.ownerId);
  if (opts.outcome?.length) q = q.where('outcome', 'in', opts.outcome as DecisionRow['outcome'][]);
  if (opts.inboundId) q = q.where('inbound_id', '=', opts.inboundId);
  return q.execute();
}

export function findDecision(db: DB, ownerId: string, id: string) {
  return db.selectFrom('mail_decision').selectAll().where('owner_id', '=', ownerId).where('id', '=', id).executeTakeFirst();
}

export async function closeDecision(db: DB, ownerId: string, id: string, outcome: DecisionRow['outcome'], fromOutcome: DecisionRow['outcome'], reason?: string): Promise<boolean> {
  const r = await db.updateTable('mail_decision').set({ outcome, decided_at: new Date(), ...(reason ? { reason } : {}) })
    .where('owner_id', '=', ownerId).where('id', '=', id).where('outcome', '=', fromOutcome).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}
