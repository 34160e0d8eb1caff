/**
 * The create fast path (issue 3): createEventIn builds the event once, plans and compiles the
 * component in place and writes object + change log + reminder + jobs in ONE statement
 * (write.ts createFreshObject, objects.ts insertObjectWithJobs). It must store exactly what the
 * general path (saveObject) stores, write nothing when it declines, and decline what it does not
 * cover (fan-outs, changed calendar defaults).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, makeUser, recordStatements, type TestEnv } from '../support/harness.js';
import { listenJobWakes } from '../support/job-wakes.js';
import { create, ev, jobs, user, type TestUser } from './_helpers.js';
import { buildCalendar, buildComponent, eventToJson } from '../../src/lib/ical/build.js';
import { createFreshObject, saveObject } from '../../src/app/events/write.js';
import { createEventIn } from '../../src/app/events/commands.js';
import { buildFreshEvent } from '../../src/lib/itip/fresh-event.js';
import { prepareResource, indexValues } from '../../src/app/events/resource.js';
import * as principals from '../../src/store/principals.js';
import * as objects from '../../src/store/objects.js';
import { deliverQueue } from '../../src/app/events/deliver-batch.js';
import { sql } from 'kysely';
import type { Actor } from '../../src/domain/actor.js';
import type { EventInput } from '../../src/lib/ical/model.js';
import type { PrincipalRow } from '../../src/store/schema.js';

const ANNA = 'anna@example.com';
let env: TestEnv;
let anna: TestUser;
let annaActor: Actor;
let annaRow: PrincipalRow;
const people: TestUser[] = [];
let otherCal: string;

const objectsOf = (uid: string) => env.ctx.db.selectFrom('calendar_object').selectAll().where('uid', '=', uid).execute();
const remindersOf = (id: string) => env.ctx.db.selectFrom('reminder').selectAll().where('object_id', '=', id).execute();
const seqOf = async (cal: string) => (await env.ctx.db.selectFrom('calendar').select('sync_seq').where('id', '=', cal).executeTakeFirstOrThrow()).sync_seq;
const changesOf = (uid: string) => env.ctx.db.selectFrom('calendar_change').selectAll().where('uid', '=', uid).execute();
const jobsOf = async (uid: string) => (await jobs(env)).filter((j) => j.payload?.uid === uid);

/** The organizer and attendees as createEventIn resolves them (organizer first, answers not forged). */
function meeting(e: Partial<EventInput> & Pick<EventInput, 'summary' | 'start' | 'end'>, attendees: string[]): EventInput {
  if (!attendees.length) return e;
  return {
    ...e,
    organizer: { email: ANNA, name: 'Anna' },
    attendees: [
      { email: ANNA, name: 'Anna', role: 'CHAIR', partstat: 'ACCEPTED', cutype: 'INDIVIDUAL' },
      ...attendees.map((a) => ({ email: a, role: 'REQ-PARTICIPANT', partstat: 'NEEDS-ACTION', rsvp: true, cutype: a.startsWith('room') ? 'ROOM' : 'INDIVIDUAL' })),
    ],
  };
}

/** Text with the parts that differ between two writes of the same input removed. */
const neutral = (text: string, uid: string) => text.replaceAll(uid, 'UID').replace(/^DTSTAMP:.*$/gm, 'DTSTAMP');

beforeAll(async () => {
  env = await createTestEnv({ mailDomains: ['example.com'], dataDir: `/tmp/calendula-test-fastcreate-${process.pid}` });
  anna = await user(env, 'anna@example.com', 'Anna');
  annaRow = (await principals.findPrincipalById(env.ctx.db, anna.id))!;
  annaActor = { userId: anna.id, email: anna.email, via: 'rest' };
  for (let i = 0; i < 3; i++) people.push(await user(env, `f${i}@example.com`, `F ${i}`));
  await makeUser(env.ctx, 'room-f@example.com', { kind: 'room' });
  const r = await anna.api.post('/calendars', { name: 'Second' });
  otherCal = r.json().id;
});
afterAll(async () => env.close());

describe('create fast path', () => {
  const cases: [string, EventInput, Record<string, unknown>[]?][] = [
    ['plain, no attendees', { summary: 'Plain', start: '2035-01-10T10:00:00', end: '2035-01-10T11:00:00', timezone: 'UTC' }],
    ['meeting in a zone: users, a room, an outsider', meeting({ summary: 'Meet', location: 'Room 1', description: 'Agenda\nline 2; a, b', start: '2035-01-11T10:00:00', end: '2035-01-11T11:30:00', timezone: 'Europe/Moscow' }, ['f0@example.com', 'f1@example.com', 'f2@example.com', 'room-f@example.com', 'ext@partner.org'])],
    ['all-day series with exceptions, categories and alarms', meeting({ summary: 'Series', start: '2035-02-01', end: '2035-02-02', allDay: true, rrule: 'FREQ=WEEKLY;COUNT=10', exdates: ['2035-02-08'], categories: ['a', 'b'], alarms: [{ action: 'DISPLAY', trigger: '-PT15M' }], visibility: 'PRIVATE', transparency: 'TRANSPARENT' }, ['f0@example.com'])],
    ['floating time, url, conference, color', { summary: 'Float', start: '2035-03-01T09:00:00', end: '2035-03-01T09:30:00', timezone: null, url: 'https://example.org/x', conference: 'https://meet.example.org/y', color: 'red' }],
    ['calendar default reminders, no alarms', { summary: 'Defaults', start: '2035-04-01T09:00:00', end: '2035-04-01T10:00:00', timezone: 'America/New_York' }, [{ minutesBefore: 30, action: 'DISPLAY' }]],
    ['tentative meeting with a recurrence rule in a zone', meeting({ summary: 'Weekly', status: 'TENTATIVE', start: '2035-05-05T08:00:00', end: '2035-05-05T09:00:00', timezone: 'Europe/Berlin', rrule: 'FREQ=DAILY;UNTIL=20350601T000000Z' }, ['f1@example.com', 'ext2@partner.org'])],
  ];

  // Each case through the component path, and through the text builder (buildFreshEvent) where it applies.
  const runs = cases.flatMap(([label, event, defaults]) => [
    [label, event, defaults, 'component'] as const,
    ...(buildFreshEvent(event, { uid: 'probe', now: new Date() }) ? [[label, event, defaults, 'fresh'] as const] : []),
  ]);
  it('the text builder covers the plain cases (timed, no rule or alarms)', () => {
    expect(runs.filter((r) => r[3] === 'fresh').map((r) => r[0])).toEqual(['plain, no attendees', 'meeting in a zone: users, a room, an outsider', 'calendar default reminders, no alarms']);
  });

  for (const [label, event, defaults, mode] of runs) {
    it(`stores what saveObject stores (${mode}): ${label}`, async () => {
      await env.ctx.db.updateTable('calendar').set({ default_reminders: JSON.stringify(defaults ?? []) }).where('id', 'in', [anna.cal, otherCal]).execute();
      const dtstamp = new Date(Date.UTC(2030, 0, 1, 12));
      const known = await principals.resolveAddresses(env.ctx.db, [anna.email, ...(event.attendees ?? []).map((a) => a.email)]);
      // General path into the second calendar, fast path into the first; different UIDs.
      const slowUid = randomUUID();
      const slow = await saveObject(env.ctx, annaActor, { ownerId: anna.id, calendarId: otherCal, ical: buildComponent(event, { uid: slowUid, dtstamp, sequence: 0 }), knownPrincipals: known, freshUid: true });
      const fastUid = randomUUID();
      const seq0 = await seqOf(anna.cal);
      const built = mode === 'fresh' ? { fresh: buildFreshEvent(event, { uid: fastUid, now: dtstamp })! } : { component: buildCalendar(event, { uid: fastUid, dtstamp, sequence: 0 }) };
      const fast = await createFreshObject(env.ctx, annaActor, { ownerId: anna.id, calendarId: anna.cal, ...built, defaults: (defaults ?? []) as never, knownPrincipals: known });
      expect(fast).not.toBeNull();
      const a = slow.row;
      const b = fast!.row;
      // The stored text is canonical (what prepareResource would make of it) and equal to the general path's.
      expect(prepareResource(b.ical).text).toBe(b.ical);
      expect(neutral(b.ical, fastUid)).toBe(neutral(a.ical, slowUid));
      // Every index column as the general path computes it from the stored text.
      const values = indexValues(prepareResource(b.ical), { name: b.name, ownerEmail: anna.email, origin: 'rest', actorId: anna.id, hasAttachments: false });
      for (const [k, v] of Object.entries(values)) expect([k, (b as unknown as Record<string, unknown>)[k]]).toEqual([k, v]);
      const skip = new Set(['id', 'calendar_id', 'uid', 'name', 'ical', 'etag', 'schedule_tag', 'created_at', 'updated_at']);
      for (const k of Object.keys(a)) if (!skip.has(k)) expect([k, (b as unknown as Record<string, unknown>)[k]]).toEqual([k, (a as unknown as Record<string, unknown>)[k]]);
      expect(b.name).toBe(`${fastUid}.ics`);
      // Change log and sync token.
      expect(await seqOf(anna.cal)).toBe(String(Number(seq0) + 1));
      expect((await changesOf(fastUid)).map((c) => [c.calendar_id, c.seq, c.kind, c.object_id])).toEqual([[anna.cal, String(Number(seq0) + 1), 'put', b.id]]);
      // The same reminder plan.
      const [ra, rb] = [await remindersOf(a.id), await remindersOf(b.id)];
      expect(rb.length).toBe(ra.length);
      expect(rb.length).toBe(event.alarms?.length || defaults?.length ? 1 : 0);
      for (let i = 0; i < ra.length; i++) {
        expect([rb[i].fire_at, rb[i].occurrence_start, rb[i].recurrence_id, rb[i].action, rb[i].single, rb[i].etag]).toEqual([ra[i].fire_at, ra[i].occurrence_start, ra[i].recurrence_id, ra[i].action, ra[i].single, b.etag]);
        expect(rb[i].basis.replace(b.etag, '')).toBe(ra[i].basis.replace(a.etag, ''));
      }
      // The same jobs (names, queues, priorities, payloads up to the UID and DTSTAMP).
      // (Sorted: graphile_worker.add_jobs gives ids in the order its join happens to produce, on either path.)
      const norm = (js: Awaited<ReturnType<typeof jobsOf>>, uid: string) => js.map((j) => ({
        name: j.task_identifier, queue: j.queue_name?.startsWith('deliver:') ? 'deliver' : j.queue_name, key: j.key,
        payload: JSON.parse(neutral(JSON.stringify(j.payload), uid).replace(/"deliveryId":"[^"]*"/g, '"deliveryId":"x"').replace(/DTSTAMP:[0-9TZ]+/g, 'DTSTAMP')),
      })).sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y)));
      expect(norm(await jobsOf(fastUid), fastUid)).toEqual(norm(await jobsOf(slowUid), slowUid));
      if (event.attendees?.length) expect((await jobsOf(fastUid)).length).toBeGreaterThan(0);
    });
  }

  it('createEventIn: two statements (calendar with the attendees\' principals, the write), no BEGIN/COMMIT, and the copies arrive', async () => {
    await env.ctx.db.updateTable('calendar').set({ default_reminders: JSON.stringify([]) }).where('id', '=', anna.cal).execute();
    const { seen, result: { row } } = await recordStatements(() => createEventIn(env.ctx, annaActor, { calendarId: anna.cal, event: { summary: 'Counted', start: '2035-06-01T10:00:00', end: '2035-06-01T11:00:00', timezone: 'UTC', attendees: people.map((p) => ({ email: p.email })) } }));
    // The owner's row comes from a cache in production (its TTL is 0 in tests): at most one read of it.
    const byId = seen.filter((q) => /^select \* from "principal" where "id" = \$1$/.test(q.trim()));
    expect(byId.length).toBeLessThanOrEqual(1);
    const rest = seen.filter((q) => !byId.includes(q));
    expect(rest, rest.map((q) => q.replace(/\s+/g, ' ').slice(0, 100)).join('\n')).toHaveLength(2);
    expect(seen.some((s) => /^\s*(begin|commit)/i.test(s))).toBe(false);
    const del = (await jobsOf(row.uid)).filter((j) => j.task_identifier === 'schedule-deliver');
    expect(del).toHaveLength(1);
    expect(del[0].payload.items.map((i: { recipientId: string }) => i.recipientId).sort()).toEqual(people.map((p) => p.id).sort());
    // Through HTTP as well: the created event is answered with its detail, no lease.
    const r = await create(anna, ev('Via HTTP', '2035-06-02T10:00:00', '2035-06-02T11:00:00', { attendees: [{ email: people[0].email }] }));
    expect(r.lease).toBeNull();
    expect(r.isOrganizer).toBe(true);
    expect(r.event.attendees.map((a: { email: string }) => a.email)).toEqual([anna.email, people[0].email]);
    // The 201 body of the text builder's path (its event JSON made from the input) reads as a GET of the event does.
    for (const e of [
      ev('Body check, with; escapes', '2035-06-03T10:00:00', '2035-06-03T11:30:00', { attendees: people.map((p) => ({ email: p.email })), description: 'Two\nlines', location: 'Room "1"', status: 'TENTATIVE', transparency: 'TRANSPARENT' }),
      { summary: 'Floating body', start: '2035-06-04T09:00', end: '2035-06-04T10:00', timezone: null },
    ]) {
      const made = await create(anna, e);
      const got = (await anna.api.get(`/events/${made.id}`)).json();
      expect(made).toEqual(got);
      const row = (await env.ctx.db.selectFrom('calendar_object').select('ical').where('id', '=', made.id).executeTakeFirstOrThrow());
      expect(made.event).toEqual({ ...eventToJson(row.ical), attachments: [] });
    }
  });

  it('declines without writing anything when the calendar defaults changed since they were read; the create then plans them', async () => {
    await env.ctx.db.updateTable('calendar').set({ default_reminders: JSON.stringify([{ minutesBefore: 10, action: 'DISPLAY' }]) }).where('id', '=', anna.cal).execute();
    const uid = randomUUID();
    const seq0 = await seqOf(anna.cal);
    const known = await principals.resolveAddresses(env.ctx.db, [anna.email, people[0].email]);
    const stale = await createFreshObject(env.ctx, annaActor, { ownerId: anna.id, calendarId: anna.cal, component: buildCalendar(meeting({ summary: 'Stale', start: '2035-07-01T10:00:00', end: '2035-07-01T11:00:00', timezone: 'UTC' }, [people[0].email]), { uid, dtstamp: new Date(), sequence: 0 }), defaults: [], knownPrincipals: known });
    expect(stale).toBeNull();
    expect(await objectsOf(uid)).toHaveLength(0);
    expect(await jobsOf(uid)).toHaveLength(0);
    expect(await changesOf(uid)).toHaveLength(0);
    expect(await seqOf(anna.cal)).toBe(seq0);
    // The command reads the calendar afresh: its reminder follows the current defaults.
    const { row } = await createEventIn(env.ctx, annaActor, { calendarId: anna.cal, event: { summary: 'Fresh', start: '2035-07-01T10:00:00', end: '2035-07-01T11:00:00', timezone: 'UTC' } });
    const rem = await remindersOf(row.id);
    expect(rem).toHaveLength(1);
    expect(rem[0].fire_at.toISOString()).toBe('2035-07-01T09:50:00.000Z');
    await env.ctx.db.updateTable('calendar').set({ default_reminders: JSON.stringify([]) }).where('id', '=', anna.cal).execute();
  });

  it('declines a meeting that needs a fan-out (writes in the planner) without writing; the command queues the fan-out', async () => {
    const many = Array.from({ length: 25 }, (_, i) => `guest${i}@partner.org`);
    const uid = randomUUID();
    const stale = await createFreshObject(env.ctx, annaActor, { ownerId: anna.id, calendarId: anna.cal, component: buildCalendar(meeting({ summary: 'Big', start: '2035-08-01T10:00:00', end: '2035-08-01T11:00:00', timezone: 'UTC' }, many), { uid, dtstamp: new Date(), sequence: 0 }), defaults: [], knownPrincipals: new Map([[anna.email, annaRow]]) });
    expect(stale).toBeNull();
    expect(await objectsOf(uid)).toHaveLength(0);
    expect(await jobsOf(uid)).toHaveLength(0);
    const { row } = await createEventIn(env.ctx, annaActor, { calendarId: anna.cal, event: { summary: 'Big', start: '2035-08-01T10:00:00', end: '2035-08-01T11:00:00', timezone: 'UTC', attendees: many.map((email) => ({ email })) } });
    expect((await jobsOf(row.uid)).map((j) => j.task_identifier)).toEqual(['schedule-fanout']);
  });

  it('an attendee named by an alias is that principal (found in the calendar\'s statement, as resolveAddresses finds it)', async () => {
    await env.ctx.db.insertInto('principal_alias').values({ email: 'f1-alias@example.com', principal_id: people[1].id }).execute();
    const { row } = await createEventIn(env.ctx, annaActor, { calendarId: anna.cal, event: { summary: 'Alias', start: '2035-06-05T10:00:00', end: '2035-06-05T11:00:00', timezone: 'UTC', attendees: [{ email: 'F1-Alias@example.com' }, { email: people[0].email }] } });
    const del = (await jobsOf(row.uid)).filter((j) => j.task_identifier === 'schedule-deliver');
    expect(del).toHaveLength(1);
    expect(del[0].payload.items.map((i: { recipientId: string }) => i.recipientId).sort()).toEqual([people[0].id, people[1].id].sort());
    // The CN comes from the principal found by the alias, as before.
    expect(row.ical).toContain('CN=F 1');
  });

  it('queues its jobs with a plain insert (new per-UID queue, known task), as add_jobs would, wakes the worker; a keyed job or an unknown task goes through add_jobs', async () => {
    const listener = await listenJobWakes(env.url);
    const { wakes } = listener;
    try {
      const full = async (uid: string) => (await sql<{ task: string; queue_name: string | null; payload: { uid?: string }; priority: number; max_attempts: number; attempts: number; key: string | null; flags: unknown; run_at: Date; revision: number }>`
        select t.identifier as task, q.queue_name, j.payload, j.priority, j.max_attempts, j.attempts, j.key, j.flags, j.run_at, j.revision
        from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id
        left join graphile_worker._private_job_queues q on q.id = j.job_queue_id where j.payload->>'uid' = ${uid} order by j.id`.execute(env.ctx.db)).rows;
      // add_jobs always draws from the tasks' identity sequence (its insert … on conflict do nothing); the plain insert does not.
      const taskSeq = async () => (await sql<{ v: string | null }>`select pg_sequence_last_value(pg_get_serial_sequence('graphile_worker._private_tasks', 'id'))::text as v`.execute(env.ctx.db)).rows[0].v;
      const seq0 = await taskSeq();
      await createEventIn(env.ctx, annaActor, { calendarId: anna.cal, event: { summary: 'Warm', start: '2035-06-06T08:00:00', end: '2035-06-06T09:00:00', timezone: 'UTC', attendees: people.map((p) => ({ email: p.email })) } });
      const seq1 = await taskSeq();
      const { row } = await createEventIn(env.ctx, annaActor, { calendarId: anna.cal, event: { summary: 'Direct jobs', start: '2035-06-06T10:00:00', end: '2035-06-06T11:00:00', timezone: 'UTC', attendees: people.map((p) => ({ email: p.email })) } });
      expect(seq1).toBeDefined();
      expect(await taskSeq()).toBe(seq1);
      expect(seq0).toBe(seq1);
      const [j] = await full(row.uid);
      expect({ task: j.task, queue: j.queue_name, priority: j.priority, max_attempts: j.max_attempts, attempts: j.attempts, key: j.key, flags: j.flags, revision: j.revision })
        .toEqual({ task: 'schedule-deliver', queue: deliverQueue(row.uid), priority: -10, max_attempts: 25, attempts: 0, key: null, flags: null, revision: 0 });
      expect(Math.abs(j.run_at.getTime() - Date.now())).toBeLessThan(60_000);
      await listener.waitFor(1);
      expect(wakes.length).toBeGreaterThanOrEqual(1);
      // The same statement with a keyed job, and with a task no job has used yet: add_jobs makes both (key, task row).
      const uid = randomUUID();
      const fresh = buildFreshEvent(meeting({ summary: 'Keyed', start: '2035-06-07T10:00:00', end: '2035-06-07T11:00:00', timezone: 'UTC' }, []), { uid, now: new Date() })!;
      const v = indexValues({ index: fresh.index, text: fresh.text }, { name: `${uid}.ics`, origin: 'rest', actorId: anna.id, ownerEmail: ANNA, hasAttachments: false });
      const task = `c4-test-${randomUUID().slice(0, 8)}`;
      const written = await objects.insertObjectWithJobs(env.ctx.db, anna.id, anna.cal, randomUUID(), v, { defaults: [], reminders: [], jobs: [
        { name: 'schedule-deliver', payload: { uid, n: 1 }, jobKey: `c4-key-${uid}`, queue: deliverQueue(uid) },
        { name: task, payload: { uid, n: 2 } },
        { name: 'schedule-deliver', payload: { uid, n: 3 }, queue: deliverQueue(uid) },
      ] });
      expect(written).toBeDefined();
      // The row it returns (not read back) is the row stored.
      const stored = await env.ctx.db.selectFrom('calendar_object').selectAll().where('id', '=', written!.id).executeTakeFirstOrThrow();
      expect(written).toEqual({ ...stored, defaultReminders: [] });
      expect(Object.keys(written!)).toEqual([...Object.keys(stored), 'defaultReminders']);
      expect(Number(await taskSeq())).toBeGreaterThan(Number(seq1));
      const rows = await full(uid);
      expect(rows.map((r) => [r.task, r.key, r.queue_name, (r.payload as { n: number }).n]).sort((a, b) => Number(a[3]) - Number(b[3]))).toEqual([
        ['schedule-deliver', `c4-key-${uid}`, deliverQueue(uid), 1], [task, null, null, 2], ['schedule-deliver', null, deliverQueue(uid), 3],
      ]);
    } finally {
      await listener.close();
    }
  });

  it('a calendar shared read-only, or unknown, is refused before anything is written (with attendees: the combined read)', async () => {
    const bob = await user(env, 'bob-fast@example.com', 'Bob');
    const before = await seqOf(anna.cal);
    const body = (calendarId: string) => ({ calendarId, event: ev('Nope', '2035-09-02T10:00:00', '2035-09-02T11:00:00', { attendees: [{ email: people[0].email }] }) });
    expect((await bob.api.post('/events', body(anna.cal))).statusCode).toBe(404);
    expect((await bob.api.post('/events', body(randomUUID()))).statusCode).toBe(404);
    expect(await seqOf(anna.cal)).toBe(before);
  });

  it('an unknown address of the own domain is refused and nothing is written', async () => {
    const before = await seqOf(anna.cal);
    const r = await anna.api.post('/events', { calendarId: anna.cal, event: ev('Bad', '2035-09-01T10:00:00', '2035-09-01T11:00:00', { attendees: [{ email: people[0].email }, { email: 'nobody@example.com' }] }) });
    expect(r.statusCode).toBe(422);
    expect(r.json().code ?? r.json().error).toBeTruthy();
    expect(await seqOf(anna.cal)).toBe(before);
  });
});
