/** Import of whole .ics files (as a job with progress and per-item results), export, incremental sync. */
import type { AppContext } from '../context.js';
import type { Actor } from '../../domain/actor.js';
import { DomainError, invalid, notFound } from '../../domain/errors.js';
import * as objects from '../../store/objects.js';
import { enqueue } from '../../jobs/queue.js';
import { splitResources, parseCalendar, serializeComponent, IcalError } from '../../lib/ical/index.js';
import { writableCalendar } from './access.js';
import { saveObject } from './write.js';
import { calendarFor } from '../calendars.js';
import ICAL from 'ical.js';

const MAX_IMPORT_BYTES = 50 * 1024 * 1024;

export async function startImport(ctx: AppContext, actor: Actor, calendarId: string, text: string) {
  const cal = await writableCalendar(ctx, actor, calendarId);
  if (!text.trim()) throw invalid('The file is empty');
  if (Buffer.byteLength(text) > MAX_IMPORT_BYTES) throw new DomainError('TOO_LARGE', 'The file is larger than 50 MB');
  return ctx.db.transaction().execute(async (trx) => {
    const run = await trx.insertInto('import_run').values({ owner_id: cal.owner_id, calendar_id: cal.id, errors: JSON.stringify([]), source: text }).returning(['id']).executeTakeFirstOrThrow();
    await enqueue(trx, 'import-ics', { ownerId: cal.owner_id, importId: run.id, actorId: actor.userId, via: actor.via }, { maxAttempts: 3 });
    return run.id;
  });
}

export async function importStatus(ctx: AppContext, actor: Actor, id: string) {
  if (!/^[0-9a-f-]{36}$/i.test(id)) throw notFound('Import');
  const r = await ctx.db.selectFrom('import_run').select(['id', 'state', 'total', 'done', 'imported', 'failed', 'errors', 'created_at', 'finished_at', 'calendar_id'])
    .where('owner_id', '=', actor.userId!).where('id', '=', id).executeTakeFirst();
  if (!r) throw notFound('Import');
  return { id: r.id, calendarId: r.calendar_id, state: r.state, total: r.total, done: r.done, imported: r.imported, failed: r.failed, errors: r.errors, createdAt: r.created_at.toISOString(), finishedAt: r.finished_at?.toISOString() ?? null };
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

/** The import job: every valid item is imported (an existing UID is updated), every invalid one reported. */
export async function runImport(ctx: AppContext, payload: { ownerId: string; importId: string; actorId: string | null; via: string }) {
  const run = await ctx.db.selectFrom('import_run').selectAll().where('owner_id', '=', payload.ownerId).where('id', '=', payload.importId).executeTakeFirst();
  if (!run || run.state === 'done') return;
  const actor: Actor = { userId: payload.actorId, via: 'import' };
  const errors: { uid?: string; message: string }[] = [];
  let split;
  try {
    split = splitLenient(run.source ?? '');
  } catch (e) {
    errors.push({ message: e instanceof IcalError ? e.message : 'The file could not be read as iCalendar' });
    await ctx.db.updateTable('import_run').set({ state: 'done', failed: 1, errors: JSON.stringify(errors), finished_at: new Date(), source: null }).where('owner_id', '=', run.owner_id).where('id', '=', run.id).execute();
    return;
  }
  for (const e of split.errors) errors.push({ uid: e.uid, message: e.message });
  const total = split.resources.length + split.errors.length;
  await ctx.db.updateTable('import_run').set({ state: 'running', total }).where('owner_id', '=', run.owner_id).where('id', '=', run.id).execute();
  let imported = 0;
  let done = split.errors.length;
  const CHUNK = 200;
  for (let i = 0; i < split.resources.length; i += CHUNK) {
    const chunk = split.resources.slice(i, i + CHUNK);
    const saveOne = async (r: (typeof chunk)[number], db = ctx.db) => {
      const existing = await objects.findByUidInCalendar(db, run.owner_id, run.calendar_id, r.uid);
      await saveObject(ctx, actor, { ownerId: run.owner_id, calendarId: run.calendar_id, existingId: existing?.id, ical: r.text, schedule: false }, db);
    };
    try {
      const failed: { uid: string; message: string }[] = [];
      await ctx.db.transaction().execute(async (trx) => {
        for (const r of chunk) {
          try {
            await saveOne(r, trx);
          } catch (e) {
            if (e instanceof DomainError) failed.push({ uid: r.uid, message: e.message });
            else throw e; // a database error spoils the transaction: redo this chunk one by one
          }
        }
      });
      imported += chunk.length - failed.length;
      errors.push(...failed);
    } catch {
      for (const r of chunk) {
        try {
          await saveOne(r);
          imported++;
        } catch (e) {
          errors.push({ uid: r.uid, message: e instanceof Error ? e.message : String(e) });
        }
      }
    }
    done += chunk.length;
    await ctx.db.updateTable('import_run').set({ done, imported, failed: errors.length, errors: JSON.stringify(errors.slice(0, 1000)) }).where('owner_id', '=', run.owner_id).where('id', '=', run.id).execute();
  }
  await ctx.db.updateTable('import_run').set({ state: 'done', done: total, imported, failed: errors.length, errors: JSON.stringify(errors.slice(0, 1000)), finished_at: new Date(), source: null })
    .where('owner_id', '=', run.owner_id).where('id', '=', run.id).execute();
}

/** One VCALENDAR with every object of the calendar (optionally only those overlapping a range). */
export async function exportCalendar(ctx: AppContext, actor: Actor, calendarId: string, range?: { from: Date; to: Date }): Promise<{ name: string; text: string }> {
  const cal = await calendarFor(ctx, actor, calendarId);
  if (cal.access === 'freebusy') throw new DomainError('FORBIDDEN', 'You can only see when this calendar is busy');
  let q = ctx.db.selectFrom('calendar_object').select(['ical', 'class']).where('owner_id', '=', cal.owner_id).where('calendar_id', '=', cal.id).where('deleted_at', 'is', null);
  if (range) {
    q = q.where((eb) => eb.or([eb('first_start', '<', range.to), eb('first_start', 'is', null)])).where((eb) => eb.or([eb('last_end', '>', range.from), eb('last_end', 'is', null)]));
  }
  const rows = await q.execute();
  const out = new ICAL.Component('vcalendar');
  out.addPropertyWithValue('version', '2.0');
  out.addPropertyWithValue('prodid', '-//Calendula//Calendula//EN');
  out.addPropertyWithValue('x-wr-calname', cal.name);
  const zones = new Set<string>();
  for (const r of rows) {
    if (cal.access !== 'owner' && (r.class === 'PRIVATE' || r.class === 'CONFIDENTIAL')) continue;
    const c = parseCalendar(r.ical);
    // A copy: addSubcomponent detaches the child from its old parent, which would shift the live
    // array and skip the component right after each VTIMEZONE (events with zones were lost).
    for (const sub of [...c.getAllSubcomponents()]) {
      if (sub.name === 'vtimezone') {
        const id = String(sub.getFirstPropertyValue('tzid'));
        if (zones.has(id)) continue;
        zones.add(id);
      }
      out.addSubcomponent(sub);
    }
  }
  return { name: cal.name, text: serializeComponent(out) };
}

export async function changesSince(ctx: AppContext, actor: Actor, calendarId: string, since: string | undefined, limit = 1000) {
  const cal = await calendarFor(ctx, actor, calendarId);
  if (cal.access === 'freebusy') throw new DomainError('FORBIDDEN', 'You can only see when this calendar is busy');
  const current = String(cal.sync_seq);
  // Tokens as the calendar listing hands them out ("<calendar id>:<seq>") are accepted too.
  if (since && since.includes(':')) {
    const [calPart, seq] = since.split(':');
    if (calPart.toLowerCase() !== cal.id.toLowerCase()) throw new DomainError('INVALID_SYNC_TOKEN', 'This sync token belongs to another calendar; sync again from the start');
    since = seq;
  }
  if (!since) {
    const rows = await ctx.db.selectFrom('calendar_object').select(['id', 'uid', 'name']).where('owner_id', '=', cal.owner_id).where('calendar_id', '=', cal.id).where('deleted_at', 'is', null).execute();
    return { changes: rows.map((r) => ({ id: r.id, uid: r.uid, name: r.name, kind: 'put' as const })), syncToken: current, more: false };
  }
  if (!/^\d{1,18}$/.test(since) || BigInt(since) > BigInt(current)) throw new DomainError('INVALID_SYNC_TOKEN', 'This sync token is not valid for this calendar; sync again from the start');
  const rows = await objects.changesSince(ctx.db, cal.owner_id, cal.id, since, limit + 1);
  const more = rows.length > limit;
  const page = rows.slice(0, limit);
  const latest = new Map<string, (typeof page)[number]>();
  for (const r of page) latest.set(r.name, r);
  const token = more ? page[page.length - 1].seq : current;
  return { changes: [...latest.values()].map((r) => ({ id: r.object_id, uid: r.uid, name: r.name, kind: r.kind })), syncToken: String(token), more };
}
