// http/lazy-logger.ts: the per-request child logger is made only when the request logs, and then
// writes what pino's own child would (the request id bound), at the parent's level.
import { Writable } from 'node:stream';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import pino, { type Logger } from 'pino';
import { describe, expect, it } from 'vitest';
import { LazyChildLogger } from '../../src/http/lazy-logger.js';

function setup(level: string) {
  const lines: Record<string, unknown>[] = [];
  const out = new Writable({ write(chunk, _enc, cb) { for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l)); cb(); } });
  const parent = pino({ level }, out);
  let made = 0;
  const child = parent.child as unknown as (this: unknown, b: pino.Bindings, o?: pino.ChildLoggerOptions) => Logger;
  // Counts the request children (bound to a request id); pino's children inherit this method.
  parent.child = function (this: unknown, b: pino.Bindings, o?: pino.ChildLoggerOptions) { if ('reqId' in b) made++; return child.call(this, b, o); } as unknown as typeof parent.child;
  const app = Fastify({
    loggerInstance: parent as unknown as FastifyBaseLogger,
    disableRequestLogging: true,
    childLoggerFactory: (logger, bindings, opts) => new LazyChildLogger(logger as unknown as Logger, bindings, opts) as unknown as FastifyBaseLogger,
  });
  app.get('/quiet', async () => 'ok');
  app.get('/info', async (req) => { req.log.info({ a: 1 }, 'hello'); return 'ok'; });
  app.get('/warn', async (req) => { req.log.warn('careful'); req.log.child({ sub: true }).error('nested'); return 'ok'; });
  return { app, lines, made: () => made };
}

describe('LazyChildLogger', () => {
  it('makes no child for a request that does not log, and binds the request id when one does', async () => {
    const { app, lines, made } = setup('warn');
    await app.ready();
    const before = made(); // (Fastify's own, at start)
    expect((await app.inject('/quiet')).statusCode).toBe(200);
    expect((await app.inject('/info')).statusCode).toBe(200);
    expect(made()).toBe(before);
    expect(lines).toEqual([]);
    const r = await app.inject({ url: '/warn' });
    expect(r.statusCode).toBe(200);
    expect(made()).toBe(before + 1);
    expect(lines.map((l) => [l.msg, typeof l.reqId, l.sub])).toEqual([['careful', 'string', undefined], ['nested', 'string', true]]);
    expect(new Set(lines.map((l) => l.reqId)).size).toBe(1);
    await app.close();
  });

  it('at info, writes the same line a pino child would', async () => {
    const { app, lines } = setup('info');
    await app.inject('/info');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 30, a: 1, msg: 'hello', reqId: expect.any(String) });
    await app.close();
  });
});
