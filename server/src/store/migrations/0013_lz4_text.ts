import { sql, type Kysely } from 'kysely';

/**
 * The iCalendar texts (≈ 2 KB, written once per copy: 11 rows for an event with 10 internal
 * attendees) are compressed inline by TOAST; PostgreSQL's default pglz costs ≈ 7 µs more per row
 * than lz4 (measured on calendar_object rows, docs/benchmarks.md). lz4 needs a server built with
 * it (--with-lz4, as Debian's and the official images are); on one without, the columns keep the
 * default (the statement's error is caught and reported as a notice). Existing values are not
 * rewritten: both methods are read transparently, a row is compressed anew only when written.
 */
const COLUMNS: Array<[string, string]> = [
  ['calendar_object', 'ical'],
  ['calendar_object', 'description'],
  ['itip_message', 'ical'],
];

export async function up(db: Kysely<unknown>): Promise<void> {
  const stmts = COLUMNS.map(([t, c]) => `alter table ${t} alter column ${c} set compression lz4`);
  await sql.raw(`do $$
    begin
      ${stmts.map((s) => `execute '${s}';`).join('\n      ')}
    exception when others then
      raise notice 'lz4 compression not available (%), the text columns keep the default', sqlerrm;
    end $$`).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  const stmts = COLUMNS.map(([t, c]) => `alter table ${t} alter column ${c} set compression default`);
  await sql.raw(`do $$ begin ${stmts.map((s) => `execute '${s}';`).join(' ')} exception when others then null; end $$`).execute(db);
}
