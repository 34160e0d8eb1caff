// Typed client for the Calendula REST API. Every request goes through `call(method, template, …)`
// with a literal path template, so server/test/web/api-contract.test.ts can extract the
// templates from this file and compare them with the paths of /api/openapi.json.
import type {
  AppPassword, Attachment, Calendar, DirectoryEntry, EventDetail, EventInput, FreeBusyItem, ImportStatus,
  Lease, Me, Occurrence, Partstat, Proposal, ProposeInput, ProposeResult, Scope, Settings, Share, Slot, TrashItem, IntakeDecision, VkteamsLink, Delivery,
} from './types';

export const API_BASE = '/api/v1';

export class ApiError extends Error {
  constructor(public status: number, public code: string, message: string, public details?: any) {
    super(message);
  }
}

let csrfToken: string | undefined;
export function setCsrf(t: string | undefined) { csrfToken = t; }
function csrf(): string | undefined {
  const m = document.cookie.match(/(?:^|;\s*)calendula_csrf=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : csrfToken;
}

/** The UI language, sent as Accept-Language so the server's error messages match the UI. */
let uiLang: string | undefined;
export function setApiLang(lang: string) { uiLang = lang; }

type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
interface Opts { params?: Record<string, string>; query?: Record<string, string | undefined>; body?: unknown; headers?: Record<string, string>; raw?: BodyInit; signal?: AbortSignal }

export function url(template: string, params: Record<string, string> = {}, query?: Record<string, string | undefined>): string {
  const path = template.replace(/:(\w+)/g, (_, k) => encodeURIComponent(params[k] ?? ''));
  const q = query ? Object.entries(query).filter(([, v]) => v !== undefined && v !== '') : [];
  return API_BASE + path + (q.length ? '?' + new URLSearchParams(q as [string, string][]).toString() : '');
}

async function call<T>(method: Method, template: string, o: Opts = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', ...(uiLang ? { 'accept-language': uiLang } : {}), ...o.headers };
  let body: BodyInit | undefined = o.raw;
  if (o.body !== undefined) { headers['content-type'] = 'application/json'; body = JSON.stringify(o.body); }
  if (method !== 'GET') { const t = csrf(); if (t) headers['x-csrf-token'] = t; }
  const res = await fetch(url(template, o.params, o.query), { method, headers, body, credentials: 'same-origin', signal: o.signal });
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let data: any = undefined;
  try { data = text ? JSON.parse(text) : undefined; } catch { data = text; }
  if (!res.ok) {
    const e = data && typeof data === 'object' ? data : {};
    throw new ApiError(res.status, e.error ?? `HTTP_${res.status}`, e.message ?? res.statusText, e.details);
  }
  return data as T;
}

export const api = {
  // session
  signIn: (email: string, password: string) => call<Me>('POST', '/session', { body: { email, password } }),
  signOut: () => call<void>('DELETE', '/session'),
  me: () => call<Me>('GET', '/me'),
  sso: () => call<{ enabled: boolean; startUrl?: string }>('GET', '/auth/sso'),
  // settings
  settings: () => call<Settings>('GET', '/settings'),
  updateSettings: (patch: Partial<Omit<Settings, 'vkteamsId'>>) => call<Settings>('PATCH', '/settings', { body: patch }),
  vkteams: () => call<VkteamsLink>('GET', '/settings/vkteams'),
  unlinkVkteams: () => call<VkteamsLink>('DELETE', '/settings/vkteams'),
  deliveries: (limit = 50) => call<{ items: Delivery[] }>('GET', '/deliveries', { query: { limit: String(limit) } }),
  // calendars
  calendars: () => call<{ items: Calendar[] }>('GET', '/calendars'),
  createCalendar: (b: { name: string; color?: string }) => call<Calendar>('POST', '/calendars', { body: b }),
  updateCalendar: (id: string, b: Partial<Pick<Calendar, 'name' | 'color' | 'hidden' | 'order' | 'defaultReminders' | 'description'>>) =>
    call<Calendar>('PATCH', '/calendars/:id', { params: { id }, body: b }),
  deleteCalendar: (id: string) => call<void>('DELETE', '/calendars/:id', { params: { id } }),
  shares: (id: string) => call<{ items: Share[] }>('GET', '/calendars/:id/shares', { params: { id } }),
  share: (id: string, email: string, access: 'read' | 'read-write' | 'freebusy') => call<Share>('PUT', '/calendars/:id/shares', { params: { id }, body: { email, access } }),
  unshare: (id: string, granteeId: string) => call<void>('DELETE', '/calendars/:id/shares/:granteeId', { params: { id, granteeId } }),
  importIcs: (id: string, text: string) => call<{ importId: string }>('POST', '/calendars/:id/import', { params: { id }, raw: text, headers: { 'content-type': 'text/calendar' } }),
  importStatus: (importId: string) => call<ImportStatus>('GET', '/imports/:id', { params: { id: importId } }),
  exportUrl: (id: string) => url('/calendars/:id/export', { id }),
  // directory
  directory: (q: string, signal?: AbortSignal) => call<{ items: DirectoryEntry[] }>('GET', '/directory', { query: { q, limit: '8' }, signal }),
  // events
  events: (from: string, to: string, calendars?: string[], signal?: AbortSignal) =>
    call<{ items: Occurrence[] }>('GET', '/events', { query: { from, to, calendars: calendars?.join(',') }, signal }),
  event: (id: string) => call<EventDetail>('GET', '/events/:id', { params: { id } }),
  createEvent: (calendarId: string, event: EventInput) => call<EventDetail>('POST', '/events', { body: { calendarId, event } }),
  updateEvent: (id: string, etag: string | undefined, body: { event: Partial<EventInput>; scope?: Scope; recurrenceId?: string | null; force?: boolean }) =>
    call<EventDetail>('PATCH', '/events/:id', { params: { id }, body: stripNull(body), headers: etag ? { 'if-match': etag } : {} }),
  deleteEvent: (id: string, scope?: Scope, recurrenceId?: string | null) =>
    call<void>('DELETE', '/events/:id', { params: { id }, query: { scope, recurrenceId: recurrenceId ?? undefined } }),
  restore: (id: string) => call<EventDetail>('POST', '/events/:id/restore', { params: { id } }),
  /** The event's whole iCalendar text (overridden occurrences included), and putting one back. */
  eventText: (id: string) => call<string>('GET', '/events/:id', { params: { id }, headers: { accept: 'text/calendar' } }),
  replaceEventText: (id: string, text: string) => call<EventDetail>('PUT', '/events/:id', { params: { id }, raw: text, headers: { 'content-type': 'text/calendar' } }),
  respond: (id: string, partstat: Partstat, comment?: string, recurrenceId?: string | null) =>
    call<EventDetail>('POST', '/events/:id/respond', { params: { id }, body: stripNull({ partstat, comment: comment || undefined, recurrenceId: recurrenceId ?? undefined }) }),
  // time proposals (iTIP COUNTER): the attendee proposes, the organizer decides
  propose: (id: string, b: ProposeInput) => call<ProposeResult>('POST', '/events/:id/propose', { params: { id }, body: stripNull({ ...b, comment: b.comment || undefined }) }),
  proposals: () => call<{ items: Proposal[] }>('GET', '/proposals'),
  acceptProposal: (id: string) => call<{ ok: boolean }>('POST', '/proposals/:id/accept', { params: { id }, body: {} }),
  declineProposal: (id: string, comment?: string) => call<{ ok: boolean }>('POST', '/proposals/:id/decline', { params: { id }, body: comment ? { comment } : {} }),
  moveToCalendar: (id: string, calendarId: string) => call<EventDetail>('POST', '/events/:id/move', { params: { id }, body: { calendarId } }),
  duplicate: (id: string, calendarId?: string) => call<EventDetail>('POST', '/events/:id/duplicate', { params: { id }, body: calendarId ? { calendarId } : {} }),
  takeLease: (id: string) => call<Lease>('POST', '/events/:id/lease', { params: { id } }),
  releaseLease: (id: string) => call<void>('DELETE', '/events/:id/lease', { params: { id } }),
  search: (q: string, from?: string, to?: string) => call<{ items: Occurrence[] }>('GET', '/events/search', { query: { q, from, to } }),
  invitations: () => call<{ items: Occurrence[] }>('GET', '/invitations'),
  trash: () => call<{ items: TrashItem[] }>('GET', '/trash'),
  freebusy: (attendees: string[], from: string, to: string) => call<{ items: FreeBusyItem[] }>('POST', '/freebusy', { body: { attendees, from, to } }),
  findTime: (b: { attendees: string[]; rooms?: string[]; durationMinutes: number; from: string; to: string; count?: number }) =>
    call<{ slots: Slot[] }>('POST', '/find-time', { body: b }),
  attachmentUrl: (id: string) => url('/attachments/:id', { id }),
  deleteAttachment: (id: string) => call<void>('DELETE', '/attachments/:id', { params: { id } }),
  // incoming e-mail invitations (mail intake)
  intakeDecisions: (limit = 50, outcome?: string) => call<{ items: IntakeDecision[] }>('GET', '/intake/decisions', { query: { limit: String(limit), outcome } }),
  intakeDecision: (id: string) => call<IntakeDecision & { ical: string | null }>('GET', '/intake/decisions/:id', { params: { id } }),
  intakeHeld: () => call<{ items: IntakeDecision[] }>('GET', '/intake/held'),
  acceptHeld: (id: string) => call<{ ok: boolean; decision?: IntakeDecision }>('POST', '/intake/held/:id/accept', { params: { id } }),
  discardHeld: (id: string) => call<{ ok: boolean; decision?: IntakeDecision }>('POST', '/intake/held/:id/discard', { params: { id } }),
  // credentials
  appPasswords: () => call<{ items: AppPassword[] }>('GET', '/app-passwords'),
  createAppPassword: (name: string) => call<AppPassword>('POST', '/app-passwords', { body: { name } }),
  revokeAppPassword: (id: string) => call<void>('DELETE', '/app-passwords/:id', { params: { id } }),
};

function stripNull<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== null)) as T;
}

/** Upload with progress (fetch has no upload progress): POST /attachments, multipart field `file`. */
export function uploadAttachment(file: File, onProgress: (fraction: number) => void): Promise<Attachment> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url('/attachments'));
    const t = csrf();
    if (t) xhr.setRequestHeader('x-csrf-token', t);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      let data: any = {};
      try { data = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data as Attachment);
      else reject(new ApiError(xhr.status, data.error ?? `HTTP_${xhr.status}`, data.message ?? xhr.statusText, data.details));
    };
    xhr.onerror = () => reject(new ApiError(0, 'NETWORK', 'Network error'));
    const fd = new FormData();
    fd.append('file', file);
    xhr.send(fd);
  });
}
