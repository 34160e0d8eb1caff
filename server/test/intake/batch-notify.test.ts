// The notifications of a mail intake batch (app/intake/process.ts, batchNotifications): the
// invitations one batch applied for its recipient go out as ONE batched 'notify' job
// (sendNotificationBatch), one mail per event — the mails the one-job-per-message path sends —
// and a retry of that job sends none of them again.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, makeUser, type TestEnv } from '../support/harness.js';
import { startSmtpSink, type SmtpSink } from '../support/mail/smtp-sink.js';
import { receiveMail } from '../../src/app/intake/receive.js';
import { batchNotifications, processInbound } from '../../src/app/intake/process.js';
import { batchItemKeys, isNotifyBatch, sendNotification, sendNotificationBatch, type NotifyBatchPayload } from '../../src/app/notify/notifications.js';
import * as objects from '../../src/store/objects.js';
import type { PrincipalRow } from '../../src/store/schema.js';

const CRLF = '\r\n';
let env: TestEnv;
let sink: SmtpSink;
let erin: PrincipalRow;

beforeAll(async () => {
  sink = await startSmtpSink({});
  env = await createTestEnv({ mailDomains: ['example.com'], smtpUrl: sink.url, mailFrom: 'calendar@example.com', dataDir: `/tmp/calendula-intake-notify-${process.pid}` });
  erin = await makeUser(env.ctx, 'erin@example.com', { name: 'Erin' });
}, 60_000);
afterAll(async () => {
  await env?.close();
  (await import('../../src/app/notify/mailer.js')).closeMailers();
  await sink?.close();
});

function message(uid: string, method: 'REQUEST' | 'CANCEL', seq: number, summary: string) {
  const ical = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Test//EN', `METHOD:${method}`, 'BEGIN:VEVENT', `UID:${uid}`, `DTSTAMP:2031010${seq + 1}T000000Z`,
    'DTSTART:20310605T100000Z', 'DTEND:20310605T110000Z', `SUMMARY:${summary}`, `SEQUENCE:${seq}`, 'ORGANIZER;CN=Chief:mailto:ceo@partner.org',
    `ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:${erin.email}`, ...(method === 'CANCEL' ? ['STATUS:CANCELLED'] : []), 'END:VEVENT', 'END:VCALENDAR', ''].join(CRLF);
  return Buffer.from([`From: ceo@partner.org`, `To: ${erin.email}`, `Subject: ${method}`, `Message-ID: <${uid}.${seq}@partner.org>`, 'MIME-Version: 1.0',
    `Content-Type: text/calendar; method=${method}; charset=utf-8`, '', ical].join(CRLF));
}

const notifyJobs = async () => (await sql<{ id: string; payload: any }>`select j.id::text as id, j.payload from graphile_worker._private_jobs j
  join graphile_worker._private_tasks t on t.id = j.task_id where t.identifier = 'notify' order by j.id`.execute(env.ctx.db)).rows;
const mailsTo = (addr: string) => sink.messages.filter((m) => m.envelope.to.map((x) => x.toLowerCase()).includes(addr));

describe('notifications of an intake batch', () => {
  it('one batched job for the batch\'s invitations; one mail per event, as the single path sends it; a retry sends nothing again', async () => {
    const ids = [];
    for (const [i, summary] of ['Alpha', 'Beta', 'Gamma'].entries()) {
      ids.push(await receiveMail(env.ctx, message(`n${i}@partner.org`, 'REQUEST', 0, summary), { from: 'ceo@partner.org', to: [erin.email] }, 'lmtp'));
    }
    const jobs = (await sql<{ id: string; payload: { id: string; queue: string } }>`
      select j.id::text as id, j.payload from graphile_worker._private_jobs j join graphile_worker._private_job_queues q on q.id = j.job_queue_id
      where q.queue_name = ${`intake:${erin.id}`} order by j.priority, j.run_at, j.id`.execute(env.ctx.db)).rows;
    expect(jobs.map((j) => j.payload.id)).toEqual(ids);
    await processInbound(env.ctx, jobs[0].payload.id, { queue: jobs[0].payload.queue, jobId: jobs[0].id });
    const copies = await Promise.all(['n0', 'n1', 'n2'].map(async (u) => (await objects.findByUid(env.ctx.db, erin.id, `${u}@partner.org`))!));

    const notes = await notifyJobs();
    expect(notes).toHaveLength(1);
    expect(isNotifyBatch(notes[0].payload)).toBe(true);
    const batch = notes[0].payload as NotifyBatchPayload;
    expect(batch).toMatchObject({ kind: 'invitation', from: 'ceo@partner.org' });
    expect(batch.items).toEqual(copies.map((c) => ({ recipientId: erin.id, ownerId: erin.id, objectId: c.id })));

    const statuses = await sendNotificationBatch(env.ctx, batch, notes[0].id);
    expect(statuses.map((s) => s.email)).toEqual(['sent', 'sent', 'sent']);
    await sink.waitFor(() => mailsTo(erin.email).length >= 3);
    const subjects = mailsTo(erin.email).map((m) => String(m.parsed.subject));
    for (const s of ['Alpha', 'Beta', 'Gamma']) expect(subjects.filter((x) => x.includes(s))).toHaveLength(1);

    // The same mail as the one-job-per-message path: render Beta's again through it and compare.
    await sendNotification(env.ctx, { kind: 'invitation', recipientId: erin.id, ownerId: erin.id, objectId: copies[1].id, from: 'ceo@partner.org', previousIcal: null }, 'single-compare');
    await sink.waitFor(() => mailsTo(erin.email).length >= 4);
    const all = mailsTo(erin.email);
    const viaBatch = all.find((m) => String(m.parsed.subject).includes('Beta'))!;
    const viaSingle = all[3];
    expect(viaSingle.parsed.subject).toBe(viaBatch.parsed.subject);
    const body = (m: typeof viaBatch) => String(m.parsed.text ?? '').replace(/answer\?t=[^\s&"]+/g, 'answer?t=T');
    expect(body(viaBatch)).toBe(body(viaSingle));

    // A retry of the same job (same id): everything already went out.
    const again = await sendNotificationBatch(env.ctx, batch, notes[0].id);
    expect(again.map((s) => s.email)).toEqual(['already-sent', 'already-sent', 'already-sent']);
    await new Promise((res) => setTimeout(res, 300));
    expect(mailsTo(erin.email)).toHaveLength(4);
  });
});

describe('batchNotifications', () => {
  const inv = (objectId: string, from = 'a@x') => ({ name: 'notify', payload: { kind: 'invitation', recipientId: 'r', ownerId: 'r', objectId, from, previousIcal: null } });
  it('merges invitations and cancellations per kind and sender; leaves every other job alone', () => {
    const reply = { name: 'notify', payload: { kind: 'reply', recipientId: 'r', ownerId: 'r', objectId: 'o9', from: 'b@x', partstat: 'ACCEPTED' } };
    const update = { name: 'notify', payload: { kind: 'update', recipientId: 'r', ownerId: 'r', objectId: 'o8', from: 'a@x', previousIcal: 'X' }, jobKey: 'k', jobKeyMode: 'preserve_run_at' as const };
    const cancel = { name: 'notify', payload: { kind: 'cancellation', recipientId: 'r', ownerId: 'r', objectId: 'o1', from: 'a@x' } };
    const out = batchNotifications([inv('o1'), reply, inv('o2'), inv('o3', 'c@x'), update, cancel]);
    expect(out.slice(0, 2)).toEqual([reply, update]);
    expect(out.slice(2).map((j) => j.payload)).toEqual([
      { kind: 'invitation', from: 'a@x', items: [{ recipientId: 'r', ownerId: 'r', objectId: 'o1' }, { recipientId: 'r', ownerId: 'r', objectId: 'o2' }] },
      // Alone: the single job's payload, as before.
      inv('o3', 'c@x').payload,
      cancel.payload,
    ]);
    expect(out[2].queue).toMatch(/^notify-batch:/);
  });

  it('gives every item of a batch its own idempotency key, the same on every retry', () => {
    // A batched delivery (one item per recipient) keeps its keys: the recipient alone.
    expect(batchItemKeys([{ recipientId: 'a', ownerId: 'a', objectId: 'o' }, { recipientId: 'b', ownerId: 'b', objectId: 'o' }])).toEqual(['a', 'b']);
    const items = [{ recipientId: 'r', ownerId: 'r', objectId: 'o1' }, { recipientId: 'r', ownerId: 'r', objectId: 'o2' }, { recipientId: 'r', ownerId: 'r', objectId: 'o1' }];
    expect(batchItemKeys(items)).toEqual(['r.o1', 'r.o2', 'r.o1.1']);
    expect(new Set(batchItemKeys(items)).size).toBe(3);
  });
});
