// Minimal namespace-aware XML for WebDAV/CalDAV bodies: parse (saxes, strict, no DTD) and
// serialize (stable prefixes, proper escaping). Pure: no I/O.
import { SaxesParser } from 'saxes';

export const NS_DAV = 'DAV:';
export const NS_CALDAV = 'urn:ietf:params:xml:ns:caldav';
export const NS_CS = 'http://calendarserver.org/ns/';
export const NS_APPLE = 'http://apple.com/ns/ical/';
export const NS_CARDDAV = 'urn:ietf:params:xml:ns:carddav';
const NS_XML = 'http://www.w3.org/XML/1998/namespace';

/** One element of a parsed (or to-be-serialized) XML document. */
export interface XmlElement {
  /** Namespace URI ('' when the element is in no namespace). */
  ns: string;
  /** Local name. */
  name: string;
  /** Attributes: un-namespaced ones by local name, namespaced ones as `{uri}local`.
   *  Namespace declarations (xmlns, xmlns:*) are not kept. */
  attrs: Record<string, string>;
  children: XmlElement[];
  /** Concatenated direct text/CDATA content (mixed-content order is not kept). */
  text: string;
}

/** A qualified name: property, report, privilege or precondition name. */
export interface QName {
  ns: string;
  name: string;
}

export type DavParseErrorCode =
  | 'BAD_XML' // not well-formed, DTD present, too large, too deep
  | 'INVALID_BODY' // well-formed but not what the method expects
  | 'UNSUPPORTED_REPORT'
  | 'INVALID_HEADER';

/**
 * The only error the parsers in this folder throw. `condition`, when set, names the DAV:error
 * precondition the HTTP layer should answer with (e.g. CALDAV:valid-filter, DAV:supported-report).
 */
export class DavParseError extends Error {
  readonly code: DavParseErrorCode;
  readonly condition: QName | undefined;
  constructor(code: DavParseErrorCode, message: string, condition?: QName) {
    super(message);
    this.name = 'DavParseError';
    this.code = code;
    this.condition = condition;
  }
}

export interface ParseXmlOptions {
  /** Maximum body size in UTF-16 code units (default 1 MiB-ish). */
  maxLength?: number;
  /** Maximum element nesting depth (default 64). Keeps recursive consumers safe. */
  maxDepth?: number;
  /** Maximum number of elements (default 50 000). */
  maxElements?: number;
}

const DEFAULTS = { maxLength: 1_048_576, maxDepth: 64, maxElements: 50_000 };

/**
 * Parse an XML document into an element tree.
 * DTDs are refused outright: XXE and entity-expansion ("billion laughs") bodies never reach a
 * handler. saxes would already fail on any undefined entity; we also reject DOCTYPE itself so a
 * DTD with only comments or parameter entities is refused too.
 */
export function parseXml(input: string, options: ParseXmlOptions = {}): XmlElement {
  const maxLength = options.maxLength ?? DEFAULTS.maxLength;
  const maxDepth = options.maxDepth ?? DEFAULTS.maxDepth;
  const maxElements = options.maxElements ?? DEFAULTS.maxElements;
  if (typeof input !== 'string') throw new DavParseError('BAD_XML', 'Request body is not text');
  if (input.length > maxLength) {
    throw new DavParseError('BAD_XML', `Request body exceeds ${maxLength} characters`);
  }
  // A UTF-8 byte order mark is legal before the prolog; saxes does not skip it.
  const text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  return fastParseXml(text, maxDepth, maxElements) ?? saxesParseXml(text, maxDepth, maxElements);
}

// --- The common shape of DAV request bodies, read without saxes --------------------------------
// Client bodies are small documents of ASCII-named elements, namespace declarations and plain text
// (a calendar-multiget is mostly DAV:href elements). fastParseXml() reads exactly that subset and
// gives up (null) on anything else, which then goes to saxes: an entity or character reference,
// CR (line ends are normalised), comments, CDATA, DOCTYPE or any other declaration, processing
// instructions other than a leading XML declaration, characters XML forbids, surrogates, non-ASCII
// names, prefixed attributes, attribute values that need normalising, and every well-formedness or
// namespace error (unbound prefix, mismatched or missing end tag, duplicate attribute, text or a
// second element outside the root) — so saxes still gives those their error, and DTDs are still
// refused there. For what it accepts, the tree is the one saxesParseXml() builds (a property test
// checks this).

// eslint-disable-next-line no-control-regex
const FAST_UNSUPPORTED_CHAR = /[&\r\u0000-\u0008\u000B\u000C\u000E-\u001F\uD800-\uDFFF\uFFFE\uFFFF]/;
/** Whether `s` holds anything the fast reader leaves to saxes (one class scan and three substring searches: an alternation in one regex is several times slower). */
const fastUnsupported = (s: string) => FAST_UNSUPPORTED_CHAR.test(s) || s.includes('<!') || s.includes('<?') || s.includes(']]>');
const XML_DECL = /^<\?xml[ \t\n]+version[ \t\n]*=[ \t\n]*(?:"1\.0"|'1\.0')(?:[ \t\n]+encoding[ \t\n]*=[ \t\n]*(?:"[A-Za-z][A-Za-z0-9._-]*"|'[A-Za-z][A-Za-z0-9._-]*'))?(?:[ \t\n]+standalone[ \t\n]*=[ \t\n]*(?:"(?:yes|no)"|'(?:yes|no)'))?[ \t\n]*\?>/;
// A start tag's name and attributes (group 1: qualified name; 2: the attributes; 3: "/" when empty).
const START_TAG = /<([A-Za-z_][A-Za-z0-9._-]*(?::[A-Za-z_][A-Za-z0-9._-]*)?)((?:[ \t\n]+[A-Za-z_][A-Za-z0-9._:-]*[ \t\n]*=[ \t\n]*(?:"[^"<\t\n]*"|'[^'<\t\n]*'))*)[ \t\n]*(\/?)>/y;
const ATTR = /[ \t\n]+([A-Za-z_][A-Za-z0-9._:-]*)[ \t\n]*=[ \t\n]*(?:"([^"]*)"|'([^']*)')/g;
const END_TAG = /<\/([A-Za-z_][A-Za-z0-9._-]*(?::[A-Za-z_][A-Za-z0-9._-]*)?)[ \t\n]*>/y;
const WHITESPACE = /^[ \t\n]*$/;
const NCNAME = /^[A-Za-z_][A-Za-z0-9._-]*$/;

interface FastFrame {
  el: XmlElement;
  qname: string;
  /** In-scope namespace bindings ('' for the default namespace). */
  ns: Map<string, string>;
}

/** The element tree of `text` when it is in the subset described above; null otherwise. Never throws. */
export function fastParseXml(text: string, maxDepth = DEFAULTS.maxDepth, maxElements = DEFAULTS.maxElements): XmlElement | null {
  let pos = 0;
  const decl = text.startsWith('<?xml') ? XML_DECL.exec(text) : null;
  if (decl) pos = decl[0].length;
  if (fastUnsupported(pos ? text.slice(pos) : text)) return null;
  const stack: FastFrame[] = [];
  let root: XmlElement | undefined;
  let count = 0;
  const rootNs = new Map<string, string>();
  while (pos < text.length) {
    const lt = text.indexOf('<', pos);
    const end = lt < 0 ? text.length : lt;
    if (end > pos) {
      const t = text.slice(pos, end);
      const top = stack[stack.length - 1];
      if (top) top.el.text += t;
      else if (!WHITESPACE.test(t)) return null;
    }
    if (lt < 0) break;
    if (text.charCodeAt(lt + 1) === 0x2f) {
      // </name>
      END_TAG.lastIndex = lt;
      const m = END_TAG.exec(text);
      const top = stack.pop();
      if (!m || !top || m[1] !== top.qname) return null;
      pos = END_TAG.lastIndex;
      continue;
    }
    if (root && stack.length === 0) return null; // a second root element
    START_TAG.lastIndex = lt;
    const m = START_TAG.exec(text);
    if (!m) return null;
    pos = START_TAG.lastIndex;
    if (++count > maxElements || stack.length >= maxDepth) return null;
    const parent = stack[stack.length - 1];
    let ns = parent ? parent.ns : rootNs;
    const attrs: Record<string, string> = {};
    if (m[2]) {
      const seen = new Set<string>();
      ATTR.lastIndex = 0;
      for (let a = ATTR.exec(m[2]); a; a = ATTR.exec(m[2])) {
        const name = a[1]!;
        const value = a[2] ?? a[3] ?? '';
        if (seen.has(name)) return null;
        seen.add(name);
        if (name === 'xmlns' || name.startsWith('xmlns:')) {
          const prefix = name === 'xmlns' ? '' : name.slice(6);
          // Undeclaring a prefix, re-binding xml/xmlns, or a prefix that is not one NCName: saxes decides.
          if ((name !== 'xmlns' && !NCNAME.test(prefix)) || prefix === 'xml' || prefix === 'xmlns' || (prefix && !value) || value === NS_XML || value === 'http://www.w3.org/2000/xmlns/') return null;
          if (ns === (parent ? parent.ns : rootNs)) ns = new Map(ns);
          ns.set(prefix, value);
        } else if (name.includes(':')) {
          return null; // a prefixed attribute (xml:lang, a:z …)
        } else {
          attrs[name] = value;
        }
      }
    }
    const qname = m[1]!;
    const colon = qname.indexOf(':');
    const prefix = colon < 0 ? '' : qname.slice(0, colon);
    const uri = ns.get(prefix);
    if (colon >= 0 && (uri === undefined || prefix === 'xml' || prefix === 'xmlns')) return null;
    const el: XmlElement = { ns: uri ?? '', name: colon < 0 ? qname : qname.slice(colon + 1), attrs, children: [], text: '' };
    if (parent) parent.el.children.push(el);
    else root = el;
    if (m[3] !== '/') stack.push({ el, qname, ns });
  }
  if (!root || stack.length) return null;
  return root;
}

/** parseXml() through saxes (every construct, every error). */
export function saxesParseXml(text: string, maxDepth = DEFAULTS.maxDepth, maxElements = DEFAULTS.maxElements): XmlElement {
  const parser = new SaxesParser({ xmlns: true, position: true });
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let count = 0;
  let failure: DavParseError | undefined;

  const fail = (message: string): never => {
    throw new DavParseError('BAD_XML', message);
  };
  parser.on('error', (err) => {
    // saxes messages carry "line:column: message"; keep them, they help client authors.
    failure ??= new DavParseError('BAD_XML', `Malformed XML: ${err.message}`);
    throw failure;
  });
  parser.on('doctype', () => fail('DOCTYPE declarations are not allowed in request bodies'));
  parser.on('opentag', (tag) => {
    count += 1;
    if (count > maxElements) fail(`More than ${maxElements} XML elements`);
    if (stack.length >= maxDepth) fail(`XML nesting deeper than ${maxDepth}`);
    const attrs: Record<string, string> = {};
    for (const attr of Object.values(tag.attributes)) {
      if (attr.prefix === 'xmlns' || attr.name === 'xmlns') continue;
      attrs[attr.uri ? `{${attr.uri}}${attr.local}` : attr.local] = attr.value;
    }
    const el: XmlElement = { ns: tag.uri ?? '', name: tag.local ?? tag.name, attrs, children: [], text: '' };
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push(el);
    else root = el;
    stack.push(el);
  });
  parser.on('closetag', () => {
    stack.pop();
  });
  const onText = (t: string) => {
    const top = stack[stack.length - 1];
    if (top) top.text += t;
  };
  parser.on('text', onText);
  parser.on('cdata', onText);

  try {
    parser.write(text).close();
  } catch (err) {
    if (err instanceof DavParseError) throw err;
    throw failure ?? new DavParseError('BAD_XML', `Malformed XML: ${(err as Error)?.message ?? String(err)}`);
  }
  if (failure) throw failure;
  if (!root) throw new DavParseError('BAD_XML', 'Empty XML document');
  return root;
}

// ---------------------------------------------------------------------------------------------
// Tree helpers used by the request parsers.

export function el(ns: string, name: string, children: XmlElement[] = [], text = '', attrs: Record<string, string> = {}): XmlElement {
  return { ns, name, attrs, children, text };
}

export function davEl(name: string, children: XmlElement[] = [], text = ''): XmlElement {
  return el(NS_DAV, name, children, text);
}

export function is(e: XmlElement, ns: string, name: string): boolean {
  return e.ns === ns && e.name === name;
}

export function child(e: XmlElement, ns: string, name: string): XmlElement | undefined {
  return e.children.find((c) => c.ns === ns && c.name === name);
}

export function childrenNamed(e: XmlElement, ns: string, name: string): XmlElement[] {
  return e.children.filter((c) => c.ns === ns && c.name === name);
}

export function qname(e: XmlElement | QName): QName {
  return { ns: e.ns, name: e.name };
}

/** Clark notation `{ns}name`, handy as a map key. */
export function clark(q: QName): string {
  return `{${q.ns}}${q.name}`;
}

/** All text below an element, in document order of the (text-first) tree. */
export function deepText(e: XmlElement): string {
  return e.text + e.children.map(deepText).join('');
}

// ---------------------------------------------------------------------------------------------
// Serializer.

const KNOWN_PREFIXES: ReadonlyArray<[string, string]> = [
  [NS_DAV, 'D'],
  [NS_CALDAV, 'C'],
  [NS_CS, 'CS'],
  [NS_APPLE, 'A'],
  [NS_CARDDAV, 'CR'],
];

// Any character escapeText() may change: & < >, the ones XML cannot carry, and surrogates (a
// lone one is replaced; a valid pair is left, but is rare enough to take the full path).
// eslint-disable-next-line no-control-regex
const MAY_ESCAPE = /[&<>\u0000-\u0008\u000B\u000C\u000E-\u001F\uD800-\uDFFF\uFFFE\uFFFF]/;

export function escapeText(s: string): string {
  // One scan for the usual text with nothing to escape (calendar data in a multiget), instead of two replaces.
  if (!MAY_ESCAPE.test(s)) return s;
  return s.replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;')).replace(INVALID_XML_CHARS, '\uFFFD');
}

export function escapeAttr(s: string): string {
  return escapeText(s).replace(/"/g, '&quot;').replace(/\r/g, '&#13;').replace(/\n/g, '&#10;').replace(/\t/g, '&#9;');
}

// Characters XML 1.0 cannot carry at all, even escaped; replaced so the output stays well-formed.
// eslint-disable-next-line no-control-regex
const INVALID_XML_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

function collectNamespaces(e: XmlElement, out: Set<string>): void {
  if (e.ns) out.add(e.ns);
  for (const key of Object.keys(e.attrs)) {
    const m = /^\{([^}]*)\}/.exec(key);
    if (m && m[1]) out.add(m[1]);
  }
  for (const c of e.children) collectNamespaces(c, out);
}

/**
 * Serialize a tree as a standalone document. All namespaces are declared on the root with stable
 * prefixes (D:, C:, CS:, A:); any other namespace gets x0, x1, … in first-use order. Elements in
 * no namespace are only possible when no default namespace is declared, which we never do.
 */
export function serializeXml(root: XmlElement, { declaration = true }: { declaration?: boolean } = {}): string {
  const used = new Set<string>();
  collectNamespaces(root, used);
  const prefixes = new Map<string, string>();
  for (const [uri, p] of KNOWN_PREFIXES) if (used.has(uri)) prefixes.set(uri, p);
  let n = 0;
  // The xml: prefix is predeclared and must never be re-bound (Namespaces in XML §3).
  used.delete(NS_XML);
  for (const uri of used) if (!prefixes.has(uri)) prefixes.set(uri, `x${n++}`);
  const decls = [...prefixes].map(([uri, p]) => ` xmlns:${p}="${escapeAttr(uri)}"`).join('');
  prefixes.set(NS_XML, 'xml');
  const parts: string[] = [];
  if (declaration) parts.push('<?xml version="1.0" encoding="utf-8"?>\n');
  writeEl(root, prefixes, parts, decls);
  return parts.join('');
}

function qualified(ns: string, local: string, prefixes: Map<string, string>): string {
  return ns ? `${prefixes.get(ns)}:${local}` : local;
}

function writeEl(e: XmlElement, prefixes: Map<string, string>, out: string[], decls = ''): void {
  const tag = qualified(e.ns, e.name, prefixes);
  out.push('<', tag, decls);
  for (const [key, value] of Object.entries(e.attrs)) {
    const m = /^\{([^}]*)\}(.*)$/.exec(key);
    const name = m ? qualified(m[1] ?? '', m[2] ?? '', prefixes) : key;
    out.push(' ', name, '="', escapeAttr(value), '"');
  }
  if (!e.text && e.children.length === 0) {
    out.push('/>');
    return;
  }
  out.push('>');
  if (e.text) out.push(escapeText(e.text));
  for (const c of e.children) writeEl(c, prefixes, out);
  out.push('</', tag, '>');
}
