/** GET and HEAD — an object's iCalendar text; a calendar's GET exports the whole calendar. */
import { exportCalendar } from '../../app/events/export.js';
import { DavHttpError } from './errors.js';
import { requirePrivilege, type DavRequest } from './common.js';

/**
 * The validators of a calendar object's GET: ETag, Last-Modified and, for a scheduling object,
 * Schedule-Tag (RFC 6638 §3.2.10). Shared with the GET answered before Fastify (fast-get.ts).
 */
export function objectValidators(o: { etag: string; role: string; schedule_tag: string | null }, lastModified: string): Record<string, string> {
  const h: Record<string, string> = { etag: `"${o.etag}"`, 'last-modified': lastModified };
  if (o.role !== 'none') h['schedule-tag'] = `"${o.schedule_tag}"`;
  return h;
}

export async function get(d: DavRequest) {
  const r = d.target.res;
  if (r.kind === 'object' || r.kind === 'inbox-item') {
    requirePrivilege(d.target, 'read');
    // The request's lookup already read the text of the object it resolved (index.ts).
    const row = r.obj.ical !== undefined ? (r.obj as typeof r.obj & { ical: string }) : await d.env.ctx.db.selectFrom('calendar_object').select(['ical', 'etag', 'schedule_tag', 'role', 'updated_at']).where('owner_id', '=', r.kind === 'object' ? r.cal.owner_id : d.env.user.id).where('id', '=', r.obj.id).where('deleted_at', 'is', null).executeTakeFirst();
    if (!row) throw new DavHttpError(404, 'No such resource');
    let text = row.ical;
    // RFC 6638 §4: inbox items are scheduling messages (iTIP REQUEST).
    if (r.kind === 'inbox-item') text = text.replace(/\r\nVERSION:2\.0\r\n/, '\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\n');
    // Inbox items are not scheduling objects of this user's calendar: no Schedule-Tag.
    d.reply.headers(objectValidators(r.kind === 'object' ? row : { ...row, role: 'none' }, row.updated_at.toUTCString()));
    return d.reply.status(200).type('text/calendar; charset=utf-8').send(text);
  }
  if (r.kind === 'calendar') {
    requirePrivilege(d.target, 'read');
    const out = await exportCalendar(d.env.ctx, d.env.actor, r.cal.id);
    d.reply.header('etag', `"c${r.cal.sync_seq}"`);
    return d.reply.status(200).type('text/calendar; charset=utf-8').header('content-disposition', `inline; filename="${out.name.replace(/[^\w .-]/g, '_')}.ics"`).send(out.text);
  }
  if (r.kind === 'null') throw new DavHttpError(404, 'No such resource');
  // Other collections: a short note for people who open the URL in a browser.
  return d.reply.status(200).type('text/plain; charset=utf-8').send('Calendula CalDAV. Use a calendar client with this URL.\n');
}
