/**
 * DELETE — RFC 4918 §9.6. Objects go to the trash through trashObjectWithScheduling (organizer
 * → CANCEL, attendee → REPLY DECLINED). A calendar is deleted by its owner; a grantee deleting a
 * shared calendar from their home removes their own grant. Inbox items are acknowledged (the
 * invitation itself stays in the calendar until answered).
 */
import { deleteCalendar } from '../../app/calendars.js';
import { trashObjectWithScheduling } from '../../app/events/write.js';
import { deleteShare } from '../../store/calendars.js';
import { parseIfMatch } from '../../lib/dav/index.js';
import { DavHttpError } from './errors.js';
import { checkConditions } from './put.js';
import { requirePrivilege, type DavRequest } from './common.js';

export async function del(d: DavRequest) {
  const r = d.target.res;
  switch (r.kind) {
    case 'object': {
      requirePrivilege(d.target, 'unbind');
      checkConditions(d.req.headers, r.obj, 'DELETE');
      const ifMatch = parseIfMatch(d.req.headers['if-match']) ? r.obj.etag : null;
      await trashObjectWithScheduling(d.env.ctx, d.env.actor, r.cal.owner_id, r.obj.id, { ifMatch });
      return d.reply.status(204).send();
    }
    case 'calendar': {
      if (r.cal.access !== 'owner') {
        if (!(await deleteShare(d.env.ctx.db, r.cal.owner_id, r.cal.id, d.env.user.id))) {
          throw new DavHttpError(403, 'This calendar is shared with you through a group; ask its owner to remove the share');
        }
        return d.reply.status(204).send();
      }
      if (d.req.headers['if-match'] && parseIfMatch(d.req.headers['if-match'])) {
        throw new DavHttpError(412, 'Calendars have no entity tag');
      }
      await deleteCalendar(d.env.ctx, d.env.actor, r.cal.id);
      return d.reply.status(204).send();
    }
    case 'inbox-item':
      return d.reply.status(204).send();
    case 'null':
      throw new DavHttpError(404, 'No such resource');
    default:
      throw new DavHttpError(403, 'This collection cannot be deleted');
  }
}
