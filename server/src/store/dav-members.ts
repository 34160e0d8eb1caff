/**
 * The member listing of one calendar for CalDAV (PROPFIND Depth 1 of a calendar collection), read
 * as lean as the asked properties allow. A calendar of 10,000 events is listed on every sync round
 * of every client, so this is a hot path:
 * - only the columns the asked properties need;
 * - without the text: one aggregated value (fields joined by U+0001) instead of one protocol row
 *   per member — node-postgres spends ~2 µs per field decoding rows, PostgreSQL as little to join
 *   them (10,000 members: ~20 ms of client CPU as rows, ~7 ms as one value);
 * - the last-modified date formatted by PostgreSQL (no Date per row);
 * - no ORDER BY: a listing's order means nothing to WebDAV (RFC 4918 §9.1), and the sort was a
 *   third of the query's cost.
 * A name that holds U+0001 itself (or starts with U+0002) comes as U+0002 + its JSON string.
 *
 * The size is octet_length(ical): PostgreSQL answers it from the value's header (inline,
 * compressed or TOAST pointer alike) without reading the text, ~0.2 µs a row — no stored column
 * is needed for it.
 */
import type pg from 'pg';
import { queryPrepared, type Prepared } from './prepared.js';
import { FLOAT_MARGIN_MS } from './objects.js';

export interface MemberColumns {
  component?: boolean;
  size?: boolean;
  /** DAV:getlastmodified text (RFC 9110 §5.6.7 IMF-fixdate, as Date#toUTCString writes it). */
  modified?: boolean;
  text?: boolean;
}

const SEP = '\u0001';
const ESCAPED = '\u0002';

/** The name column of an aggregated listing: as is, or U+0002 + its JSON string when it holds U+0001 (or starts with U+0002). */
const NAME_CELL = `case when strpos(name, E'\\x01') = 0 and left(name, 1) <> E'\\x02' then name else E'\\x02' || to_json(name)::text end`;

/** The SQL expressions of the optional columns asked, in listing order (component, size, modified). */
function optionalFields(cols: Omit<MemberColumns, 'text'>, t = ''): string[] {
  const fields: string[] = [];
  if (cols.component) fields.push(`${t}component`);
  if (cols.size) fields.push(`octet_length(${t}ical)::text`);
  if (cols.modified) fields.push(`to_char(${t}updated_at at time zone 'UTC', 'Dy, DD Mon YYYY HH24:MI:SS "GMT"')`);
  return fields;
}

/** Splits an aggregated listing into its cells and decodes the escaped names (every `stride` cells from `nameAt`). */
function splitCells(all: string | null | undefined, stride: number, nameAt: number): string[] {
  if (!all) return [];
  const cells = all.split(SEP);
  for (let i = nameAt; i < cells.length; i += stride) {
    if (cells[i]!.startsWith(ESCAPED)) cells[i] = JSON.parse(cells[i]!.slice(1)) as string;
  }
  return cells;
}

/**
 * Live members of a calendar as one flat list: per member name, etag, then component / size /
 * modified / ical — each only when asked, in that order (the stride is 2 + the asked columns).
 * `publicOnly`: leave out PRIVATE and CONFIDENTIAL objects (a sharee's view).
 */
export async function memberCells(pool: pg.Pool, ownerId: string, calendarId: string, publicOnly: boolean, cols: MemberColumns): Promise<string[]> {
  const fields = optionalFields(cols);
  const where = `from calendar_object where owner_id = $1 and calendar_id = $2 and deleted_at is null
    ${publicOnly ? `and (class is null or class not in ('PRIVATE', 'CONFIDENTIAL'))` : ''}`;
  if (cols.text) {
    const r = await pool.query<string[]>({ text: `select name, etag${fields.map((f) => `, ${f}`).join('')}, ical ${where}`, values: [ownerId, calendarId], rowMode: 'array' });
    return r.rows.flat();
  }
  const r = await pool.query<[string | null]>({
    text: `select string_agg(${[NAME_CELL, 'etag', ...fields].join(` || E'\\x01' || `)}, E'\\x01') ${where}`,
    values: [ownerId, calendarId],
    rowMode: 'array',
  });
  return splitCells(r.rows[0]?.[0], 2 + fields.length, 0);
}

const rangeStatements = new Map<string, { name: string; text: string }>();

/**
 * Candidates of a "VEVENT overlapping [from, to)" calendar-query (RFC 4791 §9.9) in one calendar
 * (never the text), as one flat list like memberCells(): per candidate id, name, etag, kind, then
 * the memberCells() columns asked (the stride is 4 + those). The kind is 'f' (single), 't'
 * (recurring), or for floating and all-day objects 'F' (single) and 'T' (recurring). The bounds are the
 * index columns' (first_start … last_end of the whole series), so a single event here overlaps; a
 * recurring one still needs its instances checked. Floating objects (RFC 5545 §3.3.5, migration
 * 0010) and all-day ones (DATE values are floating too, RFC 4791 §9.9) hold their wall times read
 * as UTC: their span is matched widened by FLOAT_MARGIN_MS and
 * the caller decides them in the floating zone (RFC 4791 §9.9). The span overlaps are the shapes
 * the GiST indexes (migrations 0006, 0012) answer. Sorted by name only when `ordered` (a client's
 * result limit must cut the same list each time); otherwise unsorted — a sort was a third of the query.
 */
export async function timeRangeCells(pool: pg.Pool, ownerId: string, calendarId: string, publicOnly: boolean, from: Date, to: Date, cols: Omit<MemberColumns, 'text'>, ordered: boolean): Promise<string[]> {
  const fields = optionalFields(cols);
  const variant = `${cols.component ? 'c' : '-'}${cols.size ? 's' : '-'}${cols.modified ? 'm' : '-'}${publicOnly ? 'p' : '-'}${ordered ? 'o' : '-'}`;
  let stmt = rangeStatements.get(variant);
  if (!stmt) {
    const cell = ['id::text', NAME_CELL, 'etag', `case when floating or all_day then (case when recurring then 'T' else 'F' end) when recurring then 't' else 'f' end`, ...fields].join(` || E'\\x01' || `);
    stmt = {
      name: `dav-range-${variant}`,
      text: `select string_agg(${cell}, E'\\x01'${ordered ? ' order by name' : ''}) from calendar_object
        where owner_id = $1 and calendar_id = $2 and deleted_at is null and component = 'VEVENT'
          ${publicOnly ? `and (class is null or class not in ('PRIVATE', 'CONFIDENTIAL'))` : ''}
          and (((first_start < $4 or first_start is null)
            and (last_end > $3 or last_end is null or (last_end = first_start and first_start >= $3))
            and tstzrange(first_start, coalesce(last_end, 'infinity'::timestamptz), '[]') && tstzrange($3::timestamptz, $4::timestamptz, '[)'))
            or ((floating or all_day) and tstzrange(first_start, coalesce(last_end, 'infinity'::timestamptz), '[]') && tstzrange($5::timestamptz, $6::timestamptz, '[)')))`,
    };
    rangeStatements.set(variant, stmt);
  }
  const r = await pool.query<[string | null]>({ ...stmt, values: [ownerId, calendarId, from, to, new Date(from.getTime() - FLOAT_MARGIN_MS), new Date(to.getTime() + FLOAT_MARGIN_MS)], rowMode: 'array' });
  return splitCells(r.rows[0]?.[0], 4 + fields.length, 1);
}

const namedStatements = new Map<string, Prepared>();

/** A variant key of the member columns asked (statement names). */
export const memberVariant = (cols: MemberColumns) => `${cols.component ? 'c' : '-'}${cols.size ? 's' : '-'}${cols.modified ? 'm' : '-'}${cols.text ? 't' : '-'}`;

/** The select list of a member row in memberCells()'s layout (name, etag, then the asked columns), on table `alias`. */
export function memberSelectList(cols: MemberColumns, alias: string): string[] {
  return [`${alias}.name`, `${alias}.etag`, ...optionalFields(cols, `${alias}.`), ...(cols.text ? [`${alias}.ical`] : [])];
}

/**
 * The named live members of a calendar (a calendar-multiget), one row each in memberCells()'s
 * layout: name, etag, then component / size / modified / ical as asked. Rows come in no order.
 * One prepared statement per variant, the names as one array parameter, run without a Describe
 * (store/prepared.ts), and only the asked columns (no Date per row: the modified date is text).
 */
export async function namedMemberRows(pool: pg.Pool, ownerId: string, calendarId: string, publicOnly: boolean, cols: MemberColumns, names: string[]): Promise<string[][]> {
  if (names.length === 0) return [];
  const variant = `${memberVariant(cols)}${publicOnly ? 'p' : '-'}`;
  let stmt = namedStatements.get(variant);
  if (!stmt) {
    stmt = {
      name: `dav-named-${variant}`,
      text: `select ${memberSelectList(cols, 'calendar_object').join(', ')}
        from calendar_object where owner_id = $1 and calendar_id = $2 and deleted_at is null and name = any($3::text[])
        ${publicOnly ? `and (class is null or class not in ('PRIVATE', 'CONFIDENTIAL'))` : ''}`,
    };
    namedStatements.set(variant, stmt);
  }
  return (await queryPrepared(pool, stmt, [ownerId, calendarId, names])) as string[][];
}

export interface ObjectRowMeta {
  id: string; name: string; etag: string; schedule_tag: string; role: 'none' | 'organizer' | 'attendee';
  component: 'VEVENT' | 'VTODO'; updated_at: Date; class: string | null; size: number; ical?: string;
}

/** Prepared statements of objectRows(), by variant (text or not, by names or all, sharee's view or not). */
const objectStatements = new Map<string, { name: string; text: string }>();

/**
 * Live objects of a calendar, sorted by name, with the listing columns (and the text when asked):
 * all of them, or those with the given names (a calendar-multiget, a sync-collection's changes).
 * One prepared statement per variant — the names travel as one array parameter, so a multiget of
 * any size is planned once per connection — and rows decoded as arrays (without a Describe per
 * execution: store/prepared.ts).
 */
export async function objectRows(pool: pg.Pool, ownerId: string, calendarId: string, publicOnly: boolean, withText: boolean, names?: string[]): Promise<ObjectRowMeta[]> {
  const variant = `${withText ? 't' : '-'}${names ? 'n' : '-'}${publicOnly ? 'p' : '-'}`;
  let stmt = objectStatements.get(variant);
  if (!stmt) {
    stmt = {
      name: `dav-objects-${variant}`,
      text: `select id, name, etag, schedule_tag, role, component, updated_at, class, octet_length(ical), ${withText ? 'ical' : 'null'}
        from calendar_object where owner_id = $1 and calendar_id = $2 and deleted_at is null
        ${names ? 'and name = any($3::text[])' : ''}
        ${publicOnly ? `and (class is null or class not in ('PRIVATE', 'CONFIDENTIAL'))` : ''}
        order by name`,
    };
    objectStatements.set(variant, stmt);
  }
  const rows = await queryPrepared(pool, stmt, names ? [ownerId, calendarId, names] : [ownerId, calendarId]);
  const out = new Array<ObjectRowMeta>(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const x = rows[i]!;
    const o: ObjectRowMeta = {
      id: x[0] as string, name: x[1] as string, etag: x[2] as string, schedule_tag: x[3] as string, role: x[4] as ObjectRowMeta['role'],
      component: x[5] as ObjectRowMeta['component'], updated_at: x[6] as Date, class: x[7] as string | null, size: Number(x[8]),
    };
    if (x[9] != null) o.ical = x[9] as string;
    out[i] = o;
  }
  return out;
}
