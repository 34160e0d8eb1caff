// A real SMTP (or LMTP) server on a free loopback port that keeps every message it receives,
// for tests of anything that sends mail. Failures can be injected per message or per recipient.
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';

export interface SinkMessage {
  envelope: { from: string; to: string[] };
  raw: Buffer;
  parsed: ParsedMail;
  receivedAt: Date;
}

export interface SinkFault {
  code: number;
  message: string;
}

export interface SmtpSinkOptions {
  lmtp?: boolean;
  /** Advertised and enforced size limit. */
  size?: number;
  /** Return a fault to refuse the recipient at RCPT TO. */
  rejectRecipient?: (address: string) => SinkFault | null;
  /** Return a fault to refuse the message after DATA (it is then not kept). */
  rejectMessage?: (raw: Buffer) => SinkFault | null;
}

export interface SmtpSink {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  readonly messages: SinkMessage[];
  waitFor(predicate: (messages: SinkMessage[]) => boolean, timeoutMs?: number): Promise<SinkMessage[]>;
  /** Waits until at least n messages have arrived. */
  waitForCount(n: number, timeoutMs?: number): Promise<SinkMessage[]>;
  clear(): void;
  setOptions(o: Partial<SmtpSinkOptions>): void;
  close(): Promise<void>;
}

function fault(f: SinkFault): Error & { responseCode: number } {
  return Object.assign(new Error(f.message), { responseCode: f.code });
}

export async function startSmtpSink(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const opts: SmtpSinkOptions = { ...options };
  const messages: SinkMessage[] = [];
  const waiters = new Set<() => void>();
  const notify = () => waiters.forEach((w) => w());

  const server = new SMTPServer({
    lmtp: opts.lmtp ?? false,
    disableReverseLookup: true,
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    hideSTARTTLS: true,
    size: opts.size,
    logger: false,
    onAuth(_auth, _session, cb) {
      cb(null, { user: 'sink' });
    },
    onRcptTo(address, _session, cb) {
      const f = opts.rejectRecipient?.(address.address);
      cb(f ? fault(f) : undefined);
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (stream.sizeExceeded) return cb(fault({ code: 552, message: '5.3.4 Message too big' }));
        const raw = Buffer.concat(chunks);
        const f = opts.rejectMessage?.(raw);
        if (f) return cb(fault(f));
        const envelope = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
        };
        simpleParser(raw).then(
          (parsed) => {
            messages.push({ envelope, raw, parsed, receivedAt: new Date() });
            cb(null, 'Ok: kept by sink');
            notify();
          },
          (err: Error) => cb(err),
        );
      });
    },
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.server.address() as AddressInfo).port;

  const waitFor = (predicate: (m: SinkMessage[]) => boolean, timeoutMs = 10_000) =>
    new Promise<SinkMessage[]>((resolve, reject) => {
      const check = () => {
        if (!predicate(messages)) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(messages);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`smtp-sink: condition not met within ${timeoutMs} ms (${messages.length} messages)`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });

  return {
    host: '127.0.0.1',
    port,
    url: `smtp://127.0.0.1:${port}`,
    messages,
    waitFor,
    waitForCount: (n, timeoutMs) => waitFor((m) => m.length >= n, timeoutMs),
    clear: () => {
      messages.length = 0;
    },
    setOptions: (o) => Object.assign(opts, o),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
