// Mail intake listeners (the mail-in role): LMTP for an MTA (Postfix/Exim/Dovecot) and an
// optional SMTP listener. Both accept a message only after `store` has durably kept it.
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';

export interface IntakeEnvelope {
  /** MAIL FROM; '' for the null sender of bounces (RFC 5321 §4.5.5). */
  from: string;
  /** Accepted recipients, normalised (lower case, +tag removed). */
  to: string[];
  /** The same recipients as given in RCPT TO. */
  rcptTo: string[];
  remoteAddress: string;
  helo: string;
}

export interface IntakeServerOptions {
  host?: string;
  /** 0 picks a free port; read it back from `port`. */
  port: number;
  /** Largest message accepted; larger ones get 552 (RFC 1870). */
  maxBytes: number;
  /** Called with the normalised address (see normalizeRecipient). False rejects it with 550 5.1.1. */
  resolveRecipient: (address: string) => Promise<boolean>;
  /** Keep the raw message durably (e.g. put it on the queue). Rejecting gives the sender 451. */
  store: (raw: Buffer, envelope: IntakeEnvelope) => Promise<void>;
  /** STARTTLS certificate; without one STARTTLS is not offered. */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** Greeting name. */
  name?: string;
  maxClients?: number;
  /** Optional logger for failures of `store`/`resolveRecipient`. */
  onError?: (err: unknown, phase: 'rcpt' | 'store' | 'server') => void;
}

export interface IntakeServer {
  readonly host: string;
  readonly port: number;
  readonly server: SMTPServer;
  close(): Promise<void>;
}

/** Lower-case and drop a +tag from the local part: `Anna+cal@X.org` → `anna@x.org`. */
export function normalizeRecipient(address: string): string {
  const clean = address.trim().replace(/^<|>$/g, '').trim().toLowerCase();
  const at = clean.lastIndexOf('@');
  if (at <= 0) return clean;
  const local = clean.slice(0, at);
  const plus = local.indexOf('+');
  return (plus > 0 ? local.slice(0, plus) : local) + clean.slice(at);
}

function smtpError(code: number, message: string): Error & { responseCode: number } {
  return Object.assign(new Error(message), { responseCode: code });
}

function buildOptions(lmtp: boolean, o: IntakeServerOptions): SMTPServerOptions {
  return {
    lmtp,
    name: o.name,
    banner: 'Calendula mail intake',
    disableReverseLookup: true,
    authOptional: true,
    disabledCommands: o.tls ? ['AUTH'] : ['AUTH', 'STARTTLS'],
    hideSTARTTLS: !o.tls,
    key: o.tls?.key,
    cert: o.tls?.cert,
    size: o.maxBytes,
    maxClients: o.maxClients ?? 100,
    logger: false,
    onRcptTo(address, _session, callback) {
      const normalised = normalizeRecipient(address.address);
      o.resolveRecipient(normalised).then(
        (known) =>
          known
            ? callback()
            : callback(smtpError(550, `5.1.1 <${address.address}>: unknown recipient`)),
        (err: unknown) => {
          o.onError?.(err, 'rcpt');
          callback(smtpError(451, '4.3.0 Temporary failure resolving recipient, try again later'));
        },
      );
    },
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback) {
      const chunks: Buffer[] = [];
      let bytes = 0;
      stream.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes <= o.maxBytes) chunks.push(chunk);
      });
      stream.on('error', (err) => callback(err));
      stream.on('end', () => {
        if (stream.sizeExceeded || bytes > o.maxBytes) {
          // smtp-server itself answers 552 for an oversized message (once per LMTP recipient).
          callback(smtpError(552, `5.3.4 Message too big: limit is ${o.maxBytes} bytes`));
          return;
        }
        const rcptTo = session.envelope.rcptTo.map((r) => r.address);
        const mailFrom = session.envelope.mailFrom;
        const envelope: IntakeEnvelope = {
          from: mailFrom ? mailFrom.address : '',
          to: [...new Set(rcptTo.map(normalizeRecipient))],
          rcptTo,
          remoteAddress: session.remoteAddress,
          helo: session.hostNameAppearsAs,
        };
        o.store(Buffer.concat(chunks, bytes), envelope).then(
          () => callback(null, `2.0.0 Ok: stored as ${session.id}`),
          (err: unknown) => {
            o.onError?.(err, 'store');
            callback(smtpError(451, '4.3.0 Temporary failure storing the message, try again later'));
          },
        );
      });
    },
  };
}

async function start(lmtp: boolean, o: IntakeServerOptions): Promise<IntakeServer> {
  const server = new SMTPServer(buildOptions(lmtp, o));
  const host = o.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(o.port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  // Connection-level errors (resets, timeouts) must not crash the process.
  server.on('error', (err) => o.onError?.(err, 'server'));
  const port = (server.server.address() as AddressInfo).port;
  return {
    host,
    port,
    server,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** LMTP (RFC 2033): per-recipient replies after DATA. */
export function startLmtpServer(options: IntakeServerOptions): Promise<IntakeServer> {
  return start(true, options);
}

/** SMTP intake (for direct delivery or a relay that cannot speak LMTP). */
export function startSmtpIntakeServer(options: IntakeServerOptions): Promise<IntakeServer> {
  return start(false, options);
}
