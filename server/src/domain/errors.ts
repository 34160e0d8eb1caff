/**
 * Domain errors carry a stable code (part of the public API: REST "error", DAV preconditions,
 * bot answers and SMTP replies are all derived from it) and a human message. Each transport maps
 * them in exactly one place (http/rest/errors.ts, http/dav/errors.ts, …).
 */
export type ErrorCode =
  | 'VALIDATION_FAILED'
  | 'BAD_REQUEST'
  | 'UNAUTHENTICATED'
  | 'INVALID_CREDENTIALS'
  | 'ACCOUNT_DISABLED'
  | 'SIGNIN_LOCKED'
  | 'CSRF_FAILED'
  | 'FORBIDDEN'
  | 'INSUFFICIENT_SCOPE'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'CONFLICT'
  | 'ETAG_MISMATCH'
  | 'LEASE_HELD'
  | 'FORCE_NOT_ALLOWED'
  | 'UID_CONFLICT'
  | 'STALE_PROPOSAL'
  | 'INVALID_ICALENDAR'
  | 'UNKNOWN_ADDRESS'
  | 'INVALID_ADDRESS'
  | 'UNDELIVERABLE_ADDRESS'
  | 'QUOTA_EXCEEDED'
  | 'TOO_LARGE'
  | 'ATTACHMENT_FORBIDDEN'
  | 'LINK_INVALID'
  | 'STORAGE_UNAVAILABLE'
  | 'UNSUPPORTED'
  | 'SSO_NOT_CONFIGURED'
  | 'SSO_FAILED'
  | 'INVALID_SYNC_TOKEN'
  | 'RATE_LIMITED';

export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const notFound = (what: string, details?: Record<string, unknown>) => new DomainError('NOT_FOUND', `${what} not found`, details);
export const forbidden = (message = 'You do not have access to this resource') => new DomainError('FORBIDDEN', message);
export const invalid = (message: string, details?: Record<string, unknown>) => new DomainError('VALIDATION_FAILED', message, details);
