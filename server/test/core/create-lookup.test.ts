/**
 * The owner's second create into a calendar runs from what the first read of the calendar and the
 * attendees' addresses (app/events/create-lookup.ts): one statement, which checks the calendar's
 * and the addresses' fingerprints and writes nothing when either changed. Every change below is
 * made with SQL, as another process would make it (nothing in this process is told), and the next
 * create must see it.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createTestEnv, makeUser, recordStatements, type TestEnv } from '../support/harness.js';
import { ev, user, type TestUser } from './_helpers.js';
import { clearLookups } from '../../src/app/events/create-lookup.js';

let env: TestEnv;
let anna: TestUser;
let bob: TestUser;

/** The stored text, unfolded (RFC 5545 §3.1). */
const icalOf = async (id: string) => (await env.ctx.db.selectFrom('calendar_object').select('ical').where('id', '=', id).executeTakeFirstOrThrow()).ical.replace(/\r\n[ \t]/g, '');
const writes = (seen: string[]) => seen.filter((s) => /insert into calendar_object/i.test(s)).length;
const meeting = (summary: string, attendees: string[], extra: Record<string, unknown> = {}) =>
  ev(summary, '2036-03-02T10:00:00', '2036-03-02T11:00:00', { attendees: attendees.map((email) => ({ email })), ...extra });

const create = (u: TestUser, event: Record<string, unknown>, calendarId = u.cal) => u.api.post('/events', { calendarId, event });

/** Creates through REST and returns the new event with the statements it ran. */
async function created(u: TestUser, event: Record<string, unknown>, calendarId = u.cal) {
  const { seen, result } = await recordStatements(() => create(u, event, calendarId));
  expect(result.statusCode, result.body).toBe(201);
  return { id: result.json().id as string, seen };
}

beforeAll(async () => {
  env = await createTestEnv({ mailDomains: ['example.com'], dataDir: `/tmp/calendula-test-createlookup-${process.pid}` });
  anna = await user(env, 'anna@example.com', 'Anna');
  bob = await user(env, 'bob@example.com', 'Bob');
});
afterAll(async () => env.close());
beforeEach(() => clearLookups(env.ctx));

describe('create from a held lookup', () => {
  it('the second create does not read the calendar and addresses before it writes (the first does)', async () => {
    const first = await created(anna, meeting('One', ['bob@example.com', 'out@partner.org']));
    const second = await created(anna, meeting('Two', ['bob@example.com', 'out@partner.org']));
    expect(first.seen.filter((s) => /calendar_and_addresses/.test(s))).toHaveLength(1);
    expect(second.seen.filter((s) => /calendar_and_addresses/.test(s))).toHaveLength(0);
    expect(writes(second.seen)).toBe(1);
    // Everything else the same (the planner's check of the outside address; the session and the
    // principal reads depend on a short-lived cache and are left out).
    const rest = (seen: string[]) => seen.filter((x) => !/from "(session|principal)" where "id" = \$1/.test(x));
    expect(rest(second.seen)).toHaveLength(rest(first.seen).length - 1);
    // Stored the same way: Bob an internal attendee, the outsider external.
    const text = await icalOf(second.id);
    expect(text).toMatch(/ATTENDEE[^\r\n]*CN=Bob[^\r\n]*:mailto:bob@example\.com/);
    expect(text).toContain('mailto:out@partner.org');
  });

  it('a principal created for an address held as unknown is an internal attendee at the next create', async () => {
    await created(anna, meeting('Before', ['carol@partner.org']));
    const carol = await makeUser(env.ctx, 'carol@partner.org', { name: 'Carol Known' });
    const after = await created(anna, meeting('After', ['carol@partner.org']));
    expect(await icalOf(after.id)).toMatch(/CN=Carol Known/);
    // The held attempt wrote nothing; the create read again and wrote once.
    expect(writes(after.seen)).toBe(2);
    expect(after.seen.filter((s) => /calendar_and_addresses/.test(s))).toHaveLength(1);
    const objs = await env.ctx.db.selectFrom('calendar_object').select('id').where('owner_id', '=', anna.id).where('summary', '=', 'After').execute();
    expect(objs).toHaveLength(1);
    expect(carol.id).toBeTruthy();
  });

  it('a renamed attendee and a calendar zone changed elsewhere are seen at the next create', async () => {
    await created(anna, meeting('Named', ['bob@example.com'], { timezone: undefined }));
    await sql`update principal set name = 'Robert' where id = ${bob.id}`.execute(env.ctx.db);
    await sql`update calendar set timezone = 'Asia/Tokyo' where id = ${anna.cal}`.execute(env.ctx.db);
    const next = await created(anna, meeting('Renamed', ['bob@example.com'], { timezone: undefined }));
    const text = await icalOf(next.id);
    expect(text).toMatch(/CN=Robert/);
    expect(text).toMatch(/DTSTART;TZID=Asia\/Tokyo:20360302T100000/);
    await sql`update calendar set timezone = null where id = ${anna.cal}`.execute(env.ctx.db);
  });

  it('an alias added for a held outside address makes it its principal', async () => {
    await created(anna, meeting('Outside', ['bobby@example.org']));
    await sql`insert into principal_alias (email, principal_id) values ('bobby@example.org', ${bob.id})`.execute(env.ctx.db);
    const next = await created(anna, meeting('Alias', ['bobby@example.org']));
    const text = await icalOf(next.id);
    expect(text).toMatch(/CN=Bob|CN=Robert/);
  });

  it('an internal address refused as unknown is accepted once it is a group, and expanded', async () => {
    const refused = await create(anna, meeting('Team early', ['team@example.com']));
    expect(refused.statusCode).toBe(422);
    expect(refused.body).toContain('UNKNOWN_ADDRESS');
    const team = await makeUser(env.ctx, 'team@example.com', { kind: 'group', name: 'Team' });
    await sql`insert into group_member (group_id, member_id) values (${team.id}, ${bob.id})`.execute(env.ctx.db);
    const next = await created(anna, meeting('Team later', ['team@example.com']));
    expect(await icalOf(next.id)).toContain('mailto:bob@example.com');
  });

  it('a calendar deleted elsewhere is not written into', async () => {
    const cal = (await anna.api.post('/calendars', { name: 'Doomed' })).json().id as string;
    await created(anna, meeting('In doomed', ['dev@partner.org']), cal);
    await sql`delete from calendar_object where calendar_id = ${cal}`.execute(env.ctx.db);
    await sql`delete from calendar where id = ${cal}`.execute(env.ctx.db);
    const r = await create(anna, meeting('Into nothing', ['dev@partner.org']), cal);
    expect(r.statusCode).toBe(404);
    expect(await env.ctx.db.selectFrom('calendar_object').select('id').where('summary', '=', 'Into nothing').execute()).toHaveLength(0);
  });

  it("a stranger's create into a calendar the owner's create held is refused, and nothing is written", async () => {
    await created(anna, meeting('Held for Anna', ['bob@example.com']));
    const carl = await user(env, 'carl@example.com', 'Carl');
    const r = await create(carl, ev('Intruder', '2036-03-04T10:00:00', '2036-03-04T11:00:00', { attendees: [{ email: 'bob@example.com' }] }), anna.cal);
    expect(r.statusCode).toBe(404);
    expect(await env.ctx.db.selectFrom('calendar_object').select('id').where('summary', '=', 'Intruder').execute()).toHaveLength(0);
  });

  it("a sharee never writes from what the owner's create held; a revoked share refuses at once", async () => {
    await created(anna, meeting('Owner first', ['bob@example.com']));
    const share = await anna.api.put(`/calendars/${anna.cal}/shares`, { email: 'bob@example.com', access: 'read-write' });
    expect(share.statusCode, share.body).toBeLessThan(300);
    const viaShare = await created(bob, ev('Bob writes', '2036-03-03T10:00:00', '2036-03-03T11:00:00', { attendees: [{ email: 'anna@example.com' }] }), anna.cal);
    expect(viaShare.seen.filter((s) => /calendar_and_addresses/.test(s))).toHaveLength(1);
    await sql`delete from calendar_share where calendar_id = ${anna.cal}`.execute(env.ctx.db);
    const refused = await create(bob, ev('Bob again', '2036-03-03T12:00:00', '2036-03-03T13:00:00', { attendees: [{ email: 'anna@example.com' }] }), anna.cal);
    expect([403, 404]).toContain(refused.statusCode);
  });
});
