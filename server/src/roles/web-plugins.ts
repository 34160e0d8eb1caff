/** Extra HTTP surfaces mounted by the api role: CalDAV, the web UI, mail intake over HTTP. */
import type { FastifyInstance } from 'fastify';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { AppContext } from '../app/context.js';

export async function webPlugins(_ctx: AppContext): Promise<((app: FastifyInstance) => Promise<void> | void)[]> {
  const plugins: ((app: FastifyInstance) => Promise<void> | void)[] = [];
  const webDist = resolve('web/dist');
  if (existsSync(webDist)) {
    const serveStatic = (await import('@fastify/static')).default;
    plugins.push(async (app) => {
      await app.register(serveStatic, { root: webDist, prefix: '/', wildcard: false });
      // Client-side routes fall back to index.html.
      app.get('/app/*', { config: { auth: 'none' }, schema: { hide: true } }, (_req, reply) => reply.sendFile('index.html'));
    });
  }
  return plugins;
}
