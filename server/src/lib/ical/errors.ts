/**
 * Errors raised by the iCalendar library. Every failure the library detects in
 * client data is an IcalError with a stable `code`; callers map codes to their
 * protocol (HTTP status + CalDAV precondition, JSON error, SMTP reply).
 */
export type IcalErrorCode =
  | 'INVALID_ICALENDAR'
  | 'TOO_LARGE'
  | 'NO_UID'
  | 'UNSUPPORTED_COMPONENT'
  | 'INVALID_RRULE'
  | 'INVALID_DATE'
  | 'INVALID_INPUT'
  | 'NOT_FOUND';

/** A problem with iCalendar data: `code` is stable, `message` is for humans. */
export class IcalError extends Error {
  readonly code: IcalErrorCode;
  /** UID of the item concerned, when known. */
  readonly uid?: string;
  constructor(code: IcalErrorCode, message: string, opts: { uid?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'IcalError';
    this.code = code;
    if (opts.uid !== undefined) this.uid = opts.uid;
  }
}

/** Wrap any thrown value into an IcalError with the given code (IcalErrors pass through). */
export function asIcalError(e: unknown, code: IcalErrorCode, prefix: string): IcalError {
  if (e instanceof IcalError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new IcalError(code, `${prefix}: ${msg}`, { cause: e });
}
