import { Kysely, Migrator, type Migration, type MigrationProvider } from 'kysely';
import * as m0001 from './migrations/0001_platform.js';
import * as m0002 from './migrations/0002_events.js';
import * as m0004 from './migrations/0004_bot.js';
import * as m0003 from './migrations/0003_mail.js';
import * as m0005 from './migrations/0005_range_index.js';
import * as m0006 from './migrations/0006_owner_span_index.js';
import * as m0007 from './migrations/0007_dead_props.js';
import * as m0008 from './migrations/0008_itip_message.js';
import * as m0009 from './migrations/0009_reminder.js';
import * as m0010 from './migrations/0010_floating.js';
import * as m0011 from './migrations/0011_dav_change_notify.js';
import * as m0012 from './migrations/0012_zoned_span.js';
import * as m0013 from './migrations/0013_lz4_text.js';
import * as m0014 from './migrations/0014_import_results.js';

/** Migrations are listed in code (not read from a folder) so the build needs no file copying. */
const migrations: Record<string, Migration> = {
  '0001_platform': m0001,
  '0002_events': m0002,
  '0004_bot': m0004,
  '0003_mail': m0003,
  '0005_range_index': m0005,
  '0006_owner_span_index': m0006,
  '0007_dead_props': m0007,
  '0008_itip_message': m0008,
  '0009_reminder': m0009,
  '0010_floating': m0010,
  '0011_dav_change_notify': m0011,
  '0012_zoned_span': m0012,
  '0013_lz4_text': m0013,
  '0014_import_results': m0014,
};

class ListProvider implements MigrationProvider {
  async getMigrations() {
    return migrations;
  }
}

export const latestMigration = Object.keys(migrations).sort().at(-1)!;

export async function migrateToLatest(db: Kysely<any>, connectionString: string): Promise<string[]> {
  const migrator = new Migrator({ db, provider: new ListProvider() });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  // The job queue keeps its own schema; graphile-worker migrates it.
  const { runMigrations } = await import('graphile-worker');
  await runMigrations({ connectionString });
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

export async function migrationsApplied(db: Kysely<any>): Promise<boolean> {
  const migrator = new Migrator({ db, provider: new ListProvider() });
  const list = await migrator.getMigrations();
  return list.every((m) => m.executedAt);
}

