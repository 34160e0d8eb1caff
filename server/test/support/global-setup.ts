/**
 * Test database harness. Uses the real PostgreSQL at TEST_DATABASE_URL / DATABASE_URL when set,
 * otherwise starts an embedded PostgreSQL in a temporary folder. Migrates one template database;
 * each test file clones it (CREATE DATABASE … TEMPLATE), so files never share state.
 */
import type { TestProject } from 'vitest/node';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createDb } from '../../src/store/db.js';
import { migrateToLatest } from '../../src/store/migrate.js';
import { startEmbedded, type EmbeddedHandle } from '../../src/store/embedded.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
    pgTemplate: string;
  }
}

export default async function setup(project: TestProject) {
  let embedded: EmbeddedHandle | null = null;
  let dir: string | null = null;
  let base = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;
  if (!base) {
    dir = mkdtempSync(join(tmpdir(), 'calendula-test-pg-'));
    embedded = await startEmbedded(dir, { database: 'postgres' });
    base = embedded.url;
  }
  const adminUrl = withDb(base, 'postgres');
  const template = `calendula_tpl_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await dropOld(admin);
  await admin.query(`create database ${template}`);
  const tplUrl = withDb(base, template);
  const { db } = createDb(tplUrl, 2);
  await migrateToLatest(db, tplUrl);
  await db.destroy();
  await admin.end();
  project.provide('pgAdminUrl', adminUrl);
  project.provide('pgTemplate', template);

  return async () => {
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    const rows = await c.query(`select datname from pg_database where datname like 'calendula_t%_${process.pid}%'`);
    for (const r of rows.rows) await c.query(`drop database if exists "${r.datname}" with (force)`).catch(() => undefined);
    await c.end();
    await embedded?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  };
}

export function withDb(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

/** Databases left behind by crashed earlier runs. */
async function dropOld(c: pg.Client) {
  const rows = await c.query(`select datname from pg_database where datname like 'calendula_tpl_%' or datname like 'calendula_test_%'`);
  for (const r of rows.rows) {
    const pid = Number(String(r.datname).split('_').pop());
    let alive = false;
    try { process.kill(pid, 0); alive = true; } catch { alive = false; }
    if (!alive) await c.query(`drop database if exists "${r.datname}" with (force)`).catch(() => undefined);
  }
}
