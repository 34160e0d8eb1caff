/** Extra HTTP surfaces mounted by the api role: CalDAV, the web UI, mail intake over HTTP. */
import type { FastifyInstance } from 'fastify';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { AppContext } from '../app/context.js';
import { davPlugin } from '../http/dav/index.js';

/** Paths that belong to the server, never to the single-page app. */
const SERVER_PATHS = /^\/(api|dav|\.well-known|healthz|readyz|metrics)(\/|$|\?)/;

export async function webPlugins(ctx: AppContext): Promise<((app: FastifyInstance) => Promise<void> | void)[]> {
  // CalDAV first: /.well-known/caldav and /dav/* (docs/clients.md).
  const plugins: ((app: FastifyInstance) => Promise<void> | void)[] = [davPlugin(ctx)];
  const webDist = resolve('web/dist');
  if (existsSync(resolve(webDist, 'index.html'))) plugins.push(webUiPlugin(webDist));
  return plugins;
}

/** Serves the built web UI: hashed assets cached for a year, index.html never cached; every other
 *  non-API GET falls back to index.html so client-side routes survive a reload. */
export function webUiPlugin(webDist: string) {
  return async (app: FastifyInstance) => {
    const serveStatic = (await import('@fastify/static')).default;
    await app.register(serveStatic, {
      root: webDist, prefix: '/', wildcard: false, index: ['index.html'],
      setHeaders: (res, path) => {
        if (/[\\/]assets[\\/]/.test(path)) res.header('cache-control', 'public, max-age=31536000, immutable');
        else res.header('cache-control', 'no-cache');
      },
    });
    app.get('/*', { config: { auth: 'none' }, schema: { hide: true } }, (req, reply) => {
      if (SERVER_PATHS.test(req.url) || /\.[a-z0-9]{1,5}$/i.test(req.url.split('?')[0])) return reply.callNotFound();
      reply.header('cache-control', 'no-cache');
      return reply.sendFile('index.html');
    });
  };
}
