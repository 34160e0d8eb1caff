// A batched 'imip-send' job logs its deliveries in groups while it is still sending, so a worker
// killed in the middle of a batch re-sends only the messages sent since the last group (not the
// whole batch); a retry of the job skips everything already logged. Real PostgreSQL, a real
// smtp-server on loopback that holds a message back on command.
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestEnv, makeUser, eventually, type TestEnv } from '../support/harness.js';
import { sendImipBatch } from '../../src/app/notify/imip.js';
import type { ImipBatchPayload } from '../../src/app/events/scheduling.js';

let env: TestEnv;
let srv: SMTPServer;
const arrived: string[] = [];
let holdAfter = Infinity;
const held: (() => void)[] = [];

beforeAll(async () => {
  srv = new SMTPServer({
    disableReverseLookup: true, authOptional: true, logger: false, disabledCommands: ['STARTTLS'], hideSTARTTLS: true,
    onData(stream, session, cb) {
      stream.on('data', () => {});
      stream.on('end', () => {
        const to = session.envelope.rcptTo.map((r) => r.address);
        // Messages past the first `holdAfter` are answered only when released.
        if (arrived.length >= holdAfter) held.push(() => { arrived.push(...to); cb(null, 'Ok'); });
        else { arrived.push(...to); cb(null, 'Ok'); }
      });
    },
  });
  srv.on('error', () => {});
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.server.address() as AddressInfo).port;
  env = await createTestEnv({ mailDomains: ['example.com'], smtpUrl: `smtp://127.0.0.1:${port}`, mailFrom: 'calendar@example.com', smtpMaxConnections: 2, dataDir: `/tmp/calendula-batchlog-${process.pid}` });
}, 60_000);

afterAll(async () => {
  await env?.close();
  (await import('../../src/app/notify/mailer.js')).closeMailers();
  for (const release of held.splice(0)) release();
  await new Promise<void>((r) => srv.close(() => r()));
});

it('logs a batch in groups while it is still sending (not all at the end)', async () => {
  const owner = await makeUser(env.ctx, 'org@example.com', { name: 'Org' });
  const uid = 'batch-log-1@example.com';
  const ical = `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:${uid}\r\nDTSTAMP:20300101T000000Z\r\nDTSTART:20300102T100000Z\r\nDTEND:20300102T110000Z\r\nSUMMARY:Batch\r\nORGANIZER:mailto:org@example.com\r\n${Array.from({ length: 40 }, (_, k) => `ATTENDEE;RSVP=TRUE:mailto:g${k}@ext.test`).join('\r\n')}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n`;
  const payload: ImipBatchPayload = {
    ownerId: owner.id, uid, method: 'REQUEST', sender: 'org@example.com', ical, significant: true,
    recipients: Array.from({ length: 40 }, (_, k) => ({ recipient: `g${k}@ext.test`, deliveryId: `batchlog-${k}` })),
  };
  const sentRows = async () => Number((await env.ctx.db.selectFrom('delivery_log').select((eb) => eb.fn.countAll().as('n'))
    .where('channel', '=', 'imip').where('delivery_key', 'like', 'batchlog-%').where('status', '=', 'sent').executeTakeFirstOrThrow()).n);

  holdAfter = 25;
  const job = sendImipBatch(env.ctx, payload, 1);
  await eventually(async () => held.length > 0, 20_000, "a message held back");
  // 25 accepted, the rest held back: at least two groups of 10 are already in the log.
  await eventually(async () => (await sentRows()) >= 20, 20_000, "two groups logged");
  expect(await sentRows()).toBeLessThanOrEqual(25);

  // A worker killed at this point would leave only the unlogged ones (at most 5 accepted, plus the
  // held ones) to be sent again by the retry, not all 25 accepted so far.
  holdAfter = Infinity;
  for (const release of held.splice(0)) release();
  const outcomes = await job;
  expect(outcomes.filter((o) => o === 'sent')).toHaveLength(40);
  expect(await sentRows()).toBe(40);
  expect(arrived.filter((a) => a.endsWith('@ext.test')).sort()).toEqual(payload.recipients.map((r) => r.recipient).sort());
});
