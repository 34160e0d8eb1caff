// The audit trail: every event command records who acted, through which entry point and on what.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, type TestEnv } from '../support/harness.js';
import { ev, user, type TestUser } from './_helpers.js';

let env: TestEnv;
let anna: TestUser;
let boris: TestUser;

beforeAll(async () => {
  env = await createTestEnv({ mailDomains: ['example.com'] });
  anna = await user(env, 'anna@example.com', 'Anna');
  boris = await user(env, 'boris@example.com', 'Boris');
});
afterAll(() => env.close());

const trail = async (target: string) => (await env.ctx.db.selectFrom('audit_log').select(['action', 'actor_id', 'via', 'owner_id', 'details']).where('target', '=', target).orderBy('id').execute())
  .map((r) => ({ ...r, details: typeof r.details === 'string' ? JSON.parse(r.details) : r.details }));

describe('audit trail', () => {
  it('create (both write paths), update, move, duplicate, delete, restore: who, via which entry point (a signed-in session is "web"), what', async () => {
    // The one-statement create (a plain timed event) and the general one (a series): one row each.
    const plain = (await anna.api.post('/events', { calendarId: anna.cal, event: ev('Plain', '2034-01-02T10:00:00', '2034-01-02T11:00:00', { attendees: [{ email: 'boris@example.com' }] }) })).json();
    const allDay = (await anna.api.post('/events', { calendarId: anna.cal, event: { summary: 'All day', start: '2034-01-03', end: '2034-01-04', allDay: true, rrule: 'FREQ=DAILY;COUNT=3' } })).json();
    for (const e of [plain, allDay]) expect(await trail(e.id)).toEqual([expect.objectContaining({ action: 'event.create', actor_id: anna.id, via: 'web', owner_id: anna.id, details: { uid: e.uid } })]);
    expect((await anna.api.patch(`/events/${plain.id}`, { event: { summary: 'Renamed' } })).statusCode).toBe(200);
    const other = (await anna.api.post('/calendars', { name: 'Other' })).json().id;
    expect((await anna.api.post(`/events/${plain.id}/move`, { calendarId: other })).statusCode).toBe(200);
    const dup = await anna.api.post(`/events/${plain.id}/duplicate`, {});
    expect(dup.statusCode).toBe(201);
    expect((await anna.api.del(`/events/${allDay.id}?scope=this&recurrenceId=20340104`)).statusCode).toBe(204);
    expect((await anna.api.del(`/events/${plain.id}`)).statusCode).toBe(204);
    expect((await anna.api.post(`/events/${plain.id}/restore`)).statusCode).toBe(200);
    const actions = (await trail(plain.id)).map((r) => r.action);
    expect(actions).toEqual(['event.create', 'event.update', 'event.move', 'event.delete', 'event.restore']);
    expect((await trail(plain.id)).find((r) => r.action === 'event.update')!.details).toMatchObject({ fields: ['summary'] });
    expect((await trail(plain.id)).find((r) => r.action === 'event.move')!.details).toMatchObject({ calendarId: other });
    expect((await trail(dup.json().id)).map((r) => [r.action, r.details.source])).toEqual([['event.duplicate', plain.id]]);
    expect((await trail(allDay.id)).map((r) => [r.action, r.details.scope ?? null])).toEqual([['event.create', null], ['event.delete', 'this']]);
    // Boris's answer is his own entry, on his copy; nothing of Anna's is attributed to him.
    const all = await env.ctx.db.selectFrom('audit_log').select(['actor_id', 'owner_id']).where('actor_id', '=', boris.id).execute();
    expect(all.every((r) => r.owner_id === boris.id)).toBe(true);
  });
});
