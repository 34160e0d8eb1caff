// Shared pieces of request-body parsing: body → tree, property selections, time ranges.
import { DavParseError, NS_CALDAV, NS_DAV, child, parseXml, qname, type ParseXmlOptions, type QName, type XmlElement } from './xml.js';

/** A request body as the HTTP layer has it: raw text, an already-parsed tree, or nothing. */
export type BodyInput = string | XmlElement | null | undefined;

/** Parse a body into a tree; null for an absent or whitespace-only body. */
export function toTree(body: BodyInput, options?: ParseXmlOptions): XmlElement | null {
  if (body == null) return null;
  if (typeof body !== 'string') return body;
  if (body.trim() === '') return null;
  return parseXml(body, options);
}

export function invalid(message: string, condition?: QName): never {
  throw new DavParseError('INVALID_BODY', message, condition);
}

export type PropfindRequest =
  | { kind: 'allprop'; include: QName[] }
  | { kind: 'propname' }
  | { kind: 'prop'; props: QName[] };

/** The names listed in a DAV:prop element (each child's namespace + local name). */
export function propNames(prop: XmlElement): QName[] {
  return prop.children.map(qname);
}

/** The (allprop [include] | propname | prop) choice shared by PROPFIND and most REPORTs. */
export function propSelection(parent: XmlElement): PropfindRequest | null {
  if (child(parent, NS_DAV, 'propname')) return { kind: 'propname' };
  if (child(parent, NS_DAV, 'allprop')) {
    const include = child(parent, NS_DAV, 'include');
    return { kind: 'allprop', include: include ? propNames(include) : [] };
  }
  const prop = child(parent, NS_DAV, 'prop');
  if (prop) return { kind: 'prop', props: propNames(prop) };
  return null;
}

// ---------------------------------------------------------------------------------------------
// Shared value parsers

/** A time range; null bound = unbounded. RFC 4791 §9.9 */
export interface TimeRange {
  start: Date | null;
  end: Date | null;
}

const UTC_BASIC = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/** Parse an iCalendar UTC date-time in basic form, e.g. 20240101T000000Z. */
export function parseUtcDateTime(value: string, condition?: QName): Date {
  const m = UTC_BASIC.exec(value.trim());
  if (!m) invalid(`Not a UTC date-time (expected e.g. 20240101T000000Z): "${value}"`, condition);
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, Math.min(s, 59)));
  if (date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d || h > 23 || mi > 59 || s > 60) {
    invalid(`Invalid date-time "${value}"`, condition);
  }
  return date;
}

/** RFC 4791 §9.9: CALDAV:time-range with start and/or end attributes, both UTC date-times. */
export function parseTimeRange(e: XmlElement, condition: QName = { ns: NS_CALDAV, name: 'valid-filter' }): TimeRange {
  const start = e.attrs['start'] !== undefined ? parseUtcDateTime(e.attrs['start'], condition) : null;
  const end = e.attrs['end'] !== undefined ? parseUtcDateTime(e.attrs['end'], condition) : null;
  if (!start && !end) invalid('time-range needs a start or an end attribute', condition);
  if (start && end && end.getTime() <= start.getTime()) invalid('time-range end must be after start', condition);
  return { start, end };
}

/** A non-negative integer element (DAV:nresults and friends). */
export function parseCount(e: XmlElement, what: string): number {
  const t = e.text.trim();
  if (!/^\d{1,9}$/.test(t)) invalid(`${what} must be a non-negative integer, got "${t}"`);
  return Number(t);
}
