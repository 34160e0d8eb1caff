/**
 * Everything a CalDAV request needs to know before its handler runs, in one round trip: the
 * requesting principal (is it still enabled? is the remembered credential still valid?), the
 * addressed calendar with the user's access to it (own, or the strongest share grant to the user
 * or one of their groups) and its owner's address, and the addressed object (with its text for
 * a GET). Done as separate queries this was four round trips per GET, each parsed, planned and
 * decoded on its own.
 *
 * The statement is prepared once per connection (a named query), so PostgreSQL plans it once,
 * and run without a Describe (store/prepared.ts: no RowDescription of ~45 columns per request).
 * Rows come as arrays; the column lists below are spliced into the statement and decoded by
 * position, and a test checks the decoded rows against the plain table reads.
 */
import type pg from 'pg';
import type { CalendarRow, PrincipalRow } from './schema.js';
import { queryPrepared, type Prepared } from './prepared.js';
import { memberSelectList, memberVariant, type MemberColumns } from './dav-members.js';

const PRINCIPAL = ['id', 'kind', 'email', 'name', 'is_admin', 'disabled', 'password_hash', 'language', 'timezone', 'working_hours', 'notify', 'room_capacity', 'room_auto_accept', 'vkteams_id', 'oidc_subject', 'created_at', 'updated_at'] as const;
const CALENDAR = ['id', 'owner_id', 'name', 'description', 'color', 'timezone', 'default_reminders', 'sort_order', 'hidden', 'is_default', 'components', 'sync_seq', 'created_at', 'updated_at'] as const;
const OBJECT = ['id', 'name', 'etag', 'schedule_tag', 'role', 'component', 'updated_at', 'class'] as const;

export interface DavObjectMeta {
  id: string; name: string; etag: string; schedule_tag: string; role: 'none' | 'organizer' | 'attendee';
  component: 'VEVENT' | 'VTODO'; updated_at: Date; class: string | null; size: number; ical?: string;
}

export interface DavLookup {
  /** Undefined when no principal has this id (deleted). */
  principal?: PrincipalRow;
  /** For a remembered app password: is it still unrevoked (and the principal's)? null when none was given. */
  appPasswordValid: boolean | null;
  /** The calendar when it exists and the user may see it (owner or a share), with that access. */
  calendar?: CalendarRow & { access: 'owner' | 'read' | 'read-write' | 'freebusy'; ownerEmail: string };
  /** The named live object in that calendar, if asked for and visible to the user. */
  object?: DavObjectMeta;
  /**
   * When `members` was asked and the calendar is readable: the rows of those of the named live
   * members the user may read (a sharee never gets private or confidential ones), in no order.
   * Each row is in namedMemberRows()'s layout starting at cell MEMBER_OFFSET.
   */
  members?: unknown[][];
}

/** Where a member row's cells start in DavLookup.members: after the lookup's columns and the 3 keys of membersStatement(). */
export const MEMBER_OFFSET = PRINCIPAL.length + 1 + CALENDAR.length + 2 + OBJECT.length + 2 + 3;

const TEXT = `select ${PRINCIPAL.map((c) => `p.${c}`).join(', ')},
    case when $4::text is null then null else exists (
      select 1 from app_password a where a.secret_hash = $4::text and a.owner_id = p.id and a.revoked_at is null) end,
    ${CALENDAR.map((c) => `c.${c}`).join(', ')}, c.access, c.owner_email,
    ${OBJECT.map((c) => `o.${c}`).join(', ')}, o.size, o.ical
  from principal p
  left join lateral (
    select cal.*,
      case when cal.owner_id = p.id then 'owner' else (
        select s.access from calendar_share s
        where s.owner_id = cal.owner_id and s.calendar_id = cal.id
          and (s.grantee_id = p.id or s.grantee_id in (select g.group_id from group_member g where g.member_id = p.id))
        order by case s.access when 'read-write' then 2 when 'read' then 1 else 0 end desc
        limit 1) end as access,
      case when cal.owner_id = p.id then p.email else (select w.email from principal w where w.id = cal.owner_id) end as owner_email
    from calendar cal where $2::uuid is not null and cal.id = $2::uuid
    -- OFFSET 0 keeps this subquery from being pulled up: otherwise the access expression (and its
    -- share and group sub-plans) is copied into every place that reads c.access, and PostgreSQL
    -- sets up every copy on each execution (10 sub-plans instead of 5; ~20 % of its CPU per lookup)
    offset 0
  ) c on c.access is not null
  left join lateral (
    select ob.*, octet_length(ob.ical) as size
    from calendar_object ob
    where $3::text is not null and ob.owner_id = c.owner_id and ob.calendar_id = c.id and ob.name = $3::text and ob.deleted_at is null
      -- a sharee never sees private or confidential events (as in the REST API)
      and (c.access = 'owner' or ob.class is null or ob.class not in ('PRIVATE', 'CONFIDENTIAL'))
  ) o on true
  where p.id = $1::uuid`;

/** The statement above with or without the object's text (two prepared statements). */
const WITH_TEXT = { name: 'dav-lookup-text', text: TEXT };
const WITHOUT_TEXT = { name: 'dav-lookup', text: TEXT.replace(', o.size, o.ical', ', o.size, null') };

/**
 * The lookup and a calendar-multiget's named members in one statement (one round trip instead of
 * two): the lookup's row (its first cell, the principal's id, is never null) and one row per
 * member with the lookup's cells null and the member's after them. Members come only from the
 * calendar the lookup resolved, only when the user may read it, and for a sharee never private or
 * confidential events — the conditions namedMemberRows() is called with.
 */
const withMembers = new Map<string, Prepared>();
/** The lookup's row in membersStatement() ends with these: the resolved calendar's owner, id and the user's access. */
const LOOKUP_WITH_KEYS = WITHOUT_TEXT.text.replace(', o.size, null\n', ', o.size, null, c.owner_id as l_owner_id, c.id as l_calendar_id, c.access as l_access\n');
function membersStatement(cols: MemberColumns): Prepared {
  const variant = memberVariant(cols);
  let stmt = withMembers.get(variant);
  if (!stmt) {
    if (LOOKUP_WITH_KEYS === WITHOUT_TEXT.text) throw new Error('dav-lookup: the lookup text changed shape');
    const m = memberSelectList(cols, 'ob');
    stmt = {
      name: `dav-lookup-members-${variant}`,
      text: `with l as materialized (${LOOKUP_WITH_KEYS})
select l.*, ${m.map(() => 'null::text').join(', ')} from l
union all
select ${Array.from({ length: MEMBER_OFFSET }, () => 'null').join(', ')}, ${m.join(', ')}
  from l join calendar_object ob on ob.owner_id = l.l_owner_id and ob.calendar_id = l.l_calendar_id
  where l.l_access in ('owner', 'read', 'read-write') and ob.deleted_at is null and ob.name = any($5::text[])
    -- a sharee never sees private or confidential events (as in the REST API)
    and (l.l_access = 'owner' or ob.class is null or ob.class not in ('PRIVATE', 'CONFIDENTIAL'))`,
    };
    withMembers.set(variant, stmt);
  }
  return stmt;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface DavLookupQuery {
  userId: string;
  calendarId?: string | null;
  objectName?: string | null;
  withText?: boolean;
  appPasswordHash?: string | null;
  /** A calendar-multiget's member names and asked columns: read with the lookup (not with withText or objectName). */
  members?: { names: string[]; cols: MemberColumns };
}

export async function davLookup(pool: pg.Pool, q: DavLookupQuery): Promise<DavLookup> {
  if (!UUID.test(q.userId)) return { appPasswordValid: null };
  const calendarId = q.calendarId && UUID.test(q.calendarId) ? q.calendarId : null;
  const objectName = calendarId ? (q.objectName ?? null) : null;
  const withMembers = q.members !== undefined && calendarId !== null && objectName === null && !q.withText;
  const stmt = withMembers ? membersStatement(q.members!.cols) : q.withText ? WITH_TEXT : WITHOUT_TEXT;
  const values: unknown[] = [q.userId, calendarId, objectName, q.appPasswordHash ?? null];
  if (withMembers) values.push(q.members!.names);
  const rows = await queryPrepared(pool, stmt, values);
  let row: unknown[] | undefined = rows[0];
  let members: unknown[][] | undefined;
  if (withMembers) {
    // The lookup's row is the one with the principal's id; the others are members (any order).
    members = [];
    row = undefined;
    for (const r of rows) {
      if (r[0] != null) row = r;
      else members.push(r);
    }
  }
  if (!row) return { appPasswordValid: null };
  let i = 0;
  const take = <T extends readonly string[]>(cols: T): Record<T[number], unknown> => {
    const o: Record<string, unknown> = {};
    for (const c of cols) o[c] = row[i++];
    return o as Record<T[number], unknown>;
  };
  const principal = take(PRINCIPAL) as unknown as PrincipalRow;
  const appPasswordValid = row[i++] as boolean | null;
  const cal = take(CALENDAR) as unknown as CalendarRow;
  const access = row[i++] as 'owner' | 'read' | 'read-write' | 'freebusy' | null;
  const ownerEmail = row[i++] as string | null;
  const obj = take(OBJECT) as unknown as DavObjectMeta;
  const size = row[i++];
  const ical = row[i++] as string | null;
  const out: DavLookup = { principal, appPasswordValid };
  if (access) out.calendar = { ...cal, access, ownerEmail: ownerEmail ?? '' };
  if (access && members) out.members = members;
  if (access && obj.id) {
    obj.size = Number(size);
    if (ical != null) obj.ical = ical;
    out.object = obj;
  }
  return out;
}
