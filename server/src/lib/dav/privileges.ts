// WebDAV ACL privileges (RFC 3744) as Calendula grants them: a fixed set per access level and
// collection kind, rather than stored ACEs. CalDAV adds read-free-busy (RFC 4791 §6.1.1) and
// scheduling adds schedule-deliver / schedule-send (RFC 6638 §6).
import { NS_CALDAV, NS_DAV, davEl, el, type QName, type XmlElement } from './xml.js';
import { Preconditions, type NeededPrivilege } from './preconditions.js';
import type { DavError } from './responses.js';

export type AccessLevel = 'owner' | 'read-write' | 'read' | 'freebusy';
export type CollectionKind = 'calendar' | 'inbox' | 'outbox' | 'home' | 'principal';

export type Privilege =
  | 'read'
  | 'write'
  | 'write-properties'
  | 'write-content'
  | 'bind'
  | 'unbind'
  | 'read-acl'
  | 'read-current-user-privilege-set'
  | 'read-free-busy'
  | 'schedule-deliver'
  | 'schedule-deliver-invite'
  | 'schedule-deliver-reply'
  | 'schedule-query-freebusy'
  | 'schedule-send'
  | 'schedule-send-invite'
  | 'schedule-send-reply'
  | 'schedule-send-freebusy';

const CALDAV_PRIVS = new Set<Privilege>([
  'read-free-busy',
  'schedule-deliver',
  'schedule-deliver-invite',
  'schedule-deliver-reply',
  'schedule-query-freebusy',
  'schedule-send',
  'schedule-send-invite',
  'schedule-send-reply',
  'schedule-send-freebusy',
]);

export function privilegeName(p: Privilege): QName {
  return { ns: CALDAV_PRIVS.has(p) ? NS_CALDAV : NS_DAV, name: p };
}

/** Aggregates (RFC 3744 §3.12): holding the parent implies every child. */
const AGGREGATES: Partial<Record<Privilege, Privilege[]>> = {
  // RFC 4791 §6.1.1: read-free-busy is aggregated under DAV:read.
  read: ['read-free-busy'],
  write: ['write-properties', 'write-content', 'bind', 'unbind'],
  'schedule-deliver': ['schedule-deliver-invite', 'schedule-deliver-reply', 'schedule-query-freebusy'],
  'schedule-send': ['schedule-send-invite', 'schedule-send-reply', 'schedule-send-freebusy'],
};

function withAggregates(ps: Privilege[]): Privilege[] {
  const out = new Set<Privilege>();
  const add = (p: Privilege) => {
    if (out.has(p)) return;
    out.add(p);
    for (const c of AGGREGATES[p] ?? []) add(c);
  };
  ps.forEach(add);
  return [...out];
}

/**
 * The privileges a user holds on a collection (and its members).
 * - owner: everything, incl. read-acl; schedule-deliver on the inbox, schedule-send on the outbox.
 * - read-write (a delegate or shared-with-write): read + write; may deliver invitations and
 *   replies to the inbox and send on the outbox (RFC 6638 §6.1 delegate model).
 * - read: read (which includes read-free-busy); free-busy look-ups on the inbox.
 * - freebusy: only read-free-busy; on the inbox schedule-query-freebusy.
 * read-current-user-privilege-set is granted at every level so clients can discover the above.
 */
export function privilegesFor(level: AccessLevel, kind: CollectionKind): Privilege[] {
  const base: Privilege[] = ['read-current-user-privilege-set'];
  switch (level) {
    case 'owner':
      base.push('read', 'write', 'read-acl');
      if (kind === 'inbox') base.push('schedule-deliver');
      if (kind === 'outbox') base.push('schedule-send');
      break;
    case 'read-write':
      base.push('read', 'write');
      if (kind === 'inbox') base.push('schedule-deliver');
      if (kind === 'outbox') base.push('schedule-send');
      break;
    case 'read':
      base.push('read');
      if (kind === 'inbox') base.push('schedule-query-freebusy');
      break;
    case 'freebusy':
      base.push('read-free-busy');
      if (kind === 'inbox') base.push('schedule-query-freebusy');
      break;
  }
  return withAggregates(base);
}

/** privilegesFor() as sets, by level and kind (asked on every request; the answer never changes). */
const held = new Map<string, ReadonlySet<Privilege>>();

export function hasPrivilege(level: AccessLevel, kind: CollectionKind, p: Privilege): boolean {
  const key = `${level} ${kind}`;
  let set = held.get(key);
  if (!set) held.set(key, (set = new Set(privilegesFor(level, kind))));
  return set.has(p);
}

function privilegeEl(p: Privilege): XmlElement {
  const q = privilegeName(p);
  return davEl('privilege', [el(q.ns, q.name)]);
}

/** Children of DAV:current-user-privilege-set (RFC 3744 §5.4): one DAV:privilege each. */
export function currentUserPrivilegeSet(level: AccessLevel, kind: CollectionKind): XmlElement[] {
  return privilegesFor(level, kind).map(privilegeEl);
}

/** The DAV:current-user-privilege-set property element itself. */
export function currentUserPrivilegeSetProp(level: AccessLevel, kind: CollectionKind): XmlElement {
  return davEl('current-user-privilege-set', currentUserPrivilegeSet(level, kind));
}

/** DAV:supported-privilege-set (RFC 3744 §5.3): the aggregate tree for this kind. */
export function supportedPrivilegeSet(kind: CollectionKind): XmlElement {
  const sp = (p: Privilege | 'all', children: XmlElement[] = [], abstract = false): XmlElement =>
    davEl('supported-privilege', [
      davEl('privilege', [p === 'all' ? davEl('all') : el(privilegeName(p).ns, p)]),
      ...(abstract ? [davEl('abstract')] : []),
      ...children,
    ]);
  const tree: XmlElement[] = [
    sp('read', [sp('read-free-busy')]),
    sp('write', [sp('write-properties'), sp('write-content'), sp('bind'), sp('unbind')]),
    sp('read-acl'),
    sp('read-current-user-privilege-set'),
  ];
  if (kind === 'inbox') tree.push(sp('schedule-deliver', [sp('schedule-deliver-invite'), sp('schedule-deliver-reply'), sp('schedule-query-freebusy')]));
  if (kind === 'outbox') tree.push(sp('schedule-send', [sp('schedule-send-invite'), sp('schedule-send-reply'), sp('schedule-send-freebusy')]));
  return davEl('supported-privilege-set', [sp('all', tree, true)]);
}

/** RFC 3744 §7.1.1: 403 with DAV:need-privileges naming what was missing where. */
export function needPrivileges(missing: Array<{ href: string; privilege: Privilege }>): DavError {
  const needed: NeededPrivilege[] = missing.map((m) => ({ href: m.href, privilege: privilegeName(m.privilege) }));
  return Preconditions.needPrivileges(needed);
}

/** The privilege a WebDAV method needs on its target (RFC 3744 Appendix B), for the HTTP layer. */
export function requiredPrivilege(method: string, exists: boolean): Privilege {
  switch (method.toUpperCase()) {
    case 'GET':
    case 'HEAD':
    case 'OPTIONS':
    case 'PROPFIND':
    case 'REPORT':
      return 'read';
    case 'PROPPATCH':
      return 'write-properties';
    case 'PUT':
      return exists ? 'write-content' : 'bind';
    case 'DELETE':
      return 'unbind';
    case 'MKCOL':
    case 'MKCALENDAR':
      return 'bind';
    default:
      return 'write';
  }
}
