/** Implicit scheduling end to end, iTIP jobs in the writer's transaction, reminders, address checks (issue 3 §4, §8). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, eventually, makeUser, startTestWorker, type TestEnv } from '../support/harness.js';
import { create, ev, jobs, occurrences, user, type TestUser } from './_helpers.js';
import * as principals from '../../src/store/principals.js';
import { saveObject } from '../../src/app/events/write.js';
import { deliverQueue } from '../../src/app/events/deliver-batch.js';

let env: TestEnv;
let worker: { stop(): Promise<void> };
let anna: TestUser;
let boris: TestUser;
let carl: TestUser;

const copyOf = (u: TestUser, uid: string) => env.ctx.db.selectFrom('calendar_object').selectAll().where('owner_id', '=', u.id).where('uid', '=', uid).where('deleted_at', 'is', null).executeTakeFirst();

beforeAll(async () => {
  env = await createTestEnv({ mailDomains: ['example.com'], dataDir: `/tmp/calendula-test-sch-${process.pid}` });
  anna = await user(env, 'anna@example.com', 'Anna');
  boris = await user(env, 'boris@example.com', 'Boris');
  carl = await user(env, 'carl@example.com', 'Carl');
  worker = await startTestWorker(env);
});
afterAll(async () => {
  await worker.stop();
  await env.close();
});

describe('organizer changes reach attendee copies', () => {
  it('time change updates copies and resets PARTSTAT; removing an attendee cancels their copy; deleting cancels all', async () => {
    const e = await create(anna, ev('Review', '2032-06-01T10:00:00', '2032-06-01T11:00:00', { attendees: [{ email: 'boris@example.com' }, { email: 'carl@example.com' }] }));
    const b = await eventually(() => copyOf(boris, e.uid), 10_000, 'boris copy');
    await eventually(() => copyOf(carl, e.uid), 10_000, 'carl copy');
    expect((await boris.api.post(`/events/${b.id}/respond`, { partstat: 'ACCEPTED' })).statusCode).toBe(200);
    await eventually(async () => (await anna.api.get(`/events/${e.id}`)).json().event.attendees.find((a: { email: string }) => a.email === 'boris@example.com').partstat === 'ACCEPTED', 10_000, 'reply');
    // Carl sees Boris's answer on his copy too.
    await eventually(async () => /PARTSTAT=ACCEPTED[^\n]*boris@example\.com/i.test((await copyOf(carl, e.uid))!.ical.replace(/\r?\n[ \t]/g, '')), 10_000, "boris's answer on carl's copy");
    // Time change.
    const cur = (await anna.api.get(`/events/${e.id}`)).json();
    const moved = await anna.api.patch(`/events/${e.id}`, { event: { start: '2032-06-01T14:00:00', end: '2032-06-01T15:00:00' } }, { 'if-match': cur.etag });
    expect(moved.statusCode, moved.body).toBe(200);
    expect(moved.json().sequence).toBeGreaterThan(cur.sequence);
    const bc = await eventually(async () => {
      const c = await copyOf(boris, e.uid);
      return c && c.first_start?.toISOString() === '2032-06-01T14:00:00.000Z' ? c : null;
    }, 10_000, 'moved copy');
    expect(bc.my_partstat).toBe('NEEDS-ACTION');
    expect(bc.sequence).toBe(moved.json().sequence);
    // Remove Carl.
    expect((await anna.api.patch(`/events/${e.id}`, { event: { attendees: [{ email: 'boris@example.com' }] } })).statusCode).toBe(200);
    await eventually(async () => {
      const c = await env.ctx.db.selectFrom('calendar_object').select(['status', 'deleted_at']).where('owner_id', '=', carl.id).where('uid', '=', e.uid).executeTakeFirst();
      return c && (c.status === 'CANCELLED' || c.deleted_at) ? c : null;
    }, 10_000, "carl's copy cancelled");
    expect((await copyOf(boris, e.uid))!.status).not.toBe('CANCELLED');
    // Delete.
    expect((await anna.api.del(`/events/${e.id}`)).statusCode).toBe(204);
    await eventually(async () => {
      const c = await env.ctx.db.selectFrom('calendar_object').select(['status', 'deleted_at']).where('owner_id', '=', boris.id).where('uid', '=', e.uid).executeTakeFirst();
      return c && (c.status === 'CANCELLED' || c.deleted_at) ? c : null;
    }, 10_000, "boris's copy cancelled");
    const binv = (await boris.api.get('/invitations')).json().items;
    expect(binv.find((i: { uid: string }) => i.uid === e.uid)).toBeUndefined();
  });

  it('an attendee declining one occurrence shows on that instance only in the organizer copy', async () => {
    const e = await create(anna, ev('Daily', '2032-07-05T09:00:00', '2032-07-05T09:15:00', { rrule: 'FREQ=DAILY;COUNT=5', attendees: [{ email: 'boris@example.com' }] }));
    const b = await eventually(() => copyOf(boris, e.uid), 10_000, 'copy');
    const bocc = (await occurrences(boris, '2032-07-01T00:00:00Z', '2032-07-31T00:00:00Z')).filter((o) => o.id === b.id);
    expect(bocc).toHaveLength(5);
    expect((await boris.api.post(`/events/${b.id}/respond`, { partstat: 'DECLINED', recurrenceId: bocc[2].recurrenceId })).statusCode).toBe(200);
    await eventually(async () => {
      const o = (await anna.api.get(`/events/${e.id}?recurrenceId=${encodeURIComponent(bocc[2].recurrenceId)}`)).json();
      return o.event.attendees.find((a: { email: string }) => a.email === 'boris@example.com').partstat === 'DECLINED';
    }, 10_000, 'declined instance');
    for (const i of [0, 1, 3, 4]) {
      const o = (await anna.api.get(`/events/${e.id}?recurrenceId=${encodeURIComponent(bocc[i].recurrenceId)}`)).json();
      expect(o.event.attendees.find((a: { email: string }) => a.email === 'boris@example.com').partstat, `instance ${i}`).toBe('NEEDS-ACTION');
    }
    // Boris's free/busy is free at the declined instance only.
    const fb = (await anna.api.post('/freebusy', { attendees: [boris.email], from: '2032-07-05T00:00:00Z', to: '2032-07-10T00:00:00Z' })).json().items[0].busy;
    expect(fb.map((x: { start: string }) => x.start.slice(0, 10))).toEqual(['2032-07-05', '2032-07-06', '2032-07-08', '2032-07-09']);
  });

  it('two answers within one second both reach the organizer (the later wins)', async () => {
    const e = await create(anna, ev('Quick answers', '2032-07-20T09:00:00', '2032-07-20T10:00:00', { attendees: [{ email: 'boris@example.com' }] }));
    const b = await eventually(() => copyOf(boris, e.uid), 10_000, 'copy');
    await boris.api.post(`/events/${b.id}/respond`, { partstat: 'ACCEPTED' });
    await boris.api.post(`/events/${b.id}/respond`, { partstat: 'DECLINED' });
    await eventually(async () => (await anna.api.get(`/events/${e.id}`)).json().event.attendees.find((a: { email: string }) => a.email === 'boris@example.com').partstat === 'DECLINED', 10_000, 'last answer');
  });
});

describe('jobs in the writer transaction (no worker)', () => {
  let q: TestEnv;
  let qa: TestUser;
  beforeAll(async () => {
    q = await createTestEnv({ mailDomains: ['example.com'], dataDir: `/tmp/calendula-test-schq-${process.pid}` });
    qa = await user(q, 'anna@example.com', 'Anna');
    await user(q, 'boris@example.com', 'Boris');
  });
  afterAll(async () => q.close());

  it('external attendees get imip-send jobs, internal ones schedule-deliver on the one queue of the UID', async () => {
    const e = await create(qa, ev('Mixed', '2032-08-01T10:00:00', '2032-08-01T11:00:00', { attendees: [{ email: 'boris@example.com' }, { email: 'x@partner.org' }, { email: 'y@other.net' }] }));
    const js = (await jobs(q)).filter((j) => j.payload?.uid === e.uid);
    const imip = js.filter((j) => j.task_identifier === 'imip-send');
    expect(imip.map((j) => j.payload.recipient).sort()).toEqual(['x@partner.org', 'y@other.net']);
    expect(imip.every((j) => j.payload.method === 'REQUEST')).toBe(true);
    const boris = await principals.findPrincipalByEmail(q.ctx.db, 'boris@example.com');
    const del = js.filter((j) => j.task_identifier === 'schedule-deliver');
    expect(del).toHaveLength(1);
    expect(del[0].queue_name).toBe(deliverQueue(e.uid)); // every delivery about one UID in order
    expect(del[0].payload.recipientId).toBe(boris!.id);
  });

  it('a rolled-back write leaves no object and no jobs', async () => {
    const before = (await jobs(q)).length;
    const uid = 'rollback-test-uid';
    const ics = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//t//t//EN', 'BEGIN:VEVENT', `UID:${uid}`, 'DTSTAMP:20320101T000000Z', 'DTSTART:20320802T100000Z', 'DTEND:20320802T110000Z', 'SUMMARY:Rolled back',
      'ORGANIZER:mailto:anna@example.com', 'ATTENDEE;PARTSTAT=ACCEPTED:mailto:anna@example.com', 'ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:boris@example.com', 'ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:z@partner.org',
      'BEGIN:VALARM', 'ACTION:DISPLAY', 'TRIGGER:-PT10M', 'DESCRIPTION:r', 'END:VALARM', 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
    await expect(q.ctx.db.transaction().execute(async (trx) => {
      await saveObject(q.ctx, { userId: qa.id, via: 'rest' }, { ownerId: qa.id, calendarId: qa.cal, ical: ics }, trx);
      expect((await jobs({ ...q, ctx: { ...q.ctx, db: trx } } as TestEnv)).length).toBeGreaterThan(before);
      throw new Error('boom');
    })).rejects.toThrow('boom');
    expect((await jobs(q)).length).toBe(before);
    expect(await q.ctx.db.selectFrom('calendar_object').select('id').where('owner_id', '=', qa.id).where('uid', '=', uid).executeTakeFirst()).toBeUndefined();
  });

  it('a VALARM plans a reminder row (migration 0009) whose firing follows the event', async () => {
    const e = await create(qa, ev('With alarm', '2032-09-01T10:00:00', '2032-09-01T11:00:00', { alarms: [{ action: 'DISPLAY', trigger: '-PT15M' }] }));
    const rem = () => q.ctx.db.selectFrom('reminder').selectAll().where('owner_id', '=', qa.id).where('object_id', '=', e.id).execute();
    let r = await rem();
    expect(r).toHaveLength(1);
    expect(r[0].fire_at.toISOString()).toBe('2032-09-01T09:45:00.000Z');
    expect(r[0].due_at.toISOString()).toBe('2032-09-01T09:45:00.000Z');
    expect((await qa.api.patch(`/events/${e.id}`, { event: { start: '2032-09-02T12:00:00', end: '2032-09-02T13:00:00' } })).statusCode).toBe(200);
    r = await rem();
    expect(r).toHaveLength(1);
    expect(r[0].fire_at.toISOString()).toBe('2032-09-02T11:45:00.000Z');
    // Removing the alarm removes the row.
    expect((await qa.api.patch(`/events/${e.id}`, { event: { alarms: [] } })).statusCode).toBe(200);
    expect(await rem()).toHaveLength(0);
  });
});

describe('address checks', () => {
  it('unknown internal address → 422 naming it; invalid syntax → 400; external ok; groups expand', async () => {
    const u = await anna.api.post('/events', { calendarId: anna.cal, event: ev('x', '2032-10-01T10:00', '2032-10-01T11:00', { attendees: [{ email: 'nobody@example.com' }] }) });
    expect(u.statusCode).toBe(422);
    expect(u.json()).toMatchObject({ error: 'UNKNOWN_ADDRESS', details: { email: 'nobody@example.com' } });
    expect(u.json().message).toContain('nobody@example.com');
    const bad = await anna.api.post('/events', { calendarId: anna.cal, event: ev('x', '2032-10-01T10:00', '2032-10-01T11:00', { attendees: [{ email: 'not an address' }] }) });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toBe('INVALID_ADDRESS');
    const ext = await anna.api.post('/events', { calendarId: anna.cal, event: ev('x', '2032-10-01T10:00', '2032-10-01T11:00', { attendees: [{ email: 'someone@elsewhere.org' }] }) });
    expect(ext.statusCode).toBe(201);
    // On update too.
    const pu = await anna.api.patch(`/events/${ext.json().id}`, { event: { attendees: [{ email: 'ghost@example.com' }] } });
    expect(pu.statusCode).toBe(422);
    expect(pu.json().details.email).toBe('ghost@example.com');
    const team = await makeUser(env.ctx, 'team@example.com', { kind: 'group', name: 'Team' });
    await principals.setGroupMembers(env.ctx.db, team.id, [boris.id, carl.id]);
    const g = await anna.api.post('/events', { calendarId: anna.cal, event: ev('Team sync', '2032-10-02T10:00', '2032-10-02T11:00', { attendees: [{ email: 'team@example.com' }] }) });
    expect(g.statusCode, g.body).toBe(201);
    const emails = g.json().event.attendees.map((a: { email: string }) => a.email).sort();
    expect(emails).toEqual(['anna@example.com', 'boris@example.com', 'carl@example.com']);
    await eventually(() => copyOf(carl, g.json().uid), 10_000, 'group member copy');
  });
});
