/**
 * The one place where errors become CalDAV responses: HTTP status plus, where a precondition
 * applies, a DAV:error body (RFC 4918 §16, RFC 4791 §1.3). Never a 500 for a client's mistake.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { DomainError } from '../../domain/errors.js';
import { errorText, langFromAcceptLanguage, type Lang } from '../../domain/error-text.js';
import { davTextRu } from './error-text-ru.js';
import { DavParseError, Preconditions, buildErrorBody, el, davEl, serializeXml, type DavError, type QName } from '../../lib/dav/index.js';

export const NS_CALENDULA = 'http://calendula.org/ns/';
export const WWW_AUTHENTICATE = 'Basic realm="Calendula CalDAV", charset="UTF-8"';

/** A handler's way to answer with a status (and optionally a precondition) without a DomainError. */
export class DavHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly condition?: DavError,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'DavHttpError';
  }
}

/** Raise a precondition from the catalogue. */
export function fail(condition: DavError, message?: string): never {
  throw new DavHttpError(condition.status, message ?? condition.description ?? condition.name, condition);
}

/** A calendula-namespace condition for failures no RFC names (the body still is a DAV:error). */
function own(status: number, name: string, message: string): DavError {
  return { status, ns: NS_CALENDULA, name, description: message };
}

interface Mapped {
  status: number;
  condition?: DavError;
  message: string;
  headers?: Record<string, string>;
}

/** Where a request is going, for the few mappings that depend on it. */
export interface ErrorScope {
  method: string;
  /** The request's collection-relative href, for no-uid-conflict hrefs. */
  calendarHref?: string;
  requestHref?: string;
  /** The client's language (Accept-Language): the human description is Russian or English. */
  lang?: Lang;
}

export function mapDomainError(e: DomainError, scope: ErrorScope): Mapped {
  const m = errorText(e.code, e.message, e.details, scope.lang ?? 'en');
  switch (e.code) {
    case 'ETAG_MISMATCH':
      return { status: 412, message: m };
    case 'UID_CONFLICT': {
      // RFC 4791 §5.3.2.1: CALDAV:no-uid-conflict names the resource already holding the UID.
      const name = typeof e.details?.name === 'string' ? e.details.name : null;
      const at = name && scope.calendarHref ? `${scope.calendarHref}${encodeURIComponent(name)}` : scope.requestHref ?? '';
      return { status: 409, condition: Preconditions.noUidConflict(at), message: m };
    }
    case 'INVALID_ICALENDAR':
      if (Array.isArray(e.details?.uids)) return { status: 403, condition: Preconditions.validCalendarObjectResource(m), message: m };
      return { status: 403, condition: Preconditions.validCalendarData(m), message: m };
    case 'FORBIDDEN': {
      const pre = e.details?.precondition;
      if (pre === 'allowed-attendee-object-change') return { status: 403, condition: Preconditions.allowedAttendeeObjectChange(), message: m };
      if (pre === 'allowed-organizer-object-change') return { status: 403, condition: Preconditions.allowedOrganizerObjectChange(), message: m };
      return { status: 403, condition: own(403, 'forbidden', m), message: m };
    }
    case 'INSUFFICIENT_SCOPE':
    case 'FORCE_NOT_ALLOWED':
    case 'CSRF_FAILED':
    case 'ACCOUNT_DISABLED':
      return { status: 403, condition: own(403, 'forbidden', m), message: m };
    case 'LEASE_HELD':
      // Someone is editing the event in the web UI right now (an editing lease): 423 Locked.
      return { status: 423, condition: own(423, 'edit-lease-held', m), message: m };
    case 'NOT_FOUND':
      return { status: 404, message: m };
    case 'UNAUTHENTICATED':
    case 'INVALID_CREDENTIALS':
    case 'SSO_FAILED':
      return { status: 401, message: m, headers: { 'www-authenticate': WWW_AUTHENTICATE } };
    case 'SIGNIN_LOCKED':
    case 'RATE_LIMITED': {
      const headers: Record<string, string> = {};
      if (e.details?.retryAfterSeconds) headers['retry-after'] = String(e.details.retryAfterSeconds);
      return { status: 429, message: m, headers };
    }
    case 'INVALID_SYNC_TOKEN':
      return { status: 403, condition: Preconditions.validSyncToken(), message: m };
    case 'TOO_LARGE':
    case 'QUOTA_EXCEEDED':
      if (scope.method === 'PUT') return { status: 403, condition: Preconditions.maxResourceSize(m), message: m };
      return { status: 413, message: m };
    case 'UNKNOWN_ADDRESS':
    case 'INVALID_ADDRESS':
    case 'UNDELIVERABLE_ADDRESS':
      return { status: 403, condition: own(403, 'valid-calendar-user-address', m), message: m };
    case 'ATTACHMENT_FORBIDDEN':
      return { status: 403, condition: own(403, 'attachment-not-allowed', m), message: m };
    case 'STORAGE_UNAVAILABLE':
      return { status: 503, message: m };
    case 'LINK_INVALID':
      return { status: 403, condition: own(403, 'forbidden', m), message: m };
    case 'ALREADY_EXISTS':
      return { status: 405, condition: Preconditions.resourceMustBeNull(), message: m };
    case 'CONFLICT':
    case 'STALE_PROPOSAL':
      return { status: 409, condition: own(409, 'conflict', m), message: m };
    case 'UNSUPPORTED':
      return { status: 403, condition: own(403, 'unsupported', m), message: m };
    default:
      return { status: 400, condition: own(400, 'bad-request', m), message: m };
  }
}

export function mapParseError(e: DavParseError): Mapped {
  switch (e.code) {
    case 'UNSUPPORTED_REPORT':
      return { status: 403, condition: Preconditions.supportedReport(), message: e.message };
    case 'INVALID_BODY':
      if (e.condition) return { status: 403, condition: { status: 403, ...(e.condition as QName), description: e.message }, message: e.message };
      return { status: 400, condition: own(400, 'invalid-body', e.message), message: e.message };
    case 'INVALID_HEADER':
      return { status: 400, condition: own(400, 'invalid-header', e.message), message: e.message };
    default:
      return { status: 400, condition: own(400, 'invalid-xml', e.message), message: e.message };
  }
}

export function mapError(err: unknown, scope: ErrorScope): Mapped | null {
  if (err instanceof DavHttpError) return { status: err.status, condition: err.condition, message: scope.lang === 'ru' ? davTextRu(err.message) : err.message, headers: err.headers };
  if (err instanceof DomainError) return mapDomainError(err, scope);
  if (err instanceof DavParseError) return mapParseError(err);
  const fe = err as FastifyError;
  switch (fe?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      if (scope.method === 'PUT') return { status: 403, condition: Preconditions.maxResourceSize('The resource is larger than this server accepts'), message: scope.lang === 'ru' ? davTextRu('The resource is larger than this server accepts') : 'too large' };
      return { status: 413, message: scope.lang === 'ru' ? davTextRu('The request body is larger than this server accepts') : 'The request body is larger than this server accepts' };
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_INVALID_TYPE':
      return { status: 400, condition: own(400, 'bad-request', fe.message), message: fe.message };
  }
  const pgCode = (err as { code?: unknown })?.code;
  if (pgCode === '22021' || pgCode === '22P05') return { status: 400, condition: own(400, 'bad-request', 'Characters that cannot be stored (such as NUL)'), message: 'NUL' };
  if (fe?.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) return { status: fe.statusCode, message: fe.message };
  return null;
}

/** The error body: DAV:error with the precondition (plus a human description), else a short text. */
export function errorBody(mapped: Mapped): string {
  if (mapped.condition) {
    if (mapped.condition.ns === NS_CALENDULA) return serializeXml(davEl('error', [el(NS_CALENDULA, mapped.condition.name, [], mapped.message)]));
    const body = buildErrorBody(mapped.condition);
    if (!mapped.message) return body;
    // Add a human-readable description next to the standard condition (clients ignore it).
    return serializeXml(davEl('error', [el(mapped.condition.ns, mapped.condition.name, mapped.condition.content ?? []), el(NS_CALENDULA, 'description', [], mapped.message)]));
  }
  return serializeXml(davEl('error', [el(NS_CALENDULA, 'description', [], mapped.message)]));
}

export function sendDavError(reply: FastifyReply, mapped: Mapped) {
  for (const [k, v] of Object.entries(mapped.headers ?? {})) reply.header(k, v);
  return reply.status(mapped.status).type('application/xml; charset=utf-8').send(errorBody(mapped));
}

export function davErrorHandler(err: unknown, req: FastifyRequest, reply: FastifyReply) {
  const lang = langFromAcceptLanguage(req.headers['accept-language']);
  // (davScope's hrefs are getters, encoded when read: index.ts.)
  const hrefs = (req as FastifyRequest & { davScope?: Partial<ErrorScope> }).davScope;
  const scope: ErrorScope = { method: req.method, lang };
  if (hrefs?.calendarHref !== undefined) scope.calendarHref = hrefs.calendarHref;
  if (hrefs?.requestHref !== undefined) scope.requestHref = hrefs.requestHref;
  const mapped = mapError(err, scope);
  if (mapped) {
    if (mapped.status >= 500) req.log.warn({ err }, 'dav error');
    return sendDavError(reply, mapped);
  }
  req.log.error({ err }, 'unhandled CalDAV error');
  return sendDavError(reply, { status: 500, message: errorText('INTERNAL_ERROR', `Something went wrong on our side; the request id is ${req.id}`, { requestId: req.id }, lang) });
}
