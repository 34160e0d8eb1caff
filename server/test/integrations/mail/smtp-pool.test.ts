// The outgoing SMTP path: messages built once (mime-build.ts) and sent over our pool of
// SMTP sessions (smtp-pool.ts), against real smtp-server instances on loopback — with and
// without PIPELINING, refused recipients, a session dropped mid-transaction or while idle,
// STARTTLS and implicit TLS with a certificate made for the test, AUTH.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { simpleParser } from 'mailparser';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { afterEach, describe, expect, it } from 'vitest';
import { composeImip, composeReminder } from '../../../src/integrations/mail/imip-out.js';
import { buildMessage, clearEncodingCache } from '../../../src/integrations/mail/mime-build.js';
import { needsNoEscaping } from '../../../src/integrations/mail/smtp-pool.js';
import { createMailTransport, isPermanentMailError, type MailTransport } from '../../../src/integrations/mail/transport.js';

const attendees = (n: number) => Array.from({ length: n }, (_, k) => `ATTENDEE;CN=Участник ${k};RSVP=TRUE:mailto:p${k}@d${k % 7}.example.org`).join('\r\n');
const calendar = (n: number) => `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:pool-1@x\r\nDTSTAMP:20250101T000000Z\r\nDTSTART:20250102T100000Z\r\nSUMMARY:Планёрка\r\nORGANIZER:mailto:org@example.com\r\n${attendees(n)}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n`;
const invite = (to: string, ical: string, i = 1) => composeImip({
  method: 'REQUEST', ical, from: { email: 'org@example.com', name: 'Организатор, "Отдел"' }, replyTo: { email: 'org@example.com' }, to: [{ email: to, name: 'Гость' }],
  lang: 'ru', timezone: 'Europe/Moscow', messageId: `imip.${i}@example.com`, threadId: 'pool-1@example.com', summary: 'Планёрка', start: new Date(Date.UTC(2025, 0, 2, 10)),
  envelopeFrom: 'bounce@example.com',
});
const crlf = (b: Buffer) => b.toString('latin1').replace(/\r\n|\r|\n/g, '\r\n');

interface Received { from: string; to: string[]; raw: Buffer; secure: boolean; user?: string }

/** A real SMTP server on loopback that keeps what it receives and every chunk read from the wire. */
async function server(options: Partial<SMTPServerOptions> & { onMessage?: (raw: Buffer, socket: Socket | undefined) => Error | void } = {}) {
  const received: Received[] = [];
  const reads: string[] = [];
  const sockets = new Set<Socket>();
  const { onMessage, ...rest } = options;
  const srv = new SMTPServer({
    disableReverseLookup: true, authOptional: true, logger: false, disabledCommands: ['STARTTLS'], hideSTARTTLS: true,
    ...rest,
    onAuth(auth, _s, cb) {
      if (auth.username === 'calendar' && auth.password === 'p@ss word') cb(null, { user: auth.username });
      else cb(Object.assign(new Error('5.7.8 Authentication failed'), { responseCode: 535 }));
    },
    onRcptTo(address, _session, cb) {
      const a = address.address;
      if (a.startsWith('nobody')) return cb(Object.assign(new Error('5.1.1 No such user'), { responseCode: 550 }));
      if (a.startsWith('busy')) return cb(Object.assign(new Error('4.2.1 Mailbox busy'), { responseCode: 450 }));
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks);
        const socket = [...sockets].find((s) => s.remotePort === session.remotePort);
        const err = onMessage?.(raw, socket);
        if (err) return cb(err);
        received.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address), raw, secure: session.secure, user: session.user as string | undefined });
        cb(null, 'Ok: kept');
      });
    },
  });
  srv.on('error', () => {});
  srv.server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    if (!rest.secure) s.on('data', (d: Buffer) => reads.push(d.toString('latin1')));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.server.address() as AddressInfo).port;
  return {
    port, received, reads, sockets,
    dropAll: () => { for (const s of sockets) s.destroy(); },
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); srv.close(() => r()); }),
  };
}

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});
function transport(url: string, extra: Partial<Parameters<typeof createMailTransport>[0]> = {}): MailTransport {
  const t = createMailTransport({ smtpUrl: url, outboxDir: '/nonexistent', maxConnections: 2, timeoutMs: 5000, ...extra });
  cleanup.push(() => t.close());
  return t;
}

describe('buildMessage', () => {
  it('gives the same message as nodemailer (line breaks as CRLF), for a long calendar twice, a short one and a reminder', async () => {
    clearEncodingCache();
    const fixed = { date: new Date(Date.UTC(2025, 0, 1)), baseBoundary: 'test-boundary' };
    const cases = [
      { ...invite('guest@ext.test', calendar(300)), ...fixed },
      { ...invite('guest@ext.test', calendar(300)), ...fixed }, // second time: the encoded calendar comes from the cache
      { ...invite('other@ext.test', calendar(1)), ...fixed },
      { ...composeReminder({ from: { email: 'cal@example.com', name: 'Календарь' }, to: [{ email: 'u@example.com' }], lang: 'en', timezone: 'UTC', messageId: 'rem.1@x', threadId: 't@x', summary: 'Line one\n.leading dot', start: new Date(0) }), ...fixed },
      { ...invite('ascii@ext.test', calendar(300).replace(/[^\x00-\x7f]/g, 'x')), ...fixed }, // 7bit calendar
    ];
    for (const options of cases) {
      const ours = await buildMessage(options);
      const theirs = await new MailComposer(options).compile().build();
      expect(crlf(ours.raw)).toBe(crlf(theirs));
      expect(ours.raw.toString('latin1')).not.toMatch(/\r(?!\n)|(?<!\r)\n/); // CRLF only
      expect(ours.messageId).toBe(options.messageId);
      expect(ours.envelope).toEqual(new MailComposer(options).compile().getEnvelope());
      expect(ours.envelope.to).toHaveLength(1);
    }
    // The stand-in never leaks: the parsed message carries the real calendar twice.
    const parsed = await simpleParser((await buildMessage(cases[0])).raw);
    const ics = parsed.attachments.map((a) => a.content.toString('utf8'));
    expect(ics).toEqual([calendar(300), calendar(300)]);
  });

  it('lets nodemailer stream content it has to read (a stream attachment) and still returns one buffer', async () => {
    const options = { ...invite('guest@ext.test', calendar(300)), attachments: [{ filename: 'notes.txt', content: Readable.from([Buffer.from('from a stream')]) }] };
    const msg = await buildMessage(options);
    const parsed = await simpleParser(msg.raw);
    expect(parsed.messageId).toBe('<imip.1@example.com>');
    expect(parsed.attachments.map((a) => a.filename)).toContain('notes.txt');
    expect(parsed.attachments.find((a) => a.filename === 'notes.txt')!.content.toString()).toBe('from a stream');
    expect(parsed.attachments.some((a) => a.content.toString('utf8') === calendar(300))).toBe(true);
  });
});

describe('outbox transport', () => {
  it('writes the bytes the SMTP transport sends (CRLF), re-creates a removed folder, leaves no temporary file', async () => {
    const s = await server();
    cleanup.push(() => s.close());
    const smtp = transport(`smtp://127.0.0.1:${s.port}`);
    const dir = join(mkdtempSync(join(tmpdir(), 'calendula-outbox-')), 'outbox');
    const outbox = createMailTransport({ outboxDir: dir });
    const fixed = { date: new Date(Date.UTC(2025, 0, 1)), baseBoundary: 'test-boundary' };
    const options = { ...invite('guest@ext.test', calendar(300)), ...fixed };
    const r = await outbox.send(options);
    expect(r.accepted).toEqual(['guest@ext.test']);
    expect(r.messageId).toBe('<imip.1@example.com>');
    const written = readFileSync(r.path!);
    await smtp.send(options);
    expect(s.received).toHaveLength(1);
    expect(written.toString('latin1')).toBe(s.received[0].raw.toString('latin1'));
    expect(written.toString('latin1')).not.toMatch(/(?<!\r)\n/);
    rmSync(dir, { recursive: true, force: true });
    const again = await outbox.send({ ...invite('second@ext.test', calendar(2), 2), ...fixed });
    expect(readdirSync(dir)).toEqual([basename(again.path!)]);
  });

  it('gives every message its own multipart boundary', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'calendula-outbox-'));
    const outbox = createMailTransport({ outboxDir: dir });
    const bounds = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const r = await outbox.send(invite(`g${i}@ext.test`, calendar(3), i));
      const m = /boundary="([^"]+)"/.exec(readFileSync(r.path!, 'latin1'));
      expect(m).not.toBeNull();
      bounds.add(m![1]);
    }
    expect(bounds.size).toBe(20);
  });
});

describe('needsNoEscaping (RFC 5321 §4.5.2)', () => {
  it('passes CRLF text without leading dots and catches what must be changed', () => {
    const b = (s: string) => Buffer.from(s, 'latin1');
    expect(needsNoEscaping(b('a\r\nb\r\n'), false)).toBe(true);
    expect(needsNoEscaping(b('.a\r\n'), false)).toBe(false);
    expect(needsNoEscaping(b('.a\r\n'), 0x0a)).toBe(false);
    expect(needsNoEscaping(b('.a\r\n'), 0x41)).toBe(true);
    expect(needsNoEscaping(b('a\r\n.b'), false)).toBe(false);
    expect(needsNoEscaping(b('a\nb'), false)).toBe(false);
    expect(needsNoEscaping(b('a\rb'), false)).toBe(false);
    expect(needsNoEscaping(b('a\r'), false)).toBe(false);
    expect(needsNoEscaping(b('\nb'), 0x0d)).toBe(true);
    expect(needsNoEscaping(b('\nb'), 0x41)).toBe(false);
    expect(needsNoEscaping(b('b'), 0x0d)).toBe(false);
  });
});

describe('SMTP pool', () => {
  for (const pipelining of [true, false]) {
    it(`${pipelining ? 'with' : 'without'} PIPELINING: messages arrive intact; refused recipients are reported per recipient, 5xx permanent and 4xx temporary`, async () => {
      const s = await server({ hidePIPELINING: !pipelining });
      cleanup.push(() => s.close());
      const t = transport(`smtp://127.0.0.1:${s.port}`);
      const ical = calendar(300);
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) => t.send(invite(`guest${i}@ext.test`, ical, i))));
      expect(results.map((r) => r.accepted)).toEqual(Array.from({ length: 6 }, (_, i) => [`guest${i}@ext.test`]));
      expect(s.received).toHaveLength(6);
      for (const m of s.received) {
        expect(m.from).toBe('bounce@example.com');
        const parsed = await simpleParser(m.raw);
        expect(parsed.attachments.map((a) => a.content.toString('utf8'))).toEqual([ical, ical]);
        expect(parsed.subject).toContain('Планёрка');
      }
      // RFC 2920: with PIPELINING the whole envelope and DATA leave in one write; without it, one command at a time.
      const batched = s.reads.some((r) => r.includes('MAIL FROM:') && r.includes('RCPT TO:') && r.includes('DATA\r\n'));
      expect(batched).toBe(pipelining);

      const some = await t.send({ ...invite('guest@ext.test', ical), to: ['guest@ext.test', 'nobody@ext.test', 'busy@ext.test'], envelope: { from: 'bounce@example.com', to: ['guest@ext.test', 'nobody@ext.test', 'busy@ext.test'] } });
      expect(some.accepted).toEqual(['guest@ext.test']);
      expect(Object.fromEntries((some.rejectedErrors ?? []).map((e) => [e.recipient, [e.responseCode, e.permanent]]))).toEqual({ 'nobody@ext.test': [550, true], 'busy@ext.test': [450, false] });

      const none = await t.send(invite('nobody@ext.test', ical)).catch((e: unknown) => e);
      expect(none).toBeInstanceOf(Error);
      expect(isPermanentMailError(none)).toBe(true);
      const later = await t.send(invite('busy@ext.test', ical)).catch((e: unknown) => e);
      expect(isPermanentMailError(later)).toBe(false);
      // The session is still usable after the refusals (RSET), and nothing else arrived.
      await t.send(invite('after@ext.test', ical));
      // The first six went out at once over several sessions: they may arrive in any order.
      expect(s.received.slice(0, 6).map((m) => m.to.join()).sort()).toEqual(Array.from({ length: 6 }, (_, i) => `guest${i}@ext.test`));
      expect(s.received.slice(6).map((m) => m.to)).toEqual([['guest@ext.test'], ['after@ext.test']]);
    });
  }

  it('a line starting with a dot and bare line breaks survive the trip (dot-stuffing)', async () => {
    const s = await server();
    cleanup.push(() => s.close());
    const t = transport(`smtp://127.0.0.1:${s.port}`);
    const text = '.first line\n..two dots\r\nend\r.\n';
    await t.send({ from: 'a@example.com', to: 'b@ext.test', subject: 'dots', text, messageId: '<dots@x>' });
    await t.send({ from: 'a@example.com', to: 'b@ext.test', subject: 'dots', text: `${'x'.repeat(3000)}\r\n.${'y'.repeat(10)}`, messageId: '<dots2@x>' });
    const parsed = await Promise.all(s.received.map((m) => simpleParser(m.raw)));
    expect(parsed[0].text).toBe('.first line\n..two dots\nend\n.\n');
    expect(parsed[1].text?.replace(/\n$/, '')).toBe(`${'x'.repeat(3000)}\n.${'y'.repeat(10)}`);
  });

  it('a session dropped in the middle of DATA fails that message as temporary; the next one opens a new session', async () => {
    let drop = true;
    const s = await server({
      onMessage(_raw, socket) {
        if (drop) { drop = false; socket?.destroy(); return new Error('dropped'); }
      },
    });
    cleanup.push(() => s.close());
    const t = transport(`smtp://127.0.0.1:${s.port}`, { maxConnections: 1 });
    const err = await t.send(invite('first@ext.test', calendar(5))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(isPermanentMailError(err)).toBe(false);
    const ok = await t.send(invite('second@ext.test', calendar(5)));
    expect(ok.accepted).toEqual(['second@ext.test']);
    expect(s.received.map((m) => m.to)).toEqual([['second@ext.test']]);
  });

  it('a reused session the server dropped while idle is replaced and the message still goes out', async () => {
    const s = await server();
    cleanup.push(() => s.close());
    const t = transport(`smtp://127.0.0.1:${s.port}`, { maxConnections: 1 });
    await t.send(invite('one@ext.test', calendar(5)));
    s.dropAll();
    await new Promise((r) => setTimeout(r, 50));
    const ok = await t.send(invite('two@ext.test', calendar(5)));
    expect(ok.accepted).toEqual(['two@ext.test']);
    expect(s.received.map((m) => m.to)).toEqual([['one@ext.test'], ['two@ext.test']]);
  });

  it('a reused session the server cuts at the next MAIL FROM: the message is re-queued on a new session and arrives once', async () => {
    let cut = true;
    let sockets = new Set<Socket>();
    const s = await server({
      onMailFrom(_address, session, cb) {
        // RFC 5321 §3.8: a server may close the session; here it does so at the second transaction.
        if (cut && session.transaction === 2) {
          cut = false;
          [...sockets].find((k) => k.remotePort === session.remotePort)?.destroy();
          return;
        }
        cb();
      },
    });
    sockets = s.sockets;
    cleanup.push(() => s.close());
    const t = transport(`smtp://127.0.0.1:${s.port}`, { maxConnections: 1 });
    await t.send(invite('one@ext.test', calendar(5)));
    const ok = await t.send(invite('two@ext.test', calendar(5)));
    expect(cut).toBe(false);
    expect(ok.accepted).toEqual(['two@ext.test']);
    expect(s.received.map((m) => m.to)).toEqual([['one@ext.test'], ['two@ext.test']]);
  });

  it('a server that is not there: the send fails as temporary, and close() fails what is still queued', async () => {
    const s = await server();
    const port = s.port;
    await s.close();
    const t = transport(`smtp://127.0.0.1:${port}`, { maxConnections: 1 });
    const errs = await Promise.all([1, 2, 3].map((i) => t.send(invite(`g${i}@ext.test`, calendar(2))).catch((e: unknown) => e)));
    for (const e of errs) {
      expect(e).toBeInstanceOf(Error);
      expect(isPermanentMailError(e)).toBe(false);
    }
    t.close();
    const afterClose = await t.send(invite('late@ext.test', calendar(2))).catch((e: unknown) => e);
    expect(isPermanentMailError(afterClose)).toBe(false);
  });

  const tlsFiles = (() => {
    try {
      const dir = mkdtempSync(join(tmpdir(), 'smtp-tls-'));
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
      return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
    } catch {
      return null;
    }
  })();

  it.skipIf(!tlsFiles)('STARTTLS (required by the URL) and AUTH with a self-signed certificate made for the test; a wrong password is not a permanent failure', async () => {
    const s = await server({ key: tlsFiles!.key, cert: tlsFiles!.cert, disabledCommands: [], hideSTARTTLS: false, authOptional: false, authMethods: ['PLAIN', 'LOGIN'] });
    cleanup.push(() => s.close());
    const t = transport(`smtp://calendar:${encodeURIComponent('p@ss word')}@127.0.0.1:${s.port}?requireTLS=true&rejectUnauthorized=false`);
    await t.verify();
    const r = await t.send(invite('tls@ext.test', calendar(20)));
    expect(r.accepted).toEqual(['tls@ext.test']);
    expect(s.received[0]).toMatchObject({ secure: true, user: 'calendar', to: ['tls@ext.test'] });
    // The certificate is checked unless the URL says otherwise.
    const strict = transport(`smtp://calendar:${encodeURIComponent('p@ss word')}@127.0.0.1:${s.port}?requireTLS=true`);
    const untrusted = await strict.send(invite('tls@ext.test', calendar(2))).catch((e: unknown) => e);
    expect(untrusted).toBeInstanceOf(Error);
    expect(isPermanentMailError(untrusted)).toBe(false);
    const wrong = transport(`smtp://calendar:wrong@127.0.0.1:${s.port}?rejectUnauthorized=false`);
    const denied = await wrong.send(invite('tls@ext.test', calendar(2))).catch((e: unknown) => e);
    expect((denied as { code?: string }).code).toBe('EAUTH');
    expect(isPermanentMailError(denied)).toBe(false);
    expect(s.received).toHaveLength(1);
  });

  it.skipIf(!tlsFiles)('smtps:// (implicit TLS)', async () => {
    const s = await server({ key: tlsFiles!.key, cert: tlsFiles!.cert, secure: true });
    cleanup.push(() => s.close());
    const t = transport(`smtps://127.0.0.1:${s.port}?rejectUnauthorized=false`);
    const r = await t.send(invite('tls@ext.test', calendar(300)));
    expect(r.accepted).toEqual(['tls@ext.test']);
    expect(s.received[0].secure).toBe(true);
    expect((await simpleParser(s.received[0].raw)).attachments[0].content.toString('utf8')).toBe(calendar(300));
  });
});
