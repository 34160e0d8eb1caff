import { sql, type Kysely } from 'kysely';
import { compileResource } from '../../lib/ical/index.js';

/**
 * `floating`: the object's times are floating (RFC 5545 §3.3.5: DATE-TIME without Z and without
 * TZID — the same wall clock in whatever zone the viewer is in; lib/ical CompiledSeries.floating,
 * all-day objects are not floating). first_start/last_end of such an object hold its wall times
 * read as UTC, so its real instants lie up to 14 hours either side of them: range queries widen
 * the span of floating rows by that much (store/objects.ts rangeOverlaps) and the listing and
 * free/busy expand them in the viewer's / owner's zone.
 *
 * Existing rows are backfilled by compiling their iCalendar (exact; a SQL pattern on the text
 * would miss folded lines). Only timed rows can be floating; rows that fail to compile stay false.
 * A partial GiST index over floating rows lets the widened arm of the range predicate use an
 * index of its own (the plain arm keeps calendar_object_owner_span).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table calendar_object add column floating boolean not null default false`.execute(db);
  let after = '00000000-0000-0000-0000-000000000000';
  for (;;) {
    const r = await sql<{ id: string; ical: string }>`select id, ical from calendar_object where not all_day and id > ${after}::uuid order by id limit 500`.execute(db);
    if (!r.rows.length) break;
    const ids: string[] = [];
    for (const row of r.rows) {
      try {
        if (compileResource(row.ical).floating) ids.push(row.id);
      } catch { /* not readable: not floating */ }
    }
    if (ids.length) await sql`update calendar_object set floating = true where id = any(${ids}::uuid[])`.execute(db);
    after = r.rows[r.rows.length - 1].id;
  }
  await sql`
    create index calendar_object_floating_span on calendar_object using gist (
      owner_id, tstzrange(first_start, coalesce(last_end, 'infinity'::timestamptz), '[]')
    ) where deleted_at is null and floating
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index if exists calendar_object_floating_span`.execute(db);
  await sql`alter table calendar_object drop column if exists floating`.execute(db);
}
