import { Kysely, PostgresDialect, sql, type RawBuilder } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';

// bigint columns (sync sequences) come back as strings; timestamps as Date.
export type DB = Kysely<Database>;

/**
 * Statements whose text begins with the comment `prepared(name)` makes run as named
 * prepared statements on the connection that runs them: PostgreSQL parses and analyses the text
 * once per connection and can keep its plan, instead of parsing and planning it again for every
 * execution (what an unnamed statement costs). For hot statements with a fixed text only: the
 * name must always go with the same text (pg refuses a name reused for another text), so texts
 * that vary (IN lists of varying length) must not carry it — use `= any($1::type[])` instead.
 */
const PREFIX = '/*prepared:';

type QueryFn = (config: unknown, values?: unknown, cb?: unknown) => unknown;
function preparingClient(client: pg.PoolClient): void {
  (client as unknown as { query: QueryFn }).query = function (this: pg.PoolClient, config: unknown, values?: unknown, cb?: unknown) {
    // The class's method, looked up per call (tests wrap pg.Client.prototype.query to record statements).
    const query = (Object.getPrototypeOf(this) as { query: QueryFn }).query;
    if (typeof config === 'string' && config.startsWith(PREFIX) && typeof cb !== 'function' && (values === undefined || Array.isArray(values))) {
      const end = config.indexOf('*/', PREFIX.length);
      if (end > 0) return query.call(this, { name: config.slice(PREFIX.length, end), text: config, values: values ?? [] });
    }
    return query.call(this, config, values, cb);
  };
}

/**
 * The comment that makes a statement a named prepared statement (see PREFIX); it must come first:
 * sql`${prepared('name')}select …`. The name must be unique to the statement's text.
 */
export function prepared(name: string): RawBuilder<unknown> {
  return sql.raw(`${PREFIX}${name}*/ `);
}

export function createDb(connectionString: string, max = 20): { db: DB; pool: pg.Pool } {
  const pool = new pg.Pool({ connectionString, max, idleTimeoutMillis: 30_000 });
  pool.on('error', () => undefined); // a dropped idle client must not crash the process
  pool.on('connect', (client) => preparingClient(client));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, pool };
}
