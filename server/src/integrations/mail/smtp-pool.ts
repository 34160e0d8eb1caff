// A pool of persistent SMTP sessions that send already built messages (one Buffer each).
// Each session is nodemailer's SMTPConnection, which does the protocol: STARTTLS or implicit
// TLS, AUTH, timeouts, per-recipient replies, and RFC 2920 PIPELINING (MAIL FROM, every RCPT TO
// and DATA in one write) when the server advertises it. The pool only decides which session
// carries which message, opens sessions on demand up to a limit, resets a session after a
// refused message, and replaces a session the server dropped.
import { Buffer } from 'node:buffer';
import SMTPConnection, { type SMTPConnectionOptions, type SMTPConnectionSendInfo, type SMTPEnvelope } from 'nodemailer/lib/smtp-connection/index.js';

export interface SmtpPoolOptions {
  connection: SMTPConnectionOptions;
  auth?: { user: string; pass: string };
  maxConnections: number;
  /** An idle session is ended (QUIT) after this long (ms). */
  idleMs?: number;
}

type SmtpError = Error & { code?: string; responseCode?: number };

interface Job {
  envelope: SMTPEnvelope;
  raw: Buffer;
  requeues: number;
  resolve(info: SMTPConnectionSendInfo): void;
  reject(err: unknown): void;
}

interface Session {
  smtp: SMTPConnection;
  /** Messages this session has carried (a dropped reused session re-queues its message). */
  messages: number;
  job: Job | null;
  idleTimer: NodeJS.Timeout | null;
  gone: boolean;
}

/**
 * True when SMTP data needs no change on the wire (RFC 5321 §4.5.2 dot-stuffing, §2.3.8 CRLF
 * only): no line starts with ".", and every CR and LF belongs to a CRLF. `before` is the last
 * byte already sent (false at the start of the data). Looks only at the line breaks, with
 * Buffer.indexOf, instead of at every byte.
 */
export function needsNoEscaping(chunk: Buffer, before: number | false): boolean {
  const len = chunk.length;
  if (!len) return true;
  if (before === 0x0d ? chunk[0] !== 0x0a : chunk[0] === 0x0a) return false;
  if ((before === false || before === 0x0a) && chunk[0] === 0x2e) return false;
  for (let i = chunk.indexOf(0x0a, 1); i >= 0; i = chunk.indexOf(0x0a, i + 1)) {
    if (chunk[i - 1] !== 0x0d || chunk[i + 1] === 0x2e) return false;
  }
  for (let i = chunk.indexOf(0x0d); i >= 0; i = chunk.indexOf(0x0d, i + 1)) {
    if (i + 1 >= len || chunk[i + 1] !== 0x0a) return false;
  }
  return true;
}

type DataStreamInternals = NodeJS.ReadWriteStream & {
  _transform?: (chunk: Buffer, encoding: string, done: () => void) => void;
  push(chunk: Buffer): boolean;
  lastByte?: number | false;
  inByteCount?: number;
  outByteCount?: number;
};
type ConnectionInternals = { _createSendStream?: (callback: unknown) => DataStreamInternals };

/**
 * nodemailer's SMTP data stream escapes the message byte by byte in JavaScript (≈7 ns a byte, a
 * millisecond and more for a fan-out message). Built messages already have CRLF line breaks, so
 * a chunk that needs nothing is passed through as is; any other chunk goes through nodemailer's
 * own transform. Without the (internal) hook the connection works unchanged.
 */
class Connection extends SMTPConnection {}
const createSendStream = (SMTPConnection.prototype as unknown as ConnectionInternals)._createSendStream;
if (typeof createSendStream === 'function') {
  (Connection.prototype as unknown as ConnectionInternals)._createSendStream = function (this: SMTPConnection, callback: unknown) {
    const stream = createSendStream.call(this, callback);
    const escape = stream._transform;
    if (typeof escape === 'function' && 'lastByte' in stream && typeof stream.inByteCount === 'number') {
      stream._transform = function (this: DataStreamInternals, chunk, encoding, done) {
        if (!Buffer.isBuffer(chunk) || !needsNoEscaping(chunk, this.lastByte ?? false)) return escape.call(this, chunk, encoding, done);
        this.inByteCount! += chunk.length;
        this.outByteCount! += chunk.length;
        if (chunk.length) {
          this.lastByte = chunk[chunk.length - 1];
          this.push(chunk);
        }
        done();
      };
    }
    return stream;
  };
}

/** A message whose session broke off is tried again on another session this many times. */
const MAX_REQUEUES = 5;

/** Failures of the session rather than of the message: the server went away or stopped answering. */
export function isSessionFailure(err: SmtpError): boolean {
  return err.responseCode === 421 || err.code === 'ECONNECTION' || err.code === 'ESOCKET' || err.code === 'ETIMEDOUT';
}

function closedError(): SmtpError {
  return Object.assign(new Error('SMTP transport closed'), { code: 'ECONNECTION' });
}

export class SmtpPool {
  private readonly queue: Job[] = [];
  private readonly idle: Session[] = [];
  private readonly sessions = new Set<Session>();
  private opening = 0;
  private closed = false;

  constructor(private readonly o: SmtpPoolOptions) {}

  /** Sends one message; resolves with nodemailer's send info (accepted, rejected, rejectedErrors, response). */
  send(envelope: SMTPEnvelope, raw: Buffer): Promise<SMTPConnectionSendInfo> {
    if (this.closed) return Promise.reject(closedError());
    return new Promise((resolve, reject) => {
      let done = false;
      this.queue.push({
        envelope, raw, requeues: 0,
        resolve: (v) => { if (!done) { done = true; resolve(v); } },
        reject: (e) => { if (!done) { done = true; reject(e); } },
      });
      this.pump();
    });
  }

  /** Opens a session (with AUTH when configured) and ends it again. */
  async verify(): Promise<void> {
    const smtp = new SMTPConnection(this.o.connection);
    try {
      await new Promise<void>((resolve, reject) => {
        smtp.once('error', reject);
        smtp.connect((err) => (err ? reject(err) : resolve()));
      });
      if (this.o.auth && smtp.allowsAuth) {
        await new Promise<void>((resolve, reject) => smtp.login({ credentials: { ...this.o.auth! } }, (err) => (err ? reject(err) : resolve())));
      }
      smtp.quit();
    } finally {
      smtp.removeAllListeners('error');
      smtp.on('error', () => {});
      if (!smtp.destroyed) setTimeout(() => smtp.close(), 1000).unref();
    }
  }

  /** Ends every session; queued messages and those in flight fail with ECONNECTION. */
  close(): void {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(closedError());
    for (const s of [...this.sessions]) {
      s.job?.reject(closedError());
      this.drop(s, true);
    }
  }

  /** Size of the pool right now (tests). */
  get size(): number {
    return this.sessions.size + this.opening;
  }

  private pump(): void {
    while (this.queue.length && !this.closed) {
      const s = this.idle.pop();
      if (s) {
        this.run(s, this.queue.shift()!);
      } else if (this.sessions.size + this.opening < Math.max(1, this.o.maxConnections)) {
        this.open(this.queue.shift()!);
      } else {
        break;
      }
    }
  }

  /** Opens a session for `job`; a failure to connect or log in fails that job (the caller retries later). */
  private open(job: Job): void {
    this.opening++;
    const smtp = new Connection(this.o.connection);
    const s: Session = { smtp, messages: 0, job: null, idleTimer: null, gone: false };
    let settled = false;
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      this.opening--;
      s.gone = true;
      smtp.close();
      job.reject(err);
      this.pump();
    };
    // Errors of a ready session reach the send callback in flight; an idle one is just replaced.
    smtp.on('error', (err) => (settled ? this.drop(s, true) : fail(err)));
    smtp.once('end', () => (settled ? this.drop(s, false) : fail(Object.assign(new Error('Connection closed'), { code: 'ECONNECTION' }))));
    smtp.connect((err) => {
      if (err) return fail(err);
      const ready = () => {
        if (settled) return;
        settled = true;
        this.opening--;
        if (this.closed) {
          job.reject(closedError());
          s.gone = true;
          smtp.quit();
          return;
        }
        this.sessions.add(s);
        this.run(s, job);
      };
      // As nodemailer's pool: log in only when the server offers AUTH.
      if (this.o.auth && smtp.allowsAuth) smtp.login({ credentials: { ...this.o.auth } }, (e) => (e ? fail(e) : ready()));
      else ready();
    });
  }

  private run(s: Session, job: Job): void {
    if (s.idleTimer) clearTimeout(s.idleTimer);
    s.idleTimer = null;
    s.job = job;
    const reused = s.messages > 0;
    s.smtp.send(job.envelope, job.raw, (err, info) => {
      s.job = null;
      s.messages++;
      if (!err) {
        job.resolve(info);
        this.release(s);
        return;
      }
      const e = err as SmtpError;
      // The server refused this message (sender, every recipient, or the data) but the session is
      // fine: RSET (RFC 5321 §4.1.1.5) and carry on with the next message.
      if ((e.code === 'EENVELOPE' || e.code === 'EMESSAGE') && e.responseCode !== 421 && !s.smtp.destroyed && !s.gone) {
        job.reject(e);
        s.smtp.reset((resetErr) => (resetErr ? this.drop(s, true) : this.release(s)));
        return;
      }
      this.drop(s, true);
      // A session that had carried messages before and then broke off (closed, reset, 421) was
      // most likely ended by the server while it sat idle: try the message on a fresh session (a
      // few times, backing off). A failure on a new session, or a server that stopped answering
      // (ETIMEDOUT), is reported at once; the delivery job retries later.
      if (reused && isSessionFailure(e) && e.code !== 'ETIMEDOUT' && job.requeues < MAX_REQUEUES && !this.closed) {
        const delay = Math.min(50 * 2 ** job.requeues++, 2000);
        setTimeout(() => {
          if (this.closed) return job.reject(closedError());
          this.queue.unshift(job);
          this.pump();
        }, delay);
        return;
      }
      job.reject(e);
    });
  }

  private release(s: Session): void {
    if (s.gone) return;
    if (this.closed) return this.drop(s, true);
    const next = this.queue.shift();
    if (next) return this.run(s, next);
    this.idle.push(s);
    s.idleTimer = setTimeout(() => {
      s.idleTimer = null;
      if (s.job || s.gone) return;
      this.forget(s);
      s.smtp.quit();
    }, this.o.idleMs ?? 10_000);
    s.idleTimer.unref();
  }

  /** Removes a session from the pool (and closes it); queued messages may then open a new one. */
  private drop(s: Session, close: boolean): void {
    if (s.gone) return;
    this.forget(s);
    if (close) s.smtp.close();
    this.pump();
  }

  private forget(s: Session): void {
    s.gone = true;
    if (s.idleTimer) clearTimeout(s.idleTimer);
    s.idleTimer = null;
    this.sessions.delete(s);
    const i = this.idle.indexOf(s);
    if (i >= 0) this.idle.splice(i, 1);
  }
}
