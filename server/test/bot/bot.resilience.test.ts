// The poller across restarts and crashes (advisory-lock leadership, persisted lastEventId), and a
// Bot API outage while sending.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, makeUser, signInHeaders, startTestWorker, eventually, type TestEnv } from '../support/harness.js';
import { BotApiSimulator } from '../support/vkteams/simulator.js';
import { start as startBot, type RunningBot } from '../../src/roles/bot.js';
import { loadLastEventId } from '../../src/app/bot/store.js';

let env: TestEnv;
let sim: BotApiSimulator;
let worker: { stop(): Promise<void> };
const bots: RunningBot[] = [];
const launch = async () => { const b = await startBot(env.ctx, { lockRetryMs: 250, pollTime: 1 }); bots.push(b); return b; };
const replies = (chat: string, needle: string) => sim.sent.filter((s) => s.chatId === chat && s.kind === 'send' && s.text.includes(needle)).length;

beforeAll(async () => {
  sim = await BotApiSimulator.start();
  env = await createTestEnv({ mailDomains: ['example.com'], dataDir: `/tmp/calendula-test-botr-${process.pid}`, vkteamsApiUrl: sim.baseUrl, vkteamsBotToken: sim.token });
  await makeUser(env.ctx, 'anna@example.com', { name: 'Anna' });
  await makeUser(env.ctx, 'boris@example.com', { name: 'Boris' });
  worker = await startTestWorker(env);
});

afterAll(async () => {
  for (const b of bots) await b.stop();
  await worker?.stop();
  await env?.close();
  await sim?.close();
});

describe('poller', () => {
  it('a restarted poller neither loses nor replays events', async () => {
    const a = await launch();
    await eventually(async () => a.isLeader(), 5000, 'leader');
    sim.emitNewMessage('boris@example.com', '/help');
    await eventually(async () => replies('boris@example.com', '/today') === 1, 10_000, 'first help');
    await a.stop();
    // While no poller runs, three more messages arrive.
    for (let i = 0; i < 3; i++) sim.emitNewMessage('boris@example.com', '/help');
    await new Promise((r) => setTimeout(r, 500));
    expect(replies('boris@example.com', '/today')).toBe(1);
    const b = await launch();
    await eventually(async () => replies('boris@example.com', '/today') === 4, 10_000, 'help after restart');
    await new Promise((r) => setTimeout(r, 1500));
    expect(replies('boris@example.com', '/today')).toBe(4);
    expect(await loadLastEventId(env.ctx.db)).toBe(sim.events.at(-1)!.eventId);
    await b.stop();
  });

  it('exactly one of several processes polls; when it dies another takes over within seconds', async () => {
    const x = await launch();
    const y = await launch();
    await eventually(async () => x.isLeader() || y.isLeader(), 5000, 'a leader');
    await new Promise((r) => setTimeout(r, 600));
    expect([x.isLeader(), y.isLeader()].filter(Boolean).length).toBe(1);
    const [leader, follower] = x.isLeader() ? [x, y] : [y, x];
    const before = replies('anna@example.com', '/today');
    sim.emitNewMessage('anna@example.com', '/help');
    await eventually(async () => replies('anna@example.com', '/today') === before + 1, 10_000, 'help');
    // Crash: the leader's database session dies (as when its process is killed).
    const t0 = Date.now();
    await leader.simulateCrash();
    await eventually(async () => follower.isLeader(), 10_000, 'takeover');
    const takeoverMs = Date.now() - t0;
    expect(takeoverMs).toBeLessThan(5000);
    sim.emitNewMessage('anna@example.com', '/help');
    await eventually(async () => replies('anna@example.com', '/today') === before + 2, 10_000, 'help after takeover');
    await new Promise((r) => setTimeout(r, 1500));
    expect(replies('anna@example.com', '/today')).toBe(before + 2);
    await eventually(async () => [x.isLeader(), y.isLeader()].filter(Boolean).length === 1, 5000, 'one leader again');
    await x.stop();
    await y.stop();
  });
});

describe('Bot API outage while sending', () => {
  it('messages queued during an outage arrive after it recovers', async () => {
    const bot = await launch();
    sim.emitNewMessage('boris@example.com', '/start');
    await eventually(async () => replies('boris@example.com', 'Hello') === 1, 10_000, 'linked');
    await bot.stop();
    const anna = await signInHeaders(env.app, 'anna@example.com');
    const cal = (await env.app.inject({ method: 'GET', url: '/api/v1/calendars', headers: anna })).json().items[0].id;
    sim.setOutage(true);
    const res = await env.app.inject({ method: 'POST', url: '/api/v1/events', headers: anna, payload: { calendarId: cal, event: { summary: 'During the outage', start: '2031-06-01T10:00:00', end: '2031-06-01T11:00:00', attendees: [{ email: 'boris@example.com' }] } } });
    expect(res.statusCode).toBe(201);
    await eventually(async () => sim.requests.filter((r) => r.method === 'messages/sendText' && r.status === 503).length >= 2, 15_000, 'failed attempts');
    expect(replies('boris@example.com', 'During the outage')).toBe(0);
    sim.setOutage(false);
    await eventually(async () => replies('boris@example.com', 'During the outage') === 1, 30_000, 'invitation after recovery');
  });
});
