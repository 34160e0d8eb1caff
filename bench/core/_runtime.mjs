// Shared set-up of the in-process profiling scripts (_profile, _stages, _create-profile): a kept
// database of their own on DATABASE_URL's server (created when missing), the built server's modules,
// and an open runtime on that database.
import pg from 'pg';
import { root } from '../platform/_server.mjs';

/** Imports a module of the built server (dist/). */
export const dist = (p) => import(`${root}/dist/server/src/${p}`);

export async function openProfileRuntime(dbName, { migrate = true } = {}) {
  const base = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const url = new URL(base);
  url.pathname = `/${dbName}`;
  const c = new pg.Client({ connectionString: base });
  await c.connect();
  if (!(await c.query('select 1 from pg_database where datname = $1', [dbName])).rowCount) await c.query(`create database "${dbName}"`);
  await c.end();
  process.env.DATABASE_URL = url.href;
  process.env.LOG_LEVEL = 'warn';
  const { loadConfig } = await dist('config/load.js');
  const { openRuntime } = await dist('roles/runtime.js');
  const rt = await openRuntime(loadConfig(), { migrate });
  return { rt, ctx: rt.ctx, url: url.href };
}

export const DAY = 86_400_000;

/** Deterministic random day starts between 150 days ago and 130 days ahead (what events.mjs lists). */
export function rangeStarts(now = Date.now()) {
  let x = 42;
  const rnd = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  return () => new Date(Math.floor((now - 150 * DAY + rnd() * 280 * DAY) / DAY) * DAY);
}
