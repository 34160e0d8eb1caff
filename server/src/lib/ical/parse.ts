/**
 * Tolerant iCalendar parsing (RFC 5545 §3.1) on top of ical.js.
 *
 * Real-world quirks repaired before ical.js sees the text: BOM, CR-only / mixed
 * line ends, blank lines, stray control characters, Outlook 2003's
 * "PRODID:… VERSION:2.0" on one line, empty parameters (";;"), lines that are
 * not content lines, a missing final END:VCALENDAR, bare components without a
 * VCALENDAR wrapper. Anything structurally broken throws IcalError.
 */
import ICAL from 'ical.js';
import { IcalError, asIcalError } from './errors.js';

/** Options for parsing. */
export interface ParseOptions {
  /** Maximum input size in characters (default 10 MB). */
  maxBytes?: number;
  /** Maximum number of components (default 200 000). */
  maxComponents?: number;
  /** How parseCalendar treats several VCALENDARs in one text (default 'merge'). */
  multiple?: 'merge' | 'first' | 'error';
}

export const DEFAULT_MAX_BYTES = 10 * 1024 * 1024;
const MAX_DEPTH = 8;
const WRAPPABLE = new Set(['VEVENT', 'VTODO', 'VJOURNAL', 'VFREEBUSY', 'VTIMEZONE']);
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0B\x0C\x0E-\x1F\x7F]/g;
const CONTENT_LINE = /^[A-Za-z0-9-]+(;|:)/;

/** Unfold (RFC 5545 §3.1) into logical lines, dropping blank lines. */
function logicalLines(text: string): string[] {
  const raw = text.replace(/^\uFEFF/, '').replace(/\r\n|\r/g, '\n').replace(CONTROL, '').split('\n');
  const out: string[] = [];
  for (const line of raw) {
    if (line.trim() === '') continue;
    if ((line[0] === ' ' || line[0] === '\t') && out.length > 0) out[out.length - 1] += line.slice(1);
    else out.push(line.trimStart());
  }
  return out;
}

/** Repair one logical line; returns null when the line is not a content line. */
function repairLine(line: string): string[] | null {
  const m = /^PRODID:(.*?)\s+VERSION:(\d+\.\d+)\s*$/i.exec(line);
  if (m) return [`PRODID:${m[1]}`, `VERSION:${m[2]}`];
  let fixed = line;
  const colon = fixed.indexOf(':');
  if (colon > 0) {
    const head = fixed.slice(0, colon);
    if (head.includes(';;') && !head.includes('"')) fixed = head.replace(/;{2,}/g, ';').replace(/;$/, '') + fixed.slice(colon);
  }
  if (!CONTENT_LINE.test(fixed)) return null;
  // "EXDATE:20200116" — a DATE written without VALUE=DATE (Google, others).
  const d = /^(DTSTART|DTEND|DUE|EXDATE|RDATE|RECURRENCE-ID)((?:;[^:]*)?):(\d{8}(?:,\d{8})*)\s*$/i.exec(fixed);
  if (d && !/;VALUE=/i.test(d[2])) fixed = `${d[1]}${d[2]};VALUE=DATE:${d[3]}`;
  return [fixed];
}

/**
 * Clean up raw iCalendar text into the unfolded form ical.js accepts.
 * Throws IcalError for input that is not iCalendar or is too large/deep.
 */
export function preprocessIcal(text: string, opts: ParseOptions = {}): string {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const maxComponents = opts.maxComponents ?? 200_000;
  if (typeof text !== 'string') throw new IcalError('INVALID_ICALENDAR', 'iCalendar input must be a string');
  if (text.length > maxBytes) {
    throw new IcalError('TOO_LARGE', `iCalendar data is larger than the limit of ${maxBytes} bytes`);
  }
  const lines = logicalLines(text);
  const out: string[] = [];
  const stack: string[] = [];
  let components = 0;
  let dropped = 0;
  let wrapped = false;
  for (let i = 0; i < lines.length; i++) {
    const fixedLines = repairLine(lines[i]);
    if (!fixedLines) {
      dropped++;
      continue;
    }
    for (const line of fixedLines) {
      const begin = /^BEGIN:(.*)$/i.exec(line);
      const end = /^END:(.*)$/i.exec(line);
      if (begin) {
        const name = begin[1].trim().toUpperCase();
        if (stack.length === 0) {
          if (name !== 'VCALENDAR') {
            if (!WRAPPABLE.has(name)) throw new IcalError('INVALID_ICALENDAR', `Not iCalendar data: top-level BEGIN:${name}`);
            out.push('BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Calendula//wrapped//EN');
            stack.push('VCALENDAR');
            wrapped = true;
          }
        }
        if (stack.length >= MAX_DEPTH) throw new IcalError('INVALID_ICALENDAR', `Components nested deeper than ${MAX_DEPTH} levels`);
        if (++components > maxComponents) throw new IcalError('TOO_LARGE', `More than ${maxComponents} components`);
        stack.push(name);
        out.push(`BEGIN:${name}`);
      } else if (end) {
        const name = end[1].trim().toUpperCase();
        if (stack.length === 0) continue; // stray END after the calendar: ignore
        if (stack[stack.length - 1] !== name) {
          if (wrapped && stack.length === 1 && WRAPPABLE.has(name)) continue;
          throw new IcalError(
            'INVALID_ICALENDAR',
            `Malformed iCalendar: END:${name} where END:${stack[stack.length - 1]} was expected (line ${i + 1})`,
          );
        }
        stack.pop();
        out.push(`END:${name}`);
        if (stack.length === 0) wrapped = false;
      } else if (stack.length > 0) {
        out.push(line);
      } else {
        dropped++;
      }
    }
  }
  if (stack.length === 1 && stack[0] === 'VCALENDAR') out.push('END:VCALENDAR');
  else if (stack.length > 0) throw new IcalError('INVALID_ICALENDAR', `Truncated iCalendar data: missing END:${stack[stack.length - 1]}`);
  if (components === 0) {
    throw new IcalError('INVALID_ICALENDAR', lines.length === 0 ? 'Empty iCalendar data' : 'Not iCalendar data: no BEGIN:VCALENDAR found');
  }
  if (dropped > 0 && dropped > out.length) {
    throw new IcalError('INVALID_ICALENDAR', `Not iCalendar data: ${dropped} of ${lines.length} lines are not content lines`);
  }
  return out.join('\r\n') + '\r\n';
}

/** Parse into all top-level VCALENDAR components (a file may hold several). */
export function parseCalendars(text: string, opts: ParseOptions = {}): ICAL.Component[] {
  const clean = preprocessIcal(text, opts);
  let jcal: unknown;
  try {
    jcal = ICAL.parse(clean);
  } catch (e) {
    throw asIcalError(e, 'INVALID_ICALENDAR', 'Malformed iCalendar');
  }
  const list = (Array.isArray(jcal) && Array.isArray(jcal[0]) ? jcal : [jcal]) as unknown[];
  return list.map((j) => {
    const c = new ICAL.Component(j as never);
    if (c.name !== 'vcalendar') throw new IcalError('INVALID_ICALENDAR', `Top-level component is ${c.name.toUpperCase()}, not VCALENDAR`);
    return c;
  });
}

/**
 * Parse iCalendar text into one VCALENDAR component. Several VCALENDARs in the
 * text are merged into the first (VTIMEZONEs de-duplicated by TZID) unless
 * `multiple` says otherwise.
 */
export function parseCalendar(text: string, opts: ParseOptions = {}): ICAL.Component {
  const cals = parseCalendars(text, opts);
  if (cals.length === 1 || opts.multiple === 'first') return cals[0];
  if (opts.multiple === 'error') throw new IcalError('INVALID_ICALENDAR', `Expected one VCALENDAR, found ${cals.length}`);
  const first = cals[0];
  const tzids = new Set(first.getAllSubcomponents('vtimezone').map((z) => String(z.getFirstPropertyValue('tzid'))));
  for (const cal of cals.slice(1)) {
    for (const sub of cal.getAllSubcomponents()) {
      if (sub.name === 'vtimezone') {
        const id = String(sub.getFirstPropertyValue('tzid'));
        if (tzids.has(id)) continue;
        tzids.add(id);
      }
      first.addSubcomponent(sub);
    }
  }
  return first;
}

/** Serialise a component to iCalendar text with CRLF line ends and a final CRLF. */
export function serializeComponent(comp: ICAL.Component): string {
  const s = comp.toString().replace(/\r?\n/g, '\r\n');
  return s.endsWith('\r\n') ? s : s + '\r\n';
}

/** Accept text or a parsed component. */
export function toComponent(input: string | ICAL.Component): ICAL.Component {
  return typeof input === 'string' ? parseCalendar(input) : input;
}
