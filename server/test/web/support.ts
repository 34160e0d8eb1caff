/** Browser end-to-end support: builds web/dist when stale, starts the real HTTP app with the web UI
 *  and a job worker on a random port, and launches Debian's chromium through playwright-core. */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { execSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { loadConfig } from '../../src/config/load.js';
import type { AppContext } from '../../src/app/context.js';
import { createDb } from '../../src/store/db.js';
import { loadSecret } from '../../src/app/secret.js';
import { buildHttpApp } from '../../src/http/app.js';
import { webUiPlugin } from '../../src/roles/web-plugins.js';
import { createTestDatabase } from '../support/harness.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

function newest(dir: string): number {
  let t = 0;
  if (!existsSync(dir)) return 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (p.includes('node_modules') || p.startsWith(join('web', 'dist'))) continue;
    const s = statSync(p);
    t = Math.max(t, s.isDirectory() ? newest(p) : s.mtimeMs);
  }
  return t;
}

/** Builds the web UI when a source under web/ is newer than web/dist/index.html. */
export function ensureWebBuilt(): void {
  const built = existsSync('web/dist/index.html') ? statSync('web/dist/index.html').mtimeMs : 0;
  // NODE_ENV=production: under vitest NODE_ENV is "test", and Vite would bundle React's development build.
  if (newest('web') > built) execSync('npx vite build web --logLevel warn', { stdio: 'inherit', env: { ...process.env, NODE_ENV: 'production' } });
}

export interface WebEnv { ctx: AppContext; app: FastifyInstance; base: string; close(): Promise<void> }

export async function startWebEnv(): Promise<WebEnv> {
  ensureWebBuilt();
  const url = await createTestDatabase();
  const config = loadConfig({}, { argonMemoryKib: 1024, argonTime: 1, logLevel: 'silent', dataDir: '/tmp/calendula-test-data', notifyCoalesceSeconds: 0 } as never);
  const { db, pool } = createDb(url, 10);
  const log = pino({ level: process.env.TEST_LOG ?? 'silent' });
  const secret = await loadSecret(db, 'test-secret-key-0123456789');
  const ctx: AppContext = { config, db, pool, connectionString: url, log, secret };
  const app = await buildHttpApp(ctx, { plugins: [webUiPlugin(resolve('web/dist'))] });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  const base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  // The worker delivers invitations and replies between users (schedule-deliver jobs).
  const { startWorker } = await import('../../src/jobs/queue.js');
  const { jobHandlers } = await import('../../src/jobs/handlers.js');
  const worker = await startWorker({ connectionString: url, handlers: jobHandlers(ctx), concurrency: 4, log });
  return {
    ctx, app, base,
    close: async () => {
      await worker.stop();
      await app.close();
      await db.destroy();
    },
  };
}

export async function launch(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

export async function signedIn(browser: Browser, base: string, email: string, opts: { locale?: string; width?: number; height?: number } = {}): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: opts.width ?? 1280, height: opts.height ?? 860 }, locale: opts.locale ?? 'en-GB', timezoneId: 'UTC' });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error(`[${email}] pageerror: ${e.message}`));
  await page.goto(base + '/');
  const ru = (opts.locale ?? '').startsWith('ru');
  await page.getByLabel(ru ? 'Эл. почта' : 'E-mail').fill(email);
  await page.getByLabel(ru ? 'Пароль' : 'Password').fill('password123');
  await page.getByRole('button', { name: ru ? 'Войти' : 'Sign in', exact: true }).click();
  await page.waitForSelector('.fc-view-harness');
  return { context, page };
}
