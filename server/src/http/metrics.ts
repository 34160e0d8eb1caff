import type { FastifyInstance } from 'fastify';
import client from 'prom-client';
import type { AppContext } from '../app/context.js';
import { queueDepth } from '../jobs/queue.js';
import { listingMemoStats } from '../app/events/listing-memo.js';

/** Prometheus metrics: HTTP latency by route, DB pool, job queue depth. */
export function registerMetrics(app: FastifyInstance, ctx: AppContext) {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const http = new client.Histogram({
    name: 'calendula_http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  new client.Gauge({
    name: 'calendula_db_pool_connections', help: 'PostgreSQL pool connections', labelNames: ['state'], registers: [registry],
    collect() {
      this.set({ state: 'total' }, ctx.pool.totalCount);
      this.set({ state: 'idle' }, ctx.pool.idleCount);
      this.set({ state: 'waiting' }, ctx.pool.waitingCount);
    },
  });
  new client.Gauge({
    name: 'calendula_jobs', help: 'Jobs in the queue by state', labelNames: ['state'], registers: [registry],
    async collect() {
      try {
        const d = await queueDepth(ctx.db);
        this.set({ state: 'ready' }, d.ready);
        this.set({ state: 'scheduled' }, d.scheduled);
        this.set({ state: 'failed' }, d.failed);
      } catch { /* queue schema missing: nothing to report */ }
    },
  });
  new client.Gauge({
    name: 'calendula_listing_memo', help: 'Listing memo (GET /events): entries, estimated bytes, builds running; requests served from it or directly since start', labelNames: ['state'], registers: [registry],
    collect() {
      const s = listingMemoStats();
      this.set({ state: 'entries' }, s.entries);
      this.set({ state: 'bytes' }, s.estimatedBytes);
      this.set({ state: 'building' }, s.building);
      this.set({ state: 'hits' }, s.hits);
      this.set({ state: 'direct' }, s.direct);
    },
  });
  // Requests answered before Fastify (app.ts front handlers) report here.
  app.decorate('observeHttp', (method: string, route: string, status: number, seconds: number) => http.observe({ method, route, status: String(status) }, seconds));
  app.addHook('onResponse', (req, reply, done) => {
    const route = req.routeOptions.url ?? 'unmatched';
    http.observe({ method: req.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
    done();
  });
  app.get('/metrics', { config: { auth: 'none' }, schema: { hide: true } }, async (_req, reply) => {
    reply.type(registry.contentType);
    return registry.metrics();
  });
}
