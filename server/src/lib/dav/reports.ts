// Typed REPORT bodies (RFC 3253, 3744, 4791, 6578, calendarserver extensions) and parseReport().
import { DavParseError, NS_CALDAV, NS_CS, NS_DAV, child, childrenNamed, clark, type QName, type XmlElement } from './xml.js';
import { invalid, parseCount, parseTimeRange, propNames, propSelection, type PropfindRequest, type TimeRange } from './body.js';

const VALID_FILTER: QName = { ns: NS_CALDAV, name: 'valid-filter' };
const SUPPORTED_COLLATION: QName = { ns: NS_CALDAV, name: 'supported-collation' };

// ---------------------------------------------------------------------------------------------
// CALDAV:calendar-data request form — RFC 4791 §9.6

export interface CompSelection {
  name: string;
  /** CALDAV:allprop, or else only `props` are returned (RFC 4791 §9.6.1: (allprop | prop*)). */
  allProps: boolean;
  props: Array<{ name: string; novalue: boolean }>;
  /** CALDAV:allcomp, or else only `comps` are returned. */
  allComps: boolean;
  comps: CompSelection[];
}

export interface CalendarDataSpec {
  contentType: string;
  version: string;
  comp: CompSelection | null;
  expand: TimeRange | null;
  limitRecurrenceSet: TimeRange | null;
  limitFreebusySet: TimeRange | null;
}

export function parseCalendarDataSpec(e: XmlElement): CalendarDataSpec {
  const comp = child(e, NS_CALDAV, 'comp');
  const tr = (name: string) => {
    const x = child(e, NS_CALDAV, name);
    return x ? parseTimeRange(x, { ns: NS_CALDAV, name: 'valid-calendar-data' }) : null;
  };
  const expand = tr('expand');
  // RFC 4791 §9.6.5: expand needs both bounds.
  if (expand && (!expand.start || !expand.end)) invalid('CALDAV:expand needs start and end');
  return {
    contentType: e.attrs['content-type'] ?? 'text/calendar',
    version: e.attrs['version'] ?? '2.0',
    comp: comp ? parseCompSelection(comp) : null,
    expand,
    limitRecurrenceSet: tr('limit-recurrence-set'),
    limitFreebusySet: tr('limit-freebusy-set'),
  };
}

function nameAttr(e: XmlElement, condition?: QName): string {
  const name = e.attrs['name'];
  if (!name) invalid(`{${e.ns}}${e.name} needs a name attribute`, condition);
  return name.toUpperCase();
}

function parseCompSelection(e: XmlElement): CompSelection {
  return {
    name: nameAttr(e),
    allProps: !!child(e, NS_CALDAV, 'allprop'),
    props: childrenNamed(e, NS_CALDAV, 'prop').map((p) => ({ name: nameAttr(p), novalue: p.attrs['novalue'] === 'yes' })),
    allComps: !!child(e, NS_CALDAV, 'allcomp'),
    comps: childrenNamed(e, NS_CALDAV, 'comp').map(parseCompSelection),
  };
}

/** Property selection plus the calendar-data spec if DAV:prop asks for CALDAV:calendar-data. */
function propsAndData(report: XmlElement): { props: PropfindRequest; calendarData: CalendarDataSpec | null } {
  const props = propSelection(report) ?? { kind: 'allprop', include: [] };
  const prop = child(report, NS_DAV, 'prop');
  const cd = prop ? child(prop, NS_CALDAV, 'calendar-data') : undefined;
  return { props, calendarData: cd ? parseCalendarDataSpec(cd) : null };
}

// ---------------------------------------------------------------------------------------------
// CALDAV:filter — RFC 4791 §9.7

export type Collation = 'i;ascii-casemap' | 'i;octet' | 'i;unicode-casemap';
export type MatchType = 'equals' | 'contains' | 'starts-with' | 'ends-with';

export interface TextMatch {
  value: string;
  collation: Collation;
  negate: boolean;
  /** RFC 4791 has only substring match; match-type is RFC 6352's, which some clients send. */
  matchType: MatchType;
}

export interface ParamFilter {
  name: string;
  isNotDefined: boolean;
  textMatch: TextMatch | null;
}

export interface PropFilter {
  name: string;
  isNotDefined: boolean;
  timeRange: TimeRange | null;
  textMatch: TextMatch | null;
  paramFilters: ParamFilter[];
}

export interface CompFilter {
  name: string;
  isNotDefined: boolean;
  timeRange: TimeRange | null;
  propFilters: PropFilter[];
  compFilters: CompFilter[];
}

const COLLATIONS: readonly Collation[] = ['i;ascii-casemap', 'i;octet', 'i;unicode-casemap'];
const MATCH_TYPES: readonly MatchType[] = ['equals', 'contains', 'starts-with', 'ends-with'];

export function parseTextMatch(e: XmlElement): TextMatch {
  // RFC 4791 §9.7.5: default collation is i;ascii-casemap.
  const collation = (e.attrs['collation'] ?? 'i;ascii-casemap') as Collation;
  if (!COLLATIONS.includes(collation)) invalid(`Unsupported collation "${collation}"`, SUPPORTED_COLLATION);
  const matchType = (e.attrs['match-type'] ?? 'contains') as MatchType;
  if (!MATCH_TYPES.includes(matchType)) invalid(`Unsupported match-type "${matchType}"`, VALID_FILTER);
  const negate = e.attrs['negate-condition'] ?? 'no';
  if (negate !== 'yes' && negate !== 'no') invalid('negate-condition must be "yes" or "no"', VALID_FILTER);
  return { value: e.text, collation, negate: negate === 'yes', matchType };
}

function parseParamFilter(e: XmlElement): ParamFilter {
  const tm = child(e, NS_CALDAV, 'text-match');
  return {
    name: nameAttr(e, VALID_FILTER),
    isNotDefined: !!child(e, NS_CALDAV, 'is-not-defined'),
    textMatch: tm ? parseTextMatch(tm) : null,
  };
}

function parsePropFilter(e: XmlElement): PropFilter {
  const tm = child(e, NS_CALDAV, 'text-match');
  const tr = child(e, NS_CALDAV, 'time-range');
  return {
    name: nameAttr(e, VALID_FILTER),
    isNotDefined: !!child(e, NS_CALDAV, 'is-not-defined'),
    timeRange: tr ? parseTimeRange(tr) : null,
    textMatch: tm ? parseTextMatch(tm) : null,
    paramFilters: childrenNamed(e, NS_CALDAV, 'param-filter').map(parseParamFilter),
  };
}

export function parseCompFilter(e: XmlElement): CompFilter {
  const tr = child(e, NS_CALDAV, 'time-range');
  return {
    name: nameAttr(e, VALID_FILTER),
    isNotDefined: !!child(e, NS_CALDAV, 'is-not-defined'),
    timeRange: tr ? parseTimeRange(tr) : null,
    propFilters: childrenNamed(e, NS_CALDAV, 'prop-filter').map(parsePropFilter),
    compFilters: childrenNamed(e, NS_CALDAV, 'comp-filter').map(parseCompFilter),
  };
}

/** RFC 4791 §9.7: CALDAV:filter holds exactly one comp-filter, and it must name VCALENDAR. */
export function parseFilter(e: XmlElement): CompFilter {
  const comps = childrenNamed(e, NS_CALDAV, 'comp-filter');
  if (comps.length !== 1) invalid('CALDAV:filter must contain exactly one comp-filter', VALID_FILTER);
  const top = parseCompFilter(comps[0]!);
  if (top.name !== 'VCALENDAR') invalid('The top-level comp-filter must be VCALENDAR', VALID_FILTER);
  return top;
}

// ---------------------------------------------------------------------------------------------
// Report types

export interface CalendarQueryReport {
  kind: 'calendar-query';
  props: PropfindRequest;
  calendarData: CalendarDataSpec | null;
  filter: CompFilter;
  /** RFC 4791 §9.8 CALDAV:timezone: a VCALENDAR text with one VTIMEZONE for floating times. */
  timezone: string | null;
  /** RFC 5323-style DAV:limit/DAV:nresults, which some clients add. */
  limit: number | null;
}

export interface CalendarMultigetReport {
  kind: 'calendar-multiget';
  props: PropfindRequest;
  calendarData: CalendarDataSpec | null;
  /** Trimmed, otherwise as sent (may be percent-encoded, absolute or path-absolute). */
  hrefs: string[];
}

export interface SyncCollectionReport {
  kind: 'sync-collection';
  /** '' on the initial sync (RFC 6578 §3.2: empty DAV:sync-token element). */
  syncToken: string;
  syncLevel: '1' | 'infinity';
  limit: number | null;
  props: PropfindRequest;
  calendarData: CalendarDataSpec | null;
}

export interface FreeBusyQueryReport {
  kind: 'free-busy-query';
  timeRange: TimeRange;
}

export interface ExpandPropertyItem {
  name: QName;
  children: ExpandPropertyItem[];
}

export interface ExpandPropertyReport {
  kind: 'expand-property';
  properties: ExpandPropertyItem[];
}

export interface PropertySearch {
  props: QName[];
  match: string;
  /** Apple/iOS add match-type="starts-with" (draft caldav-ctag/calendarserver); default contains. */
  matchType: MatchType;
  caseless: boolean;
}

export interface PrincipalPropertySearchReport {
  kind: 'principal-property-search';
  test: 'allof' | 'anyof';
  searches: PropertySearch[];
  props: QName[];
  applyToPrincipalCollectionSet: boolean;
  limit: number | null;
}

export interface PrincipalSearchPropertySetReport {
  kind: 'principal-search-property-set';
}

export interface CalendarServerPrincipalSearchReport {
  kind: 'calendarserver-principal-search';
  /** "attendee", "location", "resource" or null. */
  context: string | null;
  tokens: string[];
  limit: number | null;
  props: QName[];
}

export type ReportRequest =
  | CalendarQueryReport
  | CalendarMultigetReport
  | SyncCollectionReport
  | FreeBusyQueryReport
  | ExpandPropertyReport
  | PrincipalPropertySearchReport
  | PrincipalSearchPropertySetReport
  | CalendarServerPrincipalSearchReport;

function limitOf(report: XmlElement, ns: string): number | null {
  const limit = child(report, ns, 'limit');
  if (!limit) return null;
  const n = child(limit, ns, 'nresults');
  return n ? parseCount(n, 'nresults') : null;
}

// RFC 4791 §7.8
export function parseCalendarQuery(e: XmlElement): CalendarQueryReport {
  const filter = child(e, NS_CALDAV, 'filter');
  if (!filter) invalid('calendar-query needs a CALDAV:filter', VALID_FILTER);
  const tz = child(e, NS_CALDAV, 'timezone');
  return {
    kind: 'calendar-query',
    ...propsAndData(e),
    filter: parseFilter(filter),
    timezone: tz ? tz.text : null,
    limit: limitOf(e, NS_DAV),
  };
}

// RFC 4791 §7.9
export function parseCalendarMultiget(e: XmlElement): CalendarMultigetReport {
  const hrefs = childrenNamed(e, NS_DAV, 'href').map((h) => h.text.trim()).filter((h) => h !== '');
  if (hrefs.length === 0) invalid('calendar-multiget needs at least one DAV:href');
  return { kind: 'calendar-multiget', ...propsAndData(e), hrefs };
}

// RFC 6578 §6.1
export function parseSyncCollection(e: XmlElement): SyncCollectionReport {
  const token = child(e, NS_DAV, 'sync-token');
  const level = child(e, NS_DAV, 'sync-level')?.text.trim() ?? '1';
  // RFC 6578 makes sync-level mandatory, but early clients omit it; "1" is the CalDAV meaning.
  if (level !== '1' && level !== 'infinity' && level !== 'infinite') invalid(`Bad DAV:sync-level "${level}"`);
  return {
    kind: 'sync-collection',
    syncToken: token ? token.text.trim() : '',
    syncLevel: level === '1' ? '1' : 'infinity',
    limit: limitOf(e, NS_DAV),
    ...propsAndData(e),
  };
}

// RFC 4791 §7.10
export function parseFreeBusyQuery(e: XmlElement): FreeBusyQueryReport {
  const tr = child(e, NS_CALDAV, 'time-range');
  if (!tr) invalid('free-busy-query needs a CALDAV:time-range');
  return { kind: 'free-busy-query', timeRange: parseTimeRange(tr, { ns: NS_CALDAV, name: 'valid-filter' }) };
}

// RFC 3253 §3.8: <!ELEMENT property (property*)>, name and namespace attributes (default "DAV:").
function parseExpandItems(e: XmlElement): ExpandPropertyItem[] {
  return childrenNamed(e, NS_DAV, 'property').map((p) => {
    const name = p.attrs['name'];
    if (!name) invalid('DAV:property needs a name attribute');
    return { name: { ns: p.attrs['namespace'] ?? NS_DAV, name }, children: parseExpandItems(p) };
  });
}

export function parseExpandProperty(e: XmlElement): ExpandPropertyReport {
  return { kind: 'expand-property', properties: parseExpandItems(e) };
}

// RFC 3744 §9.4
export function parsePrincipalPropertySearch(e: XmlElement): PrincipalPropertySearchReport {
  const searches = childrenNamed(e, NS_DAV, 'property-search').map((s): PropertySearch => {
    const prop = child(s, NS_DAV, 'prop');
    const match = child(s, NS_DAV, 'match');
    if (!prop || !match) invalid('DAV:property-search needs DAV:prop and DAV:match');
    const mt = (match.attrs['match-type'] ?? 'contains') as MatchType;
    return {
      props: propNames(prop),
      match: match.text,
      matchType: MATCH_TYPES.includes(mt) ? mt : 'contains',
      caseless: match.attrs['caseless'] !== 'no',
    };
  });
  if (searches.length === 0) invalid('principal-property-search needs a DAV:property-search');
  const prop = child(e, NS_DAV, 'prop');
  return {
    kind: 'principal-property-search',
    test: e.attrs['test'] === 'anyof' ? 'anyof' : 'allof',
    searches,
    props: prop ? propNames(prop) : [],
    applyToPrincipalCollectionSet: !!child(e, NS_DAV, 'apply-to-principal-collection-set'),
    limit: limitOf(e, NS_DAV),
  };
}

// calendarserver.org/ns extension used by Apple Calendar for attendee look-up.
export function parseCalendarServerPrincipalSearch(e: XmlElement): CalendarServerPrincipalSearchReport {
  const tokens = childrenNamed(e, NS_CS, 'search-token').map((t) => t.text.trim()).filter((t) => t !== '');
  const prop = child(e, NS_DAV, 'prop');
  return {
    kind: 'calendarserver-principal-search',
    context: e.attrs['context'] ?? null,
    tokens,
    limit: limitOf(e, NS_CS),
    props: prop ? propNames(prop) : [],
  };
}

const REPORTS: Record<string, (e: XmlElement) => ReportRequest> = {
  [clark({ ns: NS_CALDAV, name: 'calendar-query' })]: parseCalendarQuery,
  [clark({ ns: NS_CALDAV, name: 'calendar-multiget' })]: parseCalendarMultiget,
  [clark({ ns: NS_CALDAV, name: 'free-busy-query' })]: parseFreeBusyQuery,
  [clark({ ns: NS_DAV, name: 'sync-collection' })]: parseSyncCollection,
  [clark({ ns: NS_DAV, name: 'expand-property' })]: parseExpandProperty,
  [clark({ ns: NS_DAV, name: 'principal-property-search' })]: parsePrincipalPropertySearch,
  [clark({ ns: NS_DAV, name: 'principal-search-property-set' })]: () => ({ kind: 'principal-search-property-set' }),
  [clark({ ns: NS_CS, name: 'calendarserver-principal-search' })]: parseCalendarServerPrincipalSearch,
};

/** The report names parseReport understands, for DAV:supported-report-set. */
export const SUPPORTED_REPORTS: readonly QName[] = Object.keys(REPORTS).map((k) => {
  const m = /^\{([^}]*)\}(.*)$/.exec(k)!;
  return { ns: m[1]!, name: m[2]! };
});

/**
 * Dispatch on the root element. Unknown reports fail with UNSUPPORTED_REPORT and the
 * DAV:supported-report precondition (RFC 3253 §3.6: 403).
 */
export function parseReport(tree: XmlElement): ReportRequest {
  const parse = REPORTS[clark(tree)];
  if (!parse) {
    throw new DavParseError('UNSUPPORTED_REPORT', `Unsupported report {${tree.ns}}${tree.name}`, {
      ns: NS_DAV,
      name: 'supported-report',
    });
  }
  return parse(tree);
}
