import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BotApiClient } from '../../../src/integrations/vkteams/client.js';
import { runPoller } from '../../../src/integrations/vkteams/poller.js';
import type { BotEvent } from '../../../src/integrations/vkteams/types.js';
import { BotApiSimulator } from '../../support/vkteams/simulator.js';

const until = async (cond: () => boolean, ms = 5000) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('runPoller', () => {
  let sim: BotApiSimulator;
  let client: BotApiClient;
  beforeEach(async () => {
    sim = await BotApiSimulator.start();
    client = new BotApiClient({ baseUrl: sim.baseUrl, token: sim.token, pollTimeoutMarginMs: 2000 });
  });
  afterEach(async () => { await sim.close(); });

  it('aborted mid-stream and restarted from the persisted lastEventId: no loss, no replay', async () => {
    let stored = 0;
    const store = { load: async () => stored, save: async (id: number) => { stored = id; } };
    const handled: string[] = [];
    const texts = Array.from({ length: 30 }, (_, i) => `m${i}`);
    for (const t of texts.slice(0, 10)) sim.emitNewMessage('alice@corp.example', t);

    // First process: dies (abort) while in the middle of handling the first batch.
    const ac1 = new AbortController();
    const handle1 = async (e: BotEvent) => {
      if (e.type !== 'newMessage') return;
      handled.push(e.payload.text);
      if (handled.length === 4) ac1.abort(); // killed while handling the 4th event
      await new Promise((r) => setTimeout(r, 5));
    };
    const stats1 = await runPoller({ client, loadLastEventId: store.load, saveLastEventId: store.save, handle: handle1, signal: ac1.signal, pollTime: 2 });
    expect(handled).toEqual(texts.slice(0, 4));
    expect(stats1.events).toBe(4); // the 4th completed before the loop noticed the abort
    expect(stored).toBe(sim.events[3].eventId);

    // Events keep arriving while nobody polls.
    for (const t of texts.slice(10, 20)) sim.emitNewMessage('alice@corp.example', t);

    // Second process: resumes from the stored id and also gets live events.
    const ac2 = new AbortController();
    const run2 = runPoller({
      client, loadLastEventId: store.load, saveLastEventId: store.save, signal: ac2.signal, pollTime: 2,
      handle: async (e) => { if (e.type === 'newMessage') handled.push(e.payload.text); },
    });
    await until(() => handled.length === 20);
    for (const t of texts.slice(20)) { sim.emitNewMessage('alice@corp.example', t); await new Promise((r) => setTimeout(r, 3)); }
    await until(() => handled.length === 30);
    const t0 = Date.now();
    ac2.abort(); // stops promptly even though a 2 s poll is in flight
    await run2;
    expect(Date.now() - t0).toBeLessThan(500);
    expect(handled).toEqual(texts);
    expect(stored).toBe(sim.events[29].eventId);
  });

  it('a crash between handling and saving redelivers exactly that event (at-least-once boundary)', async () => {
    let stored = 0;
    sim.emitNewMessage('alice@corp.example', 'a');
    sim.emitNewMessage('alice@corp.example', 'b');
    const seen: string[] = [];
    const ac = new AbortController();
    await runPoller({
      client, pollTime: 1, signal: ac.signal, loadLastEventId: async () => stored,
      saveLastEventId: async (id) => { if (id === sim.events[1].eventId) { ac.abort(); throw new Error('db gone'); } stored = id; },
      handle: async (e) => { if (e.type === 'newMessage') seen.push(e.payload.text); },
      backoff: { baseDelayMs: 10, maxDelayMs: 10 },
    });
    const ac2 = new AbortController();
    const run = runPoller({
      client, pollTime: 1, signal: ac2.signal, loadLastEventId: async () => stored, saveLastEventId: async (id) => { stored = id; },
      handle: async (e) => { if (e.type === 'newMessage') { seen.push(e.payload.text); ac2.abort(); } },
    });
    await run;
    expect(seen).toEqual(['a', 'b', 'b']);
  });

  it('backs off on API errors and recovers after an outage', async () => {
    sim.setOutage(true);
    sim.emitNewMessage('alice@corp.example', 'during outage');
    const got: string[] = [];
    const ac = new AbortController();
    const run = runPoller({
      client, pollTime: 1, signal: ac.signal, loadLastEventId: async () => 0, saveLastEventId: async () => {},
      handle: async (e) => { if (e.type === 'newMessage') got.push(e.payload.text); },
      backoff: { baseDelayMs: 20, maxDelayMs: 80 },
    });
    await until(() => sim.requests.length >= 3);
    sim.setOutage(false);
    await until(() => got.length === 1);
    ac.abort();
    const stats = await run;
    expect(got).toEqual(['during outage']);
    expect(stats.pollErrors).toBeGreaterThanOrEqual(3);
    // Back-off: the failed polls were spread out rather than hammering.
    const failed = sim.requests.filter((r) => r.status === 503);
    expect(failed[failed.length - 1].at - failed[0].at).toBeGreaterThanOrEqual(20);
  });

  it('a poison event is retried, then skipped, and does not block later events', async () => {
    sim.emitNewMessage('alice@corp.example', 'poison');
    sim.emitNewMessage('alice@corp.example', 'fine');
    let stored = 0;
    const got: string[] = [];
    let poisonTries = 0;
    const ac = new AbortController();
    const stats = await runPoller({
      client, pollTime: 1, signal: ac.signal, loadLastEventId: async () => stored, saveLastEventId: async (id) => { stored = id; },
      handlerAttempts: 3, backoff: { baseDelayMs: 5, maxDelayMs: 5 },
      handle: async (e) => {
        if (e.type !== 'newMessage') return;
        if (e.payload.text === 'poison') { poisonTries++; throw new Error('boom'); }
        got.push(e.payload.text);
        ac.abort();
      },
    });
    expect(poisonTries).toBe(3);
    expect(got).toEqual(['fine']);
    expect(stats).toMatchObject({ skipped: 1, handlerFailures: 3, events: 2 });
    expect(stored).toBe(sim.events[1].eventId);
  });
});
