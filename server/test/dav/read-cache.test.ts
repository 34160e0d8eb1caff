// The CalDAV read cache (http/dav/read-cache.ts) and its change feed (store/change-feed.ts): what
// it serves must always be what the database would answer, give or take the notification latency
// for changes made by another process — and exactly, at the next request, for this process's own.
// "Another process" here is a separate PostgreSQL connection writing with plain SQL (the triggers of
// migration 0011 announce its changes as they would any process's).
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revokeAppPassword } from '../../src/app/accounts.js';
import { shareCalendar, unshareCalendar } from '../../src/app/calendars.js';
import { DavReadCache, davReadState } from '../../src/http/dav/read-cache.js';
import { fastReportStats } from '../../src/http/dav/fast-report.js';
import { mayCommitWrite } from '../../src/store/db.js';
import { eventually, recordStatements } from '../support/harness.js';
import { createDavEnv, dav, davUser, responses, vevent, type DavTestEnv, type DavUser } from './support.js';

let env: DavTestEnv;
let anna: DavUser;
let boris: DavUser;
let other: pg.Client;
const calId = () => anna.defaultCalendar.split('/')[4]!;
const state = () => davReadState(env.ctx)!;
const PROPFIND = '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:getcontenttype/><D:resourcetype/></D:prop></D:propfind>';
const multiget = (hrefs: string[]) =>
  `<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop>${hrefs.map((h) => `<D:href>${h}</D:href>`).join('')}</C:calendar-multiget>`;

/** Waits until the cache has applied `n` more notifications than now. */
async function afterNotifications<T>(fn: () => Promise<T>, n = 1): Promise<T> {
  const before = state().feed.stats.notifications;
  const r = await fn();
  await eventually(async () => state().feed.stats.notifications >= before + n, 5_000, 'the change notification');
  return r;
}

/** Statements sent while `fn` runs (the cache answers with none). */
async function statements(fn: () => Promise<unknown>) {
  return (await recordStatements(fn)).seen.filter((s) => !/pg_notify/.test(s));
}

beforeAll(async () => {
  env = await createDavEnv({ authCacheMs: 600_000 });
  anna = await davUser(env, 'anna@example.com');
  boris = await davUser(env, 'boris@example.com');
  for (const n of ['a', 'b', 'c']) expect((await dav(env, 'PUT', `${anna.defaultCalendar}${n}.ics`, { user: anna, body: vevent(n, { summary: `Event ${n}` }) })).status).toBe(201);
  expect((await dav(env, 'PUT', `${anna.defaultCalendar}private.ics`, { user: anna, body: vevent('p', { extra: ['CLASS:PRIVATE'] }) })).status).toBe(201);
  other = new pg.Client({ connectionString: env.url });
  await other.connect();
  await eventually(async () => state().feed.live, 5_000, 'the change feed');
});
afterAll(async () => {
  await other?.end();
  await env?.close();
});

describe('served from memory', () => {
  it('a repeated GET, multiget and PROPFIND Depth 1 send no statement, and answer as the database does', async () => {
    const path = `${anna.defaultCalendar}a.ics`;
    const first = await dav(env, 'GET', path, { user: anna });
    expect(first.status).toBe(200);
    await dav(env, 'GET', path, { user: anna }); // kept from its second read (the doorkeeper)
    let again!: Awaited<ReturnType<typeof dav>>;
    expect(await statements(async () => { again = await dav(env, 'GET', path, { user: anna }); })).toEqual([]);
    expect(again.text).toBe(first.text);
    for (const h of ['etag', 'last-modified', 'content-type', 'content-length', 'dav', 'schedule-tag']) expect(again.headers.get(h)).toBe(first.headers.get(h));
    expect(again.headers.get('x-request-id')).toMatch(/^[\w.-]+$/);
    const head = await dav(env, 'HEAD', path, { user: anna });
    expect(head.status).toBe(200);
    expect(head.text).toBe('');
    expect(head.headers.get('etag')).toBe(first.headers.get('etag'));

    const body = multiget([`${anna.defaultCalendar}a.ics`, `${anna.defaultCalendar}b.ics`, `${anna.defaultCalendar}missing.ics`]);
    const m1 = await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, body });
    const m2 = await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, body });
    await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, body });
    expect(m2.text).toBe(m1.text);
    // (A missing member is read again each time: absence is not cached. Objects enter from GETs.)
    for (let i = 0; i < 2; i++) await dav(env, 'GET', `${anna.defaultCalendar}b.ics`, { user: anna });
    const held = multiget([`${anna.defaultCalendar}a.ics`, `${anna.defaultCalendar}b.ics`]);
    expect(await statements(() => dav(env, 'REPORT', anna.defaultCalendar, { user: anna, body: held }))).toEqual([]);

    const p1 = await dav(env, 'PROPFIND', anna.defaultCalendar, { user: anna, body: PROPFIND, headers: { depth: '1' } });
    const p2 = await dav(env, 'PROPFIND', anna.defaultCalendar, { user: anna, body: PROPFIND, headers: { depth: '1' } });
    expect(p2.text).toBe(p1.text);
    expect([...responses(p2.xml()).keys()]).toHaveLength(5); // the calendar and its 4 objects
  });
});

describe("this process's writes are seen by its next request", () => {
  it('PUT then GET, multiget and PROPFIND see the new version', async () => {
    const path = `${anna.defaultCalendar}b.ics`;
    await dav(env, 'GET', path, { user: anna });
    await dav(env, 'PROPFIND', anna.defaultCalendar, { user: anna, body: PROPFIND, headers: { depth: '1' } });
    const put = await dav(env, 'PUT', path, { user: anna, body: vevent('b', { summary: 'Changed' }) });
    expect(put.status).toBe(204);
    const get = await dav(env, 'GET', path, { user: anna });
    expect(get.text).toContain('SUMMARY:Changed');
    expect(get.headers.get('etag')).toBe(put.headers.get('etag'));
    const m = responses((await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, body: multiget([path]) })).xml());
    expect(m.get(path)!.props.get('calendar-data')!.text).toContain('SUMMARY:Changed');
    const created = await dav(env, 'PUT', `${anna.defaultCalendar}new.ics`, { user: anna, body: vevent('new') });
    expect(created.status).toBe(201);
    const listed = responses((await dav(env, 'PROPFIND', anna.defaultCalendar, { user: anna, body: PROPFIND, headers: { depth: '1' } })).xml());
    expect(listed.has(`${anna.defaultCalendar}new.ics`)).toBe(true);
    expect(listed.get(path)!.props.get('getetag')!.text).toBe(put.headers.get('etag'));
    expect((await dav(env, 'DELETE', `${anna.defaultCalendar}new.ics`, { user: anna })).status).toBe(204);
    expect((await dav(env, 'GET', `${anna.defaultCalendar}new.ics`, { user: anna })).status).toBe(404);
  });

  it('an app password revoked in this process is refused at the next request (no notification awaited)', async () => {
    const { createAppPassword } = await import('../../src/app/accounts.js');
    const ap = await createAppPassword(env.ctx, { userId: anna.row.id, email: anna.email, via: 'rest' }, 'tablet');
    const auth = `Basic ${Buffer.from(`${anna.email}:${ap.password}`).toString('base64')}`;
    const path = `${anna.defaultCalendar}a.ics`;
    expect((await dav(env, 'GET', path, { auth })).status).toBe(200);
    expect((await dav(env, 'GET', path, { auth })).status).toBe(200);
    await revokeAppPassword(env.ctx, { userId: anna.row.id, email: anna.email, via: 'rest' }, ap.id);
    expect((await dav(env, 'GET', path, { auth })).status).toBe(401);
  });

  it('a share revoked in this process is gone at the next request', async () => {
    await shareCalendar(env.ctx, { userId: anna.row.id, via: 'rest' }, calId(), { email: boris.email, access: 'read' });
    const shared = `${boris.home}${calId()}/`;
    expect((await dav(env, 'GET', `${shared}a.ics`, { user: boris })).status).toBe(200);
    expect((await dav(env, 'GET', `${shared}a.ics`, { user: boris })).status).toBe(200);
    await unshareCalendar(env.ctx, { userId: anna.row.id, via: 'rest' }, calId(), boris.row.id);
    expect((await dav(env, 'GET', `${shared}a.ics`, { user: boris })).status).toBe(404);
    expect((await dav(env, 'PROPFIND', shared, { user: boris, body: PROPFIND, headers: { depth: '1' } })).status).toBe(404);
  });
});

describe('calendar-query answers', () => {
  const week = `<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20300107T000000Z" end="20300114T000000Z"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>`;
  it('are kept per range, view and href until the calendar changes (here or elsewhere)', async () => {
    const q1 = await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, body: week, headers: { depth: '1' } });
    expect(q1.status).toBe(207);
    expect(await statements(async () => expect((await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, body: week, headers: { depth: '1' } })).text).toBe(q1.text))).toEqual([]);
    const added = `${anna.defaultCalendar}in-week.ics`;
    expect((await dav(env, 'PUT', added, { user: anna, body: vevent('in-week', { start: '20300108T100000Z', end: '20300108T110000Z' }) })).status).toBe(201);
    const q2 = responses((await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, body: week, headers: { depth: '1' } })).xml());
    expect(q2.has(added)).toBe(true);
    await afterNotifications(() => other.query(`update calendar_object set deleted_at = now() where calendar_id = $1 and name = 'in-week.ics'`, [calId()]));
    const q3 = responses((await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, body: week, headers: { depth: '1' } })).xml());
    expect(q3.has(added)).toBe(false);
    // A sharee's answer is its own (no private events), under its own href.
    await shareCalendar(env.ctx, { userId: anna.row.id, via: 'rest' }, calId(), { email: boris.email, access: 'read' });
    const shared = `${boris.home}${calId()}/`;
    const own = responses((await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, body: week, headers: { depth: '1' } })).xml());
    const theirs = responses((await dav(env, 'REPORT', shared, { user: boris, body: week, headers: { depth: '1' } })).xml());
    expect(own.has(`${anna.defaultCalendar}private.ics`)).toBe(true);
    expect(theirs.has(`${shared}private.ics`)).toBe(false);
    expect(theirs.has(`${shared}a.ics`)).toBe(true);
    await unshareCalendar(env.ctx, { userId: anna.row.id, via: 'rest' }, calId(), boris.row.id);
  });
});

describe("another process's writes are seen once its notification arrives", () => {
  it('an object changed and one deleted by plain SQL', async () => {
    const path = `${anna.defaultCalendar}c.ics`;
    expect((await dav(env, 'GET', path, { user: anna })).text).toContain('SUMMARY:Event c');
    await dav(env, 'PROPFIND', anna.defaultCalendar, { user: anna, body: PROPFIND, headers: { depth: '1' } });
    await afterNotifications(() => other.query(`update calendar_object set ical = replace(ical, 'SUMMARY:Event c', 'SUMMARY:Edited elsewhere'), etag = 'elsewhere-1' where calendar_id = $1 and name = 'c.ics'`, [calId()]));
    const get = await dav(env, 'GET', path, { user: anna });
    expect(get.text).toContain('SUMMARY:Edited elsewhere');
    expect(get.headers.get('etag')).toBe('"elsewhere-1"');
    const listed = responses((await dav(env, 'PROPFIND', anna.defaultCalendar, { user: anna, body: PROPFIND, headers: { depth: '1' } })).xml());
    expect(listed.get(path)!.props.get('getetag')!.text).toBe('"elsewhere-1"');
    await afterNotifications(() => other.query(`update calendar_object set deleted_at = now() where calendar_id = $1 and name = 'c.ics'`, [calId()]));
    expect((await dav(env, 'GET', path, { user: anna })).status).toBe(404);
    const after = responses((await dav(env, 'PROPFIND', anna.defaultCalendar, { user: anna, body: PROPFIND, headers: { depth: '1' } })).xml());
    expect(after.has(path)).toBe(false);
  });

  it("a change to one object leaves the calendar's other held objects in place", async () => {
    const a = `${anna.defaultCalendar}a.ics`;
    const b = `${anna.defaultCalendar}b.ics`;
    for (let i = 0; i < 2; i++) for (const p of [a, b]) await dav(env, 'GET', p, { user: anna });
    // The object and its calendar row (sync token): o: and c: announcements.
    await afterNotifications(() => other.query(`update calendar_object set etag = 'elsewhere-2' where calendar_id = $1 and name = 'b.ics'`, [calId()]), 2);
    expect((await dav(env, 'GET', b, { user: anna })).headers.get('etag')).toBe('"elsewhere-2"');
    await dav(env, 'GET', b, { user: anna });
    expect(await statements(() => dav(env, 'GET', a, { user: anna }))).toEqual([]);
  });

  it('keeps an object from its second read, not its first', async () => {
    const path = `${anna.defaultCalendar}a.ics`;
    await afterNotifications(() => other.query(`update calendar_object set etag = 'elsewhere-3' where calendar_id = $1 and name = 'a.ics'`, [calId()]), 2);
    for (let i = 0; i < 2; i++) expect((await statements(() => dav(env, 'GET', path, { user: anna }))).length).toBeGreaterThan(0);
    expect(await statements(() => dav(env, 'GET', path, { user: anna }))).toEqual([]);
  });

  it('an app password revoked, an account disabled, a share revoked', async () => {
    const carl = await davUser(env, 'carl@example.com');
    const dora = await davUser(env, 'dora@example.com');
    const path = `${carl.defaultCalendar}x.ics`;
    expect((await dav(env, 'PUT', path, { user: carl, body: vevent('x') })).status).toBe(201);
    expect((await dav(env, 'GET', path, { user: carl })).status).toBe(200);
    expect((await dav(env, 'GET', path, { user: carl })).status).toBe(200);
    await afterNotifications(() => other.query('update app_password set revoked_at = now() where owner_id = $1', [carl.row.id]));
    expect((await dav(env, 'GET', path, { user: carl })).status).toBe(401);

    expect((await dav(env, 'PROPFIND', dora.home, { user: dora, headers: { depth: '0' } })).status).toBe(207);
    await afterNotifications(() => other.query('update principal set disabled = true where id = $1', [dora.row.id]));
    expect((await dav(env, 'PROPFIND', dora.home, { user: dora, headers: { depth: '0' } })).status).toBe(401);

    await shareCalendar(env.ctx, { userId: anna.row.id, via: 'rest' }, calId(), { email: boris.email, access: 'read' });
    const shared = `${boris.home}${calId()}/`;
    const body = multiget([`${shared}a.ics`]);
    expect((await dav(env, 'GET', `${shared}a.ics`, { user: boris })).status).toBe(200);
    expect((await dav(env, 'REPORT', shared, { user: boris, body })).status).toBe(207);
    await afterNotifications(() => other.query('delete from calendar_share where calendar_id = $1 and grantee_id = $2', [calId(), boris.row.id]));
    expect((await dav(env, 'GET', `${shared}a.ics`, { user: boris })).status).toBe(404);
    expect((await dav(env, 'REPORT', shared, { user: boris, body })).status).toBe(404);
  });

  it('a sharee never gets a private event the owner has cached', async () => {
    await shareCalendar(env.ctx, { userId: anna.row.id, via: 'rest' }, calId(), { email: boris.email, access: 'read' });
    const own = `${anna.defaultCalendar}private.ics`;
    const shared = `${boris.home}${calId()}/private.ics`;
    for (let i = 0; i < 2; i++) expect((await dav(env, 'GET', own, { user: anna })).status).toBe(200);
    expect(state().cache.object(calId(), 'private.ics')).toBeDefined();
    expect((await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, body: multiget([own]) })).text).toContain('CLASS:PRIVATE');
    expect((await dav(env, 'GET', shared, { user: boris })).status).toBe(404);
    const m = responses((await dav(env, 'REPORT', `${boris.home}${calId()}/`, { user: boris, body: multiget([shared]) })).xml());
    expect(m.get(shared)!.status).toMatch(/404/);
    const listed = responses((await dav(env, 'PROPFIND', `${boris.home}${calId()}/`, { user: boris, body: PROPFIND, headers: { depth: '1' } })).xml());
    expect(listed.has(shared)).toBe(false);
    await unshareCalendar(env.ctx, { userId: anna.row.id, via: 'rest' }, calId(), boris.row.id);
  });
});

describe('write-through: what a PUT stored is kept', () => {
  /** The object as the database holds it (text, etag, Last-Modified). */
  const stored = async (cal: string, name: string) => (await other.query<{ ical: string; etag: string; updated_at: Date }>('select ical, etag, updated_at from calendar_object where calendar_id = $1 and name = $2 and deleted_at is null', [cal, name])).rows[0]!;

  /** The calendar's view (its row changed with the write: sync token) read again by a request that does not read the object. */
  const view = (u: DavUser, cal: string) => dav(env, 'PROPFIND', cal, { user: u, headers: { depth: '0' } });

  it('the GET after a PUT does not read the object, and answers as the database holds it', async () => {
    const path = `${anna.defaultCalendar}written.ics`;
    const put = await dav(env, 'PUT', path, { user: anna, body: vevent('written', { summary: 'Written through', extra: ['X-ODD:a&b<c>'] }) });
    expect(put.status).toBe(201);
    await view(anna, anna.defaultCalendar);
    let get!: Awaited<ReturnType<typeof dav>>;
    expect(await statements(async () => { get = await dav(env, 'GET', path, { user: anna }); })).toEqual([]);
    const db = await stored(calId(), 'written.ics');
    expect(get.text).toBe(db.ical);
    expect(get.headers.get('etag')).toBe(`"${db.etag}"`);
    expect(get.headers.get('etag')).toBe(put.headers.get('etag'));
    expect(get.headers.get('last-modified')).toBe(db.updated_at.toUTCString());
    expect(Number(get.headers.get('content-length'))).toBe(Buffer.byteLength(db.ical));
    // A multiget of it too (its calendar-data escaped as the database path escapes it).
    const m = await statements(async () => {
      const r = responses((await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, body: multiget([path]) })).xml());
      expect(r.get(path)!.props.get('calendar-data')!.text.replace(/\r\n/g, '\n')).toBe(db.ical.replace(/\r\n/g, '\n'));
    });
    expect(m).toEqual([]);
    // An overwrite is kept as well: the next GET has the new version, again without a statement.
    const again = await dav(env, 'PUT', path, { user: anna, body: vevent('written', { summary: 'Written twice' }) });
    expect(again.status).toBe(204);
    await view(anna, anna.defaultCalendar);
    expect(await statements(async () => { get = await dav(env, 'GET', path, { user: anna }); })).toEqual([]);
    expect(get.text).toContain('SUMMARY:Written twice');
    expect(get.headers.get('etag')).toBe(again.headers.get('etag'));
  });

  it("a change by another process after the PUT is seen once its notification arrives", async () => {
    const path = `${anna.defaultCalendar}written2.ics`;
    expect((await dav(env, 'PUT', path, { user: anna, body: vevent('written2') })).status).toBe(201);
    expect((await dav(env, 'GET', path, { user: anna })).text).toContain('SUMMARY:Test event');
    await afterNotifications(() => other.query(`update calendar_object set ical = replace(ical, 'SUMMARY:Test event', 'SUMMARY:After the PUT'), etag = 'elsewhere-w' where calendar_id = $1 and name = 'written2.ics'`, [calId()]), 2);
    const get = await dav(env, 'GET', path, { user: anna });
    expect(get.text).toContain('SUMMARY:After the PUT');
    expect(get.headers.get('etag')).toBe('"elsewhere-w"');
  });

  it('is never served to another user: no access, and a sharee does not get a private event', async () => {
    const priv = `${anna.defaultCalendar}written-private.ics`;
    const pub = `${anna.defaultCalendar}written-public.ics`;
    expect((await dav(env, 'PUT', priv, { user: anna, body: vevent('written-private', { extra: ['CLASS:PRIVATE'] }) })).status).toBe(201);
    expect((await dav(env, 'PUT', pub, { user: anna, body: vevent('written-public') })).status).toBe(201);
    expect(state().cache.object(calId(), 'written-private.ics')).toBeDefined();
    // Boris without a share: through his own home, and through Anna's URL.
    for (const p of [`${boris.home}${calId()}/written-public.ics`, pub, priv]) expect((await dav(env, 'GET', p, { user: boris })).status).toBe(404);
    const noShare = await dav(env, 'REPORT', `${boris.home}${calId()}/`, { user: boris, body: multiget([`${boris.home}${calId()}/written-public.ics`]) });
    expect(noShare.status).toBe(404);
    await shareCalendar(env.ctx, { userId: anna.row.id, via: 'rest' }, calId(), { email: boris.email, access: 'read' });
    const shared = `${boris.home}${calId()}/`;
    expect((await dav(env, 'GET', `${shared}written-public.ics`, { user: boris })).status).toBe(200);
    expect((await dav(env, 'GET', `${shared}written-private.ics`, { user: boris })).status).toBe(404);
    const m = responses((await dav(env, 'REPORT', shared, { user: boris, body: multiget([`${shared}written-private.ics`, `${shared}written-public.ics`]) })).xml());
    expect(m.get(`${shared}written-private.ics`)!.status).toMatch(/404/);
    expect(m.get(`${shared}written-public.ics`)!.props.get('calendar-data')!.text).toContain('UID:written-public');
    await unshareCalendar(env.ctx, { userId: anna.row.id, via: 'rest' }, calId(), boris.row.id);
    expect((await dav(env, 'GET', `${shared}written-public.ics`, { user: boris })).status).toBe(404);
  });

  it("a sharee's PUT into the owner's calendar is kept under the calendar, and seen by the owner", async () => {
    await shareCalendar(env.ctx, { userId: anna.row.id, via: 'rest' }, calId(), { email: boris.email, access: 'read-write' });
    const shared = `${boris.home}${calId()}/by-boris.ics`;
    expect((await dav(env, 'PUT', shared, { user: boris, body: vevent('by-boris', { summary: 'From Boris' }) })).status).toBe(201);
    await view(anna, anna.defaultCalendar);
    let get!: Awaited<ReturnType<typeof dav>>;
    expect(await statements(async () => { get = await dav(env, 'GET', `${anna.defaultCalendar}by-boris.ics`, { user: anna }); })).toEqual([]);
    expect(get.text).toBe((await stored(calId(), 'by-boris.ics')).ical);
    await unshareCalendar(env.ctx, { userId: anna.row.id, via: 'rest' }, calId(), boris.row.id);
  });
});

describe('REPORT before Fastify (fast-report.ts)', () => {
  const week = `<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20300107T000000Z" end="20300114T000000Z"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>`;
  /** A request that goes to the usual route (a Brief header the front handler leaves to it; "f" changes nothing). */
  const usual = { brief: 'f' };

  it('answers a calendar-multiget of held objects as the usual route does, without a statement', async () => {
    const names = ['fr-1.ics', 'fr-2.ics'];
    for (const n of names) expect((await dav(env, 'PUT', `${anna.defaultCalendar}${n}`, { user: anna, body: vevent(n, { extra: ['X-ODD:a&b<c>'] }) })).status).toBe(201);
    // Held objects, and hrefs outside the calendar (404 without a question).
    const hrefs = [...names.map((n) => `${anna.defaultCalendar}${n}`), `${anna.defaultCalendar}a.ics`, '/elsewhere/x.ics', `${anna.defaultCalendar}sub/x.ics`];
    const body = multiget(hrefs);
    const slow = await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, body, headers: usual });
    expect(slow.status).toBe(207);
    const before = { ...fastReportStats };
    let fast!: Awaited<ReturnType<typeof dav>>;
    await dav(env, 'GET', `${anna.defaultCalendar}a.ics`, { user: anna });
    await dav(env, 'GET', `${anna.defaultCalendar}a.ics`, { user: anna });
    expect(await statements(async () => { fast = await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, body }); })).toEqual([]);
    expect(fastReportStats.answered).toBe(before.answered + 1);
    expect(fast.status).toBe(207);
    expect(fast.text).toBe(slow.text);
    for (const h of ['content-type', 'content-length', 'dav']) expect(fast.headers.get(h)).toBe(slow.headers.get(h));
    expect(fast.headers.get('x-request-id')).toMatch(/^[\w.-]+$/);
    // Without the trailing slash, and with objects not held or missing (read with one statement): still here.
    const more = multiget([`${anna.defaultCalendar}b.ics`, `${anna.defaultCalendar}missing.ics`, ...hrefs]);
    const noSlash = await dav(env, 'REPORT', anna.defaultCalendar.slice(0, -1), { user: anna, body: more });
    expect(noSlash.status).toBe(207);
    expect(fastReportStats.answered).toBe(before.answered + 2);
    expect(noSlash.text).toBe((await dav(env, 'REPORT', anna.defaultCalendar.slice(0, -1), { user: anna, body: more, headers: usual })).text);
    expect(responses(noSlash.xml()).get(`${anna.defaultCalendar}missing.ics`)!.status).toMatch(/404/);
  });

  it('sends text beyond ASCII (and a control character XML cannot carry) as the usual route does', async () => {
    const n = 'fr-ru.ics';
    expect((await dav(env, 'PUT', `${anna.defaultCalendar}${n}`, { user: anna, body: vevent(n, { summary: 'Встреча — 会議 🗓' }) })).status).toBe(201);
    /** The front handler's answer to a multiget of these paths, checked to equal the usual route's. */
    const sameAsUsual = async (paths: string[]) => {
      const body = multiget(paths);
      const slow = await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, body, headers: usual });
      const before = fastReportStats.answered;
      const fast = await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, body });
      expect(fastReportStats.answered).toBe(before + 1);
      expect(fast.text).toBe(slow.text);
      expect(fast.headers.get('content-length')).toBe(slow.headers.get('content-length'));
      return fast.text;
    };
    expect(await sameAsUsual([`${anna.defaultCalendar}${n}`, `${anna.defaultCalendar}a.ics`])).toContain('Встреча — 会議 🗓');
    // A control character in a held object's text (written by another process, kept from two reads): U+FFFD, as the usual route writes it.
    const ctl = 'fr-ctl.ics';
    expect((await dav(env, 'PUT', `${anna.defaultCalendar}${ctl}`, { user: anna, body: vevent(ctl) })).status).toBe(201);
    await afterNotifications(() => other.query(`update calendar_object set ical = replace(ical, 'SUMMARY:', E'X-CTL:a\\x01b\\r\\nSUMMARY:') where calendar_id = $1 and name = $2`, [calId(), ctl]), 2);
    for (let i = 0; i < 2; i++) await dav(env, 'GET', `${anna.defaultCalendar}${ctl}`, { user: anna });
    expect(state().cache.object(calId(), ctl)?.ical).toContain('a\u0001b');
    expect(await sameAsUsual([`${anna.defaultCalendar}${ctl}`])).toContain('a\uFFFDb');
  });

  it('answers each set of properties (kept per object for the last set asked) as the usual route does', async () => {
    for (let i = 0; i < 2; i++) await dav(env, 'GET', `${anna.defaultCalendar}a.ics`, { user: anna });
    const hrefs = [`${anna.defaultCalendar}a.ics`, `${anna.defaultCalendar}fr-1.ics`];
    const sets = ['<D:getetag/>', '<D:getetag/><C:calendar-data/>', '<C:calendar-data/><D:getcontenttype/><D:getlastmodified/><D:getcontentlength/><D:resourcetype/><D:getetag/>', '<D:getetag/>',
      '<D:getetag/><C:calendar-data><C:comp name="VCALENDAR"><C:comp name="VEVENT"><C:prop name="SUMMARY"/></C:comp></C:comp></C:calendar-data>', '<D:getetag/><C:calendar-data/>'];
    for (const props of sets) {
      const body = `<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop>${props}</D:prop>${hrefs.map((h) => `<D:href>${h}</D:href>`).join('')}</C:calendar-multiget>`;
      const before = fastReportStats.answered;
      const fast = await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, body });
      expect(fastReportStats.answered).toBe(before + 1);
      expect(fast.text).toBe((await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, body, headers: usual })).text);
    }
  });

  it('hands any other REPORT, with its body, to the usual route', async () => {
    const before = { ...fastReportStats };
    const q = await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, body: week, headers: { depth: '1' } });
    expect(q.status).toBe(207);
    expect(q.text).toBe((await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, body: week, headers: { depth: '1', ...usual } })).text);
    const dead = `<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><D:displayname/></D:prop><D:href>${anna.defaultCalendar}a.ics</D:href></C:calendar-multiget>`;
    const m = await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, body: dead });
    expect(m.status).toBe(207);
    expect(responses(m.xml()).get(`${anna.defaultCalendar}a.ics`)!.props.get('getetag')).toBeDefined();
    const broken = await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, body: '<C:calendar-multiget xmlns:C="urn:ietf:params:xml:ns:caldav">' });
    expect(broken.status).toBe(400);
    // An entity declaration is refused, never expanded (the shared XML parser), here as on the usual route.
    const dtd = `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "${anna.defaultCalendar}a.ics">]><C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><D:href>&e;</D:href></C:calendar-multiget>`;
    const refused = await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, body: dtd });
    expect(refused.status).toBe(400);
    expect(refused.text).toContain('DOCTYPE');
    expect(fastReportStats.handedOver).toBe(before.handedOver + 4);
    expect(fastReportStats.answered).toBe(before.answered);
  });

  it('never answers another user: no access, a revoked share, a private event', async () => {
    const shared = `${boris.home}${calId()}/`;
    const body = multiget([`${shared}a.ics`, `${shared}private.ics`]);
    const before = { ...fastReportStats };
    for (let i = 0; i < 2; i++) expect((await dav(env, 'REPORT', shared, { user: boris, body })).status).toBe(404);
    // Anna's URL is not Boris's home.
    for (let i = 0; i < 2; i++) expect((await dav(env, 'REPORT', anna.defaultCalendar, { user: boris, body: multiget([`${anna.defaultCalendar}a.ics`]) })).status).toBe(404);
    expect(fastReportStats.answered).toBe(before.answered);
    await shareCalendar(env.ctx, { userId: anna.row.id, via: 'rest' }, calId(), { email: boris.email, access: 'read' });
    await dav(env, 'REPORT', shared, { user: boris, body });
    for (let i = 0; i < 2; i++) await dav(env, 'GET', `${anna.defaultCalendar}private.ics`, { user: anna });
    expect(state().cache.object(calId(), 'private.ics')).toBeDefined();
    const m = await dav(env, 'REPORT', shared, { user: boris, body });
    expect(fastReportStats.answered).toBe(before.answered + 1);
    const r = responses(m.xml());
    expect(r.get(`${shared}private.ics`)!.status).toMatch(/404/);
    expect(r.get(`${shared}a.ics`)!.props.get('calendar-data')!.text).toContain('BEGIN:VEVENT');
    expect(m.text).not.toContain('CLASS:PRIVATE');
    await unshareCalendar(env.ctx, { userId: anna.row.id, via: 'rest' }, calId(), boris.row.id);
    expect((await dav(env, 'REPORT', shared, { user: boris, body })).status).toBe(404);
    expect(fastReportStats.answered).toBe(before.answered + 1);
  });
});

describe('a lost LISTEN connection', () => {
  it('clears the cache, reads the database until reconnected, then caches again', async () => {
    const path = `${anna.defaultCalendar}a.ics`;
    await dav(env, 'GET', path, { user: anna });
    await dav(env, 'GET', path, { user: anna });
    const resets = state().feed.stats.resets;
    await other.query(`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and query = 'listen calendula_dav'`);
    await eventually(async () => !state().feed.live, 5_000, 'the feed to notice');
    expect(state().feed.stats.resets).toBeGreaterThan(resets);
    expect(state().cache.size.items).toBe(0);
    // Not live: a change by another process is seen at once (the database is read).
    await other.query(`update calendar_object set ical = replace(ical, 'SUMMARY:Event a', 'SUMMARY:While down') where calendar_id = $1 and name = 'a.ics'`, [calId()]);
    if (!state().feed.live) {
      const seen = await statements(async () => expect((await dav(env, 'GET', path, { user: anna })).text).toContain('SUMMARY:While down'));
      expect(seen.length).toBeGreaterThan(0);
    }
    await eventually(async () => state().feed.live, 10_000, 'the feed to reconnect');
    expect((await dav(env, 'GET', path, { user: anna })).text).toContain('SUMMARY:While down');
    await dav(env, 'GET', path, { user: anna });
    expect(await statements(() => dav(env, 'GET', path, { user: anna }))).toEqual([]);
  });
});

describe('DavReadCache', () => {
  /** Put twice: the doorkeeper keeps an object from its second read. */
  const keep = (c: DavReadCache, cal: string, o: Parameters<DavReadCache['putObject']>[1], s = c.stamp()) => (c.putObject(cal, o, s), c.putObject(cal, o, s));
  const obj = (name: string, size: number) => ({ id: name, name, etag: `e-${name}`, schedule_tag: 's', role: 'none' as const, component: 'VEVENT' as const, updated_at: new Date(0), class: null, size, ical: 'x'.repeat(size) });

  it('is bounded by bytes, least recently used first', () => {
    const c = new DavReadCache(100_000);
    expect(c.putObject('cal', obj('once', 10), c.stamp())).toBeUndefined();
    expect(c.object('cal', 'once')).toBeUndefined();
    for (let i = 0; i < 200; i++) keep(c, 'cal', obj(`o${i}`, 1_000));
    expect(c.size.bytes).toBeLessThanOrEqual(100_000);
    expect(c.object('cal', 'o199')).toBeDefined();
    expect(c.object('cal', 'o0')).toBeUndefined();
  });

  it('does not keep what a read returned when its calendar changed while the read was in flight', () => {
    const c = new DavReadCache(1_000_000);
    const s = c.stamp();
    c.change('o:cal/late');
    expect(keep(c, 'cal', obj('late', 10), s)).toBeUndefined();
    expect(c.object('cal', 'late')).toBeUndefined();
    for (const payload of ['o:cal/ok', 'C:cal', '*']) {
      keep(c, 'cal', obj('ok', 10));
      keep(c, 'cal', obj('kept', 10));
      expect(c.object('cal', 'ok')).toBeDefined();
      // Another object, another calendar, the calendar row: the object stays.
      for (const other of ['o:cal/other', 'o:cal2/ok', 'c:cal', 'C:cal2']) c.change(other);
      expect(c.object('cal', 'ok')).toBeDefined();
      c.change(payload);
      expect(c.object('cal', 'ok')).toBeUndefined();
      expect(c.object('cal', 'kept') === undefined).toBe(payload !== 'o:cal/ok');
    }
  });

  it('drops a calendar view when the user, the owner or the calendar changes, and everything on reset', () => {
    const c = new DavReadCache(1_000_000);
    const view = { id: 'cal', owner_id: 'owner', access: 'read', ownerEmail: 'o@example.com' } as never;
    for (const payload of ['u:user', 'u:owner', 'c:cal', '*']) {
      c.putCalendar('user', 'cal', view, c.stamp());
      expect(c.calendar('user', 'cal')).toBe(view);
      c.change(payload);
      expect(c.calendar('user', 'cal')).toBeUndefined();
    }
    c.putCalendar('user', 'cal', null, c.stamp());
    expect(c.calendar('user', 'cal')).toBeNull();
  });

  it("keeps a write's row until the announcement after its own", () => {
    const row = (name: string, etag = 'w') => ({ ...obj(name, 10), etag, calendar_id: 'cal' });
    // Its own announcement not yet arrived: the first one is taken as its own, the next ends it.
    let c = new DavReadCache(1_000_000);
    let w = c.beginWrite('cal', 'a')!;
    c.endWrite(w, row('a'));
    expect(c.object('cal', 'a')?.etag).toBe('w');
    c.change('o:cal/a');
    expect(c.object('cal', 'a')?.etag).toBe('w');
    c.change('o:cal/a');
    expect(c.object('cal', 'a')).toBeUndefined();
    // Arrived before the write ended: kept from it on.
    w = c.beginWrite('cal', 'b')!;
    c.change('o:cal/b');
    c.endWrite(w, row('b'));
    expect(c.object('cal', 'b')).toBeDefined();
    c.change('o:cal/b');
    expect(c.object('cal', 'b')).toBeUndefined();
    // Two arrived (another write's and ours, in an unknown order): not kept.
    w = c.beginWrite('cal', 'c')!;
    c.change('o:cal/c');
    c.change('o:cal/c');
    c.endWrite(w, row('c'));
    expect(c.object('cal', 'c')).toBeUndefined();
    // A reset in between, a failed write, another name than begun: not kept.
    w = c.beginWrite('cal', 'd')!;
    c.change('*');
    c.endWrite(w, row('d'));
    expect(c.object('cal', 'd')).toBeUndefined();
    w = c.beginWrite('cal', 'e')!;
    c.endWrite(w);
    expect(c.object('cal', 'e')).toBeUndefined();
    w = c.beginWrite('cal', 'f')!;
    c.endWrite(w, row('g'));
    expect(c.object('cal', 'g')).toBeUndefined();
    // Every object of the calendar announced (C:) after the write: ended.
    c = new DavReadCache(1_000_000);
    w = c.beginWrite('cal', 'h')!;
    c.endWrite(w, row('h'));
    c.change('C:cal');
    expect(c.object('cal', 'h')).toBeUndefined();
    // Two writes of one object in flight at once: each counts both announcements, neither is kept.
    const w1 = c.beginWrite('cal', 'i')!;
    const w2 = c.beginWrite('cal', 'i')!;
    c.change('o:cal/i');
    c.endWrite(w1, row('i', '1'));
    c.change('o:cal/i');
    c.endWrite(w2, row('i', '2'));
    expect(c.object('cal', 'i')).toBeUndefined();
  });

  it('counts a statement as a write unless it only reads', () => {
    for (const s of ['select 1', ' SELECT * from x for update', 'with l as materialized (select 1) select * from l', 'begin', 'rollback', 'show x', '/*prepared:x*/ select 1']) expect(mayCommitWrite(s)).toBe(false);
    for (const s of ['insert into x values (1)', 'update x set a = 1', 'delete from x', 'commit', 'with d as (delete from x returning 1) select 1', 'truncate x', 'call p()']) expect(mayCommitWrite(s)).toBe(true);
  });
});
