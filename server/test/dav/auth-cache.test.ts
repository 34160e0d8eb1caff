// Remembered CalDAV credentials (authCacheMs on) and the one-query request lookup: every change
// that withdraws access takes effect at the very next request, though the credential is remembered.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAppPassword, revokeAppPassword, updateUser } from '../../src/app/accounts.js';
import { shareCalendar, unshareCalendar } from '../../src/app/calendars.js';
import { davLookup } from '../../src/store/dav-lookup.js';
import { findPrincipalById } from '../../src/store/principals.js';
import { findCalendarAnyOwner } from '../../src/store/calendars.js';
import { makeUser } from '../support/harness.js';
import { createDavEnv, dav, davUser, vevent, type DavTestEnv, type DavUser } from './support.js';

let env: DavTestEnv;
let anna: DavUser;
let boris: DavUser;
const annaCalId = () => anna.defaultCalendar.split('/')[4]!;
const admin = () => ({ userId: '00000000-0000-4000-8000-000000000000', isAdmin: true, via: 'rest' as const });
const basic = (email: string, password: string) => `Basic ${Buffer.from(`${email}:${password}`).toString('base64')}`;

beforeAll(async () => {
  env = await createDavEnv({ authCacheMs: 600_000 });
  anna = await davUser(env, 'anna@example.com');
  boris = await davUser(env, 'boris@example.com');
  expect((await dav(env, 'PUT', `${anna.defaultCalendar}a.ics`, { user: anna, body: vevent('a') })).status).toBe(201);
});
afterAll(async () => env?.close());

describe('a remembered credential is re-checked on every request', () => {
  it('a revoked app password is refused at the next request', async () => {
    const ap = await createAppPassword(env.ctx, { userId: anna.row.id, email: anna.email, via: 'rest' }, 'phone');
    const auth = basic(anna.email, ap.password);
    expect((await dav(env, 'GET', `${anna.defaultCalendar}a.ics`, { auth })).status).toBe(200);
    expect((await dav(env, 'GET', `${anna.defaultCalendar}a.ics`, { auth })).status).toBe(200); // remembered now
    await revokeAppPassword(env.ctx, { userId: anna.row.id, email: anna.email, via: 'rest' }, ap.id);
    const r = await dav(env, 'GET', `${anna.defaultCalendar}a.ics`, { auth });
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toMatch(/^Basic/);
    // Anna's other app password is unaffected.
    expect((await dav(env, 'GET', `${anna.defaultCalendar}a.ics`, { user: anna })).status).toBe(200);
  });

  it('a changed account password is refused at the next request; the new one works', async () => {
    const user = await makeUser(env.ctx, 'vera@example.com', { password: 'old-password-1' });
    const home = `/dav/calendars/${user.email}/`;
    const old = basic(user.email, 'old-password-1');
    expect((await dav(env, 'PROPFIND', home, { auth: old, headers: { depth: '0' } })).status).toBe(207);
    expect((await dav(env, 'PROPFIND', home, { auth: old, headers: { depth: '0' } })).status).toBe(207);
    await updateUser(env.ctx, admin(), user.id, { password: 'new-password-correct-horse-2' });
    expect((await dav(env, 'PROPFIND', home, { auth: old, headers: { depth: '0' } })).status).toBe(401);
    expect((await dav(env, 'PROPFIND', home, { auth: basic(user.email, 'new-password-correct-horse-2'), headers: { depth: '0' } })).status).toBe(207);
  });

  it('a disabled account is refused at the next request', async () => {
    const carl = await davUser(env, 'carl@example.com');
    expect((await dav(env, 'PROPFIND', carl.home, { user: carl, headers: { depth: '0' } })).status).toBe(207);
    await updateUser(env.ctx, admin(), carl.row.id, { disabled: true });
    expect((await dav(env, 'PROPFIND', carl.home, { user: carl, headers: { depth: '0' } })).status).toBe(401);
    expect((await dav(env, 'GET', carl.defaultCalendar, { user: carl })).status).toBe(401);
  });

  it('a revoked share is gone at the next request (GET, REPORT, PROPFIND)', async () => {
    await shareCalendar(env.ctx, { userId: anna.row.id, via: 'rest' }, annaCalId(), { email: boris.email, access: 'read' });
    const shared = `${boris.home}${annaCalId()}/`;
    const multiget = `<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop><D:href>${shared}a.ics</D:href></C:calendar-multiget>`;
    expect((await dav(env, 'GET', `${shared}a.ics`, { user: boris })).status).toBe(200);
    expect((await dav(env, 'REPORT', shared, { user: boris, body: multiget })).status).toBe(207);
    await unshareCalendar(env.ctx, { userId: anna.row.id, via: 'rest' }, annaCalId(), boris.row.id);
    expect((await dav(env, 'GET', `${shared}a.ics`, { user: boris })).status).toBe(404);
    expect((await dav(env, 'REPORT', shared, { user: boris, body: multiget })).status).toBe(404);
    expect((await dav(env, 'PROPFIND', shared, { user: boris, headers: { depth: '0' } })).status).toBe(404);
  });

  it('a wrong password for a remembered address is still refused', async () => {
    expect((await dav(env, 'GET', `${anna.defaultCalendar}a.ics`, { user: anna })).status).toBe(200);
    expect((await dav(env, 'GET', `${anna.defaultCalendar}a.ics`, { auth: basic(anna.email, `${anna.password}x`) })).status).toBe(401);
  });
});

describe('davLookup', () => {
  it('decodes the principal and calendar exactly as the table reads do', async () => {
    const found = await davLookup(env.ctx.pool, { userId: anna.row.id, calendarId: annaCalId(), objectName: 'a.ics', withText: true });
    expect(found.principal).toEqual(await findPrincipalById(env.ctx.db, anna.row.id));
    const { access, ownerEmail, ...cal } = found.calendar!;
    expect(cal).toEqual(await findCalendarAnyOwner(env.ctx.db, annaCalId()));
    expect([access, ownerEmail]).toEqual(['owner', anna.email]);
    const row = await env.ctx.db.selectFrom('calendar_object').select(['id', 'etag', 'ical', 'updated_at']).where('name', '=', 'a.ics').where('owner_id', '=', anna.row.id).executeTakeFirstOrThrow();
    expect(found.object).toMatchObject({ id: row.id, etag: row.etag, ical: row.ical, updated_at: row.updated_at, size: Buffer.byteLength(row.ical) });
  });

  it('gives another user neither the calendar nor its objects without a share, and hides private objects from a sharee', async () => {
    expect((await davLookup(env.ctx.pool, { userId: boris.row.id, calendarId: annaCalId(), objectName: 'a.ics' })).calendar).toBeUndefined();
    expect((await dav(env, 'PUT', `${anna.defaultCalendar}p.ics`, { user: anna, body: vevent('p', { extra: ['CLASS:PRIVATE'] }) })).status).toBe(201);
    await shareCalendar(env.ctx, { userId: anna.row.id, via: 'rest' }, annaCalId(), { email: boris.email, access: 'read-write' });
    const shared = await davLookup(env.ctx.pool, { userId: boris.row.id, calendarId: annaCalId(), objectName: 'p.ics' });
    expect(shared.calendar?.access).toBe('read-write');
    expect(shared.calendar?.ownerEmail).toBe(anna.email);
    expect(shared.object).toBeUndefined();
    expect((await davLookup(env.ctx.pool, { userId: boris.row.id, calendarId: annaCalId(), objectName: 'a.ics' })).object?.name).toBe('a.ics');
    expect((await davLookup(env.ctx.pool, { userId: anna.row.id, calendarId: annaCalId(), objectName: 'p.ics' })).object?.name).toBe('p.ics');
    await unshareCalendar(env.ctx, { userId: anna.row.id, via: 'rest' }, annaCalId(), boris.row.id);
  });
});
