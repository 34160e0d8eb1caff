import { sql } from 'kysely';
import type { DB } from '../store/db.js';
import { randomSecret } from '../domain/auth/secrets.js';

/** The signing key: from configuration, or generated once and shared by every process through the database. */
export async function loadSecret(db: DB, configured?: string): Promise<string> {
  if (configured) return configured;
  await sql`insert into server_secret (name, value) values ('signing', ${randomSecret(48)}) on conflict (name) do nothing`.execute(db);
  const row = await db.selectFrom('server_secret').select('value').where('name', '=', 'signing').executeTakeFirstOrThrow();
  return row.value;
}
