// The catalogue of WebDAV/CalDAV preconditions this server reports, each a DavError with its
// HTTP status. One place, so the HTTP layer's error mapper never spells an element name.
import { NS_CALDAV, NS_DAV, davEl, el, type QName, type XmlElement } from './xml.js';
import type { DavError } from './responses.js';

function cond(status: number, ns: string, name: string, content?: XmlElement[], description?: string): DavError {
  const e: DavError = { status, ns, name };
  if (content && content.length > 0) e.content = content;
  if (description) e.description = description;
  return e;
}

const caldav = (status: number, name: string, content?: XmlElement[], description?: string) =>
  cond(status, NS_CALDAV, name, content, description);
const dav = (status: number, name: string, content?: XmlElement[], description?: string) =>
  cond(status, NS_DAV, name, content, description);
const href = (h: string) => davEl('href', [], h);

export interface NeededPrivilege {
  href: string;
  privilege: QName;
}

export const Preconditions = {
  // RFC 4791 §5.3.2.1 (PUT/COPY/MOVE into a calendar collection). The RFC allows 403 or 409;
  // we use 403 except for conflicts with another resource, which are 409.
  supportedCalendarData: (d?: string) => caldav(403, 'supported-calendar-data', undefined, d),
  validCalendarData: (d?: string) => caldav(403, 'valid-calendar-data', undefined, d),
  validCalendarObjectResource: (d?: string) => caldav(403, 'valid-calendar-object-resource', undefined, d),
  supportedCalendarComponent: (d?: string) => caldav(403, 'supported-calendar-component', undefined, d),
  /** The body names the existing resource holding the UID (RFC 4791 §5.3.2.1). */
  noUidConflict: (existingHref: string) => caldav(409, 'no-uid-conflict', [href(existingHref)]),
  calendarCollectionLocationOk: (d?: string) => caldav(403, 'calendar-collection-location-ok', undefined, d),
  maxResourceSize: (d?: string) => caldav(403, 'max-resource-size', undefined, d),
  minDateTime: () => caldav(403, 'min-date-time'),
  maxDateTime: () => caldav(403, 'max-date-time'),
  maxInstances: () => caldav(403, 'max-instances'),
  maxAttendeesPerInstance: () => caldav(403, 'max-attendees-per-instance'),
  // RFC 4791 §7.7 / §9.7
  validFilter: (d?: string) => caldav(403, 'valid-filter', undefined, d),
  /** RFC 4791 §7.8: lists the unsupported comp-filter/prop-filter/param-filter elements. */
  supportedFilter: (unsupported: XmlElement[] = []) => caldav(403, 'supported-filter', unsupported),
  supportedCollation: () => caldav(403, 'supported-collation'),
  // RFC 6578 §3.2: invalid or expired token → 403 with DAV:valid-sync-token; the client then
  // restarts with an empty token.
  validSyncToken: () => dav(403, 'valid-sync-token'),
  // RFC 4918 §9.1: the server refuses Depth: infinity on this collection.
  propfindFiniteDepth: () => dav(403, 'propfind-finite-depth'),
  // RFC 3253 §3.6
  supportedReport: () => dav(403, 'supported-report'),
  // RFC 6578 §3.6 / RFC 5323 §5.3: result set truncated.
  numberOfMatchesWithinLimits: () => dav(507, 'number-of-matches-within-limits'),
  /** RFC 3744 §7.1.1: one DAV:resource (href + privilege) per missing privilege. */
  needPrivileges: (needed: NeededPrivilege[]) =>
    dav(
      403,
      'need-privileges',
      needed.map((n) => davEl('resource', [href(n.href), davEl('privilege', [el(n.privilege.ns, n.privilege.name)])])),
    ),
  // RFC 4918 §9.3.1: MKCOL on a mapped URL is 405; RFC 4791 §5.3.1.1 names the precondition.
  resourceMustBeNull: () => dav(405, 'resource-must-be-null'),
  // RFC 4918 §16
  cannotModifyProtectedProperty: () => dav(403, 'cannot-modify-protected-property'),
  lockTokenSubmitted: (hrefs: string[]) => dav(423, 'lock-token-submitted', hrefs.map(href)),
  // RFC 5689 §3: extended MKCOL with a resourcetype we cannot create.
  validResourcetype: () => dav(403, 'valid-resourcetype'),
  // RFC 6638 §3.2.4.1: another scheduling object resource with this UID exists in the home.
  uniqueSchedulingObjectResource: (existingHref: string) => caldav(409, 'unique-scheduling-object-resource', [href(existingHref)]),
  // RFC 6638 §3.2.4.2 / §3.2.2.1 / §3.2.2.2
  sameOrganizerInAllComponents: () => caldav(403, 'same-organizer-in-all-components'),
  allowedOrganizerObjectChange: () => caldav(403, 'allowed-organizer-object-change'),
  allowedAttendeeObjectChange: () => caldav(403, 'allowed-attendee-object-change'),
  validScheduleDefaultCalendarUrl: () => caldav(403, 'valid-schedule-default-calendar-URL'),
  validOrganizer: () => caldav(403, 'valid-organizer'),
} as const;

export type PreconditionName = keyof typeof Preconditions;
