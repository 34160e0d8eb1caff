/** CalDAV test support: a real listening server with the DAV plugin, users with app passwords, raw requests. */
import type { AddressInfo } from 'node:net';
import { createTestEnv, makeUser, type TestEnv } from '../support/harness.js';
import { createAppPassword } from '../../src/app/accounts.js';
import type { Config } from '../../src/config/schema.js';
import type { PrincipalRow } from '../../src/store/schema.js';
import { parseXml, type XmlElement } from '../../src/lib/dav/index.js';

export interface DavTestEnv extends TestEnv {
  base: string;
  close(): Promise<void>;
}

export async function createDavEnv(overrides: Partial<Config> = {}): Promise<DavTestEnv> {
  const env = await createTestEnv(overrides, { dav: true });
  await env.app.listen({ port: 0, host: '127.0.0.1' });
  const port = (env.app.server.address() as AddressInfo).port;
  return { ...env, base: `http://127.0.0.1:${port}` };
}

export interface DavUser {
  row: PrincipalRow;
  email: string;
  /** An app password (what clients are told to use). */
  password: string;
  auth: string;
  home: string;
  principal: string;
  defaultCalendar: string;
}

export async function davUser(env: TestEnv, email: string, opts: { kind?: 'user' | 'room'; name?: string } = {}): Promise<DavUser> {
  const row = await makeUser(env.ctx, email, { kind: opts.kind, name: opts.name });
  const ap = await createAppPassword(env.ctx, { userId: row.id, email: row.email, via: 'rest' }, 'test');
  const password = ap.password;
  const cal = await env.ctx.db.selectFrom('calendar').select('id').where('owner_id', '=', row.id).where('is_default', '=', true).executeTakeFirstOrThrow();
  return {
    row, email: row.email, password,
    auth: `Basic ${Buffer.from(`${row.email}:${password}`).toString('base64')}`,
    home: `/dav/calendars/${row.email}/`,
    principal: `/dav/principals/${row.email}/`,
    defaultCalendar: `/dav/calendars/${row.email}/${cal.id}/`,
  };
}

export interface DavResponse {
  status: number;
  headers: Headers;
  text: string;
  xml(): XmlElement;
}

export async function dav(env: DavTestEnv, method: string, path: string, opts: { user?: DavUser; auth?: string; body?: string | Buffer; headers?: Record<string, string>; redirect?: RequestRedirect } = {}): Promise<DavResponse> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  const auth = opts.auth ?? opts.user?.auth;
  if (auth) headers.authorization = auth;
  if (opts.body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
    headers['content-type'] = typeof opts.body === 'string' && opts.body.trimStart().startsWith('<') ? 'application/xml; charset=utf-8' : 'text/calendar; charset=utf-8';
  }
  const res = await fetch(env.base + path, { method, headers, body: opts.body as BodyInit | undefined, redirect: opts.redirect ?? 'manual' });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, xml: () => parseXml(text) };
}

/** Minimal iCalendar for tests. */
export function vevent(uid: string, opts: { summary?: string; start?: string; end?: string; rrule?: string; organizer?: string; attendees?: Array<{ email: string; partstat?: string }>; extra?: string[]; sequence?: number } = {}): string {
  const lines = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Calendula tests//EN', 'BEGIN:VEVENT', `UID:${uid}`, 'DTSTAMP:20240101T000000Z',
    `DTSTART:${opts.start ?? '20300110T100000Z'}`, `DTEND:${opts.end ?? '20300110T110000Z'}`, `SUMMARY:${opts.summary ?? 'Test event'}`];
  if (opts.sequence !== undefined) lines.push(`SEQUENCE:${opts.sequence}`);
  if (opts.rrule) lines.push(`RRULE:${opts.rrule}`);
  if (opts.organizer) lines.push(`ORGANIZER:mailto:${opts.organizer}`);
  for (const a of opts.attendees ?? []) lines.push(`ATTENDEE;PARTSTAT=${a.partstat ?? 'NEEDS-ACTION'};RSVP=TRUE:mailto:${a.email}`);
  lines.push(...(opts.extra ?? []), 'END:VEVENT', 'END:VCALENDAR');
  return lines.join('\r\n') + '\r\n';
}

/** Responses of a multistatus as { href → { status, props } } with props by local name. */
export function responses(ms: XmlElement): Map<string, { status: string | null; props: Map<string, XmlElement>; propStatus: Map<string, string> }> {
  const out = new Map();
  for (const r of ms.children.filter((c) => c.name === 'response')) {
    const hrefEl = r.children.find((c) => c.name === 'href')!;
    const status = r.children.find((c) => c.name === 'status')?.text ?? null;
    const props = new Map<string, XmlElement>();
    const propStatus = new Map<string, string>();
    for (const ps of r.children.filter((c) => c.name === 'propstat')) {
      const st = ps.children.find((c) => c.name === 'status')!.text;
      for (const p of ps.children.find((c) => c.name === 'prop')!.children) {
        propStatus.set(p.name, st);
        if (/ 200 /.test(st)) props.set(p.name, p);
      }
    }
    out.set(decodeURIComponent(hrefEl.text), { status, props, propStatus });
  }
  return out;
}
