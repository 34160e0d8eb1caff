/**
 * Principal look-ups: DAV:principal-property-search (RFC 3744 §9.4), DAV:principal-search-property-set
 * (§9.5) and Apple's calendarserver-principal-search. Users and rooms of the directory match by
 * name or address; rooms have CALDAV:calendar-user-type ROOM.
 */
import {
  NS_CALDAV, NS_CS, NS_DAV, davEl, el, serializeXml,
  type CalendarServerPrincipalSearchReport, type PrincipalPropertySearchReport, type MultistatusResponse, type QName,
} from '../../../lib/dav/index.js';
import { searchPrincipals } from '../../../store/principals.js';
import type { PrincipalRow } from '../../../store/schema.js';
import { href, principalPath } from '../paths.js';
import { propsFor, sendMultistatus, sendXml, type DavRequest } from '../common.js';

const MAX = 50;
const DEFAULT_PROPS: QName[] = [
  { ns: NS_DAV, name: 'displayname' }, { ns: NS_CALDAV, name: 'calendar-user-address-set' }, { ns: NS_CALDAV, name: 'calendar-user-type' },
];

function matchesProp(p: PrincipalRow, prop: QName, match: string, type: string): boolean {
  const m = match.toLowerCase();
  const test = (v: string) => {
    const s = v.toLowerCase();
    return type === 'starts-with' ? s.startsWith(m) || s.split(/\s+/).some((w) => w.startsWith(m)) : type === 'equals' ? s === m : type === 'ends-with' ? s.endsWith(m) : s.includes(m);
  };
  if (prop.name === 'displayname') return test(p.name || p.email);
  if (prop.name === 'calendar-user-address-set' || prop.name === 'email-address-set') return test(p.email) || test(`mailto:${p.email}`);
  if (prop.name === 'calendar-user-type') return test(p.kind === 'room' ? 'ROOM' : 'INDIVIDUAL');
  return false;
}

async function candidates(d: DavRequest, text: string, kinds: ('user' | 'room')[]): Promise<PrincipalRow[]> {
  const q = text.trim().replace(/^mailto:/i, '');
  if (!q) return [];
  return searchPrincipals(d.env.ctx.db, q, { limit: MAX, kinds });
}

async function respond(d: DavRequest, found: PrincipalRow[], props: QName[]) {
  const responses: MultistatusResponse[] = [];
  for (const p of found) {
    const res = { kind: 'principal' as const, path: principalPath(p.email), principal: p };
    responses.push({ href: href(res.path), props: await propsFor({ env: d.env, res }, { kind: 'prop', props: props.length ? props : DEFAULT_PROPS }) });
  }
  return sendMultistatus(d, responses);
}

export async function principalPropertySearch(d: DavRequest, q: PrincipalPropertySearchReport) {
  const sets: PrincipalRow[][] = [];
  for (const s of q.searches) {
    const pool = await candidates(d, s.match, ['user', 'room']);
    sets.push(pool.filter((p) => s.props.some((prop) => matchesProp(p, prop, s.match.replace(/^mailto:/i, ''), s.matchType))));
  }
  let found: PrincipalRow[];
  if (q.test === 'anyof') {
    const m = new Map<string, PrincipalRow>();
    for (const s of sets) for (const p of s) m.set(p.id, p);
    found = [...m.values()];
  } else {
    found = sets[0]!.filter((p) => sets.every((s) => s.some((x) => x.id === p.id)));
  }
  return respond(d, found.slice(0, q.limit ?? MAX), q.props);
}

export async function calendarServerPrincipalSearch(d: DavRequest, q: CalendarServerPrincipalSearchReport) {
  const kinds: ('user' | 'room')[] = q.context === 'location' || q.context === 'resource' ? ['room'] : ['user', 'room'];
  let found: PrincipalRow[] | null = null;
  for (const token of q.tokens) {
    const hits = await candidates(d, token, kinds);
    found = found === null ? hits : found.filter((p) => hits.some((h) => h.id === p.id));
  }
  return respond(d, (found ?? []).slice(0, q.limit ?? MAX), q.props);
}

/** RFC 3744 §9.5: the properties principal-property-search understands. */
export function principalSearchPropertySet(d: DavRequest) {
  const item = (ns: string, name: string, desc: string) =>
    davEl('principal-search-property', [davEl('prop', [el(ns, name)]), el(NS_DAV, 'description', [], desc, { '{http://www.w3.org/XML/1998/namespace}lang': 'en' })]);
  const body = davEl('principal-search-property-set', [
    item(NS_DAV, 'displayname', 'Name'),
    item(NS_CALDAV, 'calendar-user-address-set', 'E-mail address'),
    item(NS_CS, 'email-address-set', 'E-mail address'),
    item(NS_CALDAV, 'calendar-user-type', 'Kind (INDIVIDUAL or ROOM)'),
  ]);
  return sendXml(d.reply, 200, serializeXml(body));
}
