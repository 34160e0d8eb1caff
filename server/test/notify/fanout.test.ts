/**
 * A 1,000-attendee meeting is not one giant transaction (issue 3 §4, issue 5 fan-out): the
 * writer's transaction queues one 'schedule-fanout' job and stores the iTIP text once; the worker
 * then queues the deliveries in batches, every internal copy is made, every external attendee
 * receives their iMIP message, and SCHEDULE-STATUS is written back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, eventually, makeUser, startTestWorker, type TestEnv } from '../support/harness.js';
import { startSmtpSink, type SmtpSink } from '../support/mail/smtp-sink.js';
import { create, jobs, user, type TestUser } from '../core/_helpers.js';

const INTERNAL = 50;
const EXTERNAL = 950;

let env: TestEnv;
let sink: SmtpSink;
let olga: TestUser;
const internal: { id: string; email: string }[] = [];

beforeAll(async () => {
  sink = await startSmtpSink();
  env = await createTestEnv({ mailDomains: ['example.com'], smtpUrl: sink.url, mailFrom: 'calendar@example.com', dataDir: `/tmp/calendula-fanout-${process.pid}` });
  olga = await user(env, 'olga@example.com', 'Olga');
  for (let i = 0; i < INTERNAL; i++) {
    const email = `u${i}@example.com`;
    internal.push({ id: (await makeUser(env.ctx, email, { name: `User ${i}` })).id, email });
  }
}, 120_000);
afterAll(async () => {
  await env?.close();
  await sink?.close();
});

const externalMail = (method: string) => sink.messages.filter((m) => !m.envelope.to[0].endsWith('@example.com') && new RegExp(`^METHOD:${method}`, 'm').test(icsOf(m)));
function icsOf(m: SmtpSink['messages'][number]): string {
  const a = m.parsed.attachments.find((x) => /text\/calendar/i.test(x.contentType));
  return (a?.content.toString('utf8') ?? '').replace(/\r?\n[ \t]/g, '');
}
const copies = (uid: string) => env.ctx.db.selectFrom('calendar_object').select(['owner_id', 'status', 'deleted_at', 'my_partstat']).where('uid', '=', uid).where('owner_id', 'in', internal.map((u) => u.id)).execute();

describe('fan-out of a 1,000-attendee meeting', () => {
  it('the create queues a handful of jobs; the worker delivers 50 copies and 950 iMIP messages; deleting cancels them all', async () => {
    const externals = Array.from({ length: EXTERNAL }, (_, i) => `x${i}@p${i % 40}.org`);
    const attendees = [...internal.map((u) => ({ email: u.email })), ...externals.map((email) => ({ email }))];
    const e = await create(olga, { summary: 'All hands', start: '2032-03-01T10:00:00', end: '2032-03-01T11:00:00', timezone: 'UTC', attendees });

    // Before any worker runs: the writer's transaction held a few jobs and one stored text.
    const queued = await jobs(env);
    expect(queued.length).toBeLessThanOrEqual(5);
    expect(queued.filter((j) => j.task_identifier === 'schedule-fanout')).toHaveLength(1);
    expect(queued.filter((j) => j.task_identifier === 'imip-send' || j.task_identifier === 'schedule-deliver')).toHaveLength(0);
    expect(queued.every((j) => JSON.stringify(j.payload).length < 2000)).toBe(true);
    const stored = await env.ctx.db.selectFrom('itip_message').select(['id', 'ical']).where('uid', '=', e.uid).execute();
    expect(stored).toHaveLength(1);
    expect(stored[0].ical).toMatch(/^METHOD:REQUEST/m);

    const worker = await startTestWorker(env, 8);
    try {
      await eventually(async () => (await copies(e.uid)).length === INTERNAL, 60_000, 'internal copies');
      await eventually(async () => externalMail('REQUEST').length >= EXTERNAL, 180_000, 'iMIP requests');
      const got = externalMail('REQUEST');
      expect(got).toHaveLength(EXTERNAL);
      expect(new Set(got.map((m) => m.envelope.to[0])).size).toBe(EXTERNAL);
      expect(new Set(got.map((m) => m.parsed.messageId)).size).toBe(EXTERNAL);
      for (const m of got) {
        const to = m.envelope.to[0];
        expect(externals).toContain(to);
        const ics = icsOf(m);
        expect(ics).toContain(`UID:${e.uid}`);
        expect(ics).toMatch(new RegExp(`^ATTENDEE[^\\n]*:mailto:${to.replace(/\./g, '\\.')}\\r?$`, 'im'));
        expect(ics).toMatch(/^ORGANIZER[^\n]*mailto:olga@example\.com/im);
        expect(ics).not.toMatch(/SCHEDULE-STATUS/);
      }
      // SCHEDULE-STATUS written back onto the organizer's copy: 1.1 (sent) for every external attendee.
      await eventually(async () => {
        const r = (await olga.api.get(`/events/${e.id}`)).json();
        const text = (await env.ctx.db.selectFrom('calendar_object').select('ical').where('id', '=', e.id).executeTakeFirstOrThrow()).ical.replace(/\r?\n[ \t]/g, '');
        return r && (text.match(/SCHEDULE-STATUS=1\.1/g) ?? []).length === EXTERNAL;
      }, 60_000, 'SCHEDULE-STATUS 1.1 for all external attendees');
      // The fan-out is done: nothing left to queue.
      expect(await env.ctx.db.selectFrom('itip_fanout').select('id').execute()).toHaveLength(0);

      // Deleting: 1,000 per-recipient CANCELs, again through one fan-out; each internal copy is
      // cancelled after its invitation (per-recipient order), each external attendee gets their CANCEL.
      expect((await olga.api.del(`/events/${e.id}`)).statusCode).toBe(204);
      await eventually(async () => (await copies(e.uid)).every((c) => c.status === 'CANCELLED' || c.deleted_at), 60_000, 'internal copies cancelled');
      await eventually(async () => externalMail('CANCEL').length >= EXTERNAL, 180_000, 'iMIP cancellations');
      for (const m of externalMail('CANCEL')) {
        const ics = icsOf(m);
        expect(ics.match(/^ATTENDEE/gm)).toHaveLength(1);
        expect(ics).toContain(`mailto:${m.envelope.to[0]}`);
      }
    } finally {
      await worker.stop();
    }
  }, 540_000);
});
