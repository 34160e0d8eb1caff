/** Who may see or change which event: ownership, calendar grants, and the owner key for every query. */
import type { AppContext } from '../context.js';
import type { Actor } from '../../domain/actor.js';
import { DomainError, forbidden, notFound } from '../../domain/errors.js';
import * as objects from '../../store/objects.js';
import * as cals from '../../store/calendars.js';
import * as principals from '../../store/principals.js';
import type { CalendarRow, ObjectRow } from '../../store/schema.js';

export type Access = cals.Access;

export interface ObjectAccess { row: ObjectRow; calendar: CalendarRow; access: Access }

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Loads an object the actor may see; strangers get NOT_FOUND (existence is not revealed). */
export async function objectFor(ctx: AppContext, actor: Actor, id: string, opts: { includeDeleted?: boolean } = {}): Promise<ObjectAccess> {
  if (!UUID.test(id)) throw notFound('Event', { id });
  const ownerId = await objects.ownerOfObject(ctx.db, id);
  if (!ownerId) throw notFound('Event', { id });
  const row = await objects.findObject(ctx.db, ownerId, id, { includeDeleted: opts.includeDeleted });
  if (!row) throw notFound('Event', { id });
  const calendar = await cals.findCalendar(ctx.db, ownerId, row.calendar_id);
  if (!calendar) throw notFound('Event', { id });
  if (ownerId === actor.userId) return { row, calendar, access: 'owner' };
  const access = await cals.accessTo(ctx.db, actor.userId!, await principals.groupIdsOf(ctx.db, actor.userId!), calendar);
  if (!access || (opts.includeDeleted && row.deleted_at)) throw notFound('Event', { id });
  return { row, calendar, access };
}

export function canWrite(access: Access): boolean {
  return access === 'owner' || access === 'read-write';
}

export function requireWrite(a: { access: Access }): void {
  if (!canWrite(a.access)) throw forbidden(a.access === 'freebusy' ? 'You can only see when this calendar is busy' : 'This calendar is shared with you read-only');
}

/** A calendar the actor may add events to. */
export async function writableCalendar(ctx: AppContext, actor: Actor, calendarId: string): Promise<CalendarRow & { access: Access }> {
  if (!UUID.test(calendarId)) throw notFound('Calendar', { id: calendarId });
  return writableCalendarRow(ctx, actor, calendarId, await cals.findCalendarAnyOwner(ctx.db, calendarId));
}

/** writableCalendar for a calendar row the caller read itself (undefined: none with that id). */
export async function writableCalendarRow(ctx: AppContext, actor: Actor, calendarId: string, cal: CalendarRow | undefined): Promise<CalendarRow & { access: Access }> {
  if (!cal) throw notFound('Calendar', { id: calendarId });
  const access = cal.owner_id === actor.userId ? 'owner' : await cals.accessTo(ctx.db, actor.userId!, await principals.groupIdsOf(ctx.db, actor.userId!), cal);
  if (!access) throw notFound('Calendar', { id: calendarId });
  if (!canWrite(access)) throw new DomainError('FORBIDDEN', access === 'freebusy' ? 'You can only see when this calendar is busy' : 'This calendar is shared with you read-only', { precondition: 'need-privileges' });
  return { ...cal, access };
}

/** Private and confidential events show only as busy to anyone but their owner (RFC 5545 §3.8.1.3 CLASS). */
export function hidesDetails(row: Pick<ObjectRow, 'class'>, access: Access): boolean {
  return access === 'freebusy' || (access !== 'owner' && (row.class === 'PRIVATE' || row.class === 'CONFIDENTIAL'));
}
