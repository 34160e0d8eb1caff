// Builds an outgoing message into one Buffer, synchronously, without nodemailer's stream
// pipeline. nodemailer's MailComposer still decides the MIME tree and formats every header
// (address encoding, RFC 2047 words, Date, Message-ID, boundaries); only the serialisation of
// the tree is done here. Large bodies that repeat from message to message — the iCalendar text
// of a fan-out goes to every attendee twice, as the text/calendar alternative and as the
// invite.ics attachment — are transfer-encoded once and reused.
import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import type { SendMailOptions } from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import type MimeNode from 'nodemailer/lib/mime-node/index.js';
import { encode as qpEncode, wrap as qpWrap } from 'nodemailer/lib/qp/index.js';
import { hasLongerLines, isPlainText } from 'nodemailer/lib/mime-funcs/index.js';
import { WeightedLru } from '../../lib/weighted-lru.js';

export interface BuiltMessage {
  raw: Buffer;
  envelope: { from: string | false; to: string[] };
  messageId: string;
}

/** A calendar text at least this long is handed to nodemailer as a stand-in and its encodings are cached. */
const CACHE_MIN_CHARS = 2048;
/** Upper bound of the cached texts and encodings (characters + bytes); the oldest entries go first. */
const CACHE_MAX_BYTES = 32 * 1024 * 1024;

interface Encoded {
  /** The cached text's length (counted in the bound). */
  chars: number;
  /** The transfer encoding nodemailer picks for this text in a text/* part (it scans the whole text). */
  textEncoding?: string;
  seven?: Buffer;
  base64?: Buffer;
  qp?: Buffer;
}
const cache = new WeightedLru<string, Encoded>(CACHE_MAX_BYTES, (e) => e.chars + (e.base64?.length ?? 0) + (e.qp?.length ?? 0) + (e.seven?.length ?? 0));

function cacheEntry(text: string): Encoded | undefined {
  return text.length >= CACHE_MIN_CHARS ? cache.get(text) : undefined;
}

function remember(text: string, update: (e: Encoded) => void): void {
  if (text.length < CACHE_MIN_CHARS) return;
  const e = cache.get(text) ?? { chars: text.length };
  update(e);
  cache.set(text, e); // re-weighed with what was added
}

let pool = Buffer.alloc(0);
let poolAt = 0;
/** 16 random hex digits (8 bytes of a pooled crypto.randomBytes buffer). */
function randomHex8(): string {
  if (poolAt + 8 > pool.length) { pool = randomBytes(4096); poolAt = 0; }
  poolAt += 8;
  return pool.toString('hex', poolAt - 8, poolAt);
}

/** One encoding of a text, computed once for repeated (stand-in) texts and cached, else computed. */
function cachedEncoding(text: string, repeated: boolean, slot: 'base64' | 'qp' | 'seven', make: () => Buffer): Buffer {
  if (!repeated) return make();
  const hit = cacheEntry(text)?.[slot];
  if (hit) return hit;
  const out = make();
  remember(text, (e) => { e[slot] = out; });
  return out;
}

/** Base64 in lines of 76 characters (RFC 2045 §6.8), CRLF between lines, none after the last. */
function base64Lines(content: string | Buffer): Buffer {
  const b64 = (typeof content === 'string' ? Buffer.from(content, 'utf8') : content).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 76) lines.push(b64.slice(i, i + 76));
  return Buffer.from(lines.join('\r\n'), 'latin1');
}

/**
 * Line breaks as CRLF (RFC 5321 §2.3.8 allows no other on the wire). nodemailer leaves a bare LF
 * of a text body for the SMTP client to fix while it streams; done here, the SMTP data stream
 * usually finds nothing to change and passes the message through in one piece.
 */
function crlf(text: string): string {
  return /\r(?!\n)|(?<!\r)\n/.test(text) ? text.replace(/\r\n|\r|\n/g, '\r\n') : text;
}

/** Quoted-printable for a text part (RFC 2045 §6.7): line breaks stay line breaks, soft breaks at 76. */
function quotedPrintable(content: string | Buffer): Buffer {
  return Buffer.from(crlf(qpWrap(qpEncode(content), 76)), 'latin1');
}

/** The transfer encoding nodemailer gives a text/* body (MimeNode.getTransferEncoding), computed once per repeated text. */
function textTransferEncoding(text: string): string {
  const hit = cacheEntry(text)?.textEncoding;
  if (hit) return hit;
  let encoding: string;
  if (isPlainText(text) && !hasLongerLines(text, 76)) {
    encoding = '7bit';
  } else {
    // More Latin letters than 8-bit and control characters: quoted-printable, else base64.
    let other = 0;
    let latin = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c <= 0x08 || c === 0x0b || c === 0x0c || (c >= 0x0e && c <= 0x1f) || c >= 0x80) other++;
      else if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) latin++;
    }
    encoding = other < latin ? 'quoted-printable' : 'base64';
  }
  remember(text, (e) => { e.textEncoding = encoding; });
  return encoding;
}

/** The encoded body; `repeated` texts (stand-ins for a fan-out's calendar) are encoded once and cached. */
function encodeBody(content: string | Buffer, encoding: string | false, isText: boolean, repeated: boolean): Buffer | string | null {
  if (encoding === 'base64') {
    return typeof content === 'string' ? cachedEncoding(content, repeated, 'base64', () => base64Lines(content)) : base64Lines(content);
  }
  if (encoding === 'quoted-printable') {
    // Outside text/* a bare CR or LF must be encoded as data; nodemailer's stream handles that case.
    if (!isText) return null;
    return typeof content === 'string' ? cachedEncoding(content, repeated, 'qp', () => quotedPrintable(content)) : quotedPrintable(content);
  }
  // 7bit / 8bit / binary: as is, like nodemailer (line breaks as CRLF).
  if (typeof content !== 'string') return content;
  if (!repeated) return crlf(content);
  return cachedEncoding(content, true, 'seven', () => Buffer.from(crlf(content), 'utf8'));
}

type NodeInternals = MimeNode & { _raw?: unknown; textEncoding?: string };

/** Appends the node (headers, body, children) to `out`; false when the node needs nodemailer's streams. */
function serialize(node: NodeInternals, out: (string | Buffer)[], stand: Map<string, string>): boolean {
  if (node._raw) return false;
  let content = node.content;
  if (content !== undefined && content !== '' && typeof content !== 'string' && !Buffer.isBuffer(content)) return false;
  const type = node.getHeader('Content-Type') as unknown;
  const isText = /^text\//i.test(typeof type === 'string' ? type : String((type as { value?: string } | undefined)?.value ?? ''));
  // A stand-in was composed in place of a long repeated text: the node gets the real text's
  // transfer encoding (the one nodemailer would have picked) and its cached encoded body.
  const real = typeof content === 'string' ? stand.get(content) : undefined;
  if (real !== undefined) {
    content = real;
    if (isText && !node.getHeader('Content-Transfer-Encoding')) node.setHeader('Content-Transfer-Encoding', textTransferEncoding(real));
  }
  out.push(node.buildHeaders(), '\r\n\r\n');
  if (content) {
    const encoding = node.getTransferEncoding();
    const body = encodeBody(content as string | Buffer, encoding, isText, real !== undefined);
    if (body == null) return false;
    out.push(body);
  }
  if (node.multipart) {
    const children = node.childNodes;
    for (let i = 0; i < children.length; i++) {
      // RFC 2046 §5.1.1: each body part is introduced by "--" boundary on a line of its own.
      out.push(`${i ? '\r\n' : ''}--${node.boundary}\r\n`);
      if (!serialize(children[i] as NodeInternals, out, stand)) return false;
    }
    out.push(`\r\n--${node.boundary}--\r\n`);
  }
  return true;
}

function toBuffer(parts: (string | Buffer)[]): Buffer {
  const bufs = parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p));
  const last = bufs.at(-1);
  // The message ends with a line break, as nodemailer's output does.
  if (!last?.length || last[last.length - 1] !== 0x0a) bufs.push(Buffer.from(last?.length && last[last.length - 1] === 0x0d ? '\n' : '\r\n'));
  return Buffer.concat(bufs);
}

let stands = 0;

/**
 * The message as it goes on the wire (before SMTP dot-stuffing), its envelope and Message-ID.
 * Messages with content nodemailer must fetch or stream (files, URLs, streams, raw parts) are
 * built by nodemailer itself.
 */
export async function buildMessage(options: SendMailOptions): Promise<BuiltMessage> {
  // The calendar of a fan-out is long and the same for every attendee: nodemailer would scan it
  // (plain text? long lines? which encoding?) for each of its two parts of every message. It gets
  // a short stand-in instead, replaced by the encoded real text while serialising.
  const stand = new Map<string, string>();
  let composed = options;
  const ical = options.icalEvent as string | { content?: unknown; path?: unknown; href?: unknown; raw?: unknown } | undefined;
  const icalText = typeof ical === 'string' ? ical
    : ical && typeof ical === 'object' && !Buffer.isBuffer(ical) && typeof ical.content === 'string' && !ical.path && !ical.href && !ical.raw ? ical.content : undefined;
  if (icalText !== undefined && icalText.length >= CACHE_MIN_CHARS && !options.textEncoding && !options.encoding) {
    const token = `calendula-body-${++stands}`;
    stand.set(token, icalText);
    composed = { ...options, icalEvent: (typeof ical === 'string' ? token : { ...ical, content: token }) as SendMailOptions['icalEvent'] };
  }
  // Every MIME node nodemailer creates draws its own random boundary base (one getrandom call
  // each, of which only the root's is used); one drawn here from a pooled buffer serves them all.
  if (!composed.baseBoundary) composed = { ...composed, baseBoundary: randomHex8() };
  const node = new MailComposer(composed).compile() as NodeInternals;
  const messageId = node.messageId();
  const envelope = node.getEnvelope() as BuiltMessage['envelope'];
  const parts: (string | Buffer)[] = [];
  if (serialize(node, parts, stand)) return { raw: toBuffer(parts), envelope, messageId };
  // The node was composed with the stand-in: nodemailer builds the message from the real options.
  const full = stand.size ? new MailComposer({ ...options, messageId }).compile() : node;
  return { raw: await full.build(), envelope, messageId };
}

/** The synchronous build of a compiled message, or null when it needs nodemailer's streams. */
export function serializeMessage(node: MimeNode): Buffer | null {
  const parts: (string | Buffer)[] = [];
  return serialize(node as NodeInternals, parts, new Map()) ? toBuffer(parts) : null;
}

/** Drops the cached encodings (tests). */
export function clearEncodingCache(): void {
  cache.clear();
}
