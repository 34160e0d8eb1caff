export type ItipMethod =
  | 'REQUEST'
  | 'CANCEL'
  | 'REPLY'
  | 'COUNTER'
  | 'DECLINECOUNTER'
  | 'REFRESH'
  | 'ADD';

export interface ItipMessage {
  method: ItipMethod;
  uid: string;
  /** Normalised address (no mailto:). */
  sender: string;
  /** Normalised address (no mailto:). */
  recipient: string;
  recipientCn?: string;
  /** A full VCALENDAR with METHOD, ready for iMIP or local delivery. */
  ical: string;
  /**
   * True when the recipient should be bothered (RFC 5546 §2.1.4): a new invitation, a change
   * of time/place/recurrence/status, a cancellation, a reply. False for cosmetic updates
   * (description, other attendees' answers) — delivery may choose to batch or skip e-mail.
   */
  significantChange: boolean;
  /** Instance keys (UTC 'YYYYMMDDTHHMMSSZ' or date) when the message is about some instances only. */
  recurrenceIds?: string[];
}

export interface PlanInput {
  /** The resource before the write; null = created. */
  oldText: string | null;
  /** The resource after the write; null = deleted. */
  newText: string | null;
  /**
   * The resource after the write, already parsed (e.g. just built): used instead of parsing
   * newText, which may then be null. The planner changes it in place (SEQUENCE, DTSTAMP,
   * SCHEDULE-STATUS), so afterwards it matches the returned newText.
   */
  newComponent?: import('ical.js').default.Component;
  /** The calendar user performing the write (any form: mailto:, upper case). */
  actorEmail: string;
  /**
   * Whether the resource is the organizer's copy. Inferred when omitted: the actor is the
   * ORGANIZER → organizer side; the actor is an ATTENDEE → attendee side.
   */
  isOrganizerCopy?: boolean;
  /** Send a REQUEST to these attendees even if nothing changed for them (e.g. REFRESH answer). */
  forceSendFor?: string[];
  /** Injectable clock for DTSTAMP. */
  now?: Date;
}

export interface PlanResult {
  messages: ItipMessage[];
  /** The text to store (SEQUENCE, DTSTAMP, PARTSTAT resets, SCHEDULE-STATUS); null when deleted. */
  newText: string | null;
  sequenceBumped: boolean;
}

export type ApplyAction = 'create' | 'update' | 'delete' | 'ignore' | 'reject';

export type ApplyCode =
  | 'APPLIED_NEW'
  | 'APPLIED_UPDATE'
  | 'APPLIED_INSTANCE'
  | 'APPLIED_REPLY'
  | 'APPLIED_ADD'
  | 'CANCELLED_SERIES'
  | 'CANCELLED_INSTANCES'
  | 'ALREADY_CANCELLED'
  | 'STALE_SEQUENCE'
  | 'STALE_REPLY'
  | 'NOT_ORGANIZER'
  | 'ORGANIZER_MISMATCH'
  | 'NOT_ATTENDEE'
  | 'SENDER_NOT_ATTENDEE'
  | 'NOT_ORGANIZER_COPY'
  | 'UNKNOWN_UID'
  | 'UNKNOWN_INSTANCE'
  | 'UID_MISMATCH'
  | 'PARTY_CRASHER'
  | 'PARTY_CRASHER_ADDED'
  | 'COUNTER_PROPOSAL'
  | 'COUNTER_DECLINED'
  | 'REFRESH_REQUESTED'
  | 'INVALID_MESSAGE'
  | 'UNSUPPORTED_METHOD';

export interface CounterProposal {
  uid: string;
  from: string;
  recurrenceId?: string;
  dtstart?: string;
  dtend?: string;
  summary?: string;
  location?: string;
  comment?: string;
  sequence: number;
  /** The COUNTER as received (METHOD kept), for showing or accepting it. */
  ical: string;
}

export interface ApplyResult {
  action: ApplyAction;
  newText?: string;
  /** Human-readable, for the decision log. */
  reason: string;
  code: ApplyCode;
  /** Whether the message sender matched the ORGANIZER / SENT-BY (REQUEST, CANCEL, ADD, DECLINECOUNTER) or the attendee (REPLY, COUNTER, REFRESH). */
  senderMatches?: boolean;
  counterProposal?: CounterProposal;
  /** REFRESH: the attendee to re-send the current state to (use `requestFor`). */
  refreshFor?: string;
  /** REPLY: whose answer and which one. */
  reply?: { attendee: string; partstat: string; recurrenceIds: string[]; comment?: string };
}

export interface ApplyOptions {
  /**
   * 'enforce' (default): a REQUEST/CANCEL/ADD whose sender is not the ORGANIZER (or its
   * SENT-BY), or a REPLY whose sender is not that attendee, is rejected. 'trusted': the caller
   * has already decided (internal scheduling, an unverified invitation the user chose to
   * accept) — the match is still reported in `senderMatches` but not enforced.
   */
  trust?: 'enforce' | 'trusted';
  /** REPLY from someone not invited: add them (true) or reject (default). */
  acceptPartyCrashers?: boolean;
  now?: Date;
}

export interface IncomingMessage {
  method?: string;
  ical: string;
  sender: string;
}
