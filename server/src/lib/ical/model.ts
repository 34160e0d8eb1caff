/** The JSON event model shared by the REST API and the web UI. */

/** An attendee in the JSON model. */
export interface AttendeeInput {
  email: string;
  name?: string;
  role?: string;
  partstat?: string;
  rsvp?: boolean;
  cutype?: string;
}

/** An alarm in the JSON model (TRIGGER is an RFC 5545 duration like "-PT15M"). */
export interface AlarmInput {
  action: 'DISPLAY' | 'EMAIL';
  trigger: string;
  related?: 'START' | 'END';
}

/** Event fields as the UI edits them. Times are local wall clock in `timezone` ('YYYY-MM-DDTHH:mm:ss' or 'YYYY-MM-DD'). */
export interface EventInput {
  summary: string;
  description?: string | null;
  location?: string | null;
  start: string;
  end: string;
  timezone?: string | null;
  allDay?: boolean;
  rrule?: string | null;
  exdates?: string[];
  transparency?: 'OPAQUE' | 'TRANSPARENT';
  visibility?: 'PUBLIC' | 'PRIVATE' | 'CONFIDENTIAL';
  status?: string | null;
  url?: string | null;
  conference?: string | null;
  organizer?: { email: string; name?: string } | null;
  attendees?: AttendeeInput[];
  alarms?: AlarmInput[];
  categories?: string[];
  color?: string | null;
}

/** A patch: any subset of EventInput; null removes an optional property. */
export type EventPatch = Partial<EventInput>;

/** EventInput as read back from iCalendar, with identity fields. */
export interface EventJson extends EventInput {
  uid: string;
  sequence: number;
  recurrenceId: string | null;
}
