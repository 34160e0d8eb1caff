// The reminder table and its batch sweeper (issue 5, flow 5): claims are leases, a re-plan made
// while a batch runs is never overwritten, an unchanged plan needs no re-parse, a batch sends once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { randomUUID } from 'node:crypto';
import { createTestEnv, makeUser, signInHeaders, type TestEnv } from '../support/harness.js';
import { startSmtpSink, type SmtpSink } from '../support/mail/smtp-sink.js';
import { claimDueReminders, findReminder } from '../../src/store/reminders.js';
import { fireClaimed } from '../../src/app/notify/reminders.js';

let env: TestEnv;
let sink: SmtpSink;
let anna: Record<string, string>;
let annaId: string;
let cal: string;
const day = (n: number) => new Date(Date.now() + n * 86400_000).toISOString().slice(0, 10);

async function createEvent(summary: string, date: string) {
  const res = await env.app.inject({ method: 'POST', url: '/api/v1/events', headers: anna, payload: { calendarId: cal, event: {
    summary, timezone: 'UTC', start: `${date}T10:00:00`, end: `${date}T11:00:00`, alarms: [{ action: 'EMAIL', trigger: '-PT15M' }] } } });
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { id: string; uid: string };
}
/** Makes the planned reminder due now (as if its time had come). */
const makeDue = (id: string) => sql`update reminder set due_at = now() - interval '1 second' where owner_id = ${annaId} and object_id = ${id}`.execute(env.ctx.db);

beforeAll(async () => {
  sink = await startSmtpSink({});
  env = await createTestEnv({ mailDomains: ['example.com'], smtpUrl: sink.url, mailFrom: 'calendar@example.com', dataDir: `/tmp/calendula-sweeper-${process.pid}` });
  annaId = (await makeUser(env.ctx, 'anna@example.com', { name: 'Anna' })).id;
  anna = await signInHeaders(env.app, 'anna@example.com');
  cal = (await env.app.inject({ method: 'GET', url: '/api/v1/calendars', headers: anna })).json().items[0].id;
}, 60_000);
afterAll(async () => {
  await env?.close();
  (await import('../../src/app/notify/mailer.js')).closeMailers();
  await sink?.close();
});

describe('reminder sweeper', () => {
  it('the write plans a row in its transaction; a batch claims, sends once, and finishes it', async () => {
    const evs = await Promise.all([1, 2, 3].map((i) => createEvent(`Batch ${i}`, day(20 + i))));
    for (const e of evs) {
      const r = (await findReminder(env.ctx.db, annaId, e.id))!;
      expect(r.fire_at.toISOString()).toMatch(/T09:45:00\.000Z$/);
      expect(r.single).toBe(true);
      await makeDue(e.id);
    }
    const token = randomUUID();
    const claimed = await claimDueReminders(env.ctx.db, token, 10, 60_000);
    expect(claimed.map((c) => c.objectId).sort()).toEqual(evs.map((e) => e.id).sort());
    // Claimed rows are leased: a second claim gets none of them.
    expect(await claimDueReminders(env.ctx.db, randomUUID(), 10, 60_000)).toEqual([]);
    const before = sink.messages.length;
    expect(await fireClaimed(env.ctx, claimed)).toMatchObject({ sent: 3 });
    await sink.waitFor(() => sink.messages.length - before >= 3, 10_000);
    expect(sink.messages.slice(before).filter((m) => /^<rem\./.test(m.parsed.messageId ?? '')).length).toBe(3);
    for (const e of evs) expect(await findReminder(env.ctx.db, annaId, e.id)).toBeUndefined();
    // The same claims fired again (a crashed worker's lease ran out after it had sent): the
    // delivery log keeps them from going out twice.
    await fireClaimed(env.ctx, claimed);
    expect(sink.messages.slice(before).filter((m) => /^<rem\./.test(m.parsed.messageId ?? '')).length).toBe(3);
  });

  it('a lease that runs out makes the row due again (crash safety)', async () => {
    const e = await createEvent('Lease', day(30));
    await makeDue(e.id);
    const first = await claimDueReminders(env.ctx.db, randomUUID(), 10, 1);
    expect(first.map((c) => c.objectId)).toEqual([e.id]);
    await sql`select pg_sleep(0.05)`.execute(env.ctx.db);
    const again = await claimDueReminders(env.ctx.db, randomUUID(), 10, 60_000);
    expect(again.map((c) => [c.objectId, c.attempts])).toEqual([[e.id, 2]]);
    await fireClaimed(env.ctx, again);
  });

  it('an event moved while its reminder was claimed: nothing is sent and the new plan stands', async () => {
    const e = await createEvent('Moved while claimed', day(40));
    await makeDue(e.id);
    const claimed = await claimDueReminders(env.ctx.db, randomUUID(), 10, 60_000);
    expect(claimed.map((c) => c.objectId)).toEqual([e.id]);
    const r = await env.app.inject({ method: 'PATCH', url: `/api/v1/events/${e.id}`, headers: anna, payload: { event: { start: `${day(41)}T10:00:00`, end: `${day(41)}T11:00:00`, timezone: 'UTC' } } });
    expect(r.statusCode, r.body).toBe(200);
    const before = sink.messages.length;
    expect(await fireClaimed(env.ctx, claimed)).toMatchObject({ replanned: 1, sent: 0 });
    expect(sink.messages.length).toBe(before);
    const row = (await findReminder(env.ctx.db, annaId, e.id))!;
    expect(row.fire_at.toISOString()).toBe(`${day(41)}T09:45:00.000Z`);
    expect(row.claimed_by).toBeNull();
  });

  it('a cancelled or deleted event drops its claimed reminder', async () => {
    const e = await createEvent('Deleted while claimed', day(50));
    await makeDue(e.id);
    const claimed = await claimDueReminders(env.ctx.db, randomUUID(), 10, 60_000);
    // Deleting removes the row in the same transaction; the claimed copy finds the event gone.
    const d = await env.app.inject({ method: 'DELETE', url: `/api/v1/events/${e.id}`, headers: anna });
    expect(d.statusCode).toBeLessThan(300);
    expect(await findReminder(env.ctx.db, annaId, e.id)).toBeUndefined();
    const before = sink.messages.length;
    expect(await fireClaimed(env.ctx, claimed)).toMatchObject({ dropped: 1 });
    expect(sink.messages.length).toBe(before);
  });
});
