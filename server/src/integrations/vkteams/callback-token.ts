// Compact signed tokens for inline-button callbackData (the reference system's "sharing UID").
//
// No documented callbackData limit exists for VK Teams (INTEGRATIONS.md §1.4); Telegram's is 64
// bytes. With numeric ids a token is ~35 characters; with two UUIDs and a UTC RECURRENCE-ID ~75.
//
// Binary layout (then base64url, no padding):
//   [0]      version (1)
//   [1]      flags: bits 0-1 answer (0 A, 1 T, 2 D); bits 2-3 copy id kind; bits 4-5 user id kind;
//            bits 6-7 recurrence-id kind (0 none, 1 UTC date-time, 2 date, 3 text)
//   copy id  kind 0: unsigned LEB128 varint (numeric id); 1: 16 bytes (UUID); 2: len + UTF-8
//   user id  same encoding
//   rid      kind 1: varint seconds since epoch; 2: varint days since epoch; 3: len + UTF-8
//   seq      varint (event SEQUENCE, or any short version number the caller wants to bind)
//   iat      varint minutes since epoch (for expiry)
//   mac      first 10 bytes (80 bits) of HMAC-SHA256(key, "calendula/vkteams-cb/v1\0" || all bytes above)
//
// The MAC covers the user and the copy, so a token cannot be re-targeted to another user or event;
// the caller must still check that the presser IS payload.user (see tokenBelongsTo).
import { createHmac, timingSafeEqual } from 'node:crypto';

export type Answer = 'A' | 'T' | 'D';

export interface CallbackPayload {
  /** Id of the user's copy of the event: a UUID (lower case) or a decimal id. */
  copyId: string;
  /** RECURRENCE-ID of the occurrence: 'YYYYMMDDTHHMMSSZ', 'YYYYMMDD' or any other short text. */
  rid?: string;
  answer: Answer;
  /** Calendula user id the token was issued to (UUID, decimal id or short text). */
  userId: string;
  /** Version of the event when the message was rendered (e.g. SEQUENCE) for staleness checks. */
  seq: number;
  /** Issued at, ms since epoch (stored with minute precision). */
  issuedAt: number;
}

export type EncodeInput = Omit<CallbackPayload, 'copyId' | 'userId' | 'issuedAt'> & {
  copyId: string | bigint;
  userId: string | bigint;
  issuedAt?: number;
};

export type VerifyFailure = 'malformed' | 'forged' | 'expired';
export type VerifyResult = { ok: true; payload: CallbackPayload } | { ok: false; reason: VerifyFailure };

const VERSION = 1;
const MAC_BYTES = 10;
const CONTEXT = Buffer.from('calendula/vkteams-cb/v1\0', 'utf8');
const ANSWERS: Answer[] = ['A', 'T', 'D'];
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DEC_RE = /^(0|[1-9]\d{0,38})$/;

function mac(key: string | Uint8Array, body: Uint8Array): Buffer {
  return createHmac('sha256', key).update(CONTEXT).update(body).digest().subarray(0, MAC_BYTES);
}

class Writer {
  private bytes: number[] = [];
  byte(b: number) { this.bytes.push(b & 0xff); }
  varint(v: bigint) {
    if (v < 0n) throw new RangeError('negative varint');
    do {
      let b = Number(v & 0x7fn);
      v >>= 7n;
      if (v > 0n) b |= 0x80;
      this.bytes.push(b);
    } while (v > 0n);
  }
  raw(b: Uint8Array) { for (const x of b) this.bytes.push(x); }
  text(s: string) {
    const b = Buffer.from(s, 'utf8');
    if (b.length > 255) throw new RangeError('callback token field too long');
    this.byte(b.length);
    this.raw(b);
  }
  done(): Buffer { return Buffer.from(this.bytes); }
}

class Reader {
  pos = 0;
  constructor(private readonly b: Uint8Array) {}
  byte(): number {
    if (this.pos >= this.b.length) throw new RangeError('short');
    return this.b[this.pos++];
  }
  varint(): bigint {
    let v = 0n;
    for (let shift = 0n; shift < 140n; shift += 7n) {
      const b = this.byte();
      v |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) {
        if (b === 0 && shift > 0n) throw new RangeError('non-canonical varint');
        return v;
      }
    }
    throw new RangeError('varint too long');
  }
  raw(n: number): Uint8Array {
    if (this.pos + n > this.b.length) throw new RangeError('short');
    const out = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  text(): string {
    return Buffer.from(this.raw(this.byte())).toString('utf8');
  }
  get atEnd() { return this.pos === this.b.length; }
}

function idKind(id: string | bigint): number {
  if (typeof id === 'bigint') return 0;
  if (DEC_RE.test(id)) return 0;
  if (UUID_RE.test(id)) return 1;
  return 2;
}

function writeId(w: Writer, kind: number, id: string | bigint) {
  if (kind === 0) w.varint(BigInt(id));
  else if (kind === 1) w.raw(Buffer.from((id as string).replace(/-/g, ''), 'hex'));
  else w.text(id as string);
}

function readId(r: Reader, kind: number): string {
  if (kind === 0) return r.varint().toString();
  if (kind === 1) {
    const h = Buffer.from(r.raw(16)).toString('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
  if (kind === 2) return r.text();
  throw new RangeError('bad id kind');
}

const RID_UTC = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const RID_DATE = /^(\d{4})(\d{2})(\d{2})$/;

function ridKind(rid: string | undefined): number {
  if (rid === undefined) return 0;
  const m = RID_UTC.exec(rid);
  if (m && formatUtc(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) / 1000) === rid) return 1;
  const d = RID_DATE.exec(rid);
  if (d && formatDate(Date.UTC(+d[1], +d[2] - 1, +d[3]) / 86_400_000) === rid) return 2;
  return 3;
}
const pad = (n: number, w = 2) => String(n).padStart(w, '0');
function formatUtc(sec: number): string {
  const d = new Date(sec * 1000);
  return `${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}T${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`;
}
function formatDate(days: number): string {
  const d = new Date(days * 86_400_000);
  return `${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}`;
}

/** Encodes and signs. Throws RangeError on invalid input (negative seq, over-long text ids). */
export function encodeCallbackToken(p: EncodeInput, key: string | Uint8Array): string {
  const a = ANSWERS.indexOf(p.answer);
  if (a < 0) throw new RangeError(`bad answer ${String(p.answer)}`);
  if (!Number.isSafeInteger(p.seq) || p.seq < 0) throw new RangeError('seq must be a non-negative integer');
  const ck = idKind(p.copyId);
  const uk = idKind(p.userId);
  const rk = ridKind(p.rid);
  const w = new Writer();
  w.byte(VERSION);
  w.byte(a | (ck << 2) | (uk << 4) | (rk << 6));
  writeId(w, ck, p.copyId);
  writeId(w, uk, p.userId);
  if (rk === 1) {
    const m = RID_UTC.exec(p.rid!)!;
    w.varint(BigInt(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) / 1000));
  } else if (rk === 2) {
    const m = RID_DATE.exec(p.rid!)!;
    w.varint(BigInt(Date.UTC(+m[1], +m[2] - 1, +m[3]) / 86_400_000));
  } else if (rk === 3) w.text(p.rid!);
  w.varint(BigInt(p.seq));
  w.varint(BigInt(Math.floor((p.issuedAt ?? Date.now()) / 60_000)));
  const body = w.done();
  return Buffer.concat([body, mac(key, body)]).toString('base64url');
}

export interface VerifyOptions {
  /** Tokens older than this are 'expired' (checked only after the MAC). */
  maxAgeMs?: number;
  now?: number;
}

/** Verifies the MAC (constant time) and decodes. Never throws. */
export function verifyCallbackToken(token: string, key: string | Uint8Array, opt: VerifyOptions = {}): VerifyResult {
  if (typeof token !== 'string' || token.length < 16 || token.length > 700 || !/^[A-Za-z0-9_-]+$/.test(token)) {
    return { ok: false, reason: 'malformed' };
  }
  const all = Buffer.from(token, 'base64url');
  if (all.toString('base64url') !== token || all.length < 2 + 2 + MAC_BYTES) return { ok: false, reason: 'malformed' };
  if (all[0] !== VERSION) return { ok: false, reason: 'malformed' };
  const body = all.subarray(0, all.length - MAC_BYTES);
  if (!timingSafeEqual(mac(key, body), all.subarray(all.length - MAC_BYTES))) return { ok: false, reason: 'forged' };
  let payload: CallbackPayload;
  try {
    const r = new Reader(body);
    r.byte();
    const flags = r.byte();
    const a = flags & 3;
    if (a > 2) throw new RangeError('bad answer');
    const copyId = readId(r, (flags >> 2) & 3);
    const userId = readId(r, (flags >> 4) & 3);
    const rk = (flags >> 6) & 3;
    let rid: string | undefined;
    if (rk === 1) rid = formatUtc(Number(r.varint()));
    else if (rk === 2) rid = formatDate(Number(r.varint()));
    else if (rk === 3) rid = r.text();
    const seq = Number(r.varint());
    const issuedAt = Number(r.varint()) * 60_000;
    if (!r.atEnd || !Number.isSafeInteger(seq)) throw new RangeError('trailing bytes');
    payload = { copyId, answer: ANSWERS[a], userId, seq, issuedAt, ...(rid === undefined ? {} : { rid }) };
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (opt.maxAgeMs !== undefined && (opt.now ?? Date.now()) - payload.issuedAt > opt.maxAgeMs) {
    return { ok: false, reason: 'expired' };
  }
  return { ok: true, payload };
}

/**
 * The caller's binding check: the token was issued to `presserUserId` (the Calendula user the
 * presser's VK Teams id maps to). A token forwarded to or pressed by someone else fails this.
 */
export function tokenBelongsTo(payload: CallbackPayload, presserUserId: string | bigint): boolean {
  const want = typeof presserUserId === 'bigint' ? presserUserId.toString() : presserUserId;
  return UUID_RE.test(want) ? payload.userId === want.toLowerCase() : payload.userId === want;
}

/** Convenience: verify + binding check in one call. */
export function verifyCallbackTokenFor(token: string, key: string | Uint8Array, presserUserId: string | bigint,
  opt: VerifyOptions = {}): VerifyResult | { ok: false; reason: 'not-yours'; payload: CallbackPayload } {
  const r = verifyCallbackToken(token, key, opt);
  if (r.ok && !tokenBelongsTo(r.payload, presserUserId)) return { ok: false, reason: 'not-yours', payload: r.payload };
  return r;
}
