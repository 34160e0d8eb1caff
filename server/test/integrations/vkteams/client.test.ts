import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BotApiClient, BotApiError, type BotLogger } from '../../../src/integrations/vkteams/client.js';
import { parseJsonPreservingBigInts } from '../../../src/integrations/vkteams/json.js';
import { BotApiSimulator } from '../../support/vkteams/simulator.js';

function memLogger() {
  const lines: { level: string; obj: object; msg: string }[] = [];
  const mk = (level: string) => (obj: object, msg: string) => { lines.push({ level, obj, msg }); };
  const logger: BotLogger = { debug: mk('debug'), info: mk('info'), warn: mk('warn'), error: mk('error') };
  return { logger, lines };
}

describe('BotApiClient against the simulator', () => {
  let sim: BotApiSimulator;
  let client: BotApiClient;
  let log: ReturnType<typeof memLogger>;
  beforeEach(async () => {
    sim = await BotApiSimulator.start({ chats: ['alice@corp.example'] });
    log = memLogger();
    client = new BotApiClient({ baseUrl: sim.baseUrl, token: sim.token, logger: log.logger, retry: { attempts: 4, baseDelayMs: 20 } });
  });
  afterEach(async () => { await sim.close(); });

  it('self/get returns the bot identity', async () => {
    expect(await client.selfGet()).toMatchObject({ userId: '1000003205', nick: 'calendula_bot' });
  });

  it('a bad token fails clearly with the API description, without retries', async () => {
    const bad = new BotApiClient({ baseUrl: sim.baseUrl, token: 'nope', logger: log.logger, retry: { attempts: 4, baseDelayMs: 1 } });
    const err = await bad.selfGet().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BotApiError);
    expect(err).toMatchObject({ kind: 'api', description: 'Invalid token', method: 'self/get', retryable: false });
    expect((err as Error).message).toBe('VK Teams Bot API self/get failed: Invalid token');
    expect(sim.requests.filter((r) => r.method === 'self/get')).toHaveLength(1);
    expect(log.lines.some((l) => l.level === 'error' && l.msg.includes('Invalid token'))).toBe(true);
    expect(JSON.stringify(log.lines)).not.toContain('nope'); // token never logged
  });

  it('sends HTML text with a keyboard, edits it, and keeps msgId as an exact string', async () => {
    const keyboard = [[
      { text: 'Accept', callbackData: 'tokA', style: 'primary' as const },
      { text: 'Maybe', callbackData: 'tokT', style: 'base' as const },
      { text: 'Decline', callbackData: 'tokD', style: 'attention' as const },
    ]];
    const { msgId } = await client.sendText({ chatId: 'alice@corp.example', text: '<b>Hi</b> &amp; bye', parseMode: 'HTML', inlineKeyboardMarkup: keyboard });
    expect(typeof msgId).toBe('string');
    expect(BigInt(msgId) > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(sim.sent[0]).toMatchObject({ kind: 'send', chatId: 'alice@corp.example', msgId, text: '<b>Hi</b> &amp; bye', parseMode: 'HTML', keyboard });
    expect(sim.requests[0].httpMethod).toBe('GET');

    await client.editText({ chatId: 'alice@corp.example', msgId, text: 'Accepted', parseMode: 'HTML', inlineKeyboardMarkup: [] });
    expect(sim.sent[1]).toMatchObject({ kind: 'edit', msgId, text: 'Accepted', keyboard: [] });
  });

  it('preserves the digits of a msgId sent as a bare JSON number', async () => {
    const bare = await BotApiSimulator.start({ bareNumericMsgIds: true, chats: ['bob@corp.example'] });
    try {
      const c = new BotApiClient({ baseUrl: bare.baseUrl, token: bare.token });
      const { msgId } = await c.sendText({ chatId: 'bob@corp.example', text: 'x' });
      expect(msgId).toBe(bare.sent[0].msgId);
      expect(String(Number(msgId))).not.toBe(msgId); // would have been corrupted by plain JSON.parse
      bare.emitCallbackQuery('bob@corp.example', msgId, 'cb');
      const [ev] = await c.getEvents({ lastEventId: 0, pollTime: 1 });
      expect(ev.type === 'callbackQuery' && ev.payload.message.msgId).toBe(msgId);
    } finally { await bare.close(); }
  });

  it('json: unsafe integers become exact strings, digits inside strings untouched', () => {
    expect(parseJsonPreservingBigInts('{"a":7513183580768441700,"b":"x 7513183580768441700 \\" 9","c":-12,"d":1.5e3,"e":[9007199254740993]}'))
      .toEqual({ a: '7513183580768441700', b: 'x 7513183580768441700 " 9', c: -12, d: 1500, e: ['9007199254740993'] });
  });

  it('unknown chat is an API error, not retried', async () => {
    const err = await client.sendText({ chatId: 'stranger@corp.example', text: 'x' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'api', description: 'Chat not found' });
    expect(sim.requests).toHaveLength(1);
  });

  it('answers a callback query', async () => {
    const { msgId } = await client.sendText({ chatId: 'alice@corp.example', text: 'x' });
    const { queryId } = sim.emitCallbackQuery('alice@corp.example', msgId, 'tok');
    await client.answerCallbackQuery({ queryId, text: 'Accepted ✓', showAlert: false });
    expect(sim.answeredQueries).toMatchObject([{ queryId, text: 'Accepted ✓', showAlert: false }]);
  });

  it('long poll returns as soon as an event is emitted, and empty after pollTime', async () => {
    let t0 = Date.now();
    const pending = client.getEvents({ lastEventId: 0, pollTime: 5 });
    setTimeout(() => sim.emitNewMessage('alice@corp.example', '/start'), 150);
    const events = await pending;
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(120);
    expect(took).toBeLessThan(2000);
    expect(events).toHaveLength(1);
    const e = events[0];
    expect(e.type).toBe('newMessage');
    if (e.type !== 'newMessage') throw new Error();
    expect(e.payload).toMatchObject({ text: '/start', chat: { chatId: 'alice@corp.example', type: 'private' }, from: { userId: 'alice@corp.example' } });
    expect(typeof e.payload.msgId).toBe('string');

    t0 = Date.now();
    expect(await client.getEvents({ lastEventId: e.eventId, pollTime: 1 })).toEqual([]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
  });

  it('callbackQuery events are typed per the docs', async () => {
    const { msgId } = await client.sendText({ chatId: 'alice@corp.example', text: 'invite' });
    const { queryId } = sim.emitCallbackQuery('alice@corp.example', msgId, 'tokA');
    const [e] = await client.getEvents({ lastEventId: 0, pollTime: 1 });
    if (e.type !== 'callbackQuery') throw new Error(`got ${e.type}`);
    expect(e.payload).toMatchObject({
      queryId, callbackData: 'tokA', from: { userId: 'alice@corp.example' },
      chat: { chatId: 'alice@corp.example' }, message: { msgId, text: 'invite' },
    });
  });

  it('getEvents times out on its own if the server holds the poll longer than pollTime + margin', async () => {
    const c = new BotApiClient({ baseUrl: sim.baseUrl, token: sim.token, pollTimeoutMarginMs: 100 });
    // Ask for pollTime=0 on the client but make the server hold: use a fetch that rewrites pollTime.
    const slow: typeof fetch = (u, init) => fetch(String(u).replace('pollTime=0', 'pollTime=5'), init);
    const c2 = new BotApiClient({ baseUrl: sim.baseUrl, token: sim.token, pollTimeoutMarginMs: 200, fetch: slow });
    const t0 = Date.now();
    const err = await c2.getEvents({ lastEventId: 0, pollTime: 0 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'timeout', retryable: true });
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(await c.getEvents({ lastEventId: 0, pollTime: 0 })).toEqual([]);
  });

  it('abort stops a long poll promptly', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ac.abort(), 100);
    const err = await client.getEvents({ lastEventId: 0, pollTime: 30, signal: ac.signal }).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'aborted' });
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('an outage during sending is retried with back-off and succeeds after recovery', async () => {
    sim.setOutage(true);
    setTimeout(() => sim.setOutage(false), 120);
    const c = new BotApiClient({ baseUrl: sim.baseUrl, token: sim.token, logger: log.logger, retry: { attempts: 8, baseDelayMs: 40 } });
    const { msgId } = await c.sendText({ chatId: 'alice@corp.example', text: 'after outage' });
    expect(sim.sent).toMatchObject([{ msgId, text: 'after outage' }]);
    const statuses = sim.requests.map((r) => r.status);
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThanOrEqual(1);
    expect(statuses[statuses.length - 1]).toBe(200);
    expect(log.lines.some((l) => l.level === 'warn' && l.msg.includes('retrying'))).toBe(true);
  });

  it('gives up after the configured attempts, with the last status', async () => {
    sim.setOutage({ status: 502 });
    const err = await client.sendText({ chatId: 'alice@corp.example', text: 'x' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'http', status: 502, attempts: 4 });
    expect(sim.requests).toHaveLength(4);
  });

  it('respects Retry-After on 429', async () => {
    sim.setOutage({ status: 429, retryAfter: 1 });
    setTimeout(() => sim.setOutage(false), 50);
    const t0 = Date.now();
    await client.sendText({ chatId: 'alice@corp.example', text: 'x' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950); // base delay is 20 ms; Retry-After says 1 s
    expect(sim.requests.map((r) => r.status)).toEqual([429, 200]);
  });

  it('4xx is not retried', async () => {
    sim.setOutage({ status: 400 });
    const err = await client.sendText({ chatId: 'alice@corp.example', text: 'x' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'http', status: 400, retryable: false });
    expect(sim.requests).toHaveLength(1);
  });

  it('network errors are retried', async () => {
    let calls = 0;
    const flaky: typeof fetch = (u, init) => (++calls < 3 ? Promise.reject(new TypeError('fetch failed')) : fetch(u, init));
    const c = new BotApiClient({ baseUrl: sim.baseUrl, token: sim.token, fetch: flaky, retry: { attempts: 4, baseDelayMs: 5 } });
    await c.sendText({ chatId: 'alice@corp.example', text: 'x' });
    expect(calls).toBe(3);
    expect(sim.sent).toHaveLength(1);
  });

  it('very long texts switch to a form POST', async () => {
    const text = 'x'.repeat(9000);
    await client.sendText({ chatId: 'alice@corp.example', text });
    expect(sim.requests[0].httpMethod).toBe('POST');
    expect(sim.sent[0].text).toBe(text);
  });

  it('the simulator rejects raw markup that is not allowed (catches missing escaping)', async () => {
    const err = await client.sendText({ chatId: 'alice@corp.example', text: 'a <script> b', parseMode: 'HTML' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'api' });
    expect((err as BotApiError).description).toContain('Invalid HTML');
  });
});
