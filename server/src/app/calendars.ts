/** Calendars, sharing, per-user settings and the directory. */
import type { AppContext } from './context.js';
import type { Actor } from '../domain/actor.js';
import { DomainError, forbidden, invalid, notFound } from '../domain/errors.js';
import * as cals from '../store/calendars.js';
import * as principals from '../store/principals.js';
import type { CalendarRow, PrincipalRow, Reminder, WorkingHours, NotifyPrefs } from '../store/schema.js';
import { audit } from './audit.js';
import { queueReplan, sameDefaults, updatePrincipalZoneAware } from './events/reminders-replan.js';

const COLOR = /^#[0-9a-fA-F]{6}$/;

export async function ensureDefaultCalendar(ctx: AppContext, user: PrincipalRow): Promise<CalendarRow> {
  const existing = await cals.defaultCalendar(ctx.db, user.id);
  if (existing) return existing;
  const name = user.kind === 'room' ? user.name || user.email : user.language === 'ru' ? 'Календарь' : 'Calendar';
  try {
    return await cals.insertCalendar(ctx.db, { ownerId: user.id, name, isDefault: true, timezone: user.timezone });
  } catch (e) {
    // Two first requests at once: the unique partial index keeps one default.
    if ((e as { code?: string }).code === '23505') return (await cals.defaultCalendar(ctx.db, user.id))!;
    throw e;
  }
}

export function calendarJson(c: CalendarRow & { access?: cals.Access; owner_email?: string; owner_name?: string }, viewerId: string) {
  const access = c.access ?? (c.owner_id === viewerId ? 'owner' : 'read');
  return {
    id: c.id,
    name: c.name,
    description: c.description,
    color: c.color,
    timezone: c.timezone,
    defaultReminders: c.default_reminders,
    order: c.sort_order,
    hidden: c.hidden,
    isDefault: c.is_default && c.owner_id === viewerId,
    access,
    owner: c.owner_id === viewerId ? null : { id: c.owner_id, email: c.owner_email ?? '', name: c.owner_name ?? '' },
    syncToken: `${c.id}:${c.sync_seq}`,
  };
}

export async function listCalendars(ctx: AppContext, actor: Actor) {
  const userId = actor.userId!;
  const groups = await principals.groupIdsOf(ctx.db, userId);
  const [own, shared] = await Promise.all([cals.ownCalendars(ctx.db, userId), cals.sharedCalendars(ctx.db, userId, groups)]);
  return [...own.map((c) => ({ ...c, access: 'owner' as const })), ...shared];
}

/** Loads a calendar the actor can see, with their access level; hides existence from strangers. */
export async function calendarFor(ctx: AppContext, actor: Actor, id: string): Promise<CalendarRow & { access: cals.Access; owner_email?: string; owner_name?: string }> {
  if (!/^[0-9a-f-]{36}$/i.test(id)) throw notFound('Calendar', { id });
  const cal = await cals.findCalendarAnyOwner(ctx.db, id);
  if (!cal) throw notFound('Calendar', { id });
  const access = await cals.accessTo(ctx.db, actor.userId!, await principals.groupIdsOf(ctx.db, actor.userId!), cal);
  if (!access) throw notFound('Calendar', { id });
  if (access === 'owner') return { ...cal, access };
  const owner = await principals.findPrincipalById(ctx.db, cal.owner_id);
  return { ...cal, access, owner_email: owner?.email ?? '', owner_name: owner?.name ?? '' };
}

function checkReminders(r: Reminder[] | undefined) {
  if (!r) return;
  if (r.length > 10) throw invalid('At most 10 default reminders');
  for (const x of r) if (!Number.isInteger(x.minutesBefore) || x.minutesBefore < 0 || x.minutesBefore > 40320) throw invalid('minutesBefore must be between 0 and 40320 (four weeks)');
}

function checkFields(input: { color?: string; timezone?: string | null; name?: string }) {
  if (input.color !== undefined && !COLOR.test(input.color)) throw invalid('Colour must look like #1a2b3c', { field: 'color' });
  if (input.name !== undefined && !input.name.trim()) throw invalid('The name must not be empty', { field: 'name' });
  if (input.timezone) {
    try { new Intl.DateTimeFormat('en', { timeZone: input.timezone }); } catch { throw invalid(`Unknown time zone "${input.timezone}"`, { field: 'timezone' }); }
  }
}

export async function createCalendar(ctx: AppContext, actor: Actor, input: { name: string; color?: string; description?: string; timezone?: string | null; defaultReminders?: Reminder[]; order?: number; id?: string; components?: string[] }) {
  checkFields(input);
  // CalDAV clients choose the URL (and so the id) of a new calendar (RFC 4791 §5.3.1).
  if (input.id !== undefined) {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(input.id)) throw invalid('A calendar id is a UUID', { field: 'id' });
    if (await cals.findCalendarAnyOwner(ctx.db, input.id)) throw new DomainError('ALREADY_EXISTS', 'A calendar with this id already exists');
  }
  if (input.components && (!input.components.length || input.components.some((c) => c !== 'VEVENT' && c !== 'VTODO'))) {
    throw new DomainError('UNSUPPORTED', 'Calendars hold VEVENT and/or VTODO components', { field: 'components' });
  }
  checkReminders(input.defaultReminders);
  const row = await cals.insertCalendar(ctx.db, { id: input.id?.toLowerCase(), components: input.components, ownerId: actor.userId!, name: input.name.trim(), color: input.color, description: input.description, timezone: input.timezone, defaultReminders: input.defaultReminders, sortOrder: input.order });
  await audit(ctx, actor, 'calendar.create', row.id);
  return row;
}

export async function updateCalendar(ctx: AppContext, actor: Actor, id: string, patch: { name?: string; color?: string; description?: string; timezone?: string | null; defaultReminders?: Reminder[]; order?: number; hidden?: boolean }) {
  const cal = await calendarFor(ctx, actor, id);
  if (cal.access !== 'owner') throw forbidden('Only the owner can change a calendar');
  checkFields(patch);
  checkReminders(patch.defaultReminders);
  // New default reminders move the planned reminders of the calendar's events without VALARMs.
  const replan = patch.defaultReminders !== undefined && !sameDefaults(patch.defaultReminders, cal.default_reminders as Reminder[] | null);
  const row = await ctx.db.transaction().execute(async (trx) => {
    const r = await cals.updateCalendar(trx, actor.userId!, id, {
      name: patch.name?.trim(), color: patch.color, description: patch.description, timezone: patch.timezone,
      default_reminders: patch.defaultReminders, sort_order: patch.order, hidden: patch.hidden,
    });
    if (replan) await queueReplan(trx, { ownerId: actor.userId!, reason: 'defaults', calendarId: id });
    return r;
  });
  await audit(ctx, actor, 'calendar.update', id);
  return row!;
}

export async function deleteCalendar(ctx: AppContext, actor: Actor, id: string) {
  const cal = await calendarFor(ctx, actor, id);
  if (cal.access !== 'owner') throw forbidden('Only the owner can delete a calendar');
  if (cal.is_default) throw new DomainError('CONFLICT', 'The default calendar cannot be deleted; make another calendar the default first');
  await cals.deleteCalendar(ctx.db, actor.userId!, id);
  await audit(ctx, actor, 'calendar.delete', id);
}

export async function listShares(ctx: AppContext, actor: Actor, id: string) {
  const cal = await calendarFor(ctx, actor, id);
  if (cal.access !== 'owner') throw forbidden('Only the owner can see who a calendar is shared with');
  return cals.listShares(ctx.db, actor.userId!, id);
}

export async function shareCalendar(ctx: AppContext, actor: Actor, id: string, input: { email: string; access: 'read' | 'read-write' | 'freebusy' }) {
  const cal = await calendarFor(ctx, actor, id);
  if (cal.access !== 'owner') throw forbidden('Only the owner can share a calendar');
  const grantee = await principals.findPrincipalByEmail(ctx.db, input.email);
  if (!grantee || grantee.kind === 'room') throw new DomainError('UNKNOWN_ADDRESS', `No user or group has the address ${input.email}`, { email: input.email });
  if (grantee.id === actor.userId) throw invalid('You already own this calendar');
  await cals.upsertShare(ctx.db, actor.userId!, id, grantee.id, input.access);
  await audit(ctx, actor, 'calendar.share', id, { grantee: grantee.id, access: input.access });
  return { granteeId: grantee.id, email: grantee.email, name: grantee.name, kind: grantee.kind, access: input.access };
}

export async function unshareCalendar(ctx: AppContext, actor: Actor, id: string, granteeId: string) {
  const cal = await calendarFor(ctx, actor, id);
  if (cal.access !== 'owner') throw forbidden('Only the owner can change sharing');
  if (!(await cals.deleteShare(ctx.db, actor.userId!, id, granteeId))) throw notFound('Share', { granteeId });
  await audit(ctx, actor, 'calendar.unshare', id, { grantee: granteeId });
}

// Settings -----------------------------------------------------------------------------------------

export const NOTIFY_KINDS = ['invitation', 'update', 'cancellation', 'reply', 'reminder'] as const;
export const CHANNELS = ['email', 'messenger'] as const;

export function settingsJson(u: PrincipalRow) {
  const notify: Record<string, string[]> = {};
  for (const k of NOTIFY_KINDS) notify[k] = (u.notify as NotifyPrefs)[k] ?? ['email', 'messenger'];
  return { language: u.language, timezone: u.timezone, workingHours: u.working_hours, notifications: notify, vkteamsId: u.vkteams_id };
}

export async function updateSettings(ctx: AppContext, actor: Actor, patch: { language?: 'en' | 'ru'; timezone?: string; workingHours?: WorkingHours; notifications?: Record<string, string[]> }) {
  if (patch.timezone) checkFields({ timezone: patch.timezone });
  if (patch.workingHours) {
    const w = patch.workingHours;
    const hm = /^([01]\d|2[0-3]):[0-5]\d$/;
    if (!hm.test(w.start) || !hm.test(w.end) || w.start >= w.end) throw invalid('Working hours need start < end in HH:MM', { field: 'workingHours' });
    if (w.days.some((d) => !Number.isInteger(d) || d < 0 || d > 6)) throw invalid('Working days are 0 (Sunday) to 6 (Saturday)', { field: 'workingHours.days' });
  }
  if (patch.notifications) {
    for (const [k, v] of Object.entries(patch.notifications)) {
      if (!(NOTIFY_KINDS as readonly string[]).includes(k)) throw invalid(`Unknown notification kind "${k}"`, { field: 'notifications' });
      if (v.some((c) => !(CHANNELS as readonly string[]).includes(c))) throw invalid(`Channels are ${CHANNELS.join(', ')}`, { field: `notifications.${k}` });
    }
  }
  const me = (await principals.findPrincipalById(ctx.db, actor.userId!))!;
  const row = await updatePrincipalZoneAware(ctx, me, {
    language: patch.language, timezone: patch.timezone, working_hours: patch.workingHours,
    notify: patch.notifications ? { ...(me.notify as NotifyPrefs), ...patch.notifications } : undefined,
  });
  return row!;
}

// Directory ----------------------------------------------------------------------------------------

export function directoryJson(p: PrincipalRow) {
  return { id: p.id, kind: p.kind, email: p.email, name: p.name, ...(p.kind === 'room' ? { capacity: p.room_capacity } : {}) };
}

export async function searchDirectory(ctx: AppContext, query: string, opts: { limit?: number; kinds?: ('user' | 'group' | 'room')[] }) {
  const limit = Math.min(Math.max(opts.limit ?? 10, 1), 50);
  return principals.searchPrincipals(ctx.db, query, { limit, kinds: opts.kinds });
}
