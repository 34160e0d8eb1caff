/**
 * Attachments (the reference's Disk): uploaded into the blob store, referenced from events as
 * ATTACH;FMTTYPE=…;FILENAME=…;SIZE=…;X-CALENDULA-ID=<id>:<url>. Readable by the uploader and by
 * anyone whose own copy of an event references it; external attendees get expiring signed links.
 */
import type { Readable } from 'node:stream';
import { join } from 'node:path';
import type { AppContext } from './context.js';
import type { Actor } from '../domain/actor.js';
import { DomainError, notFound } from '../domain/errors.js';
import type { DB } from '../store/db.js';
import type { ObjectRow } from '../store/schema.js';
import { createFsBlobStore, TooLargeError, type BlobStore } from '../integrations/blob/fs-store.js';
import { signToken, verifyToken } from '../domain/auth/secrets.js';
import { publicUrl } from '../config/load.js';

const stores = new Map<string, BlobStore>();
export function blobStore(ctx: AppContext): BlobStore {
  const dir = join(ctx.config.dataDir, 'attachments');
  let s = stores.get(dir);
  if (!s) stores.set(dir, (s = createFsBlobStore(dir)));
  return s;
}

const ID_PARAM = /X-CALENDULA-ID=([0-9a-f-]{36})/gi;

export function attachmentIdsIn(ical: string): string[] {
  const unfolded = ical.replace(/\r?\n[ \t]/g, '');
  const ids = new Set<string>();
  for (const line of unfolded.split(/\r?\n/)) {
    if (!/^ATTACH[;:]/i.test(line)) continue;
    for (const m of line.matchAll(ID_PARAM)) ids.add(m[1].toLowerCase());
  }
  return [...ids];
}

/** Keeps attachment_use in step with the ATTACH properties of an object (same transaction). */
export async function syncAttachmentUses(db: DB, row: ObjectRow): Promise<void> {
  const ids = row.has_attachments ? attachmentIdsIn(row.ical) : [];
  await db.deleteFrom('attachment_use').where('owner_id', '=', row.owner_id).where('object_id', '=', row.id).execute();
  if (!ids.length) return;
  const existing = await db.selectFrom('attachment').select('id').where('id', 'in', ids).execute();
  if (existing.length) await db.insertInto('attachment_use').values(existing.map((a) => ({ owner_id: row.owner_id, attachment_id: a.id, object_id: row.id }))).onConflict((oc) => oc.doNothing()).execute();
}

export async function uploadAttachment(ctx: AppContext, actor: Actor, file: { filename: string; contentType: string; stream: Readable }) {
  const userId = actor.userId!;
  const used = await ctx.db.selectFrom('attachment').select((eb) => eb.fn.coalesce(eb.fn.sum<string>('size'), eb.lit(0)).as('total')).where('owner_id', '=', userId).executeTakeFirstOrThrow();
  const room = ctx.config.attachmentQuotaBytes - Number(used.total);
  if (room <= 0) throw new DomainError('QUOTA_EXCEEDED', 'Your attachment quota is used up; remove old attachments first');
  let stored;
  try {
    stored = await blobStore(ctx).put(file.stream, Math.min(ctx.config.attachmentMaxBytes, room));
  } catch (e) {
    if (e instanceof TooLargeError) {
      throw room < ctx.config.attachmentMaxBytes
        ? new DomainError('QUOTA_EXCEEDED', 'This file does not fit in your remaining attachment quota')
        : new DomainError('TOO_LARGE', `Attachments can be at most ${Math.round(ctx.config.attachmentMaxBytes / 1048576)} MB`);
    }
    throw e;
  }
  const filename = file.filename.replace(/[\u0000-\u001f/\\]/g, '_').slice(0, 255) || 'file';
  const contentType = /^[\w.+-]+\/[\w.+-]+$/.test(file.contentType) ? file.contentType : 'application/octet-stream';
  return ctx.db.insertInto('attachment').values({ owner_id: userId, filename, content_type: contentType, size: stored.size, sha256: stored.sha256, storage_key: stored.key }).returningAll().executeTakeFirstOrThrow();
}

export function attachmentUrl(ctx: AppContext, id: string): string {
  return `${publicUrl(ctx.config)}/api/v1/attachments/${id}`;
}

/** An expiring link for people without an account (external attendees). */
export function signedAttachmentUrl(ctx: AppContext, id: string, ttlSeconds = 30 * 86400): string {
  return `${publicUrl(ctx.config)}/files/${id}?t=${signToken(ctx.secret, 'attachment', { id }, ttlSeconds)}`;
}

export function verifySignedAttachment(ctx: AppContext, id: string, token: string): boolean {
  const p = verifyToken<{ id: string }>(ctx.secret, 'attachment', token);
  return !!p && p.id === id;
}

export async function attachmentFor(ctx: AppContext, actor: Actor | null, id: string, signed?: string) {
  if (!/^[0-9a-f-]{36}$/i.test(id)) throw notFound('Attachment');
  const att = await ctx.db.selectFrom('attachment').selectAll().where('id', '=', id).executeTakeFirst();
  if (!att) throw notFound('Attachment');
  if (signed !== undefined) {
    if (!verifySignedAttachment(ctx, id, signed)) throw new DomainError('FORBIDDEN', 'This link is invalid or has expired');
    return att;
  }
  if (!actor?.userId) throw new DomainError('UNAUTHENTICATED', 'Sign in first');
  if (att.owner_id === actor.userId) return att;
  const use = await ctx.db.selectFrom('attachment_use').innerJoin('calendar_object', 'calendar_object.id', 'attachment_use.object_id')
    .select('attachment_use.object_id').where('attachment_use.owner_id', '=', actor.userId).where('attachment_use.attachment_id', '=', id)
    .where('calendar_object.owner_id', '=', actor.userId).where('calendar_object.deleted_at', 'is', null).executeTakeFirst();
  if (!use) throw notFound('Attachment');
  return att;
}

export async function deleteAttachment(ctx: AppContext, actor: Actor, id: string) {
  const att = await ctx.db.selectFrom('attachment').selectAll().where('id', '=', id).where('owner_id', '=', actor.userId!).executeTakeFirst();
  if (!att) throw notFound('Attachment');
  const used = await ctx.db.selectFrom('attachment_use').select('object_id').where('attachment_id', '=', id).executeTakeFirst();
  if (used) throw new DomainError('CONFLICT', 'This attachment is still used by an event; remove it from the event first');
  await ctx.db.deleteFrom('attachment').where('owner_id', '=', actor.userId!).where('id', '=', id).execute();
  await blobStore(ctx).remove(att.storage_key);
}

/** Garbage collection: attachments no event references any more, older than a grace period. */
export async function collectGarbage(ctx: AppContext, graceMs = 24 * 3600_000): Promise<number> {
  const rows = await ctx.db.selectFrom('attachment').select(['id', 'owner_id', 'storage_key'])
    .where('created_at', '<', new Date(Date.now() - graceMs))
    .where(({ not, exists, selectFrom }) => not(exists(selectFrom('attachment_use').select('object_id').whereRef('attachment_use.attachment_id', '=', 'attachment.id'))))
    .limit(1000).execute();
  for (const r of rows) {
    await ctx.db.deleteFrom('attachment').where('owner_id', '=', r.owner_id).where('id', '=', r.id).execute();
    await blobStore(ctx).remove(r.storage_key);
  }
  return rows.length;
}
