import type { Logger } from 'pino';
import type pg from 'pg';
import type { Config } from '../config/schema.js';
import type { DB } from '../store/db.js';

/** What every application command needs; built once per process by the roles. */
export interface AppContext {
  config: Config;
  db: DB;
  pool: pg.Pool;
  connectionString: string;
  log: Logger;
  /** Key for signed tokens and links (CALENDULA_SECRET or generated once and kept in the database). */
  secret: string;
}
