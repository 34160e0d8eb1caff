// calendar-multiget with a remembered credential: the named members are read in the request's one
// lookup statement (store/dav-lookup.ts membersStatement). The answer must be byte for byte the one
// the separate read gives (a fresh sign-in takes that path), and access must hold exactly as there:
// other calendars' and other users' hrefs 404, a sharee never sees private events, a free-busy
// grant gets no data, a revoked password or share takes effect at the next request.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAppPassword, revokeAppPassword } from '../../src/app/accounts.js';
import { shareCalendar, unshareCalendar } from '../../src/app/calendars.js';
import { forgetDavCredentials } from '../../src/http/dav/auth.js';
import { calendarIdFor } from '../../src/http/dav/paths.js';
import { davLookup, MEMBER_OFFSET } from '../../src/store/dav-lookup.js';
import { recordStatements } from '../support/harness.js';
import { createDavEnv, dav, davUser, responses, vevent, type DavTestEnv, type DavUser } from './support.js';

let env: DavTestEnv;
let anna: DavUser;
let boris: DavUser;
let second: string;
const calId = () => anna.defaultCalendar.split('/')[4]!;
const secondId = () => calendarIdFor(anna.row.id, 'second');
const MKCAL = '<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"/>';
const ALL = '<D:getetag/><D:getcontenttype/><D:getcontentlength/><D:getlastmodified/><D:resourcetype/><C:calendar-data/>';
const multiget = (props: string, hrefs: string[]) =>
  `<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop>${props}</D:prop>${hrefs.map((h) => `<D:href>${h}</D:href>`).join('')}</C:calendar-multiget>`;

/** The same REPORT twice: first with a fresh sign-in (separate member read), then remembered (read with the lookup). */
async function freshThenRemembered(user: { auth: string }, path: string, body: string, headers: Record<string, string> = { depth: '1' }) {
  forgetDavCredentials();
  const fresh = await dav(env, 'REPORT', path, { auth: user.auth, headers, body });
  const { seen, result: remembered } = await recordStatements(() => dav(env, 'REPORT', path, { auth: user.auth, headers, body }));
  return { fresh, remembered, seen };
}

beforeAll(async () => {
  // The read cache off: this file pins the path that reads the database (read-cache.test.ts the other).
  env = await createDavEnv({ authCacheMs: 600_000, davCacheMb: 0 });
  anna = await davUser(env, 'anna@example.com');
  boris = await davUser(env, 'boris@example.com');
  second = `${anna.home}second/`;
  expect((await dav(env, 'MKCALENDAR', second, { user: anna, body: MKCAL })).status).toBe(201);
  const put = async (u: DavUser, path: string, body: string) => expect((await dav(env, 'PUT', path, { user: u, body })).status).toBe(201);
  await put(anna, `${anna.defaultCalendar}a.ics`, vevent('a', { summary: 'Tom & Jerry <3> ]]>' }));
  await put(anna, `${anna.defaultCalendar}Café meeting.ics`, vevent('cafe', { summary: 'Café' }));
  await put(anna, `${anna.defaultCalendar}private.ics`, vevent('p', { extra: ['CLASS:PRIVATE'] }));
  await put(anna, `${second}a.ics`, vevent('second-a'));
  await put(anna, `${second}other.ics`, vevent('other'));
  await put(boris, `${boris.defaultCalendar}a.ics`, vevent('boris-a'));
  await shareCalendar(env.ctx, { userId: anna.row.id, via: 'rest' }, calId(), { email: boris.email, access: 'read' });
  await shareCalendar(env.ctx, { userId: anna.row.id, via: 'rest' }, secondId(), { email: boris.email, access: 'freebusy' });
});
afterAll(async () => env?.close());
beforeEach(() => forgetDavCredentials());

describe('calendar-multiget read with the request lookup', () => {
  it('sends one statement and answers byte for byte as the separate read does', async () => {
    const cal = anna.defaultCalendar;
    const hrefs = [
      `${cal}a.ics`, `${cal}Caf%C3%A9%20meeting.ics`, `${cal}missing.ics`, `${cal}private.ics`, `${second}a.ics`, `${second}other.ics`,
      `${boris.defaultCalendar}a.ics`, `${cal}a.ics`, 'http://[bad', cal, `${cal}sub/a.ics`,
      // Anna's calendar id under Boris's home, and under a made-up collection with the calendar's URL segment.
      `${boris.home}${calId()}/a.ics`, `/dav/elsewhere/${calId()}/a.ics`,
    ];
    for (const props of [ALL, '<D:getetag/>', '<D:getetag/><C:calendar-data/>', '<C:calendar-data/><D:getcontentlength/>']) {
      const { fresh, remembered, seen } = await freshThenRemembered(anna, cal, multiget(props, hrefs));
      expect(fresh.status).toBe(207);
      expect(remembered.status).toBe(207);
      expect(remembered.text).toBe(fresh.text);
      // One statement: the lookup with the members (not the lookup, then the members).
      expect(seen).toHaveLength(1);
      expect(seen[0]).toContain('calendar_object ob on ob.owner_id = l.l_owner_id');
    }
    const { remembered } = await freshThenRemembered(anna, cal, multiget(ALL, hrefs));
    const all = responses(remembered.xml());
    expect(all.get(`${cal}a.ics`)!.props.get('calendar-data')!.text).toContain('UID:a\n');
    expect(all.get(`${cal}private.ics`)!.props.get('calendar-data')!.text).toContain('CLASS:PRIVATE');
    expect(all.get(`${cal}Café meeting.ics`)!.props.get('calendar-data')!.text).toContain('UID:cafe');
    // Names this calendar also holds, addressed in another calendar or another home: 404, not this calendar's data.
    for (const h of [`${cal}missing.ics`, `${second}a.ics`, `${second}other.ics`, `${boris.defaultCalendar}a.ics`, 'http://[bad', cal, `${cal}sub/a.ics`, `${boris.home}${calId()}/a.ics`, `/dav/elsewhere/${calId()}/a.ics`]) {
      expect(all.get(decodeURIComponent(h))!.status, h).toMatch(/ 404 /);
    }
    expect(remembered.text).not.toContain('UID:second-a');
    expect(remembered.text).not.toContain('UID:boris-a');
  });

  it('a sharee gets the shared events only, never the private one; a free-busy grant gets no data', async () => {
    const shared = `${boris.home}${calId()}/`;
    const hrefs = [`${shared}a.ics`, `${shared}private.ics`, `${anna.defaultCalendar}a.ics`, `${shared}missing.ics`];
    const { fresh, remembered, seen } = await freshThenRemembered(boris, shared, multiget('<D:getetag/><C:calendar-data/>', hrefs));
    expect(remembered.status).toBe(207);
    expect(remembered.text).toBe(fresh.text);
    expect(seen).toHaveLength(1);
    const all = responses(remembered.xml());
    expect(all.get(`${shared}a.ics`)!.props.get('calendar-data')!.text).toContain('UID:a\n');
    for (const h of hrefs.slice(1)) expect(all.get(h)!.status, h).toMatch(/ 404 /);
    expect(remembered.text).not.toContain('CLASS:PRIVATE');

    const fb = `${boris.home}${secondId()}/`;
    const r = await freshThenRemembered(boris, fb, multiget('<D:getetag/><C:calendar-data/>', [`${fb}a.ics`, `${fb}other.ics`]));
    expect(r.fresh.status).toBe(403);
    expect(r.remembered.status).toBe(403);
    expect(r.remembered.text).not.toContain('UID:');
    // Boris cannot reach Anna's calendar by Anna's own URL either.
    const own = await freshThenRemembered(boris, anna.defaultCalendar, multiget('<D:getetag/><C:calendar-data/>', [`${anna.defaultCalendar}a.ics`]));
    expect(own.remembered.status).toBe(404);
    expect(own.remembered.text).not.toContain('UID:');
  });

  it('a revoked app password or share takes effect at the next remembered multiget', async () => {
    const ap = await createAppPassword(env.ctx, { userId: boris.row.id, email: boris.email, via: 'rest' }, 'tablet');
    const auth = `Basic ${Buffer.from(`${boris.email}:${ap.password}`).toString('base64')}`;
    const shared = `${boris.home}${calId()}/`;
    const body = multiget('<D:getetag/><C:calendar-data/>', [`${shared}a.ics`]);
    expect((await dav(env, 'REPORT', shared, { auth, body })).status).toBe(207);
    expect((await dav(env, 'REPORT', shared, { auth, body })).text).toContain('UID:a\r\n'); // remembered now
    await revokeAppPassword(env.ctx, { userId: boris.row.id, email: boris.email, via: 'rest' }, ap.id);
    const refused = await dav(env, 'REPORT', shared, { auth, body });
    expect(refused.status).toBe(401);
    expect(refused.text).not.toContain('UID:');
    expect((await dav(env, 'REPORT', shared, { user: boris, body })).status).toBe(207);
    expect((await dav(env, 'REPORT', shared, { user: boris, body })).status).toBe(207);
    await unshareCalendar(env.ctx, { userId: anna.row.id, via: 'rest' }, calId(), boris.row.id);
    try {
      const gone = await dav(env, 'REPORT', shared, { user: boris, body });
      expect(gone.status).toBe(404);
      expect(gone.text).not.toContain('UID:');
    } finally {
      await shareCalendar(env.ctx, { userId: anna.row.id, via: 'rest' }, calId(), { email: boris.email, access: 'read' });
    }
  });

  it('a body the report parser refuses still gets its 400 after sign-in (and a 401 before it)', async () => {
    const bad = '<C:calendar-multiget xmlns:C="urn:ietf:params:xml:ns:caldav"><D:href>x</D:href></C:calendar-multiget>';
    const { fresh, remembered } = await freshThenRemembered(anna, anna.defaultCalendar, bad);
    expect([fresh.status, remembered.status]).toEqual([400, 400]);
    expect(remembered.text).toBe(fresh.text);
    expect((await dav(env, 'REPORT', anna.defaultCalendar, { auth: `Basic ${Buffer.from(`${anna.email}:wrong`).toString('base64')}`, body: bad })).status).toBe(401);
  });

  it('davLookup returns members only from a calendar the user may read', async () => {
    const cols = { text: true };
    const names = ['a.ics', 'private.ics', 'other.ics'];
    const own = await davLookup(env.ctx.pool, { userId: anna.row.id, calendarId: calId(), members: { names, cols } });
    expect(own.members!.map((r) => r[MEMBER_OFFSET]).sort()).toEqual(['a.ics', 'private.ics']);
    const sharee = await davLookup(env.ctx.pool, { userId: boris.row.id, calendarId: calId(), members: { names, cols } });
    expect(sharee.members!.map((r) => r[MEMBER_OFFSET])).toEqual(['a.ics']);
    expect(sharee.principal!.id).toBe(boris.row.id);
    const fb = await davLookup(env.ctx.pool, { userId: boris.row.id, calendarId: secondId(), members: { names, cols } });
    expect(fb.calendar?.access).toBe('freebusy');
    expect(fb.members).toEqual([]);
    const stranger = await davUser(env, 'carl@example.com');
    const none = await davLookup(env.ctx.pool, { userId: stranger.row.id, calendarId: calId(), members: { names, cols } });
    expect(none.calendar).toBeUndefined();
    expect(none.members).toBeUndefined();
    expect(none.principal!.id).toBe(stranger.row.id);
  });
});
