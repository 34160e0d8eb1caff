// Outbound delivery: SMTP through nodemailer when SMTP_URL is set, otherwise a local outbox
// of .eml files an admin can read (nothing is silently dropped).
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import nodemailer, { type SendMailOptions, type Transporter } from 'nodemailer';
import { buildMessage } from './mime-build.js';
import { SmtpPool } from './smtp-pool.js';

export interface SendResult {
  messageId: string;
  accepted: string[];
  rejected: string[];
  /** Per rejected recipient, when the server refused only some of them. */
  rejectedErrors?: { recipient: string; responseCode?: number; response?: string; permanent: boolean }[];
  response: string;
  /** For the outbox: the file written. */
  path?: string;
}

export interface MailTransport {
  readonly kind: 'smtp' | 'outbox';
  send(options: SendMailOptions): Promise<SendResult>;
  /** Checks the SMTP connection and credentials; the outbox only ensures its folder. */
  verify(): Promise<void>;
  close(): void;
}

export interface MailTransportOptions {
  smtpUrl?: string;
  outboxDir: string;
  /** Pooled SMTP connections (default true). */
  pool?: boolean;
  maxConnections?: number;
  /** Socket timeouts for SMTP, ms (default 30 s). */
  timeoutMs?: number;
  /** DKIM signing, passed to nodemailer as is. */
  dkim?: { domainName: string; keySelector: string; privateKey: string };
  /** Per recipient domain: at most this many messages per second (0/undefined = no limit). */
  ratePerDomain?: number;
  /** Exceptions per domain (lower-case domain → messages per second; 0 = no limit). */
  domainRates?: Record<string, number>;
}

function addrList(v: unknown): string[] {
  if (!Array.isArray(v)) return [];
  return v.map((a) => (typeof a === 'string' ? a : String((a as { address?: string }).address ?? a)));
}

/** Outbox file name derived from the Message-ID only, so a retry overwrites instead of duplicating (sort by mtime). */
export function outboxFileName(messageId: string): string {
  const safe = messageId.replace(/^<|>$/g, '').replace(/[^A-Za-z0-9._@-]+/g, '_').slice(0, 80);
  const hash = createHash('sha256').update(messageId).digest('hex').slice(0, 8);
  return `${safe}-${hash}.eml`;
}

export function createMailTransport(opts: MailTransportOptions): MailTransport {
  const t = opts.smtpUrl ? smtpTransport(opts.smtpUrl, opts) : outboxTransport(opts.outboxDir);
  const limiter = opts.smtpUrl && (opts.ratePerDomain || Object.values(opts.domainRates ?? {}).some((r) => r > 0))
    ? new DomainRateLimiter(opts.ratePerDomain ?? 0, opts.domainRates ?? {}) : null;
  if (!limiter) return t;
  return {
    kind: t.kind,
    async send(options) {
      await limiter.acquire(recipientDomains(options));
      return t.send(options);
    },
    verify: () => t.verify(),
    close: () => t.close(),
  };
}

/** The recipient domains of a message (envelope if given, else To/Cc/Bcc). */
export function recipientDomains(o: SendMailOptions): string[] {
  const env = o.envelope as { to?: unknown } | undefined;
  const raw = env?.to ?? [o.to, o.cc, o.bcc];
  const out = new Set<string>();
  const walk = (v: unknown): void => {
    if (!v) return;
    if (Array.isArray(v)) return v.forEach(walk);
    const s = typeof v === 'string' ? v : String((v as { address?: string }).address ?? '');
    for (const part of s.split(',')) {
      const m = /@([^\s>@]+)\s*>?\s*$/.exec(part.trim());
      if (m) out.add(m[1].toLowerCase());
    }
  };
  walk(raw);
  return [...out];
}

/**
 * Per-domain rate limits for outgoing SMTP: messages to one recipient domain are spaced at least
 * 1/rate seconds apart, so no one-second window holds more than `rate` of them. A message over the
 * rate waits for its slot (the job takes longer); nothing is refused. Limits are per process:
 * with several worker processes, divide the provider's limit among them.
 */
export class DomainRateLimiter {
  private next = new Map<string, number>();
  constructor(private readonly perSecond: number, private readonly rates: Record<string, number> = {}) {}

  rateOf(domain: string): number {
    return this.rates[domain] ?? this.perSecond;
  }

  /** Reserves a slot for every domain of the message; resolves when the latest one is due. Returns the wait in ms. */
  async acquire(domains: string[], now = Date.now()): Promise<number> {
    let sendAt = now;
    const rated = domains.filter((d) => this.rateOf(d) > 0);
    for (const d of rated) sendAt = Math.max(sendAt, this.next.get(d) ?? now);
    for (const d of rated) this.next.set(d, sendAt + 1000 / this.rateOf(d));
    if (this.next.size > 10_000) for (const [d, t] of this.next) if (t < now) this.next.delete(d);
    const wait = sendAt - now;
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    return wait;
  }
}

/** Parses CALENDULA_SMTP_RATE_LIMITS entries ("gmail.com=20"). */
export function parseDomainRates(list: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of list) {
    const m = /^\s*([^=\s]+)\s*=\s*(\d+(?:\.\d+)?)\s*$/.exec(item);
    if (!m) throw new Error(`CALENDULA_SMTP_RATE_LIMITS: expected domain=messages-per-second, got "${item}"`);
    out[m[1].toLowerCase()] = Number(m[2]);
  }
  return out;
}

/** Connection settings from SMTP_URL (smtp:// with STARTTLS when offered, smtps:// implicit TLS; see docs/configuration.md). */
function connectionOptions(parsed: URL, timeout: number) {
  return {
    host: decodeURIComponent(parsed.hostname),
    port: parsed.port ? Number(parsed.port) : parsed.protocol === 'smtps:' ? 465 : 587,
    secure: parsed.protocol === 'smtps:',
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout,
    // Local sinks (127.0.0.1) have no certificate; only require STARTTLS when the URL asks for it.
    requireTLS: parsed.searchParams.get('requireTLS') === 'true',
    ignoreTLS: parsed.searchParams.get('ignoreTLS') === 'true',
    tls: parsed.searchParams.get('rejectUnauthorized') === 'false' ? { rejectUnauthorized: false } : undefined,
  };
}

/** The credentials of SMTP_URL (user:password@), if any. */
function authFromUrl(parsed: URL): { user: string; pass: string } | undefined {
  return parsed.username ? { user: decodeURIComponent(parsed.username), pass: decodeURIComponent(parsed.password) } : undefined;
}

/** nodemailer's send info → SendResult (per-recipient refusals classified). */
function sendResult(messageId: string, info: { accepted?: unknown; rejected?: unknown; rejectedErrors?: unknown; response?: unknown }): SendResult {
  const rejectedErrors = ((info.rejectedErrors ?? []) as { recipient?: string; responseCode?: number; response?: string }[]).map((e) => ({
    recipient: e.recipient ?? '',
    responseCode: e.responseCode,
    response: e.response,
    permanent: isPermanentMailError(e),
  }));
  const res: SendResult = {
    messageId,
    accepted: addrList(info.accepted),
    rejected: addrList(info.rejected),
    response: String(info.response ?? ''),
  };
  if (rejectedErrors.length) res.rejectedErrors = rejectedErrors;
  return res;
}

function smtpTransport(url: string, opts: MailTransportOptions): MailTransport {
  // DKIM signs the message as nodemailer streams it, and an unpooled transport opens a session
  // per message: both keep nodemailer's transporter.
  if (opts.dkim || opts.pool === false) return nodemailerTransport(url, opts);
  const parsed = new URL(url);
  const pool = new SmtpPool({
    connection: connectionOptions(parsed, opts.timeoutMs ?? 30_000),
    auth: authFromUrl(parsed),
    maxConnections: opts.maxConnections ?? 5,
  });
  return {
    kind: 'smtp',
    async send(options) {
      // Built once into one Buffer (repeated calendar bodies encoded once), then written by a
      // pooled session as is.
      const msg = await buildMessage(options);
      const info = await pool.send(msg.envelope as never, msg.raw);
      return sendResult(msg.messageId, info);
    },
    verify: () => pool.verify(),
    close: () => pool.close(),
  };
}

/** nodemailer's pooled transporter: used for DKIM and for `pool: false`. */
function nodemailerTransport(url: string, opts: MailTransportOptions): MailTransport {
  const parsed = new URL(url);
  const transporter: Transporter = nodemailer.createTransport({
    ...connectionOptions(parsed, opts.timeoutMs ?? 30_000),
    auth: authFromUrl(parsed),
    pool: opts.pool ?? true,
    maxConnections: opts.maxConnections ?? 5,
    // A pooled connection carries many messages (nodemailer's default is 100, then reconnects).
    maxMessages: Infinity,
    dkim: opts.dkim,
  } as Parameters<typeof nodemailer.createTransport>[0]);
  return {
    kind: 'smtp',
    async send(options) {
      // Built in memory first: the SMTP connection then writes a few large chunks instead of
      // hundreds of small ones (the socket writes were the largest cost of a fan-out).
      const msg = await buildMessage(options);
      const info = await transporter.sendMail({ envelope: msg.envelope, raw: msg.raw, messageId: msg.messageId } as SendMailOptions);
      return sendResult(msg.messageId, info as never);
    },
    async verify() {
      await transporter.verify();
    },
    close() {
      transporter.close();
    },
  };
}

/**
 * The outbox writes the bytes the SMTP transport would send (the same builder, CRLF line ends as
 * in RFC 5322 §2.1), one .eml file per message, written under a temporary name and renamed so a
 * reader never sees half a message. The folder is created once, and again if it disappears.
 */
/** Temporary names: unique per process (pid) and per write. */
let tmpSeq = 0;

function outboxTransport(dir: string): MailTransport {
  let ready: Promise<unknown> | null = null;
  const ensureDir = () => (ready ??= mkdir(dir, { recursive: true }).catch((e) => { ready = null; throw e; }));
  return {
    kind: 'outbox',
    async send(options) {
      const msg = await buildMessage(options);
      await ensureDir();
      const path = join(dir, outboxFileName(msg.messageId));
      const tmp = `${path}.${process.pid}.${++tmpSeq}.tmp`;
      try {
        await writeFile(tmp, msg.raw, { mode: 0o640 });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        ready = null;
        await ensureDir();
        await writeFile(tmp, msg.raw, { mode: 0o640 });
      }
      await rename(tmp, path);
      const to = msg.envelope.to ?? [];
      return { messageId: msg.messageId, accepted: to, rejected: [], response: `250 written to outbox ${path}`, path };
    },
    async verify() {
      ready = null;
      await ensureDir();
    },
    close() {},
  };
}

const TEMPORARY_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EPROTOCOL', 'ETLS', 'EAUTH', 'ENOAUTH', 'EOAUTH2', 'ECONFIG', 'EPROXY',
  'EREQUIRETLS', 'EMAXLIMIT', 'ESTREAM', 'EABORT']);

/**
 * True when retrying cannot help (RFC 5321 §4.2.1: 5yz replies; RFC 3463 class 5 status).
 * Network failures, timeouts and 4yz replies are temporary. Authentication and configuration
 * errors are reported as temporary as well: they are the operator's problem, not the
 * recipient's, and must not mark an attendee as undeliverable.
 */
export function isPermanentMailError(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { code?: string; responseCode?: number; response?: string; errors?: unknown[] };
  if (e.code && TEMPORARY_CODES.has(e.code)) return false;
  if (typeof e.responseCode === 'number') return e.responseCode >= 500 && e.responseCode < 600;
  const enhanced = /\b([245])\.\d{1,3}\.\d{1,3}\b/.exec(e.response ?? '');
  if (enhanced) return enhanced[1] === '5';
  const basic = /^([245])\d\d[\s-]/.exec(e.response ?? '');
  if (basic) return basic[1] === '5';
  // An envelope nodemailer itself refuses (no recipients, bad address) never gets better.
  return e.code === 'EENVELOPE';
}
