// WebDAV/CalDAV request header helpers. Each takes the raw header value (string | undefined, as
// Node gives it; arrays are joined) and returns a typed value or throws DavParseError.
import { DavParseError } from './xml.js';

type HeaderValue = string | string[] | undefined;

function one(v: HeaderValue): string | undefined {
  if (Array.isArray(v)) return v.join(',');
  return v;
}

function bad(message: string): never {
  throw new DavParseError('INVALID_HEADER', message);
}

export type Depth = '0' | '1' | 'infinity';

/**
 * RFC 4918 §10.2. `fallback` is the method's default when the header is absent (PROPFIND:
 * infinity per RFC 4918 §9.1, REPORT: 0 per RFC 3253 §3.6).
 */
export function parseDepth(value: HeaderValue, fallback: Depth): Depth {
  const v = one(value)?.trim().toLowerCase();
  if (v === undefined || v === '') return fallback;
  if (v === '0' || v === '1' || v === 'infinity') return v;
  return bad(`Invalid Depth header "${v}"`);
}

export interface EntityTag {
  weak: boolean;
  /** The opaque tag without quotes. */
  tag: string;
}

export type EtagCondition = { any: true } | { any: false; tags: EntityTag[] };

/** RFC 9110 §13.1.1/§13.1.2: "*" or a comma-separated list of entity-tags. */
export function parseEtagList(value: HeaderValue): EtagCondition | null {
  const v = one(value)?.trim();
  if (v === undefined || v === '') return null;
  if (v === '*') return { any: true };
  const tags: EntityTag[] = [];
  const re = /\s*(W\/)?"([^"]*)"\s*(,|$)/gy;
  let pos = 0;
  while (pos < v.length) {
    re.lastIndex = pos;
    const m = re.exec(v);
    if (!m) return bad(`Invalid entity-tag list "${v}"`);
    tags.push({ weak: !!m[1], tag: m[2] ?? '' });
    pos = re.lastIndex;
  }
  return { any: false, tags };
}

export const parseIfMatch = parseEtagList;
export const parseIfNoneMatch = parseEtagList;
/** RFC 6638 §8.3: If-Schedule-Tag-Match = entity-tag (we accept a list, as for If-Match). */
export const parseIfScheduleTagMatch = parseEtagList;

/**
 * Does `current` (a quoted etag as we emit it, or null for "no resource") satisfy the condition?
 * If-Match uses the strong comparison (RFC 9110 §13.1.1); If-None-Match the weak one (§13.1.2).
 */
export function etagMatches(cond: EtagCondition, current: string | null, strong: boolean): boolean {
  if (current === null) return false;
  if (cond.any) return true;
  const m = /^(W\/)?"?([^"]*)"?$/.exec(current);
  const cur = { weak: !!m?.[1], tag: m?.[2] ?? current };
  return cond.tags.some((t) => t.tag === cur.tag && (!strong || (!t.weak && !cur.weak)));
}

export interface Destination {
  /** Percent-decoded path, e.g. "/dav/calendars/anna/work/x.ics". */
  path: string;
  /** "https://host:port" when the header was an absolute URI, else null. */
  origin: string | null;
}

/** RFC 4918 §10.3: Destination = Simple-ref (absolute URI or absolute path). */
export function parseDestination(value: HeaderValue): Destination {
  const v = one(value)?.trim();
  if (!v) return bad('Missing Destination header');
  let url: URL;
  try {
    url = new URL(v, 'http://relative.invalid');
  } catch {
    return bad(`Invalid Destination "${v}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return bad(`Unsupported Destination scheme "${url.protocol}"`);
  let path: string;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    return bad(`Badly percent-encoded Destination "${v}"`);
  }
  return { path, origin: /^https?:\/\//i.test(v) ? url.origin : null };
}

/** RFC 4918 §10.6: "T" or "F"; absent means T. */
export function parseOverwrite(value: HeaderValue): boolean {
  const v = one(value)?.trim().toUpperCase();
  if (v === undefined || v === '') return true;
  if (v === 'T') return true;
  if (v === 'F') return false;
  return bad(`Invalid Overwrite header "${v}"`);
}

export interface Preferences {
  /** RFC 7240 §4.2 return=minimal, or the older Microsoft/Apple "Brief: t" header. */
  returnMinimal: boolean;
  /** RFC 8144 §2.1-ish "depth-noroot": omit the collection itself in Depth:1 PROPFIND. */
  depthNoroot: boolean;
}

/** RFC 7240 Prefer (plus "Brief: t", which Apple clients still send). Unknown tokens ignored. */
export function parsePrefer(prefer: HeaderValue, brief?: HeaderValue): Preferences {
  const tokens = (one(prefer) ?? '')
    .split(',')
    .map((t) => t.split(';')[0]!.trim().toLowerCase().replace(/\s*=\s*/, '=').replace(/"/g, ''));
  return {
    returnMinimal: tokens.includes('return=minimal') || one(brief)?.trim().toLowerCase() === 't',
    depthNoroot: tokens.includes('depth-noroot'),
  };
}
