// Builds an outgoing message into one Buffer, synchronously, without nodemailer's stream
// pipeline. nodemailer's MailComposer still decides the MIME tree and formats every header
// (address encoding, RFC 2047 words, Date, Message-ID, boundaries); only the serialisation of
// the tree is done here. Large bodies that repeat from message to message — the iCalendar text
// of a fan-out goes to every attendee twice, as the text/calendar alternative and as the
// invite.ics attachment — are transfer-encoded once and reused.
import { Buffer } from 'node:buffer';
import type { SendMailOptions } from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import type MimeNode from 'nodemailer/lib/mime-node/index.js';
import { encode as qpEncode, wrap as qpWrap } from 'nodemailer/lib/qp/index.js';

export interface BuiltMessage {
  raw: Buffer;
  envelope: { from: string | false; to: string[] };
  messageId: string;
}

/** Bodies at least this long are cached (encoded form) by their text. */
const CACHE_MIN_CHARS = 2048;
/** Upper bound of the cached encoded bytes; the oldest entries go first. */
const CACHE_MAX_BYTES = 32 * 1024 * 1024;

interface Encoded {
  /** The transfer encoding nodemailer picks for this text in a text/* part (it scans the whole text). */
  textEncoding?: string;
  base64?: Buffer;
  qp?: Buffer;
}
const cache = new Map<string, Encoded>();
let cachedBytes = 0;

function cacheEntry(text: string): Encoded | undefined {
  return text.length >= CACHE_MIN_CHARS ? cache.get(text) : undefined;
}

function remember(text: string, update: (e: Encoded) => number): void {
  if (text.length < CACHE_MIN_CHARS) return;
  let e = cache.get(text);
  if (!e) cache.set(text, (e = {}));
  cachedBytes += update(e);
  while (cachedBytes > CACHE_MAX_BYTES && cache.size > 1) {
    const [k, old] = cache.entries().next().value!;
    cachedBytes -= (old.base64?.length ?? 0) + (old.qp?.length ?? 0);
    cache.delete(k);
  }
}

/** Base64 in lines of 76 characters (RFC 2045 §6.8), CRLF between lines, none after the last. */
function base64Lines(content: string | Buffer): Buffer {
  const b64 = (typeof content === 'string' ? Buffer.from(content, 'utf8') : content).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 76) lines.push(b64.slice(i, i + 76));
  return Buffer.from(lines.join('\r\n'), 'latin1');
}

/** Quoted-printable for a text part (RFC 2045 §6.7): line breaks stay line breaks, soft breaks at 76. */
function quotedPrintable(content: string | Buffer): Buffer {
  return Buffer.from(qpWrap(qpEncode(content), 76), 'latin1');
}

function encodeBody(content: string | Buffer, encoding: string | false, isText: boolean): Buffer | string | null {
  if (encoding === 'base64') {
    if (typeof content !== 'string') return base64Lines(content);
    const hit = cacheEntry(content)?.base64;
    if (hit) return hit;
    const out = base64Lines(content);
    remember(content, (e) => { e.base64 = out; return out.length; });
    return out;
  }
  if (encoding === 'quoted-printable') {
    // Outside text/* a bare CR or LF must be encoded as data; nodemailer's stream handles that case.
    if (!isText) return null;
    if (typeof content !== 'string') return quotedPrintable(content);
    const hit = cacheEntry(content)?.qp;
    if (hit) return hit;
    const out = quotedPrintable(content);
    remember(content, (e) => { e.qp = out; return out.length; });
    return out;
  }
  // 7bit / 8bit / binary: as is, like nodemailer.
  return content;
}

type NodeInternals = MimeNode & { _raw?: unknown; textEncoding?: string };

/** Appends the node (headers, body, children) to `out`; false when the node needs nodemailer's streams. */
function serialize(node: NodeInternals, out: (string | Buffer)[]): boolean {
  if (node._raw) return false;
  const content = node.content;
  if (content !== undefined && content !== '' && typeof content !== 'string' && !Buffer.isBuffer(content)) return false;
  const type = node.getHeader('Content-Type') as unknown;
  const isText = /^text\//i.test(typeof type === 'string' ? type : String((type as { value?: string } | undefined)?.value ?? ''));
  // For a repeated text the choice between quoted-printable and base64 was made before: setting it
  // spares nodemailer the scan of the whole text on every message (the same choice it would make).
  if (typeof content === 'string' && isText && !node.textEncoding && !node.getHeader('Content-Transfer-Encoding')) {
    const known = cacheEntry(content)?.textEncoding;
    if (known) node.setHeader('Content-Transfer-Encoding', known);
  }
  out.push(node.buildHeaders(), '\r\n\r\n');
  if (content) {
    const encoding = node.getTransferEncoding();
    if (typeof content === 'string' && isText && typeof encoding === 'string' && (encoding === 'base64' || encoding === 'quoted-printable')) {
      remember(content, (e) => { e.textEncoding = encoding; return 0; });
    }
    const body = encodeBody(content as string | Buffer, encoding, isText);
    if (body == null) return false;
    out.push(body);
  }
  if (node.multipart) {
    const children = node.childNodes;
    for (let i = 0; i < children.length; i++) {
      // RFC 2046 §5.1.1: each body part is introduced by "--" boundary on a line of its own.
      out.push(`${i ? '\r\n' : ''}--${node.boundary}\r\n`);
      if (!serialize(children[i] as NodeInternals, out)) return false;
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

/**
 * The message as it goes on the wire (before SMTP dot-stuffing), its envelope and Message-ID.
 * Messages with content nodemailer must fetch or stream (files, URLs, streams, raw parts) are
 * built by nodemailer itself.
 */
export async function buildMessage(options: SendMailOptions): Promise<BuiltMessage> {
  const node = new MailComposer(options).compile() as NodeInternals;
  const messageId = node.messageId();
  const envelope = node.getEnvelope() as BuiltMessage['envelope'];
  const raw = serializeMessage(node) ?? (await node.build());
  return { raw, envelope, messageId };
}

/** The synchronous build of a compiled message, or null when it needs nodemailer's streams. */
export function serializeMessage(node: MimeNode): Buffer | null {
  const parts: (string | Buffer)[] = [];
  return serialize(node as NodeInternals, parts) ? toBuffer(parts) : null;
}

/** Drops the cached encodings (tests). */
export function clearEncodingCache(): void {
  cache.clear();
  cachedBytes = 0;
}
