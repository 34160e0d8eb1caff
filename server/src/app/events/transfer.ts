/** Import of whole .ics files, as a job with progress and per-item results (export and the change feed: export.ts). */
import type { AppContext } from '../context.js';
import type { Actor } from '../../domain/actor.js';
import { DomainError, invalid, notFound } from '../../domain/errors.js';
import { randomUUID } from 'node:crypto';
import type { DB } from '../../store/db.js';
import type { PrincipalRow, Reminder } from '../../store/schema.js';
import * as objects from '../../store/objects.js';
import type { ObjectValues } from '../../store/objects.js';
import * as bulk from '../../store/objects-bulk.js';
import type { BulkValues } from '../../store/objects-bulk.js';
import * as principals from '../../store/principals.js';
import { enqueue, enqueueMany, type JobSpec } from '../../jobs/queue.js';
import { prepareResource, indexValues, type PreparedResource } from './resource.js';
import { planFiring, planRow, type PlannedFiring } from './reminders.js';
import { deleteReminders, saveReminders, type ReminderPlanRow } from '../../store/reminders.js';
import { attachmentIdsIn, attachmentRuleFor, syncAttachmentUses } from '../attachments.js';
import { splitResources, IcalError } from '../../lib/ical/index.js';
import { writableCalendar } from './access.js';
import { holderCanWrite, saveObject } from './write.js';

const MAX_IMPORT_BYTES = 50 * 1024 * 1024;
/** Job priority of imports (lower runs first; scheduling deliveries are -10, most jobs 0). */
export const IMPORT_PRIORITY = -5;

export async function startImport(ctx: AppContext, actor: Actor, calendarId: string, text: string) {
  const cal = await writableCalendar(ctx, actor, calendarId);
  if (!text.trim()) throw invalid('The file is empty');
  if (Buffer.byteLength(text) > MAX_IMPORT_BYTES) throw new DomainError('TOO_LARGE', 'The file is larger than 50 MB');
  return ctx.db.transaction().execute(async (trx) => {
    const run = await trx.insertInto('import_run').values({ owner_id: cal.owner_id, calendar_id: cal.id, errors: JSON.stringify([]), source: text }).returning(['id']).executeTakeFirstOrThrow();
    // Someone is watching the progress: start before the notification backlog (priority 0) that a
    // burst of meetings leaves, after scheduling deliveries (-10). One job, one worker slot.
    await enqueue(trx, 'import-ics', { ownerId: cal.owner_id, importId: run.id, actorId: actor.userId, via: actor.via }, { maxAttempts: 3, priority: IMPORT_PRIORITY });
    return run.id;
  });
}

export async function importStatus(ctx: AppContext, actor: Actor, id: string) {
  if (!/^[0-9a-f-]{36}$/i.test(id)) throw notFound('Import');
  const r = await ctx.db.selectFrom('import_run').select(['id', 'state', 'total', 'done', 'imported', 'created', 'updated', 'failed', 'errors', 'created_at', 'finished_at', 'calendar_id'])
    .where('owner_id', '=', actor.userId!).where('id', '=', id).executeTakeFirst();
  if (!r) throw notFound('Import');
  return { id: r.id, calendarId: r.calendar_id, state: r.state, total: r.total, done: r.done, imported: r.imported, created: r.created, updated: r.updated, failed: r.failed, errors: r.errors, createdAt: r.created_at.toISOString(), finishedAt: r.finished_at?.toISOString() ?? null };
}

/**
 * The per-item result of a finished import, a page at a time, optionally of one status: every item
 * of the file, each with the object it became (created or updated) or why it failed.
 */
export async function importItems(ctx: AppContext, actor: Actor, id: string, q: { status?: 'created' | 'updated' | 'failed'; offset: number; limit: number }) {
  if (!/^[0-9a-f-]{36}$/i.test(id)) throw notFound('Import');
  const r = await ctx.db.selectFrom('import_run').select(['state', 'results']).where('owner_id', '=', actor.userId!).where('id', '=', id).executeTakeFirst();
  if (!r) throw notFound('Import');
  if (r.state !== 'done') throw new DomainError('CONFLICT', 'The import is still running; its items are listed when it is done', { state: r.state });
  const all = (typeof r.results === 'string' ? JSON.parse(r.results) : r.results ?? []) as [string, 'created' | 'updated' | 'failed', string][];
  const chosen = q.status ? all.filter((x) => x[1] === q.status) : all;
  const items = chosen.slice(q.offset, q.offset + q.limit).map(([uid, status, x]) => (status === 'failed' ? { uid: uid || null, status, message: x } : { uid, status, id: x }));
  return { items, total: chosen.length, offset: q.offset };
}

const SPLIT = { stripMethod: true, generateUid: true, accept: ['VEVENT', 'VTODO'] as ('VEVENT' | 'VTODO')[] };

/**
 * Splits a whole file into resources. When one bad item (e.g. RRULE:FREQ=NOPE) makes the whole
 * file unparsable, falls back to parsing each VEVENT/VTODO block (grouped by UID, with the file's
 * VTIMEZONEs) on its own, so valid items still import and only the bad ones are reported.
 */
export function splitLenient(source: string): ReturnType<typeof splitResources> {
  try {
    return splitResources(source, SPLIT);
  } catch (e) {
    const lines = source.replace(/^\uFEFF/, '').split(/\r?\n/);
    const zones: string[] = [];
    const groups = new Map<string, string[]>();
    let block: string[] | null = null;
    let kind = '';
    let depth = 0;
    for (const line of lines) {
      const begin = /^BEGIN:(\w[\w-]*)/i.exec(line);
      const end = /^END:(\w[\w-]*)/i.exec(line);
      if (!block) {
        if (begin && /^(VEVENT|VTODO|VTIMEZONE)$/i.test(begin[1])) { block = [line]; kind = begin[1].toUpperCase(); depth = 1; }
        continue;
      }
      block.push(line);
      if (begin) depth++;
      if (end && --depth === 0) {
        if (kind === 'VTIMEZONE') zones.push(...block);
        else {
          const uid = block.find((l) => /^UID[;:]/i.test(l))?.replace(/^UID[^:]*:/i, '').trim() ?? `(no UID #${groups.size + 1})`;
          groups.set(uid, [...(groups.get(uid) ?? []), ...block]);
        }
        block = null;
      }
    }
    if (!groups.size) throw e;
    const out: ReturnType<typeof splitResources> = { resources: [], freebusy: [], errors: [] };
    for (const [uid, comp] of groups) {
      const text = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Calendula//import//EN', ...zones, ...comp, 'END:VCALENDAR', ''].join('\r\n');
      try {
        const one = splitResources(text, SPLIT);
        out.resources.push(...one.resources);
        out.errors.push(...one.errors);
      } catch (err) {
        out.errors.push(new IcalError('INVALID_ICALENDAR', `${uid}: ${(err as Error).message}`, { uid }));
      }
    }
    return out;
  }
}

type Split = ReturnType<typeof splitResources>;

/**
 * The file as text blocks, without parsing it: the VCALENDAR's own property lines, its VTIMEZONEs
 * and its items grouped by UID (master and overrides may be far apart), in file order. Null when
 * the file is not one plain VCALENDAR (then the whole file is parsed at once, as before).
 */
export function scanCalendar(source: string): { header: string[]; zones: string[]; groups: Map<string, string[]> } | null {
  const lines = source.replace(/^\uFEFF/, '').split(/\r?\n/);
  const header: string[] = [];
  const zones: string[] = [];
  const groups = new Map<string, string[]>();
  let state: 'before' | 'in' | 'after' = 'before';
  let block: string[] | null = null;
  let kind = '';
  let depth = 0;
  let n = 0;
  for (const line of lines) {
    if (state !== 'in') {
      if (!line.trim()) continue;
      if (state === 'before' && /^BEGIN:VCALENDAR\s*$/i.test(line)) { state = 'in'; continue; }
      return null; // text outside the VCALENDAR, or a second VCALENDAR
    }
    const begin = /^BEGIN:([\w-]+)/i.exec(line);
    const end = /^END:([\w-]+)/i.exec(line);
    if (!block) {
      if (end) {
        if (end[1].toUpperCase() !== 'VCALENDAR') return null;
        state = 'after';
      } else if (begin) { block = [line]; kind = begin[1].toUpperCase(); depth = 1; }
      else header.push(line);
      continue;
    }
    block.push(line);
    if (begin) depth++;
    if (end && --depth === 0) {
      const text = block.join('\r\n');
      if (kind === 'VTIMEZONE') zones.push(text);
      else {
        n++;
        const uid = /^(VEVENT|VTODO|VJOURNAL)$/.test(kind) ? /^UID[;:][^\r\n]*/im.exec(text.replace(/\r?\n[ \t]/g, ''))?.[0].replace(/^UID[^:]*:/i, '').trim() : undefined;
        const key = uid ? `uid:${uid}` : `#${n}`;
        const g = groups.get(key);
        if (g) g.push(text);
        else groups.set(key, [text]);
      }
      block = null;
    }
  }
  return state === 'after' && !block ? { header, zones, groups } : null;
}

/**
 * The resources of an import file, parsed a chunk at a time: only one chunk of the file is ever
 * held as ical.js components (parsing a 10,000-event file at once held ~90 MB). `total` is the
 * number of items found (an estimate of the result count: an item may also yield an error).
 * Throws (before any chunk) when the file cannot be read as iCalendar at all.
 */
export function importChunks(source: string, size = PARSE_CHUNK): { total: number; chunks: Iterable<Split> } {
  const plan = scanCalendar(source);
  if (!plan) {
    const split = splitLenient(source);
    return {
      total: split.resources.length + split.errors.length,
      chunks: (function* () {
        yield { resources: [], freebusy: [], errors: split.errors };
        for (let i = 0; i < split.resources.length; i += size) yield { resources: split.resources.slice(i, i + size), freebusy: [], errors: [] };
      })(),
    };
  }
  if (!plan.groups.size) splitResources(source, SPLIT); // nothing to import: a clear error when the file is broken
  const head = ['BEGIN:VCALENDAR', ...plan.header, ...plan.zones];
  const calendarOf = (blocks: string[]) => [...head, ...blocks, 'END:VCALENDAR', ''].join('\r\n');
  return {
    total: plan.groups.size,
    chunks: (function* () {
      const all = [...plan.groups];
      plan.groups.clear();
      for (let i = 0; i < all.length; i += size) {
        const part = all.slice(i, i + size);
        for (let j = i; j < i + part.length; j++) all[j] = null as never;
        try {
          yield splitResources(calendarOf(part.flatMap(([, b]) => b)), SPLIT);
        } catch {
          // One bad item spoils the parse of its chunk: parse each item on its own.
          const out: Split = { resources: [], freebusy: [], errors: [] };
          for (const [key, blocks] of part) {
            try {
              const one = splitResources(calendarOf(blocks), SPLIT);
              out.resources.push(...one.resources);
              out.errors.push(...one.errors);
            } catch (err) {
              const uid = key.startsWith('#') ? undefined : key.slice(key.indexOf(':') + 1);
              out.errors.push(new IcalError('INVALID_ICALENDAR', `${uid ?? `Item ${key}`}: ${(err as Error).message}`, uid ? { uid } : undefined));
            }
          }
          yield out;
        }
      }
    })(),
  };
}

/** Items per bulk transaction (one multi-row insert/update and one change-log insert each). */
export const IMPORT_CHUNK = 500;
/**
 * Items parsed at a time: ical.js components are large and short-lived; parsing 100 at a time
 * instead of 500 keeps the heap growth of a 10,000-event import at ~35 MB instead of ~100 MB
 * at no cost in speed (only the compact index columns are kept until the chunk is written).
 */
export const PARSE_CHUNK = 100;
/** After a database error in a bulk chunk: retry in pieces of this size, then one by one. */
const RETRY_CHUNK = 50;

/**
 * A validated item, reduced to what the write needs: its index columns (name filled in at write
 * time) and its next reminder. The compiled ical.js form is dropped right away, so a chunk waiting
 * on the database holds a few KB per item rather than tens.
 */
interface Prepared { uid: string; values: ObjectValues; next: PlannedFiring | null }
interface Failure { uid?: string; message: string }
/** An item written by an import: its object and whether it was new. */
interface ItemResult { uid: string; id: string; created: boolean }
interface ImportTarget { ownerId: string; calendarId: string; owner: PrincipalRow; defaults: Reminder[]; actor: Actor }

/**
 * The import job: every valid item is imported (an existing UID in the calendar is updated), every
 * invalid one reported. Importing never schedules (no invitations are sent), so instead of the
 * general write path per item, items are validated with prepareResource and written in bulk,
 * IMPORT_CHUNK per transaction (see writeBulk). A database error in a chunk loses no valid item:
 * the chunk is retried in smaller pieces, and a failing piece one by one through saveObject.
 */
export async function runImport(ctx: AppContext, payload: { ownerId: string; importId: string; actorId: string | null; via: string }) {
  const run = await ctx.db.selectFrom('import_run').selectAll().where('owner_id', '=', payload.ownerId).where('id', '=', payload.importId).executeTakeFirst();
  if (!run || run.state === 'done') return;
  const actor: Actor = { userId: payload.actorId, via: 'import' };
  const errors: Failure[] = [];
  let plan;
  try {
    plan = importChunks(run.source ?? '');
  } catch (e) {
    errors.push({ message: e instanceof IcalError ? e.message : 'The file could not be read as iCalendar' });
    await ctx.db.updateTable('import_run').set({ state: 'done', failed: 1, errors: JSON.stringify(errors), finished_at: new Date(), source: null }).where('owner_id', '=', run.owner_id).where('id', '=', run.id).execute();
    return;
  }
  run.source = null; // the text blocks are all that is needed from here on
  let total = plan.total;
  await ctx.db.updateTable('import_run').set({ state: 'running', total }).where('owner_id', '=', run.owner_id).where('id', '=', run.id).execute();
  const owner = await principals.findPrincipalById(ctx.db, run.owner_id);
  const calRow = await ctx.db.selectFrom('calendar').select(['default_reminders']).where('owner_id', '=', run.owner_id).where('id', '=', run.calendar_id).executeTakeFirst();
  const target: ImportTarget | null = owner && calRow ? { ownerId: run.owner_id, calendarId: run.calendar_id, owner, defaults: (calRow.default_reminders as Reminder[]) ?? [], actor } : null;

  const written: ItemResult[] = [];
  const saveOne = async (r: { uid: string; text: string }) => {
    const existing = await objects.findByUidInCalendar(ctx.db, run.owner_id, run.calendar_id, r.uid);
    const saved = await saveObject(ctx, actor, { ownerId: run.owner_id, calendarId: run.calendar_id, existingId: existing?.id, ical: r.text, schedule: false });
    written.push({ uid: r.uid, id: saved.row.id, created: saved.created });
  };
  const oneByOne = async (items: Prepared[]) => {
    let ok = 0;
    for (const it of items) {
      try {
        await saveOne({ uid: it.uid, text: it.values.ical });
        ok++;
      } catch (e) {
        errors.push({ uid: it.uid, message: e instanceof Error ? e.message : String(e) });
      }
    }
    return ok;
  };
  /** Bulk, falling back to smaller pieces and then to one by one on a database error. */
  const write = async (items: Prepared[]): Promise<number> => {
    if (!items.length) return 0;
    if (!target) return oneByOne(items);
    try {
      const res = await ctx.db.transaction().execute((trx) => writeBulk(trx, target, items));
      errors.push(...res.failed);
      written.push(...res.results);
      return res.written + (await oneByOne(res.deferred));
    } catch (e) {
      ctx.log.warn({ importId: run.id, items: items.length, err: (e as Error).message }, 'bulk import chunk failed; retrying in smaller pieces');
      if (items.length <= RETRY_CHUNK) return oneByOne(items);
      let ok = 0;
      for (let i = 0; i < items.length; i += RETRY_CHUNK) ok += await write(items.slice(i, i + RETRY_CHUNK));
      return ok;
    }
  };

  let imported = 0;
  let done = 0;
  const now = new Date();
  let pending: Prepared[] = [];
  const flush = async () => {
    const items = pending;
    pending = [];
    imported += await write(items);
    done = imported + errors.length;
    total = Math.max(total, done);
    const created = written.filter((w) => w.created).length;
    await ctx.db.updateTable('import_run').set({ total, done, imported, created, updated: written.length - created, failed: errors.length, errors: JSON.stringify(errors.slice(0, 1000)) }).where('owner_id', '=', run.owner_id).where('id', '=', run.id).execute();
  };
  for (const split of plan.chunks) {
    for (const e of split.errors) errors.push({ uid: e.uid, message: e.message });
    for (const r of split.resources) {
      try {
        pending.push(prepareItem(prepareResource(r.text), target, now));
      } catch (e) {
        errors.push({ uid: r.uid, message: e instanceof Error ? e.message : String(e) });
      }
    }
    split.resources.length = 0; // let the parsed components go
    if (pending.length >= IMPORT_CHUNK) await flush();
  }
  await flush();
  total = imported + errors.length;
  // Every item's result (the items written, then the failures), kept with the run.
  const results = [
    ...written.map((w) => [w.uid, w.created ? 'created' : 'updated', w.id] as const),
    ...errors.map((e) => [e.uid ?? '', 'failed', e.message] as const),
  ];
  const created = written.filter((w) => w.created).length;
  await ctx.db.updateTable('import_run').set({ state: 'done', done: total, imported, created, updated: written.length - created, failed: errors.length, errors: JSON.stringify(errors.slice(0, 1000)), results: JSON.stringify(results), finished_at: new Date(), source: null })
    .where('owner_id', '=', run.owner_id).where('id', '=', run.id).execute();
}

/** Index columns and (only for objects with VALARMs, or when the calendar has default reminders) the next reminder. */
export function prepareItem(p: PreparedResource, t: ImportTarget | null, now: Date): Prepared {
  const hasAttachments = /^ATTACH[;:]/m.test(p.text);
  const values = indexValues(p, { name: '', ownerEmail: t?.owner.email ?? '', origin: t?.actor.via ?? 'import', actorId: t?.actor.userId ?? null, hasAttachments });
  const active = !!t && t.owner.kind === 'user' && values.status !== 'CANCELLED' && values.my_partstat !== 'DECLINED';
  const next = active && (values.has_alarms || t.defaults.length) ? planFiring(p.compiled, values.has_alarms ? [] : t.defaults, now, t.owner.timezone, values.first_start) : null;
  return { uid: values.uid, values, next };
}

/**
 * Writes many prepared items into one calendar in the caller's transaction, with the semantics of
 * saveObject(schedule: false) per item — in a constant number of statements:
 *  - the per-UID advisory locks of all items (the keys lockUid uses), in lock-key order, so
 *    concurrent writers of the same UIDs (REST, CalDAV, scheduling deliveries) are serialised with
 *    the import and two imports cannot deadlock on each other. A calendar-wide lock would not do:
 *    every other writer locks by UID only;
 *  - editing leases: an item whose UID someone else is editing is reported (LEASE_HELD); the
 *    importer's own leases are released, as saving does;
 *  - one look-up of the live objects with these UIDs (→ update, keeping id and name) or with the
 *    generated names of the new ones (a name taken by another UID, or a UID twice in the chunk, is
 *    deferred to saveObject, which reports it as before);
 *  - one multi-row INSERT, one UPDATE … FROM, one change-log insert ('put' per object, sync_seq
 *    bumped by the count: consecutive, monotonic sequence numbers);
 *  - attachment uses only for objects with managed ATTACH (or that had attachments);
 *  - reminders: the next firing only for objects with VALARMs or when the calendar has default
 *    reminders; jobs queued with enqueueMany in the same transaction; the reminder job of an
 *    updated object that no longer has one is removed.
 */
export async function writeBulk(trx: DB, t: ImportTarget, items: Prepared[]): Promise<{ written: number; failed: Failure[]; deferred: Prepared[]; results: ItemResult[] }> {
  const failed: Failure[] = [];
  const deferred: Prepared[] = [];
  const uids = [...new Set(items.map((i) => i.uid))];
  await bulk.lockUids(trx, uids);
  let todo = items;
  if (t.actor.userId) {
    const leases = await trx.selectFrom('edit_lease').selectAll().where('uid', 'in', uids).execute();
    // As for any write (write.ts checkLease): a lease counts only on the organizer's side, and only
    // when its holder may write this calendar.
    const live = leases.filter((l) => l.holder_id !== t.actor.userId && l.expires_at.getTime() > Date.now());
    const roles = live.length ? new Map((await trx.selectFrom('calendar_object').select(['uid', 'role']).where('owner_id', '=', t.ownerId).where('calendar_id', '=', t.calendarId)
      .where('uid', 'in', live.map((l) => l.uid)).where('deleted_at', 'is', null).execute()).map((r) => [r.uid, r.role])) : new Map<string, string>();
    const counted = [];
    for (const l of live) if (roles.get(l.uid) !== 'attendee' && (await holderCanWrite(trx, l.holder_id, { owner_id: t.ownerId, calendar_id: t.calendarId }))) counted.push(l);
    const held = new Map(counted.map((l) => [l.uid, l]));
    const mine = leases.filter((l) => l.holder_id === t.actor.userId).map((l) => l.uid);
    if (mine.length) await trx.deleteFrom('edit_lease').where('uid', 'in', mine).execute();
    if (held.size) {
      todo = items.filter((it) => {
        const l = held.get(it.uid);
        if (l) failed.push({ uid: it.uid, message: new DomainError('LEASE_HELD', `${l.holder_name} is editing this event right now`).message });
        return !l;
      });
    }
  }
  const nameOf = (uid: string) => `${encodeURIComponent(uid).slice(0, 200)}.ics`;
  const live = await bulk.liveByUidsOrNames(trx, t.ownerId, t.calendarId, uids, uids.map(nameOf));
  const byUid = new Map(live.map((r) => [r.uid, r]));
  const takenNames = new Map(live.map((r) => [r.name, r.uid]));
  const seenUid = new Set<string>();
  const inserts: BulkValues[] = [];
  const updates: BulkValues[] = [];
  const changes: { id: string; name: string; uid: string }[] = [];
  const results: ItemResult[] = [];
  const jobs: JobSpec[] = [];
  const reminders: ReminderPlanRow[] = [];
  const removeIds: string[] = [];
  const attachmentRows: { id: string; ical: string; has_attachments: boolean }[] = [];
  for (const it of todo) {
    const ex = byUid.get(it.uid);
    const name = ex?.name ?? nameOf(it.uid);
    const takenBy = takenNames.get(name);
    if (seenUid.has(it.uid) || (takenBy !== undefined && takenBy !== it.uid)) {
      deferred.push(it);
      continue;
    }
    seenUid.add(it.uid);
    takenNames.set(name, it.uid);
    const v: BulkValues = { ...it.values, id: ex?.id ?? randomUUID(), name };
    (ex ? updates : inserts).push(v);
    changes.push({ id: v.id, name: v.name, uid: v.uid });
    results.push({ uid: v.uid, id: v.id, created: !ex });
    if ((v.has_attachments && attachmentIdsIn(v.ical).length) || ex?.has_attachments) attachmentRows.push({ id: v.id, ical: v.ical, has_attachments: v.has_attachments });
    const next = it.next;
    if (next) {
      reminders.push(planRow({ owner_id: t.ownerId, id: v.id, etag: v.etag, has_alarms: v.has_alarms }, t.owner.timezone, v.has_alarms ? [] : t.defaults, next));
    } else if (ex) {
      removeIds.push(v.id);
    }
  }
  await bulk.insertObjects(trx, t.ownerId, t.calendarId, inserts);
  const n = await bulk.updateObjects(trx, t.ownerId, t.calendarId, updates);
  if (n !== updates.length) throw new Error(`bulk import: ${updates.length - n} objects changed under the import`);
  await bulk.logChanges(trx, t.ownerId, t.calendarId, changes, 'put');
  for (const a of attachmentRows) await syncAttachmentUses(trx, { ...a, owner_id: t.ownerId, uid: '', organizer: null }, attachmentRuleFor(t.actor));
  await deleteReminders(trx, t.ownerId, removeIds);
  await saveReminders(trx, reminders);
  await enqueueMany(trx, jobs);
  return { written: changes.length, failed, deferred, results };
}
