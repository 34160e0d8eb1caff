/** Opens what every role needs: configuration, the database (embedded or DATABASE_URL), the secret. */
import pino, { type Logger } from 'pino';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import type { AppContext } from '../app/context.js';
import { createDb } from '../store/db.js';
import { migrateToLatest } from '../store/migrate.js';
import { startEmbedded, type EmbeddedHandle } from '../store/embedded.js';
import { loadSecret } from '../app/secret.js';
import { configureCaches } from '../store/cache.js';

export interface Runtime {
  ctx: AppContext;
  embedded: EmbeddedHandle | null;
  close(): Promise<void>;
}

export function createLogger(config: Config): Logger {
  return pino({ level: config.logLevel, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}

export async function openRuntime(config: Config, opts: { migrate: boolean; log?: Logger; poolSize?: number }): Promise<Runtime> {
  const log = opts.log ?? createLogger(config);
  configureCaches(config.authCacheMs);
  let embedded: EmbeddedHandle | null = null;
  let url = config.databaseUrl;
  if (!url) {
    embedded = await startEmbedded(join(config.dataDir), { port: config.embeddedPgPort || undefined, log: (m) => log.info({ component: 'embedded-pg' }, m) });
    url = embedded.url;
  }
  const { db, pool } = createDb(url, opts.poolSize ?? 20);
  try {
    if (opts.migrate) {
      const applied = await migrateToLatest(db, url);
      if (applied.length) log.info({ applied }, 'migrations applied');
    }
    const secret = await loadSecret(db, config.secret);
    const ctx: AppContext = { config, db, pool, connectionString: url, log, secret };
    return {
      ctx,
      embedded,
      close: async () => {
        await db.destroy();
        await embedded?.stop();
      },
    };
  } catch (e) {
    await db.destroy().catch(() => undefined);
    await embedded?.stop().catch(() => undefined);
    throw e;
  }
}
