/**
 * Rooms answer bookings by their policy (deliver.ts, roomDecision): the answer commits with the
 * room's copy (a crash in between leaves neither; a retry finishes an undecided answer), the
 * policy is editable by an admin (PATCH /users/:id), 'always' and 'manual' rooms, the manual
 * answer over REST, and recurring bookings (whole series declined on any conflict in the horizon).
 *
 * No worker runs here: the room's 'schedule-deliver' jobs are taken from the queue and applied
 * with deliverMessage directly, as the job would, so a test can run the pieces of a delivery
 * separately and make one of them fail.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createTestEnv, makeUser, signInHeaders, type TestEnv } from '../support/harness.js';
import { api, create, ev, jobs, user, type Api, type TestUser } from './_helpers.js';
import { deliverMessage, deliverTestHooks } from '../../src/app/events/deliver.js';
import type { DeliverPayload } from '../../src/app/events/scheduling.js';

let env: TestEnv;
let anna: TestUser;
let admin: Api;
const rooms: Record<string, string> = {};

beforeAll(async () => {
  env = await createTestEnv({ mailDomains: ['example.com'], dataDir: `/tmp/calendula-test-rooms-${process.pid}` });
  anna = await user(env, 'anna@example.com', 'Anna');
  await makeUser(env.ctx, 'root@example.com', { name: 'Root', admin: true });
  admin = api(env, await signInHeaders(env.app, 'root@example.com'));
  for (const r of ['crash', 'legacy', 'always', 'manual', 'series', 'horizon', 'switch']) {
    rooms[r] = (await makeUser(env.ctx, `room-${r}@example.com`, { name: `Room ${r}`, kind: 'room' })).id;
  }
});
afterAll(async () => {
  await env.close();
});
afterEach(() => {
  delete deliverTestHooks.beforeRoomDecision;
});

const roomEmail = (r: string) => `room-${r}@example.com`;

/** The queued delivery of the booking `uid` to room `r` (the job's payload, as the worker would get it). */
async function roomJob(r: string, uid: string): Promise<DeliverPayload> {
  const found = (await jobs(env, 'schedule-deliver')).map((j) => j.payload as DeliverPayload).filter((p) => p.recipientId === rooms[r] && p.uid === uid);
  expect(found, `delivery job for ${r}`).toHaveLength(1);
  return found[0];
}

/** The room's copy of the booking (null: none), read from the database. */
async function roomCopy(r: string, uid: string) {
  return (await env.ctx.db.selectFrom('calendar_object').select(['id', 'my_partstat', 'ical']).where('owner_id', '=', rooms[r]).where('uid', '=', uid).where('deleted_at', 'is', null).executeTakeFirst()) ?? null;
}

/** The REPLY deliveries queued for Anna about `uid`, with the room's answer in each. */
async function repliesToAnna(uid: string): Promise<string[]> {
  const out: string[] = [];
  for (const j of await jobs(env, 'schedule-deliver')) {
    const p = j.payload as DeliverPayload & { items?: unknown };
    if (p.recipientId !== anna.id || p.uid !== uid || p.method !== 'REPLY') continue;
    const text = p.ical ?? (await sql<{ ical: string }>`select ical from itip_message where id = ${p.messageId!}`.execute(env.ctx.db)).rows[0]?.ical ?? '';
    out.push(/PARTSTAT=([A-Z-]+)/.exec(text.replace(/\r?\n[ \t]/g, ''))?.[1] ?? '?');
  }
  return out;
}

/** Books room `r` by Anna and applies the room's delivery; the room's answer. */
async function book(r: string, summary: string, start: string, end: string, extra: Record<string, unknown> = {}) {
  const e = await create(anna, ev(summary, start, end, { attendees: [{ email: roomEmail(r) }], ...extra }));
  await deliverMessage(env.ctx, await roomJob(r, e.uid));
  return { uid: e.uid as string, id: e.id as string, partstat: (await roomCopy(r, e.uid))?.my_partstat };
}

describe('the room answer is atomic with the delivery of its copy', () => {
  it('a crash between the copy and the answer leaves neither; the retried job answers', async () => {
    const e = await create(anna, ev('Crash', '2033-02-01T10:00:00', '2033-02-01T11:00:00', { attendees: [{ email: roomEmail('crash') }] }));
    const job = await roomJob('crash', e.uid);
    // The worker "dies" after the copy is written and before the room decides.
    let calls = 0;
    deliverTestHooks.beforeRoomDecision = () => {
      calls++;
      throw new Error('worker died');
    };
    await expect(deliverMessage(env.ctx, job)).rejects.toThrow('worker died');
    expect(calls).toBe(1);
    // Nothing of the attempt committed: no copy left NEEDS-ACTION for ever.
    expect(await roomCopy('crash', e.uid)).toBeNull();
    // The job is retried (the same payload): the copy and its answer arrive together.
    delete deliverTestHooks.beforeRoomDecision;
    await deliverMessage(env.ctx, job);
    expect((await roomCopy('crash', e.uid))?.my_partstat).toBe('ACCEPTED');
    expect(await repliesToAnna(e.uid)).toEqual(['ACCEPTED']);
    // A second retry (the job ran, the worker died before marking it done) changes nothing.
    await deliverMessage(env.ctx, job);
    expect(await repliesToAnna(e.uid)).toEqual(['ACCEPTED']);
  });

  it('a retry finishes an answer left undecided by a copy committed without one', async () => {
    // The state the old code left after a crash: the copy committed, NEEDS-ACTION, no answer.
    // (Made here by delivering while the room is manual, then switching it to automatic.)
    expect((await admin.patch(`/users/${rooms.legacy}`, { roomAutoAccept: 'manual' })).statusCode).toBe(200);
    const e = await create(anna, ev('Legacy', '2033-02-02T10:00:00', '2033-02-02T11:00:00', { attendees: [{ email: roomEmail('legacy') }] }));
    const job = await roomJob('legacy', e.uid);
    await deliverMessage(env.ctx, job);
    expect((await roomCopy('legacy', e.uid))?.my_partstat).toBe('NEEDS-ACTION');
    expect((await admin.patch(`/users/${rooms.legacy}`, { roomAutoAccept: 'accept-if-free' })).statusCode).toBe(200);
    // The retried job sees its message as already applied, and still decides the answer.
    const out = await deliverMessage(env.ctx, job);
    expect(out.result.action).not.toBe('update');
    expect((await roomCopy('legacy', e.uid))?.my_partstat).toBe('ACCEPTED');
    expect(await repliesToAnna(e.uid)).toEqual(['ACCEPTED']);
  });
});

describe('room policy over PATCH /users/:id', () => {
  it('an admin sets capacity and policy; shown by GET; refused for users and for non-admins', async () => {
    const r = await admin.patch(`/users/${rooms.always}`, { roomAutoAccept: 'always', roomCapacity: 12 });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toMatchObject({ kind: 'room', roomAutoAccept: 'always', roomCapacity: 12 });
    expect((await admin.get(`/users/${rooms.always}`)).json()).toMatchObject({ roomAutoAccept: 'always', roomCapacity: 12 });
    const row = await env.ctx.db.selectFrom('principal').select(['room_auto_accept', 'room_capacity']).where('id', '=', rooms.always).executeTakeFirstOrThrow();
    expect(row).toEqual({ room_auto_accept: 'always', room_capacity: 12 });
    // Capacity can be cleared.
    expect((await admin.patch(`/users/${rooms.always}`, { roomCapacity: null })).json().roomCapacity).toBeNull();
    // Invalid values are refused by the schema.
    expect((await admin.patch(`/users/${rooms.always}`, { roomAutoAccept: 'sometimes' })).statusCode).toBe(400);
    expect((await admin.patch(`/users/${rooms.always}`, { roomCapacity: -1 })).statusCode).toBe(400);
    // Not for people: in English and Russian.
    const en = await admin.patch(`/users/${anna.id}`, { roomAutoAccept: 'always' });
    expect(en.statusCode).toBe(400);
    expect(en.json().message).toBe('Only rooms have a capacity and a booking policy');
    const ru = await admin.patch(`/users/${anna.id}`, { roomCapacity: 3 }, { 'accept-language': 'ru' });
    expect(ru.statusCode).toBe(400);
    expect(ru.json().message).toBe('Вместимость и правило бронирования есть только у переговорных');
    // Only administrators.
    expect((await anna.api.patch(`/users/${rooms.always}`, { roomAutoAccept: 'manual' })).statusCode).toBe(403);
    // The OpenAPI document describes both fields.
    const doc = await env.app.inject({ method: 'GET', url: '/api/openapi.json' });
    expect(doc.statusCode).toBe(200);
    const patch = JSON.stringify(doc.json().paths['/api/v1/users/{id}'].patch.requestBody);
    expect(patch).toContain('roomAutoAccept');
    expect(patch).toContain('roomCapacity');
  });
});

describe('room policies', () => {
  it("'always' accepts even a conflicting booking", async () => {
    expect((await admin.patch(`/users/${rooms.always}`, { roomAutoAccept: 'always' })).statusCode).toBe(200);
    const a = await book('always', 'First', '2033-03-01T10:00:00', '2033-03-01T11:00:00');
    const b = await book('always', 'Overlapping', '2033-03-01T10:30:00', '2033-03-01T11:30:00');
    expect([a.partstat, b.partstat]).toEqual(['ACCEPTED', 'ACCEPTED']);
    expect(await repliesToAnna(b.uid)).toEqual(['ACCEPTED']);
  });

  it("'manual' leaves the booking pending; the room's manager answers over REST with a token for the room", async () => {
    expect((await admin.patch(`/users/${rooms.manual}`, { roomAutoAccept: 'manual' })).statusCode).toBe(200);
    const a = await book('manual', 'Needs approval', '2033-03-02T10:00:00', '2033-03-02T11:00:00');
    expect(a.partstat).toBe('NEEDS-ACTION');
    expect(await repliesToAnna(a.uid)).toEqual([]);
    // A repeated delivery does not decide it either.
    await deliverMessage(env.ctx, await roomJob('manual', a.uid));
    expect((await roomCopy('manual', a.uid))?.my_partstat).toBe('NEEDS-ACTION');
    // Who acts for a room: an administrator issues an API token for it (POST /tokens with userId).
    expect((await anna.api.post('/tokens', { name: 'room', scopes: ['write'], userId: rooms.manual })).statusCode).toBe(403);
    const t = await admin.post('/tokens', { name: 'room manager', scopes: ['write'], userId: rooms.manual });
    expect(t.statusCode, t.body).toBe(201);
    const asRoom = api(env, { authorization: `Bearer ${t.json().token}` });
    // The pending booking is in the room's calendar …
    const copy = (await roomCopy('manual', a.uid))!;
    const listed = await asRoom.get(`/events?from=${encodeURIComponent('2033-03-02T00:00:00Z')}&to=${encodeURIComponent('2033-03-03T00:00:00Z')}`);
    expect(listed.statusCode, listed.body).toBe(200);
    expect(listed.json().items.map((i: { id: string }) => i.id)).toContain(copy.id);
    // … and is answered with the respond endpoint; the organizer gets the answer.
    const r = await asRoom.post(`/events/${copy.id}/respond`, { partstat: 'ACCEPTED' });
    expect(r.statusCode, r.body).toBe(200);
    expect((await roomCopy('manual', a.uid))?.my_partstat).toBe('ACCEPTED');
    expect(await repliesToAnna(a.uid)).toEqual(['ACCEPTED']);
    // Declining another one works the same way.
    const b = await book('manual', 'Declined by hand', '2033-03-02T10:00:00', '2033-03-02T11:00:00');
    expect(b.partstat).toBe('NEEDS-ACTION');
    const copyB = (await roomCopy('manual', b.uid))!;
    expect((await asRoom.post(`/events/${copyB.id}/respond`, { partstat: 'DECLINED' })).statusCode).toBe(200);
    expect(await repliesToAnna(b.uid)).toEqual(['DECLINED']);
  });
});

describe('switching a manual room to an automatic policy', () => {
  it('answers the bookings that were waiting, in start order: the earlier of two clashing ones wins', async () => {
    expect((await admin.patch(`/users/${rooms.switch}`, { roomAutoAccept: 'manual' })).statusCode).toBe(200);
    const later = await book('switch', 'Booked second, starts later', '2033-04-01T10:30:00', '2033-04-01T11:30:00');
    const earlier = await book('switch', 'Booked first? no: starts earlier', '2033-04-01T10:00:00', '2033-04-01T11:00:00');
    const free = await book('switch', 'No clash', '2033-04-02T10:00:00', '2033-04-02T11:00:00');
    for (const b of [later, earlier, free]) expect(b.partstat).toBe('NEEDS-ACTION');
    // Pending bookings show as tentative in the room's free/busy (not yet confirmed).
    const fb = (await anna.api.post('/freebusy', { attendees: [roomEmail('switch')], from: '2033-04-01T00:00:00Z', to: '2033-04-03T00:00:00Z' })).json().items[0];
    expect(fb.busy.map((b: { type: string }) => b.type)).toEqual(['BUSY-TENTATIVE', 'BUSY-TENTATIVE']);
    expect((await admin.patch(`/users/${rooms.switch}`, { roomAutoAccept: 'accept-if-free' })).statusCode).toBe(200);
    // The switch queued one job for the room; run it as the worker would.
    const queued = (await jobs(env, 'room-decide-pending')).filter((j) => (j.payload as { roomId: string }).roomId === rooms.switch);
    expect(queued).toHaveLength(1);
    const { jobHandlers } = await import('../../src/jobs/handlers.js');
    await jobHandlers(env.ctx)['room-decide-pending'](queued[0].payload, { jobId: '0', attempts: 1, log: env.ctx.log });
    expect((await roomCopy('switch', earlier.uid))?.my_partstat).toBe('ACCEPTED');
    expect((await roomCopy('switch', later.uid))?.my_partstat).toBe('DECLINED');
    expect((await roomCopy('switch', free.uid))?.my_partstat).toBe('ACCEPTED');
    expect(await repliesToAnna(later.uid)).toEqual(['DECLINED']);
    const after = (await anna.api.post('/freebusy', { attendees: [roomEmail('switch')], from: '2033-04-01T00:00:00Z', to: '2033-04-03T00:00:00Z' })).json().items[0];
    expect(after.busy.map((b: { start: string; type: string }) => `${b.start} ${b.type}`)).toEqual(['2033-04-01T10:00:00.000Z BUSY', '2033-04-02T10:00:00.000Z BUSY']);
    // Switching between automatic policies queues nothing more.
    expect((await admin.patch(`/users/${rooms.switch}`, { roomAutoAccept: 'always' })).statusCode).toBe(200);
    expect((await jobs(env, 'room-decide-pending')).filter((j) => (j.payload as { roomId: string }).roomId === rooms.switch)).toHaveLength(1);
  });
});

describe('recurring room bookings (accept-if-free)', () => {
  it('a series with one conflicting occurrence is declined as a whole; one without conflicts is accepted', async () => {
    const single = await book('series', 'Single', '2033-04-13T10:00:00', '2033-04-13T11:00:00');
    expect(single.partstat).toBe('ACCEPTED');
    // Weekly on Wednesdays from 6 April: the second occurrence (13 April, 10:30) overlaps the single booking.
    const clashing = await book('series', 'Weekly clash', '2033-04-06T10:30:00', '2033-04-06T11:30:00', { rrule: 'FREQ=WEEKLY;COUNT=8' });
    expect(clashing.partstat).toBe('DECLINED');
    expect(await repliesToAnna(clashing.uid)).toEqual(['DECLINED']);
    // The same series an hour later touches the single booking only at its end (11:00): free.
    const free = await book('series', 'Weekly free', '2033-04-06T11:00:00', '2033-04-06T12:00:00', { rrule: 'FREQ=WEEKLY;COUNT=8' });
    expect(free.partstat).toBe('ACCEPTED');
    // A single booking on one of its later occurrences is now declined.
    expect((await book('series', 'Late single', '2033-05-25T11:30:00', '2033-05-25T12:30:00')).partstat).toBe('DECLINED');
    // One that would clash only on an occurrence the organizer excluded (EXDATE) is free.
    const exdated = await book('series', 'Weekly with exdate', '2033-04-06T10:00:00', '2033-04-06T11:00:00', { rrule: 'FREQ=WEEKLY;COUNT=3', exdates: ['2033-04-13T10:00:00'] });
    expect(exdated.partstat).toBe('ACCEPTED');
  });

  it('checks occurrences as far ahead as the server expands (two years), beyond the old 366 days and 500 occurrences', async () => {
    const start = Date.parse('2033-06-01T10:00:00Z');
    const at = (days: number, h: number) => new Date(start + days * 86_400_000 + (h - 10) * 3_600_000).toISOString().slice(0, 19);
    // Accepted first: a booking 600 days after the series starts (past a year, past 500 daily occurrences).
    expect((await book('horizon', 'Far single', at(600, 10), at(600, 11))).partstat).toBe('ACCEPTED');
    // An open-ended daily series at the same hour clashes with it on day 600: declined.
    const daily = await book('horizon', 'Daily', at(0, 10), at(0, 11), { rrule: 'FREQ=DAILY' });
    expect(daily.partstat).toBe('DECLINED');
    // The same series an hour later does not clash anywhere: accepted.
    expect((await book('horizon', 'Daily later', at(0, 11), at(0, 12), { rrule: 'FREQ=DAILY' })).partstat).toBe('ACCEPTED');
    // Past the horizon the later booking is the one checked: the accepted series is busy then.
    expect((await book('horizon', 'Very far single', at(1200, 11), at(1200, 12))).partstat).toBe('DECLINED');
  });
});
