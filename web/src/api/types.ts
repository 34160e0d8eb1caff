// Types of the REST API (/api/v1) as the web UI uses them. Hand-written from docs/api-events.md and
// the server's TypeBox schemas; server/test/web/api-contract.test.ts checks every path the client
// calls against /api/openapi.json.

export interface ApiErrorBody { error: string; message: string; details?: any }

export interface User {
  id: string; kind: string; email: string; name: string; isAdmin: boolean; disabled: boolean;
  language: string; timezone: string; createdAt: string;
}
export interface WorkingHours { days: number[]; start: string; end: string }
export type NotifyKind = 'invitation' | 'update' | 'cancellation' | 'reply' | 'reminder';
export type Channel = 'email' | 'messenger';
export interface Settings {
  language: string; timezone: string; workingHours: WorkingHours;
  notifications: Record<string, string[]>; vkteamsId: string | null;
}
export interface Me { user: User; settings: Settings; csrfToken?: string }

export type Access = 'owner' | 'read' | 'read-write' | 'freebusy' | string;
export interface Reminder { minutesBefore: number; action: 'DISPLAY' | 'EMAIL' }
export interface Calendar {
  id: string; name: string; description: string; color: string; timezone: string | null;
  defaultReminders: Reminder[]; order: number; hidden: boolean; isDefault: boolean;
  access: Access; owner: null | { id: string; email: string; name: string }; syncToken: string;
}
export interface Share { granteeId: string; email: string; name: string; kind: string; access: string }
export interface DirectoryEntry { id: string; kind: 'user' | 'group' | 'room' | string; email: string; name: string; capacity?: number | null }
export interface AppPassword { id: string; name: string; createdAt: string; lastUsedAt: string | null; revokedAt: string | null; password?: string }

export type Partstat = 'NEEDS-ACTION' | 'ACCEPTED' | 'TENTATIVE' | 'DECLINED' | 'DELEGATED';
export type Role = 'REQ-PARTICIPANT' | 'OPT-PARTICIPANT' | 'CHAIR' | 'NON-PARTICIPANT';
export type Cutype = 'INDIVIDUAL' | 'GROUP' | 'ROOM' | 'RESOURCE';
export interface Attendee { email: string; name?: string; role?: Role; partstat?: Partstat; cutype?: Cutype }
export interface Alarm { action: 'DISPLAY' | 'EMAIL'; trigger: string; related?: 'START' | 'END' }
export interface Attachment { id: string; filename: string; size: number; contentType: string; url: string }

export interface EventInput {
  summary: string; description?: string; location?: string;
  start: string; end: string; timezone?: string; allDay?: boolean;
  rrule?: string | null; exdates?: string[];
  transparency?: 'OPAQUE' | 'TRANSPARENT';
  visibility?: 'PUBLIC' | 'PRIVATE' | 'CONFIDENTIAL';
  status?: 'CONFIRMED' | 'TENTATIVE' | 'CANCELLED';
  url?: string; conference?: string;
  attendees?: Attendee[];
  alarms?: Alarm[];
  attachments?: { id: string }[];
  color?: string;
}
export interface Occurrence {
  id: string; calendarId: string; uid: string; recurrenceId: string | null;
  start: string; end: string; allDay: boolean; timezone: string | null;
  summary: string; location: string; status: string; transparency: string; visibility: string;
  color: string; myPartstat: Partstat | null; isOrganizer: boolean; editable: boolean;
  recurring: boolean; attendeeCount: number; hasAttachments: boolean; busyOnly?: boolean;
}
export interface Lease { holderId: string; holderName: string; expiresAt: string }
export interface EventDetail {
  id: string; calendarId: string; uid: string; etag: string; sequence: number;
  event: Omit<EventInput, 'attachments'> & {
    organizer?: { email: string; name?: string };
    attendees?: (Attendee & { partstat: Partstat })[];
    attachments?: Attachment[];
  };
  myPartstat: Partstat | null; isOrganizer: boolean; editable: boolean; access?: string;
  lease: Lease | null; updatedAt: string; updatedBy: string | null;
}
export type Scope = 'this' | 'following' | 'all';
export interface TrashItem { id: string; calendarId: string; summary: string; start: string; deletedAt: string }
export interface BusyPeriod { start: string; end: string; type: 'BUSY' | 'BUSY-TENTATIVE' | 'BUSY-UNAVAILABLE' }
export interface FreeBusyItem { email: string; name?: string; timezone: string; workingHours: WorkingHours | null; busy: BusyPeriod[]; error?: string }
export interface Slot { start: string; end: string }
export interface ImportStatus { state: string; total: number; done: number; imported: number; failed: number; errors: { uid?: string; message: string }[] }

/** One inbound e-mail decision (GET /intake/decisions, /intake/held): what the mail intake did with a message and why. */
export type IntakeOutcome = 'applied' | 'ignored' | 'rejected' | 'held' | 'accepted' | 'discarded' | 'counter' | 'bounce' | string;
export interface IntakeDecision {
  id: string; ownerId: string | null; inboundId: string | null; messageId: string | null;
  sender: string | null; recipient: string | null; method: string | null; uid: string | null; objectId: string | null;
  code: string; outcome: IntakeOutcome; reason: string; details: unknown; createdAt: string; decidedAt: string | null;
}
/** VK Teams bot link state (GET/DELETE /settings/vkteams). */
export interface VkteamsLink { botEnabled: boolean; vkteamsId: string; mapped: boolean; linked: boolean; linkedAt: string | null }
/** One delivery attempt of my notifications and invitations (GET /deliveries). */
export interface Delivery {
  id: string; ownerId: string | null; channel: string; kind: string; key: string; messageId: string | null;
  recipient: string; uid: string | null; objectId: string | null; method: string | null;
  status: string; attempts: number; response: string | null; createdAt: string; updatedAt: string;
}

/** "Propose a new time" (POST /events/:id/propose): where the proposal went. */
export interface ProposeInput { start: string; end: string; timezone?: string; comment?: string; recurrenceId?: string | null }
export interface ProposeResult { delivery: 'imip' | 'internal'; organizer: string; proposalId?: string }
/** What a proposal (an iTIP COUNTER) asks for: times as iCalendar gives them (UTC ending in Z, a wall time, or a date). */
export interface ProposalDetails {
  uid?: string; from?: string; recurrenceId?: string; dtstart?: string; dtend?: string;
  summary?: string; location?: string; comment?: string; sequence?: number; internal?: boolean; proposerId?: string;
}
/** A time proposal waiting for my decision as organizer (GET /proposals): a mail decision with outcome 'counter'. */
export interface Proposal extends IntakeDecision { details: ProposalDetails | null }
