/**
 * COPY and MOVE of calendar object resources between the user's calendars — RFC 4918 §9.8/§9.9,
 * RFC 4791 §5.3.2. Collections are not copied or moved. MOVE within one owner's calendars keeps
 * the event (moveEvent: no scheduling messages); a COPY stores a new resource through saveObject
 * without scheduling, and refuses a second copy of a scheduling object (RFC 6638 §3.2.4.1).
 */
import { Preconditions, parseDestination, parseOverwrite } from '../../lib/dav/index.js';
import { moveEvent } from '../../app/events/commands.js';
import { trashObjectWithScheduling } from '../../app/events/write.js';
import { DavHttpError, fail } from './errors.js';
import { href, requestPath, resolvePath } from './paths.js';
import { storeObject } from './put.js';
import { copyObjectDeadProps } from '../../store/dead-props.js';
import { requirePrivilege, type DavRequest } from './common.js';
import type { DavCalendar, ObjectMeta } from './types.js';

export async function copyMove(d: DavRequest, method: 'COPY' | 'MOVE') {
  const src = d.target.res;
  if (src.kind === 'null') throw new DavHttpError(404, 'No such resource');
  if (src.kind !== 'object') throw new DavHttpError(403, `${method} of collections is not supported`);
  requirePrivilege(d.target, 'read');
  if (method === 'MOVE') requirePrivilege(d.target, 'unbind');
  const dest = parseDestination(d.req.headers.destination);
  if (dest.origin && d.req.headers.host && new URL(dest.origin).host !== d.req.headers.host) throw new DavHttpError(502, 'The destination is on another server');
  const overwrite = parseOverwrite(d.req.headers.overwrite);
  const destRes = await resolvePath(d.env, requestPath(dest.path));
  if (destRes.path === src.path) throw new DavHttpError(403, 'Source and destination are the same resource');
  let cal: DavCalendar;
  let name: string;
  let existing: ObjectMeta | null = null;
  if (destRes.kind === 'object') {
    if (!overwrite) throw new DavHttpError(412, 'The destination exists and Overwrite is F');
    cal = destRes.cal;
    name = destRes.path.slice(destRes.path.lastIndexOf('/') + 1);
    existing = destRes.obj;
    requirePrivilege({ env: d.env, res: destRes }, 'write-content');
  } else if (destRes.kind === 'null' && destRes.parent?.kind === 'calendar' && !destRes.path.endsWith('/')) {
    cal = destRes.parent.cal;
    name = destRes.name;
    requirePrivilege({ env: d.env, res: destRes.parent }, 'bind');
  } else if (destRes.kind === 'null' && !destRes.parent) {
    throw new DavHttpError(409, 'The destination collection does not exist');
  } else {
    fail(Preconditions.calendarCollectionLocationOk('Calendar objects can go only into calendars'), 'Calendar objects can go only into calendars');
  }
  if (cal.owner_id !== src.cal.owner_id) throw new DavHttpError(403, 'Objects move or copy only between calendars of the same owner');
  const row = await d.env.ctx.db.selectFrom('calendar_object').select(['ical', 'role', 'uid']).where('owner_id', '=', src.cal.owner_id).where('id', '=', src.obj.id).executeTakeFirstOrThrow();
  if (existing) await trashObjectWithScheduling(d.env.ctx, d.env.actor, cal.owner_id, existing.id, { schedule: false });
  const srcName = src.path.slice(src.path.lastIndexOf('/') + 1);
  if (method === 'MOVE' && name === srcName && cal.id !== src.cal.id) {
    await moveEvent(d.env.ctx, d.env.actor, src.obj.id, { calendarId: cal.id });
  } else if (method === 'MOVE') {
    // A rename: the old name disappears (a tombstone for sync), the text is stored under the new one.
    // Its dead properties go with it (RFC 4918 §9.9.1: MOVE MUST move them), in the same transaction.
    await d.env.ctx.db.transaction().execute(async (trx) => {
      await trashObjectWithScheduling(d.env.ctx, d.env.actor, src.cal.owner_id, src.obj.id, { schedule: false }, trx);
      const saved = await storeObjectIn(d, trx, cal, name, row.ical, src.obj.id);
      await copyObjectDeadProps(trx, cal.owner_id, src.obj.id, saved.row.id);
    });
  } else {
    if (row.role !== 'none') fail(Preconditions.uniqueSchedulingObjectResource(href(src.path)));
    const saved = await storeObject(d, cal, name, row.ical, null, { ifNoneMatch: false, ifMatch: null, ifScheduleTagMatch: null, schedule: false, attachmentsFrom: { ownerId: src.cal.owner_id, objectId: src.obj.id } });
    // RFC 4918 §9.8.2: dead properties SHOULD be duplicated on the copy.
    await copyObjectDeadProps(d.env.ctx.db, cal.owner_id, src.obj.id, saved.row.id);
  }
  return d.reply.status(existing ? 204 : 201).send();
}

async function storeObjectIn(d: DavRequest, trx: import('../../store/db.js').DB, cal: DavCalendar, name: string, ical: string, fromId: string) {
  const { saveObject } = await import('../../app/events/write.js');
  return saveObject(d.env.ctx, d.env.actor, { ownerId: cal.owner_id, calendarId: cal.id, name, ical, schedule: false, attachmentsFrom: { ownerId: cal.owner_id, objectId: fromId } }, trx);
}
