/** Per-file test context: a fresh database cloned from the migrated template, an app context, the HTTP app. */
import { inject } from 'vitest';
import pg from 'pg';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import type { AppContext } from '../../src/app/context.js';
import { createDb } from '../../src/store/db.js';
import { loadSecret } from '../../src/app/secret.js';
import { buildHttpApp } from '../../src/http/app.js';
import { withDb } from './global-setup.js';
import * as principals from '../../src/store/principals.js';
import { hashPassword } from '../../src/domain/auth/passwords.js';
import { ensureDefaultCalendar } from '../../src/app/calendars.js';
import { configureCaches } from '../../src/store/cache.js';

let counter = 0;

export interface TestEnv {
  ctx: AppContext;
  app: FastifyInstance;
  url: string;
  close(): Promise<void>;
}

export async function createTestDatabase(): Promise<string> {
  const adminUrl = inject('pgAdminUrl');
  const template = inject('pgTemplate');
  // Unique across the test worker processes (two files may start in the same millisecond).
  const name = `calendula_test_${Date.now().toString(36)}${(counter++).toString(36)}_${process.pid.toString(36)}${Math.random().toString(36).slice(2, 6)}_${template.split('_').pop()}`;
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  // CREATE DATABASE … TEMPLATE needs the template to have no other sessions; retry briefly.
  for (let i = 0; ; i++) {
    try {
      await c.query(`create database "${name}" template ${template}`);
      break;
    } catch (e) {
      if (i > 50) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await c.end();
  return withDb(adminUrl, name);
}

export async function createTestEnv(overrides: Partial<Config> = {}, opts: { dav?: boolean } = {}): Promise<TestEnv> {
  const url = await createTestDatabase();
  const config = loadConfig({}, { argonMemoryKib: 1024, argonTime: 1, logLevel: 'silent', authCacheMs: 0, dataDir: '/tmp/calendula-test-data', ...overrides });
  configureCaches(config.authCacheMs);
  const { db, pool } = createDb(url, 10);
  const log = pino({ level: process.env.TEST_LOG ?? 'silent' });
  const secret = await loadSecret(db, 'test-secret-key-0123456789');
  const ctx: AppContext = { config, db, pool, connectionString: url, log, secret };
  const plugins = opts.dav ? [(await import('../../src/http/dav/index.js')).davPlugin(ctx)] : [];
  const app = await buildHttpApp(ctx, { plugins });
  await app.ready();
  return {
    ctx, app, url,
    close: async () => {
      await app.close();
      await db.destroy();
    },
  };
}

export async function makeUser(ctx: AppContext, email: string, opts: { admin?: boolean; password?: string; name?: string; kind?: 'user' | 'group' | 'room' } = {}) {
  const row = await principals.insertPrincipal(ctx.db, {
    kind: opts.kind ?? 'user', email, name: opts.name ?? email.split('@')[0], isAdmin: !!opts.admin,
    passwordHash: await hashPassword(opts.password ?? 'password123', { memoryCost: 1024, timeCost: 1 }),
  });
  if (row.kind !== 'group') await ensureDefaultCalendar(ctx, row);
  return row;
}

/** Signs in over HTTP and returns headers that authenticate later requests (cookie + CSRF). */
export async function signInHeaders(app: FastifyInstance, email: string, password = 'password123'): Promise<Record<string, string>> {
  const res = await app.inject({ method: 'POST', url: '/api/v1/session', payload: { email, password } });
  if (res.statusCode !== 200) throw new Error(`sign-in failed for ${email}: ${res.statusCode} ${res.body}`);
  const cookies = res.cookies.map((c) => `${c.name}=${c.value}`).join('; ');
  return { cookie: cookies, 'x-csrf-token': res.json().csrfToken };
}

/** Runs the real job worker against the test database (stop it in afterAll). */
export async function startTestWorker(env: TestEnv, concurrency = 4) {
  const { startWorker } = await import('../../src/jobs/queue.js');
  const { jobHandlers } = await import('../../src/jobs/handlers.js');
  const { startReminderSweeper } = await import('../../src/app/notify/reminders.js');
  const worker = await startWorker({ connectionString: env.url, handlers: jobHandlers(env.ctx), concurrency, log: env.ctx.log });
  // As in the worker role: the reminder sweeper runs next to the job queue.
  const sweeper = startReminderSweeper(env.ctx, { pollMs: 100 });
  return { stop: async () => { await sweeper.stop(); await worker.stop(); } };
}

/** Polls until the predicate holds (or fails after the timeout). */
export async function eventually<T>(fn: () => Promise<T | undefined | null | false>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs `fn` while recording the SQL text of every statement any pg client sends; the texts and fn's result. */
export async function recordStatements<T>(fn: () => Promise<T>): Promise<{ seen: string[]; result: T }> {
  const seen: string[] = [];
  const orig = pg.Client.prototype.query;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const q = args[0] as string | { text?: string };
    const text = typeof q === 'string' ? q : q?.text;
    if (text) seen.push(text);
    return (orig as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof orig;
  try {
    return { seen, result: await fn() };
  } finally {
    pg.Client.prototype.query = orig;
  }
}
