// PUT /events/:id with text/calendar: replace an event by a whole iCalendar text — the way the
// web UI undoes deleting "this and following" occurrences (overrides included), with every rule
// of a write: If-Match, attendee rules, cross-user access, invalid text.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, eventually, startTestWorker, type TestEnv } from '../support/harness.js';
import { create, ev, occurrences, user, type TestUser } from './_helpers.js';

let env: TestEnv;
let worker: { stop(): Promise<void> };
let anna: TestUser;
let boris: TestUser;
let eve: TestUser;

beforeAll(async () => {
  env = await createTestEnv({ mailDomains: ['example.com'], dataDir: `/tmp/calendula-test-replace-${process.pid}` });
  anna = await user(env, 'anna@example.com', 'Anna');
  boris = await user(env, 'boris@example.com', 'Boris');
  eve = await user(env, 'eve@example.com', 'Eve');
  worker = await startTestWorker(env);
});
afterAll(async () => {
  await worker.stop();
  await env.close();
});

const putText = (u: TestUser, id: string, text: string, headers: Record<string, string> = {}) =>
  env.app.inject({ method: 'PUT', url: `/api/v1/events/${id}`, headers: { ...u.h, 'content-type': 'text/calendar', ...headers }, payload: text });
const textOf = async (u: TestUser, id: string) => (await u.api.get(`/events/${id}`, { accept: 'text/calendar' })).body;
const copyOf = (u: TestUser, uid: string) => env.ctx.db.selectFrom('calendar_object').selectAll().where('owner_id', '=', u.id).where('uid', '=', uid).where('deleted_at', 'is', null).executeTakeFirst();

describe('replace an event by its iCalendar text', () => {
  it('undoes a "this and following" deletion: the series and its moved occurrence come back, for attendees too', async () => {
    const e = await create(anna, ev('Weekly', '2034-05-01T09:00:00', '2034-05-01T10:00:00', { rrule: 'FREQ=WEEKLY;COUNT=6', attendees: [{ email: boris.email }] }));
    await eventually(() => copyOf(boris, e.uid), 10_000, 'boris copy');
    const occ = (await occurrences(anna, '2034-04-30T00:00:00Z', '2034-06-12T00:00:00Z')).filter((o) => o.id === e.id);
    expect(occ).toHaveLength(6);
    // Move the 5th occurrence, then delete from the 3rd on.
    expect((await anna.api.patch(`/events/${e.id}`, { event: { summary: 'Moved one', start: '2034-05-29T15:00:00', end: '2034-05-29T16:00:00' }, scope: 'this', recurrenceId: occ[4].recurrenceId })).statusCode).toBe(200);
    const before = await textOf(anna, e.id);
    expect((await anna.api.del(`/events/${e.id}?scope=following&recurrenceId=${encodeURIComponent(occ[2].recurrenceId)}`)).statusCode).toBe(204);
    expect((await occurrences(anna, '2034-04-30T00:00:00Z', '2034-06-12T00:00:00Z')).filter((o) => o.id === e.id)).toHaveLength(2);
    // Undo: the text read before goes back.
    const r = await putText(anna, e.id, before);
    expect(r.statusCode, r.body).toBe(200);
    expect(r.headers.etag).toBe(`"${r.json().etag}"`);
    const back = (await occurrences(anna, '2034-04-30T00:00:00Z', '2034-06-12T00:00:00Z')).filter((o) => o.id === e.id);
    expect(back.map((o) => o.summary)).toEqual(['Weekly', 'Weekly', 'Weekly', 'Weekly', 'Moved one', 'Weekly']);
    // Its SEQUENCE went above the deletion's, so Boris's copy takes it.
    await eventually(async () => {
      const c = await copyOf(boris, e.uid);
      return c && /SUMMARY:Moved one/.test(c.ical) && !/UNTIL=/.test(c.ical) ? c : null;
    }, 10_000, "boris's copy restored");
  });

  it('a stale If-Match is refused with who changed it; the UID cannot change; bad text is a 400', async () => {
    const e = await create(anna, ev('Edited', '2034-07-01T09:00:00', '2034-07-01T10:00:00'));
    const text = await textOf(anna, e.id);
    expect((await anna.api.patch(`/events/${e.id}`, { event: { summary: 'Edited again' } })).statusCode).toBe(200);
    const stale = await putText(anna, e.id, text, { 'if-match': `"${e.etag}"` });
    expect(stale.statusCode).toBe(412);
    expect(stale.json()).toMatchObject({ error: 'ETAG_MISMATCH', details: { changedBy: 'Anna' } });
    expect((await putText(anna, e.id, text.replace(/UID:[^\r\n]+/, 'UID:another-uid'))).json().error).toBe('UID_CONFLICT');
    expect((await putText(anna, e.id, 'not a calendar')).statusCode).toBe(400);
    expect((await putText(anna, e.id, 'BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:garbage\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n')).statusCode).toBe(400);
    expect((await anna.api.get(`/events/${e.id}`)).json().event.summary).toBe('Edited again');
  });

  it('someone else cannot replace it; an attendee can change only their own answer', async () => {
    const e = await create(anna, ev('Private matter', '2034-08-01T09:00:00', '2034-08-01T10:00:00', { attendees: [{ email: boris.email }] }));
    const text = await textOf(anna, e.id);
    expect((await putText(eve, e.id, text)).statusCode).toBe(404);
    const copy = await eventually(() => copyOf(boris, e.uid), 10_000, 'boris copy');
    const moved = copy.ical.replace(/DTSTART[^\r\n]*/, 'DTSTART:20340801T120000Z').replace(/DTEND[^\r\n]*/, 'DTEND:20340801T130000Z');
    const refused = await putText(boris, copy.id, moved);
    expect(refused.statusCode).toBe(403);
    expect(refused.json().details.precondition).toBe('allowed-attendee-object-change');
  });
});
