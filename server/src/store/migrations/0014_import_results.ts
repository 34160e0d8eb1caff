import { sql, type Kysely } from 'kysely';

/**
 * The per-item result of an import (GET /imports/:id/items): every item of the file with what
 * happened to it — created, updated (its UID was in the calendar) or failed, with the reason.
 * Written once, when the import ends; progress is in the counters meanwhile.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table import_run add column results jsonb, add column created integer not null default 0, add column updated integer not null default 0`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table import_run drop column results, drop column created, drop column updated`.execute(db);
}
