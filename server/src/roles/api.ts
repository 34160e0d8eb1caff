import type { AppContext } from '../app/context.js';
import type { RunningRole } from './index.js';
import { buildHttpApp } from '../http/app.js';
import { webPlugins } from './web-plugins.js';

export async function start(ctx: AppContext): Promise<RunningRole> {
  const app = await buildHttpApp(ctx, { plugins: await webPlugins(ctx) });
  await app.listen({ port: ctx.config.port, host: ctx.config.host });
  return {
    name: 'api',
    // Fastify's close stops accepting, lets in-flight requests finish, then resolves.
    stop: async () => { await app.close(); },
  };
}
