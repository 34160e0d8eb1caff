// Typed WebDAV request bodies: PROPFIND, PROPPATCH, MKCALENDAR, extended MKCOL.
// REPORT bodies live in reports.ts and header helpers in headers.ts; both are re-exported here so
// the HTTP layer imports one module.
import { NS_CALDAV, NS_DAV, childrenNamed, is, qname, type ParseXmlOptions, type QName, type XmlElement } from './xml.js';
import { invalid, propNames, propSelection, toTree, type BodyInput, type PropfindRequest } from './body.js';

export * from './body.js';
export * from './reports.js';
export * from './headers.js';

function expectRoot(tree: XmlElement, ns: string, name: string): void {
  if (!is(tree, ns, name)) {
    invalid(`Expected a {${ns}}${name} body, got {${tree.ns}}${tree.name}`);
  }
}

// ---------------------------------------------------------------------------------------------
// PROPFIND — RFC 4918 §9.1, §14.20

/**
 * RFC 4918 §9.1: "A client may choose not to submit a request body. An empty PROPFIND request
 * body MUST be treated as if it were an 'allprop' request."
 */
export function parsePropfind(body: BodyInput, options?: ParseXmlOptions): PropfindRequest {
  const tree = toTree(body, options);
  if (!tree) return { kind: 'allprop', include: [] };
  expectRoot(tree, NS_DAV, 'propfind');
  const sel = propSelection(tree);
  if (!sel) invalid('PROPFIND body needs one of DAV:prop, DAV:allprop, DAV:propname');
  return sel;
}

// ---------------------------------------------------------------------------------------------
// PROPPATCH — RFC 4918 §9.2, §14.19, §14.23, §14.26

/** One property to set. `element` is the property element itself, kept as a raw subtree so a
 *  dead property round-trips (re-serialize it with serializeXml); `text` is its text content. */
export interface PropertySet {
  name: QName;
  element: XmlElement;
  text: string;
}

export type PropPatchOp = ({ op: 'set' } & PropertySet) | { op: 'remove'; name: QName };

export interface PropPatchRequest {
  /** In document order: RFC 4918 §9.2 "instructions MUST be processed in document order". */
  ops: PropPatchOp[];
}

export function parseProppatch(body: BodyInput, options?: ParseXmlOptions): PropPatchRequest {
  const tree = toTree(body, options);
  if (!tree) invalid('PROPPATCH requires a body');
  expectRoot(tree, NS_DAV, 'propertyupdate');
  const ops: PropPatchOp[] = [];
  for (const instr of tree.children) {
    if (instr.ns !== NS_DAV || (instr.name !== 'set' && instr.name !== 'remove')) continue;
    for (const prop of childrenNamed(instr, NS_DAV, 'prop')) {
      for (const p of prop.children) {
        if (instr.name === 'set') ops.push({ op: 'set', ...propertySet(p) });
        else ops.push({ op: 'remove', name: qname(p) });
      }
    }
  }
  if (ops.length === 0) invalid('PROPPATCH body has no DAV:set or DAV:remove property');
  return { ops };
}

function propertySet(p: XmlElement): PropertySet {
  return { name: qname(p), element: p, text: p.text };
}

// ---------------------------------------------------------------------------------------------
// MKCALENDAR — RFC 4791 §5.3.1; extended MKCOL — RFC 5689 §5.1

export interface MkcolRequest {
  /** Which body was sent: CALDAV:mkcalendar or DAV:mkcol (null when there was no body). */
  root: 'mkcalendar' | 'mkcol' | null;
  /** Properties to set, DAV:resourcetype excluded (it is returned separately). */
  set: PropertySet[];
  /** RFC 5689: the requested DAV:resourcetype children (e.g. DAV:collection, CALDAV:calendar);
   *  null when the body does not set one. MKCALENDAR implies CALDAV:calendar. */
  resourceType: QName[] | null;
}

export function parseMkcalendar(body: BodyInput, options?: ParseXmlOptions): MkcolRequest {
  const tree = toTree(body, options);
  // RFC 4791 §5.3.1: "The request body of MKCALENDAR is optional."
  if (!tree) return { root: null, set: [], resourceType: null };
  expectRoot(tree, NS_CALDAV, 'mkcalendar');
  return { root: 'mkcalendar', ...collectSet(tree) };
}

export function parseExtendedMkcol(body: BodyInput, options?: ParseXmlOptions): MkcolRequest {
  const tree = toTree(body, options);
  if (!tree) return { root: null, set: [], resourceType: null };
  expectRoot(tree, NS_DAV, 'mkcol');
  return { root: 'mkcol', ...collectSet(tree) };
}

function collectSet(tree: XmlElement): { set: PropertySet[]; resourceType: QName[] | null } {
  const set: PropertySet[] = [];
  let resourceType: QName[] | null = null;
  for (const s of childrenNamed(tree, NS_DAV, 'set')) {
    for (const prop of childrenNamed(s, NS_DAV, 'prop')) {
      for (const p of prop.children) {
        if (is(p, NS_DAV, 'resourcetype')) resourceType = propNames(p);
        else set.push(propertySet(p));
      }
    }
  }
  return { set, resourceType };
}

