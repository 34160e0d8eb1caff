/** One event as JSON for the REST API and the web UI. */
import type { AppContext } from '../context.js';
import type { Actor } from '../../domain/actor.js';
import { eventToJson } from '../../lib/ical/build.js';
import type { EventJson } from '../../lib/ical/model.js';
import * as principals from '../../store/principals.js';
import { objectFor, hidesDetails, canWrite, type ObjectAccess } from './access.js';
import { managedAttachments } from './ical-edits.js';
import { attachmentUrl } from '../attachments.js';

/**
 * `opts.created`: the row was just created with a UID the server made — no lease can name it yet
 * (a lease is taken on an existing event), so it is not looked up. `opts.event`: the master as
 * eventToJson reads it from `row.ical`, when the caller has it (the create fast path built both).
 */
export async function eventDetail(ctx: AppContext, actor: Actor, a: ObjectAccess, recurrenceId?: string, opts: { created?: boolean; event?: EventJson } = {}) {
  const { row, access } = a;
  // Leases cover the organizer's side only (leases.ts): an attendee's copy shows none.
  const lease = opts.created || row.role === 'attendee' ? undefined : await ctx.db.selectFrom('edit_lease').selectAll().where('uid', '=', row.uid).where('expires_at', '>', new Date()).executeTakeFirst();
  const updater = row.updated_by ? await principals.findPrincipalByIdCached(ctx.db, row.updated_by) : undefined;
  const hidden = hidesDetails(row, access);
  let event: Record<string, unknown>;
  try {
    event = (opts.event && !recurrenceId ? { ...opts.event } : eventToJson(row.ical, recurrenceId)) as unknown as Record<string, unknown>;
  } catch {
    event = fallbackJson(row);
  }
  if (hidden) {
    event = { summary: '', start: event.start, end: event.end, timezone: event.timezone, allDay: event.allDay, rrule: event.rrule, visibility: event.visibility, transparency: event.transparency };
  } else {
    // A fresh event from the fast path has no ATTACH (it declines those): nothing to parse.
    event.attachments = opts.event ? [] : managedAttachments(row.ical).map((x) => ({ ...x, url: attachmentUrl(ctx, x.id) }));
  }
  return {
    id: row.id, calendarId: row.calendar_id, uid: row.uid, etag: row.etag, sequence: row.sequence,
    event, myPartstat: row.my_partstat, isOrganizer: row.role === 'organizer',
    editable: canWrite(access) && row.role !== 'attendee',
    canRespond: canWrite(access) && row.role === 'attendee' && row.status !== 'CANCELLED',
    access, busyOnly: hidden,
    lease: lease ? { holderId: lease.holder_id, holderName: lease.holder_name, expiresAt: lease.expires_at.toISOString() } : null,
    updatedAt: row.updated_at.toISOString(), updatedBy: updater ? (updater.name || updater.email) : null,
    deletedAt: row.deleted_at ? row.deleted_at.toISOString() : null,
  };
}

export async function getEvent(ctx: AppContext, actor: Actor, id: string, recurrenceId?: string) {
  return eventDetail(ctx, actor, await objectFor(ctx, actor, id), recurrenceId);
}

/**
 * The event's times from its index columns when its text no longer parses, in the shape
 * eventToJson gives (wall times and their zone): all-day rows as dates; floating rows (RFC 5545
 * §3.3.5) store their wall times read as UTC, so they are wall times with no zone; the others
 * are UTC instants.
 */
function fallbackJson(row: ObjectAccess['row']): Record<string, unknown> {
  const at = (d: Date | null, len: number) => (d ? d.toISOString().slice(0, len) : '');
  const len = row.all_day ? 10 : 19;
  return {
    summary: row.summary ?? '', start: at(row.first_start, len), end: at(row.last_end ?? row.first_start, len),
    timezone: row.all_day || row.floating ? null : 'UTC', allDay: row.all_day,
  };
}
