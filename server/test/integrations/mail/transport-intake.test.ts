// Delivery (outbox and SMTP, error classification) and intake (LMTP/SMTP sessions) over
// real loopback sockets, with nodemailer as the client.
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { afterEach, describe, expect, it } from 'vitest';
import { startLmtpServer, startSmtpIntakeServer, normalizeRecipient, type IntakeEnvelope, type IntakeServer } from '../../../src/integrations/mail/intake-servers.js';
import { extractCalendarParts } from '../../../src/integrations/mail/mime-in.js';
import { createMailTransport, isPermanentMailError } from '../../../src/integrations/mail/transport.js';
import { startSmtpSink } from '../../support/mail/smtp-sink.js';

const ics = 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:u1@x\r\nDTSTAMP:20250101T000000Z\r\nDTSTART:20250102T100000Z\r\nSUMMARY:Тест\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n';
const mail = (to: string[], extra = '') => ({
  from: 'org@ext.test',
  to,
  subject: 'Invitation',
  text: 'hello' + extra,
  messageId: '<fixed-1@calendula.test>',
  icalEvent: { method: 'REQUEST', content: ics },
});

async function freePortClosed(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('createMailTransport', () => {
  it('without SMTP writes readable .eml files to the outbox, one per Message-ID', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'outbox-'));
    const t = createMailTransport({ outboxDir: join(dir, 'nested') });
    const r1 = await t.send(mail(['a@ext.test', 'b@ext.test']));
    const r2 = await t.send(mail(['a@ext.test', 'b@ext.test']));
    expect(t.kind).toBe('outbox');
    expect(r1).toMatchObject({ messageId: '<fixed-1@calendula.test>', accepted: ['a@ext.test', 'b@ext.test'], rejected: [] });
    expect(r2.path).toBe(r1.path);
    expect(readdirSync(join(dir, 'nested'))).toEqual([r1.path!.split('/').pop()]);
    await t.send({ ...mail(['a@ext.test']), messageId: '<other@calendula.test>' });
    expect(readdirSync(join(dir, 'nested'))).toHaveLength(2);
    const parsed = await extractCalendarParts(readFileSync(r1.path!));
    expect(parsed.parts[0]).toMatchObject({ method: 'REQUEST', uid: 'u1@x' });
    expect(parsed.messageId).toBe('<fixed-1@calendula.test>');
  });

  it('SMTP: accepted, partly rejected (permanent), refused message (temporary), server down', async () => {
    const sink = await startSmtpSink({
      rejectRecipient: (a) => (a.startsWith('nobody') ? { code: 550, message: '5.1.1 No such user' } : a.startsWith('busy') ? { code: 450, message: '4.2.1 Mailbox busy' } : null),
    });
    const t = createMailTransport({ smtpUrl: sink.url, outboxDir: '/nonexistent', pool: false });
    try {
      const ok = await t.send(mail(['a@ext.test', 'nobody@ext.test', 'busy@ext.test']));
      expect(ok.accepted).toEqual(['a@ext.test']);
      expect(ok.rejected.sort()).toEqual(['busy@ext.test', 'nobody@ext.test']);
      const byRcpt = Object.fromEntries((ok.rejectedErrors ?? []).map((e) => [e.recipient, e.permanent]));
      expect(byRcpt).toEqual({ 'nobody@ext.test': true, 'busy@ext.test': false });

      const allBad = await t.send(mail(['nobody@ext.test'])).catch((e: unknown) => e);
      expect(isPermanentMailError(allBad)).toBe(true);

      sink.setOptions({ rejectMessage: () => ({ code: 451, message: '4.3.0 Try later' }) });
      const temp = await t.send(mail(['a@ext.test'])).catch((e: unknown) => e);
      expect(temp).toBeInstanceOf(Error);
      expect(isPermanentMailError(temp)).toBe(false);
      sink.setOptions({ rejectMessage: () => ({ code: 554, message: '5.7.1 Spam' }) });
      expect(isPermanentMailError(await t.send(mail(['a@ext.test'])).catch((e: unknown) => e))).toBe(true);
    } finally {
      t.close();
      await sink.close();
    }
    const down = createMailTransport({ smtpUrl: `smtp://127.0.0.1:${await freePortClosed()}`, outboxDir: '/x', pool: false, timeoutMs: 2000 });
    const err = await down.send(mail(['a@ext.test'])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(isPermanentMailError(err)).toBe(false);
    down.close();
  });

  it('isPermanentMailError on shapes without a live server', () => {
    expect(isPermanentMailError({ code: 'EENVELOPE' })).toBe(true);
    expect(isPermanentMailError({ code: 'EAUTH', responseCode: 535 })).toBe(false);
    expect(isPermanentMailError({ response: '550 5.1.1 no' })).toBe(true);
    expect(isPermanentMailError({ response: '421 4.4.2 timeout' })).toBe(false);
    expect(isPermanentMailError(new Error('boom'))).toBe(false);
    expect(isPermanentMailError(null)).toBe(false);
  });
});

describe('intake servers', () => {
  let server: IntakeServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  const known = new Set(['anna@corp.test', 'boris@corp.test']);
  const stored: { raw: Buffer; envelope: IntakeEnvelope }[] = [];
  let failStore = 0;
  const options = (maxBytes = 100_000) => ({
    port: 0,
    maxBytes,
    resolveRecipient: async (a: string) => known.has(a),
    store: async (raw: Buffer, envelope: IntakeEnvelope) => {
      if (failStore > 0) {
        failStore--;
        throw new Error('queue down');
      }
      stored.push({ raw, envelope });
    },
  });
  const client = (port: number, lmtp: boolean) =>
    nodemailer.createTransport({ host: '127.0.0.1', port, lmtp, ignoreTLS: true } as Parameters<typeof nodemailer.createTransport>[0]);

  it('normalizeRecipient', () => {
    expect(normalizeRecipient('Anna+cal@Corp.Test')).toBe('anna@corp.test');
    expect(normalizeRecipient('<boris@corp.test>')).toBe('boris@corp.test');
    expect(normalizeRecipient('+x@corp.test')).toBe('+x@corp.test');
    expect(normalizeRecipient('no-at-sign')).toBe('no-at-sign');
  });

  it('LMTP: 250 for the known recipient (plus-addressed), 550 5.1.1 for the unknown; stored once after acceptance', async () => {
    stored.length = 0;
    server = await startLmtpServer(options());
    const info = await client(server.port, true).sendMail(mail(['Anna+cal@corp.test', 'ghost@corp.test']));
    expect(info.accepted).toEqual(['Anna+cal@corp.test']);
    expect(info.rejected).toEqual(['ghost@corp.test']);
    const rej = (info as unknown as { rejectedErrors: { responseCode: number; response: string }[] }).rejectedErrors[0];
    expect(rej.responseCode).toBe(550);
    expect(rej.response).toMatch(/5\.1\.1 <ghost@corp\.test>: unknown recipient/);
    expect(info.response).toMatch(/^250 /);
    expect(stored).toHaveLength(1);
    expect(stored[0].envelope).toMatchObject({ from: 'org@ext.test', to: ['anna@corp.test'], rcptTo: ['Anna+cal@corp.test'] });
    const parsed = await extractCalendarParts(stored[0].raw);
    expect(parsed.parts[0]).toMatchObject({ method: 'REQUEST', uid: 'u1@x' });
    expect(parsed.parts[0].ical).toContain('SUMMARY:Тест');
  });

  for (const lmtp of [true, false]) {
    const kind = lmtp ? 'LMTP' : 'SMTP';
    const start = lmtp ? startLmtpServer : startSmtpIntakeServer;

    it(`${kind}: oversized message gets 552 and is not stored`, async () => {
      stored.length = 0;
      server = await start(options(2000));
      const err = (await client(server.port, lmtp).sendMail(mail(['anna@corp.test'], 'x'.repeat(10_000))).catch((e: unknown) => e)) as {
        responseCode?: number;
        response?: string;
        rejectedErrors?: { responseCode: number }[];
      };
      const code = err.responseCode ?? err.rejectedErrors?.[0]?.responseCode;
      expect(code).toBe(552);
      expect(isPermanentMailError(err)).toBe(true);
      expect(stored).toHaveLength(0);
    });

    it(`${kind}: store failure gives 451, a retry then succeeds`, async () => {
      stored.length = 0;
      failStore = 1;
      server = await start(options());
      const c = client(server.port, lmtp);
      const err = (await c.sendMail(mail(['boris@corp.test'])).catch((e: unknown) => e)) as { responseCode?: number; rejectedErrors?: { responseCode: number }[]; response?: string };
      expect(err.responseCode ?? err.rejectedErrors?.[0]?.responseCode).toBe(451);
      expect(isPermanentMailError(err)).toBe(false);
      expect(stored).toHaveLength(0);
      const ok = await c.sendMail(mail(['boris@corp.test']));
      expect(ok.accepted).toEqual(['boris@corp.test']);
      expect(stored).toHaveLength(1);
    });
  }

  it('SMTP: unknown recipient refused at RCPT with 550, null sender (bounce) accepted', async () => {
    stored.length = 0;
    server = await startSmtpIntakeServer(options());
    const c = client(server.port, false);
    const err = (await c.sendMail(mail(['ghost@corp.test'])).catch((e: unknown) => e)) as { responseCode?: number };
    expect(err.responseCode).toBe(550);
    const bounce = await c.sendMail({ ...mail(['anna@corp.test']), envelope: { from: '', to: ['anna@corp.test'] } });
    expect(bounce.accepted).toEqual(['anna@corp.test']);
    expect(stored[0].envelope.from).toBe('');
  });

  it('a failing resolver gives 451 at RCPT', async () => {
    server = await startLmtpServer({ ...options(), resolveRecipient: async () => Promise.reject(new Error('db down')) });
    const err = (await client(server.port, true).sendMail(mail(['anna@corp.test'])).catch((e: unknown) => e)) as { responseCode?: number };
    expect(err.responseCode).toBe(451);
  });
});
