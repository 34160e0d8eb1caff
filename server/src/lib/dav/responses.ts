// Response bodies built from typed values: DAV:multistatus (RFC 4918 §13, §14.16) and DAV:error
// (RFC 4918 §16). The precondition catalogue lives in preconditions.ts.
import { NS_DAV, davEl, el, serializeXml, type QName, type XmlElement } from './xml.js';

export * from './preconditions.js';

const REASONS: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  204: 'No Content',
  207: 'Multi-Status',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  412: 'Precondition Failed',
  415: 'Unsupported Media Type',
  423: 'Locked',
  424: 'Failed Dependency',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  507: 'Insufficient Storage',
};

export function statusLine(status: number): string {
  return `HTTP/1.1 ${status} ${REASONS[status] ?? ''}`.trimEnd();
}

/**
 * A precondition/postcondition failure: HTTP status plus the DAV:error child element.
 * RFC 4918 §16: the body is <D:error><ns:name>content</ns:name></D:error>.
 */
export interface DavError {
  status: number;
  ns: string;
  name: string;
  /** Children of the condition element (e.g. DAV:href for CALDAV:no-uid-conflict). */
  content?: XmlElement[];
  /** Human text for logs and for DAV:responsedescription; not part of the DAV:error body. */
  description?: string;
}

/** The DAV:error element for a DavError. */
export function errorElement(err: DavError): XmlElement {
  return davEl('error', [el(err.ns, err.name, err.content ?? [])]);
}

/** A standalone DAV:error body (Content-Type: application/xml; charset=utf-8). */
export function buildErrorBody(err: DavError): string {
  return serializeXml(errorElement(err));
}

/** One property outcome for one href. A 404 outcome echoes the requested name as an empty
 *  element (RFC 4918 §9.1: "prop ... 404 for properties that do not exist"). */
export interface PropResult {
  /** The property element with its value (for 200), or an empty element (for errors). */
  prop: XmlElement;
  status: number;
  /** Optional DAV:error for this propstat (e.g. DAV:cannot-modify-protected-property). */
  error?: DavError;
}

export interface MultistatusResponse {
  href: string;
  /** Property outcomes: grouped into one DAV:propstat per status (an empty list gives one
   *  empty 200 propstat). */
  props?: PropResult[];
  /** A plain status instead of propstats (e.g. 404 for a multiget href that does not exist, or
   *  a removed member in sync-collection, RFC 6578 §3.5.2). */
  status?: number;
  error?: DavError;
  description?: string;
}

export interface MultistatusOptions {
  /** RFC 6578 §6.2: the new DAV:sync-token, emitted last. */
  syncToken?: string;
  /**
   * RFC 6578 §3.6: results were truncated. Emits a response for `href` (the request-URI) with
   * 507 Insufficient Storage and DAV:number-of-matches-within-limits.
   */
  truncatedHref?: string;
  description?: string;
  /**
   * RFC 8144 §2.1 (Prefer: return=minimal): leave out 404 propstats. A response left with no
   * propstat gets an empty 200 one, since RFC 4918 requires at least one.
   */
  minimal?: boolean;
}

/** An empty element naming a property, for 404/403 propstats and DAV:propname answers. */
export function emptyProp(name: QName): XmlElement {
  return el(name.ns, name.name);
}

/** A property element with text content. */
export function textProp(name: QName, text: string): XmlElement {
  return el(name.ns, name.name, [], text);
}

/** <D:href>…</D:href> */
export function hrefEl(href: string): XmlElement {
  return davEl('href', [], href);
}

function statusOrder(a: number, b: number): number {
  // 200 first (clients such as DAVx5 scan the first propstat), then ascending.
  if (a === b) return 0;
  if (a === 200) return -1;
  if (b === 200) return 1;
  return a - b;
}

function minimal(r: MultistatusResponse): MultistatusResponse {
  if (!r.props) return r;
  const props = r.props.filter((p) => p.status !== 404);
  return { ...r, props };
}

function responseElement(r: MultistatusResponse): XmlElement {
  const children: XmlElement[] = [hrefEl(r.href)];
  if (r.props && r.props.length === 0) {
    // Only reachable for minimal responses: RFC 4918 needs at least one propstat.
    children.push(davEl('propstat', [davEl('prop'), davEl('status', [], statusLine(200))]));
  } else if (r.props) {
    const groups = new Map<number, PropResult[]>();
    for (const p of r.props) {
      const g = groups.get(p.status);
      if (g) g.push(p);
      else groups.set(p.status, [p]);
    }
    for (const status of [...groups.keys()].sort(statusOrder)) {
      const group = groups.get(status)!;
      const propstat = [davEl('prop', group.map((p) => p.prop)), davEl('status', [], statusLine(status))];
      const err = group.find((p) => p.error)?.error;
      if (err) propstat.push(errorElement(err));
      children.push(davEl('propstat', propstat));
    }
  } else {
    // RFC 4918 §14.24: response is (href, ((href*, status)|(propstat+)), error?, …)
    children.push(davEl('status', [], statusLine(r.status ?? 200)));
  }
  if (r.error) children.push(errorElement(r.error));
  if (r.description) children.push(davEl('responsedescription', [], r.description));
  return davEl('response', children);
}

export function multistatusElement(responses: MultistatusResponse[], options: MultistatusOptions = {}): XmlElement {
  const children = responses.map((r) => responseElement(options.minimal ? minimal(r) : r));
  if (options.truncatedHref !== undefined) {
    children.push(
      responseElement({
        href: options.truncatedHref,
        status: 507,
        error: { status: 507, ns: NS_DAV, name: 'number-of-matches-within-limits' },
      }),
    );
  }
  if (options.description) children.push(davEl('responsedescription', [], options.description));
  if (options.syncToken !== undefined) children.push(davEl('sync-token', [], options.syncToken));
  return davEl('multistatus', children);
}

/** The 207 Multi-Status body. */
export function buildMultistatus(responses: MultistatusResponse[], options: MultistatusOptions = {}): string {
  return serializeXml(multistatusElement(responses, options));
}

/**
 * Results for a DAV:prop request where some names are unknown: found values at 200 and every
 * other requested name echoed empty at 404, in request order.
 */
export function propResults(requested: QName[], found: Map<string, XmlElement> | ((q: QName) => XmlElement | null)): PropResult[] {
  const lookup = typeof found === 'function' ? found : (q: QName) => found.get(`{${q.ns}}${q.name}`) ?? null;
  return requested.map((q) => {
    const v = lookup(q);
    return v ? { prop: v, status: 200 } : { prop: emptyProp(q), status: 404 };
  });
}

/** DAV:supported-report-set value (RFC 3253 §3.1.5) for the given report names. */
export function supportedReportSet(reports: readonly QName[]): XmlElement {
  return davEl(
    'supported-report-set',
    reports.map((q) => davEl('supported-report', [davEl('report', [el(q.ns, q.name)])])),
  );
}
