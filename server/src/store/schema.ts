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
  audit_log: {
    id: Generated<string>; owner_id: string | null; actor_id: string | null; via: string; action: string;
    target: string | null; details: Json<unknown> | null; at: Generated<Date>;
  };
}

export interface Reminder { minutesBefore: number; action: 'DISPLAY' | 'EMAIL' }
export type PrincipalRow = Selectable<PrincipalTable>;
export type CalendarRow = Selectable<Database['calendar']>;
