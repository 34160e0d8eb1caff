// The events/get long-poll loop.
//
// Delivery boundary (at-least-once): lastEventId is saved only AFTER handle(event) has returned,
// one event at a time, in eventId order. So:
//   - a crash or abort before handle() returns → the event is fetched again after restart;
//   - a crash between handle() returning and saveLastEventId() completing → that ONE event is
//     handled a second time. Handlers must therefore be idempotent (a press answered twice must
//     change nothing the second time; the respond command and the message edit are idempotent).
//   - an event is never skipped: the saved id only ever moves past handled events.
// A handler that keeps failing is retried handlerAttempts times and then skipped with an error
// log (a poison event must not stop the bot for everyone).
// Leader election (one poller per cluster) is the caller's business: wrap runPoller in the lock.
import { abortableSleep, type BotLogger, type MessengerPort } from './client.js';
import type { BotEvent } from './types.js';

export interface PollerOptions {
  client: Pick<MessengerPort, 'getEvents'>;
  loadLastEventId(): Promise<number>;
  saveLastEventId(id: number): Promise<void>;
  handle(event: BotEvent): Promise<void>;
  signal: AbortSignal;
  /** Seconds the server may hold a poll (SDK default 60). */
  pollTime: number;
  logger?: BotLogger;
  /** Back-off after a failed poll: doubles from baseDelayMs to maxDelayMs (defaults 500 ms, 30 s). */
  backoff?: { baseDelayMs: number; maxDelayMs: number };
  /** Tries per event before it is skipped (default 3). */
  handlerAttempts?: number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface PollerStats { polls: number; events: number; handlerFailures: number; skipped: number; pollErrors: number }

/** Runs until `signal` aborts; resolves (never rejects on abort) with counters. */
export async function runPoller(o: PollerOptions): Promise<PollerStats> {
  const sleep = o.sleep ?? abortableSleep;
  const base = o.backoff?.baseDelayMs ?? 500;
  const max = o.backoff?.maxDelayMs ?? 30_000;
  const handlerAttempts = Math.max(1, o.handlerAttempts ?? 3);
  const stats: PollerStats = { polls: 0, events: 0, handlerFailures: 0, skipped: 0, pollErrors: 0 };
  let failures = 0;
  let lastEventId = await o.loadLastEventId();

  while (!o.signal.aborted) {
    let events: BotEvent[];
    try {
      stats.polls++;
      events = await o.client.getEvents({ lastEventId, pollTime: o.pollTime, signal: o.signal });
      failures = 0;
    } catch (e) {
      if (o.signal.aborted) break;
      stats.pollErrors++;
      failures++;
      const delay = Math.min(max, base * 2 ** Math.min(failures - 1, 20));
      const jittered = delay / 2 + Math.random() * (delay / 2);
      o.logger?.warn({ err: describe(e), failures, delayMs: Math.round(jittered) }, 'VK Teams events/get failed, backing off');
      await sleep(jittered, o.signal);
      continue;
    }
    const fresh = events.filter((e) => e.eventId > lastEventId).sort((a, b) => a.eventId - b.eventId);
    for (const event of fresh) {
      if (o.signal.aborted) break;
      const handled = await handleWithRetries(o, event, handlerAttempts, stats, sleep, base);
      if (!handled && o.signal.aborted) break; // aborted during retries: do not move past it
      lastEventId = event.eventId;
      stats.events++;
      await saveWithRetries(o, lastEventId, sleep, base, max);
    }
  }
  return stats;
}

async function handleWithRetries(o: PollerOptions, event: BotEvent, attempts: number, stats: PollerStats,
  sleep: (ms: number, s?: AbortSignal) => Promise<void>, base: number): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    try {
      await o.handle(event);
      return true;
    } catch (e) {
      stats.handlerFailures++;
      if (attempt >= attempts) {
        stats.skipped++;
        o.logger?.error({ err: describe(e), eventId: event.eventId, type: event.type, attempts },
          'VK Teams event handler failed repeatedly; skipping the event');
        return false;
      }
      o.logger?.warn({ err: describe(e), eventId: event.eventId, attempt }, 'VK Teams event handler failed, retrying');
      await sleep(base * 2 ** (attempt - 1), o.signal);
      if (o.signal.aborted) return false;
    }
  }
}

/** Saving must not be skipped (it would replay), so it is retried until it works or we abort. */
async function saveWithRetries(o: PollerOptions, id: number, sleep: (ms: number, s?: AbortSignal) => Promise<void>,
  base: number, max: number): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await o.saveLastEventId(id);
      return;
    } catch (e) {
      o.logger?.error({ err: describe(e), lastEventId: id, attempt }, 'could not persist VK Teams lastEventId');
      if (o.signal.aborted) return;
      await sleep(Math.min(max, base * 2 ** Math.min(attempt - 1, 20)), o.signal);
    }
  }
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
