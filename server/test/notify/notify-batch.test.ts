/**
 * Invitation notifications of a batched delivery (issue 3): one 'notify' job lists every copy of
 * the write; each recipient gets the same mail the single job sends, once — a retried job re-sends
 * nothing that went out, and a recipient who switched the kind off gets nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createTestEnv, makeUser, signInHeaders, type TestEnv } from '../support/harness.js';
import { startSmtpSink, type SmtpSink } from '../support/mail/smtp-sink.js';
import * as principals from '../../src/store/principals.js';
import { isNotifyBatch, sendNotification, sendNotificationBatch, type NotifyBatchPayload } from '../../src/app/notify/notifications.js';
import { deliverBatch, type DeliverBatchPayload } from '../../src/app/events/deliver-batch.js';

let env: TestEnv;
let sink: SmtpSink;
let anna: Record<string, string>;
let annaCal: string;
const people: { id: string; email: string }[] = [];

const jobsNamed = async (name: string) => (await sql<{ id: string; payload: any }>`select j.id::text as id, j.payload from graphile_worker._private_jobs j
  join graphile_worker._private_tasks t on t.id = j.task_id where t.identifier = ${name} order by j.id`.execute(env.ctx.db)).rows;
const mailsTo = (addr: string) => sink.messages.filter((m) => m.envelope.to.map((x) => x.toLowerCase()).includes(addr));

beforeAll(async () => {
  sink = await startSmtpSink({});
  env = await createTestEnv({ mailDomains: ['example.com'], smtpUrl: sink.url, mailFrom: 'calendar@example.com', dataDir: `/tmp/calendula-notify-batch-${process.pid}` });
  await makeUser(env.ctx, 'anna@example.com', { name: 'Anna' });
  for (let i = 0; i < 4; i++) people.push({ id: (await makeUser(env.ctx, `nb${i}@example.com`, { name: `NB ${i}` })).id, email: `nb${i}@example.com` });
  await principals.updatePrincipal(env.ctx.db, people[1].id, { language: 'ru', timezone: 'Europe/Moscow' });
  // nb3 wants no e-mail about invitations.
  await principals.updatePrincipal(env.ctx.db, people[3].id, { notify: { invitation: [] } } as never);
  anna = await signInHeaders(env.app, 'anna@example.com');
  annaCal = (await env.app.inject({ method: 'GET', url: '/api/v1/calendars', headers: anna })).json().items[0].id;
}, 60_000);
afterAll(async () => {
  await env?.close();
  (await import('../../src/app/notify/mailer.js')).closeMailers();
  await sink?.close();
});

describe('batched invitation notifications', () => {
  it('one job for the copies of a write; every wanted recipient gets the single path\'s mail once; a retry sends nothing again', async () => {
    const r = await env.app.inject({ method: 'POST', url: '/api/v1/events', headers: anna, payload: { calendarId: annaCal, event: { summary: 'Batch mail', start: '2031-05-05T10:00:00', end: '2031-05-05T11:00:00', timezone: 'Europe/Moscow', attendees: people.map((p) => ({ email: p.email })) } } });
    expect(r.statusCode, r.body).toBe(201);
    const uid = r.json().uid as string;
    const del = (await jobsNamed('schedule-deliver')).find((j) => j.payload.uid === uid)!;
    expect(await deliverBatch(env.ctx, del.payload as DeliverBatchPayload)).toEqual({ written: 4, skipped: 0, single: 0 });
    const copies = await env.ctx.db.selectFrom('calendar_object').select(['id', 'owner_id']).where('uid', '=', uid).where('role', '=', 'attendee').execute();
    const notes = (await jobsNamed('notify')).filter((j) => (j.payload.items ?? [j.payload]).some((i: { objectId: string }) => copies.some((c) => c.id === i.objectId)));
    expect(notes).toHaveLength(1);
    expect(isNotifyBatch(notes[0].payload)).toBe(true);
    const batch = notes[0].payload as NotifyBatchPayload;
    // nb3 switched invitations off on every channel: not listed.
    expect(batch.items.map((i) => i.recipientId).sort()).toEqual(people.slice(0, 3).map((p) => p.id).sort());

    const statuses = await sendNotificationBatch(env.ctx, batch, notes[0].id);
    expect(statuses.map((s) => s.email)).toEqual(['sent', 'sent', 'sent']);
    for (const p of people.slice(0, 3)) await sink.waitFor(() => mailsTo(p.email).length >= 1);
    // The same mail as the one-per-copy job: render nb0's again through the single path and compare.
    const c0 = copies.find((c) => c.owner_id === people[0].id)!;
    await sendNotification(env.ctx, { kind: 'invitation', recipientId: people[0].id, ownerId: people[0].id, objectId: c0.id, from: 'anna@example.com', previousIcal: null }, 'single-compare');
    await sink.waitFor(() => mailsTo(people[0].email).length >= 2);
    const [viaBatch, viaSingle] = mailsTo(people[0].email);
    expect(viaBatch.parsed.subject).toBe(viaSingle.parsed.subject);
    const body = (m: typeof viaBatch) => String(m.parsed.text ?? '').replace(/answer\?t=[^\s&"]+/g, 'answer?t=T');
    expect(body(viaBatch)).toBe(body(viaSingle));
    expect(String(viaBatch.parsed.text)).toContain('/api/v1/answer');
    // Russian for nb1, as for a single job.
    expect(mailsTo(people[1].email)[0].parsed.subject).not.toBe(viaBatch.parsed.subject);

    // A retry of the same job (same id): everything already went out.
    const again = await sendNotificationBatch(env.ctx, batch, notes[0].id);
    expect(again.map((s) => s.email)).toEqual(['already-sent', 'already-sent', 'already-sent']);
    await new Promise((res) => setTimeout(res, 300));
    expect(mailsTo(people[0].email)).toHaveLength(2);
    expect(mailsTo(people[2].email)).toHaveLength(1);
    expect(mailsTo(people[3].email)).toHaveLength(0);
    const log = await env.ctx.db.selectFrom('delivery_log').select(['recipient', 'status', 'kind']).where('uid', '=', uid).where('kind', '=', 'invitation').execute();
    expect(log.filter((l) => l.status === 'sent').map((l) => l.recipient).sort()).toEqual([people[0].email, people[0].email, people[1].email, people[2].email].sort());
  });
});
