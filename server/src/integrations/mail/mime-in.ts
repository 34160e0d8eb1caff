// Inbound MIME: find the iCalendar payloads (RFC 6047 iMIP) and delivery-status reports
// (RFC 3464 DSN) in a raw RFC 5322 message. Pure apart from mailparser; never throws.
import ICAL from 'ical.js';
import { simpleParser, type AddressObject, type Attachment, type HeaderValue } from 'mailparser';

export interface MailAddress {
  address: string;
  name?: string;
}

export interface CalendarPart {
  /** METHOD from the Content-Type parameter, else from the VCALENDAR body, upper-cased; null if neither. */
  method: string | null;
  /** The method= parameter of the MIME part, if any (RFC 6047 §2.4 requires it, Yandex and forwards omit it). */
  methodParam: string | null;
  /** Decoded calendar text, line ends normalised to CRLF, no BOM. Parses with ical.js. */
  ical: string;
  /** UID of the first VEVENT/VTODO/VJOURNAL/VFREEBUSY, if any. */
  uid: string | null;
  source: 'inline' | 'attachment';
  contentType: string;
  charset: string;
  filename?: string;
}

export interface AuthResults {
  dmarc?: string;
  spf?: string;
  dkim?: string;
  /** authserv-id of each Authentication-Results header, in header order (RFC 8601 §2.2). */
  authservIds: string[];
}

export interface DsnReport {
  action: string | null;
  /** RFC 3463 enhanced status code, e.g. "5.1.1". */
  status: string | null;
  recipient: string | null;
  diagnostic?: string;
  originalMessageId?: string;
  originalIcal?: string;
  originalMethod?: string | null;
}

export interface InboundMail {
  messageId: string | null;
  from: MailAddress | null;
  sender?: MailAddress;
  replyTo?: MailAddress;
  to: MailAddress[];
  cc: MailAddress[];
  subject: string;
  date: Date | null;
  authResults?: AuthResults;
  /** Calendar payloads, identical copies (text/calendar + application/ics of the same text) merged. */
  parts: CalendarPart[];
  dsn?: DsnReport;
  errors: string[];
}

export interface ExtractOptions {
  /** Messages larger than this are not parsed (an error is reported). Default 25 MiB. */
  maxBytes?: number;
}

const DEFAULT_MAX = 25 * 1024 * 1024;
const ICS_TYPES = new Set(['text/calendar', 'application/ics', 'text/x-vcalendar', 'application/x-ics']);

/** CR-only or mixed line ends become CRLF; junk lines before the first header are dropped. */
export function normaliseRaw(raw: Buffer): Buffer {
  let text = raw.toString('latin1');
  if (/\r(?!\n)|(?<!\r)\n/.test(text)) text = text.replace(/\r\n|\r|\n/g, '\r\n');
  // Some archives prepend banners (e.g. licence comments) before the header block.
  const headerLine = /^[!-9;-~]+:/;
  if (!headerLine.test(text) && !text.startsWith('From ')) {
    const lines = text.split('\r\n');
    const first = lines.findIndex((l, i) => headerLine.test(l) && i < 200);
    if (first > 0) text = lines.slice(first).join('\r\n');
  }
  return Buffer.from(text, 'latin1');
}

export function decodeText(buf: Buffer, charset: string | undefined): { text: string; charset: string } {
  let cs = (charset ?? '').trim().toLowerCase().replace(/^["']|["']$/g, '');
  if (cs === 'koi8r') cs = 'koi8-r';
  if (!cs || cs === 'us-ascii' || cs === 'ascii') cs = 'utf-8';
  let text: string;
  try {
    text = new TextDecoder(cs, { fatal: cs === 'utf-8' }).decode(buf);
  } catch {
    // Unknown label, or "utf-8" that is not: fall back to windows-1252 so nothing is lost.
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(buf);
      cs = 'utf-8';
    } catch {
      text = new TextDecoder('windows-1252').decode(buf);
      cs = 'windows-1252';
    }
  }
  return { text: text.replace(/^\uFEFF/, '').replace(/\r\n|\r|\n/g, '\r\n'), charset: cs };
}

function toAddresses(v: AddressObject | AddressObject[] | undefined): MailAddress[] {
  const list = v === undefined ? [] : Array.isArray(v) ? v : [v];
  const out: MailAddress[] = [];
  const walk = (items: AddressObject['value']) => {
    for (const a of items) {
      if (a.group) walk(a.group);
      else if (a.address) out.push(a.name ? { address: a.address, name: a.name } : { address: a.address });
    }
  };
  for (const o of list) walk(o.value);
  return out;
}

function headerStrings(v: HeaderValue | undefined): string[] {
  if (v === undefined) return [];
  if (Array.isArray(v)) return v.map((x) => String(x));
  if (typeof v === 'string') return [v];
  return [];
}

/** RFC 8601 Authentication-Results: first verdict of each method, header order (topmost = nearest MTA). */
export function parseAuthResults(headers: string[]): AuthResults | undefined {
  if (headers.length === 0) return undefined;
  const res: AuthResults = { authservIds: [] };
  for (const h of headers) {
    const clean = h.replace(/\([^)]*\)/g, ' ').replace(/\s+/g, ' ').trim();
    const id = clean.split(';')[0]?.trim().split(' ')[0];
    if (id) res.authservIds.push(id);
    for (const m of clean.matchAll(/(?:^|;)\s*(dmarc|spf|dkim)\s*=\s*([a-z]+)/gi)) {
      const key = m[1].toLowerCase() as 'dmarc' | 'spf' | 'dkim';
      res[key] ??= m[2].toLowerCase();
    }
  }
  return res;
}

function icalMethod(ical: string): string | null {
  const m = /^METHOD[;:](?:[^\r\n]*:)?([A-Za-z-]+)\s*$/m.exec(ical);
  return m ? m[1].toUpperCase() : null;
}

function isCalendarAttachment(att: Attachment): boolean {
  const type = (att.contentType || '').toLowerCase();
  if (ICS_TYPES.has(type)) return true;
  const name = (att.filename ?? '').toLowerCase();
  return (type === 'application/octet-stream' || type === 'text/plain') && /\.(ics|ical|ifb|vcs)$/.test(name);
}

function firstContentType(att: Attachment): { params: Record<string, string> } {
  const ct = att.headers.get('content-type') as unknown;
  if (ct && typeof ct === 'object' && 'params' in ct) return ct as { params: Record<string, string> };
  return { params: {} };
}

function toCalendarPart(att: Attachment, errors: string[]): CalendarPart | null {
  const params = firstContentType(att).params;
  const label = att.filename ?? att.contentType;
  const { text, charset } = decodeText(att.content, params.charset);
  if (!/BEGIN:VCALENDAR/i.test(text)) {
    errors.push(`calendar part "${label}" has no VCALENDAR (${att.content.length} bytes)`);
    return null;
  }
  if (!/END:VCALENDAR/i.test(text)) errors.push(`calendar part "${label}" is truncated (no END:VCALENDAR)`);
  let uid: string | null = null;
  try {
    const root = new ICAL.Component(ICAL.parse(text) as unknown[]);
    if (root.name !== 'vcalendar') throw new Error(`top component is ${root.name}`);
    for (const name of ['vevent', 'vtodo', 'vjournal', 'vfreebusy']) {
      const v = root.getFirstSubcomponent(name)?.getFirstPropertyValue('uid');
      if (v) {
        uid = String(v);
        break;
      }
    }
  } catch (err) {
    errors.push(`calendar part "${label}" does not parse: ${(err as Error).message}`);
    return null;
  }
  const methodParam = params.method ? params.method.trim().toUpperCase() : null;
  const bodyMethod = icalMethod(text);
  if (methodParam && bodyMethod && methodParam !== bodyMethod) {
    errors.push(`calendar part "${label}": method parameter ${methodParam} differs from METHOD:${bodyMethod}`);
  }
  const disposition = (att.headers.get('content-disposition') as { value?: string } | undefined)?.value;
  const part: CalendarPart = {
    method: methodParam ?? bodyMethod,
    methodParam,
    ical: text,
    uid,
    source: disposition?.toLowerCase() === 'attachment' ? 'attachment' : 'inline',
    contentType: att.contentType,
    charset,
  };
  if (att.filename) part.filename = att.filename;
  return part;
}

function sameIcal(a: string, b: string): boolean {
  const norm = (s: string) => s.replace(/\r\n[ \t]/g, '').replace(/\s+$/g, '');
  return norm(a) === norm(b);
}

/** Split the multipart/report by its boundary and read the message/delivery-status fields. */
function parseDeliveryStatus(raw: string, boundary: string | undefined): DsnReport {
  const dsn: DsnReport = { action: null, status: null, recipient: null };
  const sections = boundary ? raw.split('--' + boundary) : [raw];
  for (const section of sections) {
    const split = section.search(/\r\n\r\n/);
    if (split < 0) continue;
    const head = section.slice(0, split);
    if (!/content-type:\s*message\/delivery-status/i.test(head)) continue;
    const fields = section.slice(split + 4).replace(/\r\n[ \t]+/g, ' ');
    const get = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(fields)?.[1]?.trim();
    const rcpt = get('Final-Recipient') ?? get('Original-Recipient');
    dsn.recipient = rcpt ? rcpt.replace(/^[^;]*;\s*/, '').replace(/^<|>$/g, '') : null;
    dsn.action = get('Action')?.toLowerCase() ?? null;
    dsn.status = /\d\.\d{1,3}\.\d{1,3}/.exec(get('Status') ?? '')?.[0] ?? null;
    const diag = get('Diagnostic-Code');
    if (diag) dsn.diagnostic = diag;
    break;
  }
  return dsn;
}

export async function extractCalendarParts(raw: Buffer, options: ExtractOptions = {}): Promise<InboundMail> {
  const result: InboundMail = { messageId: null, from: null, to: [], cc: [], subject: '', date: null, parts: [], errors: [] };
  const max = options.maxBytes ?? DEFAULT_MAX;
  if (!Buffer.isBuffer(raw) || raw.length === 0) {
    result.errors.push('empty message');
    return result;
  }
  if (raw.length > max) {
    result.errors.push(`message too large: ${raw.length} bytes > ${max}`);
    return result;
  }
  const normalised = normaliseRaw(raw);
  let parsed;
  try {
    parsed = await simpleParser(normalised, {
      skipHtmlToText: true,
      skipTextToHtml: true,
      skipTextLinks: true,
      skipImageLinks: true,
      maxHtmlLengthToParse: 1024 * 1024,
    });
  } catch (err) {
    result.errors.push(`MIME parse failed: ${(err as Error).message}`);
    return result;
  }
  try {
    result.messageId = parsed.messageId ?? null;
    result.from = toAddresses(parsed.from)[0] ?? null;
    const sender = toAddresses(parsed.headers.get('sender') as AddressObject | undefined)[0];
    if (sender) result.sender = sender;
    const replyTo = toAddresses(parsed.replyTo)[0];
    if (replyTo) result.replyTo = replyTo;
    result.to = toAddresses(parsed.to);
    result.cc = toAddresses(parsed.cc);
    result.subject = parsed.subject ?? '';
    result.date = parsed.date && !Number.isNaN(parsed.date.getTime()) ? parsed.date : null;
    const auth = parseAuthResults(headerStrings(parsed.headers.get('authentication-results')));
    if (auth) result.authResults = auth;
    if (!result.from) result.errors.push('no From address');

    const ct = parsed.headers.get('content-type') as { value?: string; params?: Record<string, string> } | undefined;
    const isReport =
      ct?.value?.toLowerCase() === 'multipart/report' && (ct.params?.['report-type'] ?? '').toLowerCase() === 'delivery-status';
    if (isReport) {
      // A bounce carries our own invitation back: report it, never treat it as a new iTIP message.
      const dsn = parseDeliveryStatus(normalised.toString('latin1'), ct?.params?.boundary);
      for (const att of parsed.attachments) {
        const type = att.contentType.toLowerCase();
        if (type === 'message/rfc822' || type === 'message/global') {
          const inner = await extractCalendarParts(att.content, options);
          if (inner.messageId) dsn.originalMessageId = inner.messageId;
          if (inner.parts[0]) {
            dsn.originalIcal = inner.parts[0].ical;
            dsn.originalMethod = inner.parts[0].method;
          }
        } else if (type === 'text/rfc822-headers') {
          const id = /^Message-ID:\s*(<[^>\r\n]+>)/im.exec(att.content.toString('latin1').replace(/\r\n[ \t]+/g, ' '));
          if (id) dsn.originalMessageId = id[1];
        }
      }
      if (!dsn.recipient && !dsn.status) result.errors.push('delivery-status report without recipient fields');
      result.dsn = dsn;
      return result;
    }

    for (const att of parsed.attachments) {
      if (!isCalendarAttachment(att)) continue;
      const part = toCalendarPart(att, result.errors);
      if (!part) continue;
      const dup = result.parts.find((p) => sameIcal(p.ical, part.ical));
      if (dup) {
        dup.method ??= part.method;
        continue;
      }
      result.parts.push(part);
    }
  } catch (err) {
    result.errors.push(`extraction failed: ${(err as Error).message}`);
  }
  return result;
}
