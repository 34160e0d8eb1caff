/**
 * The one place where errors become REST responses: {"error": "STABLE_CODE", "message", "details"}.
 * Unknown errors are logged and answered with INTERNAL_ERROR without internals.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { DomainError, type ErrorCode } from '../../domain/errors.js';
import { errorText, langFromAcceptLanguage } from '../../domain/error-text.js';

const STATUS: Record<ErrorCode, number> = {
  VALIDATION_FAILED: 400,
  BAD_REQUEST: 400,
  INVALID_ADDRESS: 400,
  INVALID_ICALENDAR: 400,
  UNKNOWN_ADDRESS: 422,
  UNDELIVERABLE_ADDRESS: 422,
  UNAUTHENTICATED: 401,
  INVALID_CREDENTIALS: 401,
  ACCOUNT_DISABLED: 403,
  SIGNIN_LOCKED: 429,
  RATE_LIMITED: 429,
  CSRF_FAILED: 403,
  FORBIDDEN: 403,
  INSUFFICIENT_SCOPE: 403,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  CONFLICT: 409,
  UID_CONFLICT: 409,
  STALE_PROPOSAL: 409,
  LEASE_HELD: 423,
  FORCE_NOT_ALLOWED: 403,
  ETAG_MISMATCH: 412,
  QUOTA_EXCEEDED: 413,
  TOO_LARGE: 413,
  ATTACHMENT_FORBIDDEN: 403,
  LINK_INVALID: 403,
  STORAGE_UNAVAILABLE: 503,
  UNSUPPORTED: 415,
  SSO_NOT_CONFIGURED: 404,
  SSO_FAILED: 401,
  INVALID_SYNC_TOKEN: 410,
};

export function statusOf(code: ErrorCode): number {
  return STATUS[code] ?? 400;
}

/**
 * The message is in the language the client asked for (Accept-Language: the web UI sends its own
 * language); English is the default and the throw site's own text.
 */
export function sendError(reply: FastifyReply, status: number, error: string, message: string, details?: unknown) {
  const lang = langFromAcceptLanguage(reply.request?.headers['accept-language']);
  const facts = Array.isArray(details) ? (details[0] as Record<string, unknown> | undefined) : (details as Record<string, unknown> | undefined);
  message = errorText(error, message, { requestId: reply.request?.id, ...facts }, lang);
  return reply.status(status).type('application/json; charset=utf-8').send(details === undefined ? { error, message } : { error, message, details });
}

export function restErrorHandler(err: FastifyError | DomainError | Error, req: FastifyRequest, reply: FastifyReply) {
  if (err instanceof DomainError) {
    if (err.code === 'SIGNIN_LOCKED' && err.details?.retryAfterSeconds) reply.header('retry-after', String(err.details.retryAfterSeconds));
    if (err.code === 'UNAUTHENTICATED' && req.url.startsWith('/dav')) reply.header('www-authenticate', 'Basic realm="Calendula", charset="UTF-8"');
    return sendError(reply, statusOf(err.code), err.code, err.message, err.details);
  }
  const fe = err as FastifyError;
  if (fe.validation) {
    const details = fe.validation.map((v) => ({ path: `${fe.validationContext ?? ''}${v.instancePath}`, problem: v.message, ...(v.params && 'additionalProperty' in v.params ? { field: v.params.additionalProperty } : {}) }));
    const first = details[0];
    const message = first?.field ? `Unknown field "${first.field}" in ${fe.validationContext}` : `Invalid ${fe.validationContext ?? 'request'}: ${first?.path || '(root)'} ${first?.problem ?? ''}`.trim();
    return sendError(reply, 400, 'VALIDATION_FAILED', message, details);
  }
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return sendError(reply, 413, 'TOO_LARGE', 'The request body is larger than this server accepts');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return sendError(reply, 415, 'UNSUPPORTED', 'Unsupported Content-Type');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return sendError(reply, 400, 'BAD_REQUEST', 'The JSON body is empty');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return sendError(reply, 400, 'BAD_REQUEST', 'The body is not valid JSON');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return sendError(reply, 400, 'BAD_REQUEST', 'Content-Length does not match the body');
    case 'FST_ERR_CTP_INVALID_TYPE':
      return sendError(reply, 400, 'BAD_REQUEST', 'Invalid Content-Type header');
  }
  // PostgreSQL refuses NUL (and bytes invalid in UTF-8) in text: the input was unusable, not our fault.
  const pgCode = (err as { code?: unknown }).code;
  if (pgCode === '22021' || pgCode === '22P05') {
    return sendError(reply, 400, 'BAD_REQUEST', 'The request contains characters that cannot be stored (such as NUL)');
  }
  if (err instanceof SyntaxError || (fe.statusCode === 400 && /JSON/i.test(fe.message))) {
    return sendError(reply, 400, 'BAD_REQUEST', 'The body is not valid JSON');
  }
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
    return sendError(reply, fe.statusCode, fe.statusCode === 404 ? 'NOT_FOUND' : 'BAD_REQUEST', fe.message);
  }
  req.log.error({ err }, 'unhandled error');
  return sendError(reply, 500, 'INTERNAL_ERROR', 'Something went wrong on our side; the request id is ' + req.id);
}
