/**
 * Attachments (the reference's Disk): uploaded into the blob store, referenced from events as
 * ATTACH;FMTTYPE=…;FILENAME=…;SIZE=…;X-CALENDULA-ID=<id>:<url>. Readable by the uploader and by
 * anyone whose own copy of an event references it; external attendees get expiring signed links.
 */
import type { Readable } from 'node:stream';
import { sql } from 'kysely';
import { join } from 'node:path';
import type { AppContext } from './context.js';
import type { Actor } from '../domain/actor.js';
import { DomainError, notFound } from '../domain/errors.js';
import type { DB } from '../store/db.js';
import type { ObjectRow } from '../store/schema.js';
import { BlobStoreError, createFsBlobStore, TooLargeError, type BlobStore } from '../integrations/blob/fs-store.js';
import { createS3BlobStore } from '../integrations/blob/s3-store.js';
import { createHash } from 'node:crypto';
import { signToken, verifyToken } from '../domain/auth/secrets.js';
import { publicUrl } from '../config/load.js';
import { findPrincipalByEmail } from '../store/principals.js';

const stores = new Map<string, BlobStore>();
/**
 * The configured blob store (CALENDULA_BLOB_STORE): the filesystem under the data dir, or an
 * S3-compatible bucket. A failure of the store reaches users as STORAGE_UNAVAILABLE (503) with a
 * plain message; its details (S3's error code, say SignatureDoesNotMatch for a wrong secret) go
 * to the log.
 */
export function blobStore(ctx: AppContext): BlobStore {
  const c = ctx.config;
  const id = c.blobStore === 's3' ? `s3:${c.s3Endpoint}/${c.s3Bucket}/${c.s3AccessKeyId}/${createHash('sha256').update(c.s3SecretAccessKey ?? '').digest('hex')}` : `fs:${join(c.dataDir, 'attachments')}`;
  let s = stores.get(id);
  if (!s) {
    const raw = c.blobStore === 's3'
      ? createS3BlobStore({ endpoint: c.s3Endpoint!, bucket: c.s3Bucket!, region: c.s3Region, accessKeyId: c.s3AccessKeyId!, secretAccessKey: c.s3SecretAccessKey!, pathStyle: c.s3PathStyle, tmpDir: join(c.dataDir, 'attachments', 'tmp') })
      : createFsBlobStore(join(c.dataDir, 'attachments'));
    stores.set(id, (s = guarded(ctx, raw)));
  }
  return s;
}

function guarded(ctx: AppContext, store: BlobStore): BlobStore {
  const wrap = <A extends unknown[], R>(op: string, fn: (...a: A) => Promise<R>) => async (...a: A): Promise<R> => {
    try {
      return await fn(...a);
    } catch (e) {
      if (!(e instanceof BlobStoreError)) throw e;
      ctx.log.error({ err: e.message, code: e.code, status: e.status, op }, 'blob store request failed');
      throw new DomainError('STORAGE_UNAVAILABLE', 'The file storage is not available right now; try again later', { storeError: e.code });
    }
  };
  return { put: wrap('put', store.put), get: wrap('get', store.get), size: wrap('size', store.size), remove: wrap('remove', store.remove) };
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

/**
 * Who wrote an object, for deciding which attachments its ATTACH properties may link
 * (syncAttachmentUses). The X-CALENDULA-ID of an ATTACH is only a claim made by whoever wrote the
 * text: an id alone (known, say, to an attendee later removed from the event) must never grant
 * access to a file.
 */
export interface AttachmentLinkRule {
  /**
   * 'person': an interactive write (REST, web, CalDAV, bot, CLI). A foreign attachment refuses the
   * whole write with ATTACHMENT_FORBIDDEN (403) rather than being stripped: the client learns at
   * once why, and what it stored is exactly what it sent (a CalDAV server that changes the stored
   * text must not return an ETag for it, RFC 4791 §5.3.4, which many clients handle badly).
   * 'delivery': a scheduling delivery (via 'scheduler'): also the attachments the organizer's own
   * object of this UID references (RFC 6638 §3.2: the copy is the organizer's event as delivered).
   * 'lenient': writes that carry someone else's text (mail intake, import, Exchange sync): a
   * foreign attachment is not linked (no access is granted; the ATTACH stays as a dead link) but
   * the write goes on — refusing would lose the whole invitation or import.
   */
  mode: 'person' | 'delivery' | 'lenient';
  /** The acting user: their own uploads may be linked (a delegate writing into another's calendar). */
  actorId?: string | null;
  /** Another object of the same owner whose links may be carried over (copy, duplicate, rename). */
  from?: { ownerId: string; objectId: string } | null;
  /** The text before the write: a foreign id already in it is left unlinked, not refused (it was never linked). */
  previousIcal?: string | null;
}

export const attachmentRuleFor = (actor: Actor, previousIcal?: string | null, from?: AttachmentLinkRule['from']): AttachmentLinkRule => ({
  mode: actor.via === 'scheduler' ? 'delivery' : actor.via === 'mail' || actor.via === 'import' || actor.via === 'exchange' || actor.via === 'system' ? 'lenient' : 'person',
  actorId: actor.userId,
  from,
  previousIcal,
});

/**
 * Keeps attachment_use in step with the ATTACH properties of an object (same transaction). Only
 * attachments the rule allows are linked: uploaded by the object's owner (or the acting user),
 * already referenced by this same row before the write, carried over from `rule.from`, or — for a
 * delivery — referenced by the organizer's own object of the UID.
 */
export async function syncAttachmentUses(db: DB, row: Pick<ObjectRow, 'id' | 'owner_id' | 'ical' | 'has_attachments' | 'uid' | 'organizer'>, rule: AttachmentLinkRule): Promise<void> {
  const ids = row.has_attachments ? attachmentIdsIn(row.ical) : [];
  const before = await db.deleteFrom('attachment_use').where('owner_id', '=', row.owner_id).where('object_id', '=', row.id).returning('attachment_id').execute();
  if (!ids.length) return;
  const existing = await db.selectFrom('attachment').select(['id', 'owner_id']).where('id', 'in', ids).execute();
  if (!existing.length) return;
  // A delivery to an attendee's copy follows the organizer's own object of the UID (RFC 6638
  // §3.2: the copy is the organizer's event as delivered), not what the copy had: an attendee the
  // organizer removed (the CANCEL leaves a STATUS:CANCELLED copy, RFC 5546 §3.2.5) loses the links.
  // An organizer who is not a user here (an external invitation) has no object here: nothing foreign is linked.
  const organizer = rule.mode === 'delivery' && row.organizer ? await findPrincipalByEmail(db, row.organizer) : undefined;
  const followsOrganizer = rule.mode === 'delivery' && organizer?.id !== row.owner_id;
  const allowed = new Set(followsOrganizer ? [] : before.map((b) => b.attachment_id));
  for (const a of existing) if (a.owner_id === row.owner_id || (rule.actorId && a.owner_id === rule.actorId)) allowed.add(a.id);
  let rest = existing.filter((a) => !allowed.has(a.id)).map((a) => a.id);
  if (rest.length && rule.from) {
    const carried = await db.selectFrom('attachment_use').select('attachment_id').where('owner_id', '=', rule.from.ownerId).where('object_id', '=', rule.from.objectId).where('attachment_id', 'in', rest).execute();
    for (const c of carried) allowed.add(c.attachment_id);
    rest = rest.filter((id) => !allowed.has(id));
  }
  if (rest.length && followsOrganizer && organizer) {
    // The recipient's addresses: the organizer's object must still list one of them as ATTENDEE.
    const mine = await db.selectFrom('principal').select(sql<string>`lower(email)`.as('email')).where('id', '=', row.owner_id)
      .unionAll(db.selectFrom('principal_alias').select(sql<string>`lower(email)`.as('email')).where('principal_id', '=', row.owner_id)).execute();
    const theirs = await db.selectFrom('attachment_use').innerJoin('calendar_object', (j) => j.onRef('calendar_object.id', '=', 'attachment_use.object_id').onRef('calendar_object.owner_id', '=', 'attachment_use.owner_id'))
      .select('attachment_use.attachment_id').where('attachment_use.owner_id', '=', organizer.id).where('calendar_object.uid', '=', row.uid)
      .where('calendar_object.deleted_at', 'is', null).where('attachment_use.attachment_id', 'in', rest)
      .where(sql<boolean>`calendar_object.attendees && ${mine.map((m) => m.email)}::text[]`).execute();
    for (const t of theirs) allowed.add(t.attachment_id);
    rest = rest.filter((id) => !allowed.has(id));
  }
  if (rest.length && rule.previousIcal) {
    const had = new Set(attachmentIdsIn(rule.previousIcal));
    rest = rest.filter((id) => !had.has(id));
  }
  if (rest.length && rule.mode === 'person') {
    throw new DomainError('ATTACHMENT_FORBIDDEN', 'An event can link only your own attachments or those it already had', { attachments: rest });
  }
  const linked = existing.filter((a) => allowed.has(a.id));
  if (linked.length) await db.insertInto('attachment_use').values(linked.map((a) => ({ owner_id: row.owner_id, attachment_id: a.id, object_id: row.id }))).onConflict((oc) => oc.doNothing()).execute();
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

/**
 * An expiring link for people without an account (external attendees): valid for
 * CALENDULA_ATTACHMENT_LINK_DAYS (default 30) unless `ttlSeconds` is given.
 */
export function signedAttachmentUrl(ctx: AppContext, id: string, ttlSeconds = ctx.config.attachmentLinkDays * 86400): string {
  return `${publicUrl(ctx.config)}/files/${id}?t=${signToken(ctx.secret, 'attachment', { id }, ttlSeconds)}`;
}

export function verifySignedAttachment(ctx: AppContext, id: string, token: string): boolean {
  const p = verifyToken<{ id: string }>(ctx.secret, 'attachment', token);
  return !!p && p.id === id;
}

/**
 * The calendar text as it goes out by iMIP to an external recipient: every managed ATTACH (one
 * with X-CALENDULA-ID) gets the signed, expiring /files link as its URI value (RFC 5545 §3.8.1.1:
 * ATTACH by URI reference), since the stored /api/v1/attachments link needs a login they do not
 * have. The stored text is not changed. Unmanaged ATTACH properties and inline (BINARY) ones stay.
 */
export function withSignedAttachments(ctx: AppContext, ical: string): string {
  if (!/X-CALENDULA-ID=/i.test(ical)) return ical;
  const lines = ical.replace(/\r?\n[ \t]/g, '').split(/\r?\n/);
  let changed = false;
  const out = lines.map((line) => {
    if (!/^ATTACH[;:]/i.test(line)) return line;
    const m = /^(ATTACH(?:;(?:[^":;]|"[^"]*")*)*):(.*)$/i.exec(line);
    if (!m) return line;
    const id = /;X-CALENDULA-ID=([0-9a-f-]{36})(?=[;:]|$)/i.exec(m[1])?.[1];
    if (!id || /;VALUE=BINARY/i.test(m[1])) return line;
    changed = true;
    return `${m[1]}:${signedAttachmentUrl(ctx, id.toLowerCase())}`;
  });
  return changed ? out.map(fold).join('\r\n') : ical;
}

/** RFC 5545 §3.1: lines longer than 75 octets are folded (split between UTF-8 characters). */
function fold(line: string): string {
  if (Buffer.byteLength(line) <= 75) return line;
  const parts: string[] = [];
  let cur = '';
  let len = 0;
  for (const ch of line) {
    const n = Buffer.byteLength(ch);
    if (len + n > (parts.length ? 74 : 75)) { parts.push(cur); cur = ''; len = 0; }
    cur += ch;
    len += n;
  }
  parts.push(cur);
  return parts.join('\r\n ');
}

export async function attachmentFor(ctx: AppContext, actor: Actor | null, id: string, signed?: string) {
  if (!/^[0-9a-f-]{36}$/i.test(id)) throw notFound('Attachment');
  const att = await ctx.db.selectFrom('attachment').selectAll().where('id', '=', id).executeTakeFirst();
  if (!att) throw notFound('Attachment');
  if (signed !== undefined) {
    if (!verifySignedAttachment(ctx, id, signed)) throw new DomainError('LINK_INVALID', 'This link is invalid or has expired');
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
  // The blob first: if the store fails, the row stays and the next round tries again (the other
  // way round a failure would leave a blob nothing knows about).
  for (const r of rows) {
    await blobStore(ctx).remove(r.storage_key);
    await ctx.db.deleteFrom('attachment').where('owner_id', '=', r.owner_id).where('id', '=', r.id).execute();
  }
  return rows.length;
}
