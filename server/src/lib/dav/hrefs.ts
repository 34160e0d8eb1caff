// DAV:href ⇄ path. Hrefs in request bodies may be absolute URIs or absolute paths and are
// percent-encoded (RFC 4918 §8.3); the store works with decoded paths.
import { DavParseError } from './xml.js';

const PLAIN_HREF = /^\/(?!\/)[A-Za-z0-9._~@:/-]*$/;

/**
 * Decoded path of an href, e.g. "/dav/calendars/anna/work/Caf%C3%A9.ics" → ".../Café.ics".
 * Throws DavParseError (INVALID_BODY) for hrefs that are not http(s) or not decodable; the
 * caller answers 400 or lists the href with 404 in a multiget, as it prefers.
 */
export function hrefToPath(href: string): string {
  // An absolute path of unreserved characters only (what clients send back from our own
  // listings) is its own decoded path: no percent-escapes, no dot segments to remove
  // (RFC 3986 §5.2.4), not a network-path reference ("//host/…"). Skips a URL parse per href.
  if (PLAIN_HREF.test(href) && !href.includes('/.')) return href;
  let url: URL;
  try {
    url = new URL(href.trim(), 'http://relative.invalid');
  } catch {
    throw new DavParseError('INVALID_BODY', `Invalid href "${href}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new DavParseError('INVALID_BODY', `Unsupported href scheme in "${href}"`);
  }
  try {
    return decodeURIComponent(url.pathname);
  } catch {
    throw new DavParseError('INVALID_BODY', `Badly percent-encoded href "${href}"`);
  }
}

/**
 * Encode a decoded path for a DAV:href: every segment percent-encoded except the characters
 * RFC 3986 allows unescaped in a segment. Apple Calendar and DAVx5 compare hrefs literally, so
 * the same path must always give the same href.
 */
export function pathToHref(path: string): string {
  return path
    .split('/')
    .map((seg) => encodeURIComponent(seg).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).replace(/%40/g, '@').replace(/%3A/g, ':'))
    .join('/');
}
