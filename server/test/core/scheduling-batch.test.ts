/**
 * Batched internal delivery (issue 3, create/scheduling benchmark): all internal attendees of one
 * organizer write are written by ONE 'schedule-deliver' job, set-based (app/events/deliver-batch.ts).
 * The jobs are run by hand here (no worker), so each step is observed exactly.
 */
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, makeUser, recordStatements, type TestEnv } from '../support/harness.js';
import { create, ev, jobs, user, type TestUser } from './_helpers.js';
import { deliverBatch, deliverQueue, isBatchPayload, notifyBatchQueue, NOTIFY_BATCH_QUEUES, type DeliverBatchPayload } from '../../src/app/events/deliver-batch.js';
import { deliverMessage } from '../../src/app/events/deliver.js';

let env: TestEnv;
let anna: TestUser;
const people: TestUser[] = [];
let roomId: string;

const copies = async (uid: string) => (await env.ctx.db.selectFrom('calendar_object').selectAll().where('uid', '=', uid).where('deleted_at', 'is', null).execute());
/** Runs (and removes) the queued schedule-deliver jobs of a UID, in queue order, as the worker would. */
async function runDeliveries(uid: string) {
  const js = (await jobs(env, 'schedule-deliver')).filter((j) => j.payload.uid === uid);
  for (const j of js) {
    if (isBatchPayload(j.payload)) await deliverBatch(env.ctx, j.payload);
    else await deliverMessage(env.ctx, j.payload);
  }
  await sql`delete from graphile_worker._private_jobs where payload->>'uid' = ${uid}`.execute(env.ctx.db);
  return js;
}
const changeLog = async (ownerId: string) => (await env.ctx.db.selectFrom('calendar_change').select(['seq', 'uid', 'kind']).where('owner_id', '=', ownerId).orderBy('seq').execute());

beforeAll(async () => {
  env = await createTestEnv({ mailDomains: ['example.com'], dataDir: `/tmp/calendula-test-batch-${process.pid}` });
  anna = await user(env, 'anna@example.com', 'Anna');
  for (let i = 0; i < 5; i++) people.push(await user(env, `p${i}@example.com`, `Person ${i}`));
  roomId = (await makeUser(env.ctx, 'room-b@example.com', { kind: 'room' })).id;
});
afterAll(async () => env.close());

describe('batched scheduling deliveries', () => {
  it('one create queues ONE job for the users, one per room, all on the queue of the UID; the batch writes every copy', async () => {
    const e = await create(anna, ev('Batch', '2034-03-01T10:00:00', '2034-03-01T11:00:00', { attendees: [...people.map((p) => ({ email: p.email })), { email: 'room-b@example.com' }, { email: 'ext@partner.org' }] }));
    const del = (await jobs(env, 'schedule-deliver')).filter((j) => j.payload.uid === e.uid);
    expect(del).toHaveLength(2);
    const batch = del.find((j) => isBatchPayload(j.payload))!;
    expect((batch.payload as DeliverBatchPayload).items.map((i) => i.recipientId).sort()).toEqual(people.map((p) => p.id).sort());
    expect(del.find((j) => !isBatchPayload(j.payload))!.payload.recipientId).toBe(roomId);
    expect(del.every((j) => j.queue_name === deliverQueue(e.uid))).toBe(true);
    expect((await jobs(env, 'imip-send')).filter((j) => j.payload.uid === e.uid)).toHaveLength(1);

    const before = await Promise.all(people.map((p) => changeLog(p.id)));
    await runDeliveries(e.uid);
    const all = await copies(e.uid);
    for (const [i, p] of people.entries()) {
      const c = all.filter((x) => x.owner_id === p.id);
      expect(c).toHaveLength(1);
      expect(c[0].calendar_id).toBe(p.cal);
      expect(c[0].role).toBe('attendee');
      expect(c[0].my_partstat).toBe('NEEDS-ACTION');
      expect(c[0].origin).toBe('scheduler');
      // One change-log entry per copy, right after the calendar's previous one (sync tokens).
      const log = await changeLog(p.id);
      expect(log.slice(before[i].length)).toEqual([{ seq: String(Number(before[i].at(-1)?.seq ?? 0) + 1), uid: e.uid, kind: 'put' }]);
    }
    // The room answered by itself (its own path): accepted, and the answer queued to Anna.
    expect(all.find((x) => x.owner_id === roomId)?.my_partstat).toBe('ACCEPTED');
    // Invitation notifications, one per user, queued in the same transaction.
    // (One job for all the invitations of the batch, listing each user's copy.)
    const noteJobs = (await jobs(env, 'notify')).filter((j) => (j.payload.items ?? [j.payload]).some((i: { objectId: string }) => all.some((c) => c.id === i.objectId)));
    expect(noteJobs).toHaveLength(1);
    expect(noteJobs[0].payload.kind).toBe('invitation');
    expect(noteJobs[0].payload.from).toBe('anna@example.com');
    // In one of the few notify-batch queues: such jobs never hold every worker slot at once.
    expect(noteJobs[0].queue_name).toBe(notifyBatchQueue(e.uid));
    expect(notifyBatchQueue(e.uid)).toMatch(new RegExp(`^notify-batch:[0-${NOTIFY_BATCH_QUEUES - 1}]$`));
    const items = noteJobs[0].payload.items as { recipientId: string; ownerId: string; objectId: string }[];
    expect(items.map((i) => i.recipientId).sort()).toEqual(people.map((p) => p.id).sort());
    for (const i of items) expect(all.find((c) => c.id === i.objectId)?.owner_id).toBe(i.ownerId);
    // The copies are visible through the API.
    const inv = (await people[0].api.get('/invitations')).json().items;
    expect(inv.some((i: { uid: string }) => i.uid === e.uid)).toBe(true);
  });

  it('a retried batch writes nothing twice; calendar default reminders are planned for the copies', async () => {
    await env.ctx.db.updateTable('calendar').set({ default_reminders: JSON.stringify([{ minutesBefore: 15, action: 'DISPLAY' }]) }).where('owner_id', '=', people[1].id).where('id', '=', people[1].cal).execute();
    const e = await create(anna, ev('Retry', '2034-03-02T10:00:00', '2034-03-02T11:00:00', { attendees: people.map((p) => ({ email: p.email })) }));
    const batch = (await jobs(env, 'schedule-deliver')).find((j) => j.payload.uid === e.uid)!.payload as DeliverBatchPayload;
    const first = await deliverBatch(env.ctx, batch);
    expect(first).toEqual({ written: 5, skipped: 0, single: 0 });
    const logs = await Promise.all(people.map((p) => changeLog(p.id)));
    const again = await deliverBatch(env.ctx, batch);
    expect(again).toEqual({ written: 0, skipped: 5, single: 0 });
    expect(await Promise.all(people.map((p) => changeLog(p.id)))).toEqual(logs);
    expect((await copies(e.uid)).filter((c) => c.owner_id !== anna.id)).toHaveLength(5);
    const copy = (await copies(e.uid)).find((c) => c.owner_id === people[1].id)!;
    const rem = await env.ctx.db.selectFrom('reminder').selectAll().where('owner_id', '=', people[1].id).where('object_id', '=', copy.id).executeTakeFirst();
    expect(rem?.fire_at.toISOString()).toBe('2034-03-02T09:45:00.000Z');
    const other = (await copies(e.uid)).find((c) => c.owner_id === people[2].id)!;
    expect(await env.ctx.db.selectFrom('reminder').select('object_id').where('owner_id', '=', people[2].id).where('object_id', '=', other.id).executeTakeFirst()).toBeUndefined();
    await sql`delete from graphile_worker._private_jobs where payload->>'uid' = ${e.uid}`.execute(env.ctx.db);
  });

  it('default reminders changed between the read and the calendar lock are the ones planned (LOCK_LATE)', async () => {
    const target = people[2];
    const e = await create(anna, ev('Late lock', '2034-03-03T10:00:00', '2034-03-03T11:00:00', { attendees: people.map((p) => ({ email: p.email })) }));
    const batch = (await jobs(env, 'schedule-deliver')).find((j) => j.payload.uid === e.uid)!.payload as DeliverBatchPayload;
    // Right before the copies are written — after the delivery read the calendars, before it locks
    // them — another session gives p2's calendar a default reminder (nothing locks the row yet).
    const other = new pg.Client({ connectionString: env.ctx.connectionString });
    await other.connect();
    const orig = pg.Client.prototype.query;
    let changed = false;
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      const q = args[0] as string | { text?: string };
      const text = typeof q === 'string' ? q : q?.text ?? '';
      if (!changed && this !== other && text.includes('prepared:insert_copies_with_jobs')) {
        changed = true;
        return (orig as (...a: unknown[]) => Promise<unknown>).call(other, `update calendar set default_reminders = '[{"minutesBefore":30,"action":"DISPLAY"}]' where owner_id = '${target.id}' and id = '${target.cal}'`)
          .then(() => (orig as (...a: unknown[]) => unknown).apply(this, args));
      }
      return (orig as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof orig;
    try {
      expect(await deliverBatch(env.ctx, batch)).toEqual({ written: 5, skipped: 0, single: 0 });
    } finally {
      pg.Client.prototype.query = orig;
      await other.end();
    }
    expect(changed).toBe(true);
    const copy = (await copies(e.uid)).find((c) => c.owner_id === target.id)!;
    const rem = await env.ctx.db.selectFrom('reminder').selectAll().where('owner_id', '=', target.id).where('object_id', '=', copy.id).executeTakeFirst();
    expect(rem?.fire_at.toISOString()).toBe('2034-03-03T09:30:00.000Z');
    await env.ctx.db.updateTable('calendar').set({ default_reminders: JSON.stringify([]) }).where('owner_id', '=', target.id).where('id', '=', target.cal).execute();
    await sql`delete from graphile_worker._private_jobs where payload->>'uid' = ${e.uid}`.execute(env.ctx.db);
  });

  it('an update keeps answers, resets them on a time change, and a cancellation reaches every copy — each one batched', async () => {
    const e = await create(anna, ev('Changing', '2034-03-03T10:00:00', '2034-03-03T11:00:00', { attendees: people.map((p) => ({ email: p.email })) }));
    await runDeliveries(e.uid);
    const mine = (await copies(e.uid)).find((c) => c.owner_id === people[0].id)!;
    expect((await people[0].api.post(`/events/${mine.id}/respond`, { partstat: 'ACCEPTED' })).statusCode).toBe(200);
    await runDeliveries(e.uid); // the REPLY to Anna (and the answer-only refresh to the others)
    const tag = (await copies(e.uid)).find((c) => c.owner_id === people[0].id)!.schedule_tag;

    // Location only: answers stay (RFC 5546 §2.1.4: no SEQUENCE bump).
    expect((await anna.api.patch(`/events/${e.id}`, { event: { location: 'Room 7' } })).statusCode).toBe(200);
    const q1 = (await runDeliveries(e.uid)).filter((j) => isBatchPayload(j.payload));
    expect(q1).toHaveLength(1);
    let c0 = (await copies(e.uid)).find((c) => c.owner_id === people[0].id)!;
    expect(c0.location).toBe('Room 7');
    expect(c0.my_partstat).toBe('ACCEPTED');

    // New time: answers reset, SEQUENCE bumped, Schedule-Tag changes (RFC 6638 §3.2.10).
    expect((await anna.api.patch(`/events/${e.id}`, { event: { start: '2034-03-03T12:00:00', end: '2034-03-03T13:00:00' } })).statusCode).toBe(200);
    await runDeliveries(e.uid);
    c0 = (await copies(e.uid)).find((c) => c.owner_id === people[0].id)!;
    expect(c0.first_start?.toISOString()).toBe('2034-03-03T12:00:00.000Z');
    expect(c0.my_partstat).toBe('NEEDS-ACTION');
    expect(c0.schedule_tag).not.toBe(tag);
    const upd = (await jobs(env, 'notify')).filter((j) => j.key === `notify:update:${people[0].id}:${c0.id}`);
    expect(upd).toHaveLength(1);

    // Delete: every copy cancelled in one batch.
    expect((await anna.api.del(`/events/${e.id}`)).statusCode).toBe(204);
    const q3 = await runDeliveries(e.uid);
    expect(q3.filter((j) => isBatchPayload(j.payload))).toHaveLength(1);
    const left = (await copies(e.uid)).filter((c) => c.owner_id !== anna.id);
    expect(left).toHaveLength(5);
    expect(left.every((c) => c.status === 'CANCELLED')).toBe(true);
  });

  it('batches of different events over the same attendees run concurrently without deadlock; change logs stay gapless', async () => {
    const evs = [];
    for (let i = 0; i < 6; i++) evs.push(await create(anna, ev(`Parallel ${i}`, `2034-04-0${i + 1}T10:00:00`, `2034-04-0${i + 1}T11:00:00`, { attendees: people.map((p) => ({ email: p.email })) })));
    const payloads = [];
    for (const e of evs) payloads.push((await jobs(env, 'schedule-deliver')).find((j) => j.payload.uid === e.uid)!.payload as DeliverBatchPayload);
    // Every other batch lists the attendees in reverse: the copies are inserted (and their calendars
    // reached) in different orders, and the calendar locks must still be taken in one order.
    const res = await Promise.all(payloads.map((p, i) => deliverBatch(env.ctx, i % 2 ? { ...p, items: [...p.items].reverse() } : p)));
    expect(res.every((r) => r.written === 5)).toBe(true);
    for (const p of people) {
      const seqs = (await changeLog(p.id)).map((x) => Number(x.seq));
      expect(seqs).toEqual(seqs.map((_, i) => seqs[0] + i));
      const cal = await env.ctx.db.selectFrom('calendar').select('sync_seq').where('owner_id', '=', p.id).where('id', '=', p.cal).executeTakeFirstOrThrow();
      expect(Number(cal.sync_seq)).toBe(seqs.at(-1));
    }
    for (const e of evs) await sql`delete from graphile_worker._private_jobs where payload->>'uid' = ${e.uid}`.execute(env.ctx.db);
  });

  it('many batches over overlapping attendees in random orders, with the attendees writing their own events meanwhile: no deadlock, no gap (LOCK_LATE)', async () => {
    // A fixed pseudo-random sequence: each event invites 2–5 of the five people, in a shuffled order.
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const evs: { uid: string; invited: TestUser[] }[] = [];
    for (let i = 0; i < 16; i++) {
      const invited = [...people].sort(() => rnd() - 0.5).slice(0, 2 + Math.floor(rnd() * 4));
      const e = await create(anna, ev(`Storm ${i}`, `2034-05-${String(i + 1).padStart(2, '0')}T10:00:00`, `2034-05-${String(i + 1).padStart(2, '0')}T11:00:00`, { attendees: invited.map((p) => ({ email: p.email })) }));
      evs.push({ uid: e.uid, invited });
    }
    const all = await jobs(env, 'schedule-deliver');
    const payloads = evs.map((e) => all.find((j) => j.payload.uid === e.uid)!.payload as DeliverBatchPayload);
    const before = new Map(await Promise.all(people.map(async (p) => [p.id, (await changeLog(p.id)).length] as const)));
    // The batches all at once, and each person creating two events of their own at the same time
    // (the single write path: its own change-log entry under its calendar's lock).
    const own = people.flatMap((p, i) => [0, 1].map((k) => create(p, ev(`Own ${i}.${k}`, `2034-05-2${k}T0${i}:00:00`, `2034-05-2${k}T0${i}:30:00`))));
    const res = await Promise.all([...payloads.map((p, i) => deliverBatch(env.ctx, i % 3 === 1 ? { ...p, items: [...p.items].reverse() } : p)), ...own]);
    expect(res.slice(0, payloads.length).map((r) => (r as { written: number }).written)).toEqual(evs.map((e) => e.invited.length));
    for (const p of people) {
      const log = await changeLog(p.id);
      const seqs = log.map((x) => Number(x.seq));
      expect(seqs).toEqual(seqs.map((_, i) => seqs[0] + i));
      // Every copy and both own events logged once, after what was there.
      expect(log.length - before.get(p.id)!).toBe(evs.filter((e) => e.invited.includes(p)).length + 2);
      const cal = await env.ctx.db.selectFrom('calendar').select('sync_seq').where('owner_id', '=', p.id).where('id', '=', p.cal).executeTakeFirstOrThrow();
      expect(Number(cal.sync_seq)).toBe(seqs.at(-1));
    }
    for (const e of evs) await sql`delete from graphile_worker._private_jobs where payload->>'uid' = ${e.uid}`.execute(env.ctx.db);
  });

  it('an invitation batch is seven statements, the calendars locked last; a copy whose resource name is taken goes the single way, without a change or a notification from the batch', async () => {
    const e = await create(anna, ev('Statements', '2034-06-01T10:00:00', '2034-06-01T11:00:00', { attendees: people.map((p) => ({ email: p.email })) }));
    const batch = (await jobs(env, 'schedule-deliver')).find((j) => j.payload.uid === e.uid)!.payload as DeliverBatchPayload;
    // Another event already uses the resource name the copy would get in p3's calendar.
    const clash = await env.ctx.db.insertInto('calendar_object').values({ owner_id: people[3].id, calendar_id: people[3].cal, name: `${e.uid}.ics`, uid: `other-${e.uid}`, component: 'VEVENT', ical: 'BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n', etag: 'x', schedule_tag: 'x', summary: 'Other', location: '', description: '', attendees: [], origin: 'rest' } as never).returning('id').executeTakeFirstOrThrow();
    const logs = await Promise.all(people.map((p) => changeLog(p.id)));
    const { seen, result: first } = await recordStatements(() => deliverBatch(env.ctx, { ...batch, items: batch.items.filter((i) => i.recipientId !== people[3].id) }));
    expect(first).toEqual({ written: 4, skipped: 0, single: 0 });
    // principals, BEGIN, the UID lock, copies + calendars (no row locks), the copies with their
    // reminders and jobs, then (LOCK_LATE) the calendars locked with the change logs, COMMIT.
    expect(seen.map((q) => q.replace(/\s+/g, ' ').replace(/^\/\*prepared:(\w+)\*\/.*/, '$1').replace(/^(begin|commit).*/i, '$1'))).toEqual(
      ['principals_by_ids', 'begin', 'lock_uids', 'copies_and_calendars', 'insert_copies_with_jobs', 'log_copy_changes', 'commit']);
    // The whole batch again: the four copies are in place (skipped); p3's goes the single way, which
    // refuses the taken name (the job would fail and be retried) — after the batch committed.
    const notifyJobs = (await jobs(env, 'notify')).length;
    await expect(deliverBatch(env.ctx, batch)).rejects.toThrow(/already exists/);
    // Nothing inserted: no notification job either (the single path failed before queueing one).
    expect((await jobs(env, 'notify')).length).toBe(notifyJobs);
    for (const [i, p] of people.entries()) {
      const added = (await changeLog(p.id)).slice(logs[i].length);
      const mine = (await copies(e.uid)).filter((c) => c.owner_id === p.id);
      if (i === 3) {
        expect(mine).toHaveLength(0);
        expect(added).toEqual([]);
        continue;
      }
      expect(mine).toHaveLength(1);
      expect(added).toEqual([{ seq: String(Number(logs[i].at(-1)?.seq ?? 0) + 1), uid: e.uid, kind: 'put' }]);
      const notes = (await jobs(env, 'notify')).filter((j) => (j.payload.items ?? [j.payload]).some((x: { objectId: string }) => x.objectId === mine[0].id));
      expect(notes.map((n) => n.payload.kind)).toEqual(['invitation']);
    }
    await env.ctx.db.deleteFrom('calendar_object').where('id', '=', clash.id).execute();
    await sql`delete from graphile_worker._private_jobs where payload->>'uid' = ${e.uid}`.execute(env.ctx.db);
  });

  it('an attendee answering while the update is being delivered: serialised by the UID lock, nothing lost', async () => {
    const e = await create(anna, ev('Race', '2034-05-01T10:00:00', '2034-05-01T11:00:00', { attendees: people.map((p) => ({ email: p.email })) }));
    await runDeliveries(e.uid);
    expect((await anna.api.patch(`/events/${e.id}`, { event: { location: 'Hall' } })).statusCode).toBe(200);
    const upd = (await jobs(env, 'schedule-deliver')).find((j) => j.payload.uid === e.uid && isBatchPayload(j.payload))!.payload as DeliverBatchPayload;
    const c1 = (await copies(e.uid)).find((c) => c.owner_id === people[1].id)!;
    const [answer] = await Promise.all([people[1].api.post(`/events/${c1.id}/respond`, { partstat: 'TENTATIVE' }), deliverBatch(env.ctx, upd)]);
    expect(answer.statusCode).toBe(200);
    const after = (await copies(e.uid)).filter((c) => c.owner_id === people[1].id);
    expect(after).toHaveLength(1);
    expect(after[0].location).toBe('Hall');
    // Update first: the answer is made on the new version. Answer first: the organizer's newer
    // SEQUENCE supersedes it (RFC 5546 §2.1.4) — either way the update itself is never lost.
    expect(['TENTATIVE', 'NEEDS-ACTION']).toContain(after[0].my_partstat);
    // The other order, deterministically: the answer commits first, then the update arrives.
    const e2 = await create(anna, ev('Race 2', '2034-05-02T10:00:00', '2034-05-02T11:00:00', { attendees: people.map((p) => ({ email: p.email })) }));
    await runDeliveries(e2.uid);
    expect((await anna.api.patch(`/events/${e2.id}`, { event: { location: 'Hall 2' } })).statusCode).toBe(200);
    const upd2 = (await jobs(env, 'schedule-deliver')).find((j) => j.payload.uid === e2.uid && isBatchPayload(j.payload))!.payload as DeliverBatchPayload;
    const c2 = (await copies(e2.uid)).find((c) => c.owner_id === people[2].id)!;
    expect((await people[2].api.post(`/events/${c2.id}/respond`, { partstat: 'DECLINED' })).statusCode).toBe(200);
    await deliverBatch(env.ctx, upd2);
    const after2 = (await copies(e2.uid)).find((c) => c.owner_id === people[2].id)!;
    // The answer was to the old SEQUENCE; the change bumped it, so the copy asks again (RFC 5546 §2.1.4).
    expect([after2.location, after2.my_partstat, after2.sequence]).toEqual(['Hall 2', 'NEEDS-ACTION', c2.sequence + 1]);
    await sql`delete from graphile_worker._private_jobs where payload->>'uid' = ${e2.uid}`.execute(env.ctx.db);
    await sql`delete from graphile_worker._private_jobs where payload->>'uid' = ${e.uid}`.execute(env.ctx.db);
  });
});
