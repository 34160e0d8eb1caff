/**
 * Named prepared statements for the hottest CalDAV reads, run without a Describe.
 *
 * node-postgres sends Parse (once per connection), Bind, Describe, Execute, Sync for every named
 * query, so PostgreSQL answers every execution with a RowDescription — for the 45-column request
 * lookup (store/dav-lookup.ts) that message cost more to build, send, parse and turn into type
 * parsers (pg's Result#addFields) than the row itself. A statement's result columns cannot change
 * while it stays prepared, so here the first execution in the process goes through pg's ordinary
 * path (which also learns the column types) and later ones send only Bind, Execute, Sync: the
 * DataRows that come back are decoded by position with the same type parsers pg would pick
 * (pg.types, text format), so the rows are exactly what `rowMode: 'array'` would have given.
 */
import { createRequire } from 'node:module';
import pg from 'pg';

const require = createRequire(import.meta.url);
const { prepareValue } = require('pg/lib/utils.js') as { prepareValue: (v: unknown) => unknown };

export interface Prepared {
  /** Unique per statement text (as for any pg named query). */
  name: string;
  text: string;
}

type Parser = (text: string) => unknown;
const identity = (s: string) => s;
const TIMESTAMPTZ = 1184;

/**
 * A timestamptz column's parser that remembers its last value: the request lookup reads the same
 * principal's and calendar's timestamps request after request, and parsing one costs ~3 µs, a
 * copy ~0.05 µs. Each call still returns a new Date (callers may mutate theirs).
 */
function rememberLastDate(parse: Parser): Parser {
  let lastText: string | undefined;
  let lastMs = 0;
  return (text) => {
    if (text === lastText) return new Date(lastMs);
    const d = parse(text);
    if (d instanceof Date && !Number.isNaN(d.getTime())) {
      lastText = text;
      lastMs = d.getTime();
    }
    return d;
  };
}

/** The text-format parsers of each statement's result columns, learnt from its first execution. */
const columnParsers = new Map<string, Parser[]>();

// What this module touches of pg's connection and client (stable since pg 8.0).
interface PgConnection {
  stream: { cork?: () => void; uncork?: () => void };
  parsedStatements: Record<string, string>;
  submittedNamedStatements: Record<string, string>;
  parse(q: { text: string; name: string }): void;
  bind(c: { statement: string; values: unknown[]; valueMapper: (v: unknown) => unknown }): void;
  execute(c: { portal: string }): void;
  sync(): void;
  sendCopyFail(msg: string): void;
}

/** A pg "submittable": Parse when this connection has not got the statement, then Bind, Execute, Sync. */
class DescribelessQuery {
  callback?: (err: Error | null, rows?: unknown[][]) => void;
  private readonly rows: unknown[][] = [];
  private failed = false;

  constructor(readonly name: string, readonly text: string, readonly values: unknown[], private readonly parsers: Parser[]) {}

  submit(connection: PgConnection): Error | null {
    const previous = connection.parsedStatements[this.name] ?? connection.submittedNamedStatements[this.name];
    if (previous !== undefined && previous !== this.text) return new Error(`Prepared statements must be unique - '${this.name}' was used for a different statement`);
    connection.stream.cork?.();
    try {
      if (previous === undefined) {
        connection.parse({ text: this.text, name: this.name });
        connection.submittedNamedStatements[this.name] = this.text;
      }
      try {
        connection.bind({ statement: this.name, values: this.values, valueMapper: prepareValue });
      } catch (e) {
        connection.sync();
        this.handleError(e as Error);
        return null;
      }
      connection.execute({ portal: '' });
      connection.sync();
    } finally {
      connection.stream.uncork?.();
    }
    return null;
  }

  handleDataRow(msg: { fields: (string | null)[] }) {
    const fields = msg.fields;
    const p = this.parsers;
    const row = new Array<unknown>(fields.length);
    for (let i = 0; i < fields.length; i++) {
      const v = fields[i];
      const parse = p[i];
      row[i] = v === null || v === undefined ? null : parse === undefined || parse === identity ? v : parse(v);
    }
    this.rows.push(row);
  }

  handleError(err: Error) {
    if (this.failed) return;
    this.failed = true;
    this.callback?.(err);
  }

  handleReadyForQuery() {
    if (!this.failed) this.callback?.(null, this.rows);
  }

  // Never sent for this flow (no Describe, no portal row limit, no COPY), but pg's client may call them.
  handleRowDescription() {}
  handleCommandComplete() {}
  handleEmptyQuery() {}
  handlePortalSuspended() {}
  handleCopyInResponse(connection: PgConnection) {
    connection.sendCopyFail('No source stream defined');
  }
  handleCopyData() {}
}

/**
 * Run a prepared statement and return its rows as arrays, decoded as pg's `rowMode: 'array'` does.
 * (The first run in the process is an ordinary pg query, which learns the column types.)
 */
export async function queryPrepared(pool: pg.Pool, stmt: Prepared, values: unknown[]): Promise<unknown[][]> {
  const parsers = columnParsers.get(stmt.name);
  if (!parsers) {
    const r = await pool.query<unknown[]>({ name: stmt.name, text: stmt.text, values, rowMode: 'array' });
    columnParsers.set(stmt.name, r.fields.map((f) => {
      const p = pg.types.getTypeParser(f.dataTypeID, 'text') as Parser;
      // Text-like columns need no call per value (pg's own parser for them is String()).
      if (f.dataTypeID === 25 || f.dataTypeID === 1043 || f.dataTypeID === 2950) return identity;
      return f.dataTypeID === TIMESTAMPTZ ? rememberLastDate(p) : p;
    }));
    return r.rows;
  }
  // pg's Pool accepts any object with submit() (as pg-cursor does): it sets the query's callback
  // (which releases the client) and resolves with what the query passes to it.
  return (pool as unknown as { query: (q: DescribelessQuery) => Promise<unknown[][]> }).query(new DescribelessQuery(stmt.name, stmt.text, values, parsers));
}
