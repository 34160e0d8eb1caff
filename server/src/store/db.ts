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

/**
 * Writes completed by this process (store/change-feed.ts): bumped when a statement that may have
 * committed a change finishes — an INSERT, UPDATE, DELETE, MERGE, TRUNCATE or a WITH holding one
 * outside a transaction block, and every COMMIT (a statement inside a transaction is counted
 * again by its COMMIT). Reads served from a process-local cache compare it with what they have
 * fenced (change-feed.ts), so this process's own writes are seen by its next read.
 */
let completedWrites = 0;
export const writesCompleted = () => completedWrites;
const NOT_A_WRITE = /^\s*(?:\/\*(?:[^*]|\*(?!\/))*\*\/\s*)?(?:select|show|begin|start|rollback|savepoint|release|set|listen|unlisten|values|explain|analyze|prepare|deallocate)\b/i;
const WRITE_WORD = /\b(?:insert|update|delete|merge|truncate)\b/i;
/** Whether a statement may have committed a change to tables when it completes (see completedWrites). */
export function mayCommitWrite(text: string): boolean {
  if (NOT_A_WRITE.test(text)) return false;
  if (/^\s*(?:\/\*(?:[^*]|\*(?!\/))*\*\/\s*)?with\b/i.test(text)) return WRITE_WORD.test(text);
  return true;
}
const writeCompleted = () => { completedWrites++; };

function preparingClient(client: pg.PoolClient): void {
  (client as unknown as { query: QueryFn }).query = function (this: pg.PoolClient, config: unknown, values?: unknown, cb?: unknown) {
    // The class's method, looked up per call (tests wrap pg.Client.prototype.query to record statements).
    const query = (Object.getPrototypeOf(this) as { query: QueryFn }).query;
    const text = typeof config === 'string' ? config : (config as { text?: unknown; submit?: unknown } | null)?.submit ? undefined : (config as { text?: unknown } | null)?.text;
    const write = typeof text === 'string' && mayCommitWrite(text);
    if (typeof config === 'string' && config.startsWith(PREFIX) && typeof cb !== 'function' && (values === undefined || Array.isArray(values))) {
      const end = config.indexOf('*/', PREFIX.length);
      if (end > 0) config = { name: config.slice(PREFIX.length, end), text: config, values: values ?? [] };
    }
    if (!write) return query.call(this, config, values, cb);
    // Counted when it completes: the counter must not move before the change is committed.
    if (typeof cb === 'function') return query.call(this, config, values, (err: unknown, res: unknown) => { if (!err) writeCompleted(); (cb as (e: unknown, r: unknown) => void)(err, res); });
    if (typeof values === 'function') return query.call(this, config, (err: unknown, res: unknown) => { if (!err) writeCompleted(); (values as (e: unknown, r: unknown) => void)(err, res); });
    const out = query.call(this, config, values, cb) as Promise<unknown> | undefined;
    if (!out || typeof out.then !== 'function') return out;
    return out.then((r) => { writeCompleted(); return r; });
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
