/** Kysely table types. Every per-user table carries owner_id (DESIGN.md principle 6). */
import type { ColumnType, Generated, Selectable } from 'kysely';

type Ts = ColumnType<Date, Date | string | undefined, Date | string>;
type TsNull = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
type Json<T> = ColumnType<T, string | T | undefined, string | T>;

export interface WorkingHours { days: number[]; start: string; end: string }
export type NotifyPrefs = Record<string, string[]>;

export interface PrincipalTable {
  id: Generated<string>;
  kind: 'user' | 'group' | 'room';
  email: string;
  name: Generated<string>;
  is_admin: Generated<boolean>;
  disabled: Generated<boolean>;
  password_hash: string | null;
  language: Generated<'en' | 'ru'>;
  timezone: Generated<string>;
  working_hours: Json<WorkingHours>;
  notify: Json<NotifyPrefs>;
  room_capacity: number | null;
  room_auto_accept: 'accept-if-free' | 'always' | 'manual' | null;
  vkteams_id: string | null;
  oidc_subject: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface Database {
  server_secret: { name: string; value: string; created_at: Generated<Date> };
  principal: PrincipalTable;
  principal_term: { term: string; principal_id: string };
  principal_alias: { email: string; principal_id: string };
  group_member: { group_id: string; member_id: string };
  session: {
    id: string; owner_id: string; csrf: string; created_at: Generated<Date>; expires_at: Ts;
    last_seen_at: Generated<Date>; user_agent: string | null; ip: string | null;
  };
  app_password: {
    id: Generated<string>; owner_id: string; name: string; secret_hash: string;
    created_at: Generated<Date>; last_used_at: TsNull; revoked_at: TsNull;
  };
  api_token: {
    id: Generated<string>; owner_id: string; name: string; secret_hash: string; scopes: string[];
    created_at: Generated<Date>; expires_at: TsNull; last_used_at: TsNull; revoked_at: TsNull;
  };
  signin_throttle: { key: string; failures: number; window_started_at: Ts; locked_until: TsNull };
  calendar: {
    id: Generated<string>; owner_id: string; name: string; description: Generated<string>;
    color: Generated<string>; timezone: string | null; default_reminders: Json<Reminder[]>;
    sort_order: Generated<number>; hidden: Generated<boolean>; is_default: Generated<boolean>;
    components: Generated<string[]>; sync_seq: ColumnType<string, string | number | undefined, string | number>;
    created_at: Generated<Date>; updated_at: Generated<Date>;
  };
  calendar_share: {
    calendar_id: string; owner_id: string; grantee_id: string; access: 'read' | 'read-write' | 'freebusy';
    created_at: Generated<Date>;
  };
  calendar_object: CalendarObjectTable;
  calendar_change: {
    owner_id: string; calendar_id: string; seq: ColumnType<string, string | number, string | number>; object_id: string;
    name: string; uid: string; kind: 'put' | 'delete'; at: Generated<Date>;
  };
  edit_lease: { uid: string; holder_id: string; holder_name: string; expires_at: Ts };
  attachment: {
    id: Generated<string>; owner_id: string; filename: string; content_type: string; size: ColumnType<string, number, number>;
    sha256: string; storage_key: string; created_at: Generated<Date>;
  };
  attachment_use: { owner_id: string; attachment_id: string; object_id: string };
  import_run: {
    id: Generated<string>; owner_id: string; calendar_id: string; state: Generated<string>; total: Generated<number>; done: Generated<number>;
    imported: Generated<number>; failed: Generated<number>; errors: Json<{ uid?: string; message: string }[]>; source: string | null;
    created_at: Generated<Date>; finished_at: TsNull;
    /** Per item, in file order: [uid, status ('created' | 'updated' | 'failed'), object id or the failure's message]. */
    results: Json<[string, 'created' | 'updated' | 'failed', string][]> | null; created: Generated<number>; updated: Generated<number>;
  };
  delivery_log: {
    id: Generated<string>; owner_id: string | null; channel: string; kind: string; delivery_key: string; message_id: string | null;
    recipient: string; uid: string | null; object_id: string | null; method: string | null;
    status: 'sent' | 'failed' | 'retrying' | 'skipped'; attempts: Generated<number>; response: string | null;
    created_at: Generated<Date>; updated_at: Generated<Date>;
  };
  inbound_message: {
    id: Generated<string>; source: string; envelope_from: string | null; envelope_to: string[]; remote_address: string | null;
    raw: Buffer; size: number; state: Generated<'queued' | 'processed' | 'failed'>; message_id: string | null;
    received_at: Generated<Date>; processed_at: TsNull;
  };
  mail_decision: {
    id: Generated<string>; owner_id: string | null; inbound_id: string | null; message_id: string | null; sender: string | null;
    recipient: string | null; method: string | null; uid: string | null; object_id: string | null; code: string;
    outcome: 'applied' | 'ignored' | 'rejected' | 'held' | 'accepted' | 'discarded' | 'counter' | 'bounce';
    reason: string; ical: string | null; details: Json<unknown> | null; created_at: Generated<Date>; decided_at: TsNull;
  };
  dead_property: {
    owner_id: string; calendar_id: string | null; object_id: string | null; ns: string; name: string; xml: string;
    updated_at: Generated<Date>;
  };
  itip_message: { owner_id: string; id: string; uid: string; ical: string; created_at: Generated<Date> };
  itip_fanout: { owner_id: string; id: string; uid: string; jobs: Json<unknown>; next: Generated<number>; created_at: Generated<Date> };
  reminder: {
    owner_id: string; object_id: string; fire_at: Date; occurrence_start: Date; recurrence_id: Generated<string>; action: Generated<string>;
    etag: string; basis: string; single: Generated<boolean>; due_at: Date; gen: Generated<string>; claimed_by: string | null;
    attempts: Generated<number>; last_error: string | null;
  };
  audit_log: {
    id: Generated<string>; owner_id: string | null; actor_id: string | null; via: string; action: string;
    target: string | null; details: Json<unknown> | null; at: Generated<Date>;
  };
}

export interface CalendarObjectTable {
  id: Generated<string>;
  owner_id: string;
  calendar_id: string;
  name: string;
  uid: string;
  component: 'VEVENT' | 'VTODO';
  ical: string;
  etag: string;
  schedule_tag: string;
  first_start: Date | null;
  last_end: Date | null;
  recurring: boolean;
  all_day: boolean;
  /** Floating timed object (migration 0010): first_start/last_end are its wall times read as UTC. */
  floating: Generated<boolean>;
  organizer: string | null;
  role: 'none' | 'organizer' | 'attendee';
  my_partstat: string | null;
  status: string | null;
  transp: string | null;
  class: string | null;
  summary: string;
  location: string;
  description: string;
  attendees: string[];
  sequence: number;
  has_alarms: boolean;
  has_attachments: boolean;
  origin: string;
  created_at: Generated<Date>;
  updated_at: Ts;
  updated_by: string | null;
  deleted_at: TsNull;
  deleted_by: string | null;
}

export interface Reminder { minutesBefore: number; action: 'DISPLAY' | 'EMAIL' }
export type PrincipalRow = Selectable<PrincipalTable>;
export type CalendarRow = Selectable<Database['calendar']>;

export type ObjectRow = Selectable<CalendarObjectTable>;
