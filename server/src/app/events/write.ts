/**
 * The one write path for calendar objects (DESIGN.md principle 1). REST, CalDAV, scheduling
 * deliveries, mail intake, the bot and import all end here. In one transaction it serialises
 * writes per UID, checks etag / schedule-tag / lease preconditions, plans implicit scheduling,
 * stores the object with its change-log entry, and queues every side effect (principle 2).
 */
import { sql } from 'kysely';
import type { AppContext } from '../context.js';
import type { Actor } from '../../domain/actor.js';
import { DomainError } from '../../domain/errors.js';
import type { DB } from '../../store/db.js';
import * as objects from '../../store/objects.js';
import * as principals from '../../store/principals.js';
import type { ObjectRow } from '../../store/schema.js';
import { indexValues, prepareResource } from './resource.js';
import { planScheduling } from './scheduling.js';
import { planReminders } from './reminders.js';
import { enqueueMany, type JobSpec } from '../../jobs/queue.js';
import { syncAttachmentUses } from '../attachments.js';

export interface SaveInput {
  ownerId: string;
  calendarId: string;
  /** Existing object to replace (by id), or by resource name; absent = create. */
  existingId?: string | null;
  name?: string;
  ical: string;
  ifMatch?: string | null;
  ifNoneMatch?: boolean;
  ifScheduleTagMatch?: string | null;
  /** Organizer may override someone else's editing lease. */
  force?: boolean;
  /** Run implicit scheduling (default true). Scheduling deliveries themselves pass false. */
  schedule?: boolean;
  /** Attendee copies: refuse changes an attendee may not make (RFC 6638 §3.2.2.1). */
  enforceAttendeeRules?: boolean;
  extraJobs?: JobSpec[];
}

export interface SaveResult { row: ObjectRow; created: boolean; previous: ObjectRow | null }

export async function lockUid(db: DB, uid: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${'uid:' + uid}, 0))`.execute(db);
}

function conflictDetails(row: ObjectRow, names: Map<string, string>) {
  return { changedBy: row.updated_by ? names.get(row.updated_by) ?? row.updated_by : null, changedAt: row.updated_at.toISOString(), etag: row.etag };
}

export async function saveObject(ctx: AppContext, actor: Actor, input: SaveInput, db: DB = ctx.db): Promise<SaveResult> {
  const prepared = prepareResource(input.ical);
  const owner = await principals.findPrincipalById(db, input.ownerId);
  if (!owner) throw new DomainError('NOT_FOUND', 'Calendar owner not found');
  const run = async (trx: DB): Promise<SaveResult> => {
    await lockUid(trx, prepared.index.uid);
    let existing: ObjectRow | undefined;
    if (input.existingId) {
      existing = await objects.findObject(trx, input.ownerId, input.existingId, { forUpdate: true });
      if (!existing) throw new DomainError('NOT_FOUND', 'The event no longer exists');
    } else if (input.name) {
      existing = await objects.findByName(trx, input.ownerId, input.calendarId, input.name);
    }
    if (existing && input.ifNoneMatch) throw new DomainError('ETAG_MISMATCH', 'A resource with this name already exists', { etag: existing.etag });
    if (!existing && input.ifMatch) throw new DomainError('ETAG_MISMATCH', 'The resource does not exist any more');
    if (existing && input.ifMatch && input.ifMatch !== existing.etag) {
      const who = existing.updated_by ? await principals.findPrincipalById(trx, existing.updated_by) : undefined;
      const names = new Map(who ? [[who.id, who.name || who.email]] : []);
      throw new DomainError('ETAG_MISMATCH', `${who ? (who.name || who.email) : 'Someone'} changed this event at ${existing.updated_at.toISOString()}; reload it before saving`, conflictDetails(existing, names));
    }
    if (existing && input.ifScheduleTagMatch && input.ifScheduleTagMatch !== existing.schedule_tag) {
      throw new DomainError('ETAG_MISMATCH', 'The scheduling state changed (Schedule-Tag mismatch)', { scheduleTag: existing.schedule_tag });
    }
    if (existing && existing.uid !== prepared.index.uid) throw new DomainError('UID_CONFLICT', 'The UID of an existing event cannot change', { uid: existing.uid });
    const clash = await objects.findByUidInCalendar(trx, input.ownerId, input.calendarId, prepared.index.uid);
    if (clash && clash.id !== existing?.id) throw new DomainError('UID_CONFLICT', `An event with UID ${prepared.index.uid} already exists in this calendar`, { uid: prepared.index.uid, id: clash.id, name: clash.name });
    if (actor.via !== 'scheduler') await checkLease(trx, prepared.index.uid, actor, !!input.force);

    let text = prepared.text;
    let jobs: JobSpec[] = [...(input.extraJobs ?? [])];
    if (input.schedule !== false) {
      const planned = await planScheduling(ctx, trx, { owner, previous: existing ?? null, text, actor, enforceAttendeeRules: !!input.enforceAttendeeRules });
      text = planned.text;
      jobs = jobs.concat(planned.jobs);
    }
    const finalRes = text === prepared.text ? prepared : prepareResource(text);
    const name = existing?.name ?? input.name ?? `${encodeURIComponent(finalRes.index.uid).slice(0, 200)}.ics`;
    const hasAttachments = /^ATTACH[;:]/m.test(finalRes.text);
    const values = indexValues(finalRes, { name, ownerEmail: owner.email, origin: actor.via, actorId: actor.userId, hasAttachments });
    // Scheduling deliveries keep the Schedule-Tag unless the organizer changed something (RFC 6638 §3.2.10).
    if (existing && actor.via === 'scheduler' && existing.sequence === values.sequence) values.schedule_tag = existing.schedule_tag;
    let row: ObjectRow;
    if (existing) {
      row = await objects.updateObject(trx, input.ownerId, existing.id, { ...values, calendar_id: input.calendarId });
    } else {
      row = await objects.insertObject(trx, input.ownerId, input.calendarId, values);
    }
    jobs = jobs.concat(await planReminders(ctx, trx, row, finalRes.compiled, owner));
    await syncAttachmentUses(trx, row);
    await enqueueMany(trx, jobs);
    return { row, created: !existing, previous: existing ?? null };
  };
  // Reuse the caller's transaction when there is one.
  return db.isTransaction ? run(db) : db.transaction().execute(run);
}

async function checkLease(db: DB, uid: string, actor: Actor, force: boolean) {
  if (!actor.userId) return;
  const lease = await db.selectFrom('edit_lease').selectAll().where('uid', '=', uid).executeTakeFirst();
  if (lease && lease.holder_id !== actor.userId && lease.expires_at.getTime() > Date.now() && !force) {
    throw new DomainError('LEASE_HELD', `${lease.holder_name} is editing this event right now`, { holderId: lease.holder_id, holderName: lease.holder_name, expiresAt: lease.expires_at.toISOString() });
  }
  // Saving releases one's own lease.
  if (lease && lease.holder_id === actor.userId) await db.deleteFrom('edit_lease').where('uid', '=', uid).execute();
}

/** Deletes an object (to the trash), with scheduling: CANCEL from organizers, REPLY DECLINED from attendees. */
export async function trashObjectWithScheduling(ctx: AppContext, actor: Actor, ownerId: string, id: string, opts: { ifMatch?: string | null; schedule?: boolean; force?: boolean } = {}, db: DB = ctx.db): Promise<ObjectRow> {
  const owner = await principals.findPrincipalById(db, ownerId);
  if (!owner) throw new DomainError('NOT_FOUND', 'Calendar owner not found');
  const run = async (trx: DB) => {
    const existing = await objects.findObject(trx, ownerId, id);
    if (!existing) throw new DomainError('NOT_FOUND', 'Event not found');
    await lockUid(trx, existing.uid);
    const row = await objects.findObject(trx, ownerId, id, { forUpdate: true });
    if (!row) throw new DomainError('NOT_FOUND', 'Event not found');
    if (opts.ifMatch && opts.ifMatch !== row.etag) throw new DomainError('ETAG_MISMATCH', 'The event changed since you loaded it', { etag: row.etag, changedAt: row.updated_at.toISOString() });
    if (actor.via !== 'scheduler') await checkLease(trx, row.uid, actor, !!opts.force);
    let jobs: JobSpec[] = [];
    if (opts.schedule !== false) jobs = (await planScheduling(ctx, trx, { owner, previous: row, text: null, actor, enforceAttendeeRules: false })).jobs;
    const trashed = await objects.trashObject(trx, ownerId, id, actor.userId);
    jobs.push({ name: 'reminder', payload: { ownerId, objectId: id }, jobKey: `rem:${id}`, runAt: new Date() });
    await enqueueMany(trx, jobs);
    return trashed!;
  };
  return db.isTransaction ? run(db) : db.transaction().execute(run);
}
