/**
 * The VK Teams bot role. Turned on by VKTEAMS_API_URL and VKTEAMS_BOT_TOKEN.
 *
 * The role may run in several processes; exactly one polls events/get at a time. Leadership is a
 * PostgreSQL session-level advisory lock held on a dedicated connection: when the leader dies its
 * session ends and the lock is released; the others try every `lockRetryMs` (default 2 s) and one
 * takes over. A leader whose lock connection fails stops polling at once (it may have lost the
 * lock). Outgoing messages are jobs (any worker sends them); the poller only handles inbound events.
 */
import pg from 'pg';
import type { AppContext } from '../app/context.js';
import type { RunningRole } from './index.js';
import { BotApiError, runPoller, abortableSleep, type MessengerPort, type PollerStats } from '../integrations/vkteams/index.js';
import { handleBotEvent, loadLastEventId, saveLastEventId, messengerFor } from '../app/bot/index.js';

/** Key of the advisory lock (pg_try_advisory_lock(bigint)): 'calendula:vkteams-poller'. */
export const POLLER_LOCK_KEY = '7277261906405893121';

export interface BotRoleOptions {
  /** How often a follower tries to take the lock, and how often the leader checks its lock connection. */
  lockRetryMs?: number;
  /** events/get pollTime in seconds (default 30). */
  pollTime?: number;
  messenger?: MessengerPort;
  /** Skip self/get at start (tests that start many instances). */
  skipSelfCheck?: boolean;
}

export interface RunningBot extends RunningRole {
  isLeader(): boolean;
  stats(): PollerStats[];
  /** Tests: drop the lock connection as a crash would (the process keeps running). */
  simulateCrash(): Promise<void>;
}

export async function start(ctx: AppContext, o: BotRoleOptions = {}): Promise<RunningBot> {
  const log = ctx.log.child({ role: 'bot' });
  const messenger = o.messenger ?? messengerFor(ctx);
  if (!messenger) {
    log.info({}, 'VK Teams bot is off (set VKTEAMS_API_URL and VKTEAMS_BOT_TOKEN to turn it on)');
    return { name: 'bot', stop: async () => undefined, isLeader: () => false, stats: () => [], simulateCrash: async () => undefined };
  }
  if (!o.skipSelfCheck) {
    try {
      const me = await messenger.selfGet();
      log.info({ botUserId: me.userId, nick: me.nick }, 'VK Teams bot connected');
    } catch (e) {
      if (e instanceof BotApiError && e.kind === 'api') {
        throw new Error(`VK Teams bot: the Bot API rejected the configuration (${e.description ?? 'ok: false'}); check VKTEAMS_BOT_TOKEN and VKTEAMS_API_URL`);
      }
      log.warn({ err: (e as Error).message }, 'VK Teams Bot API unreachable at start; the poller will keep trying');
    }
  }
  const retryMs = o.lockRetryMs ?? 2000;
  const pollTime = o.pollTime ?? 30;
  const stopping = new AbortController();
  const allStats: PollerStats[] = [];
  let leader = false;
  let lockClient: pg.Client | null = null;

  const loop = async () => {
    while (!stopping.signal.aborted) {
      const client = new pg.Client({ connectionString: ctx.connectionString, application_name: 'calendula-bot-poller' });
      const lost = new AbortController();
      client.on('error', (e) => { log.warn({ err: e.message }, 'VK Teams poller lock connection failed'); lost.abort(); });
      client.on('end', () => lost.abort());
      let heartbeat: NodeJS.Timeout | undefined;
      try {
        await client.connect();
        lockClient = client;
        for (;;) {
          const r = await client.query('select pg_try_advisory_lock($1::bigint) as ok', [POLLER_LOCK_KEY]);
          if (r.rows[0].ok) break;
          await abortableSleep(retryMs, AbortSignal.any([stopping.signal, lost.signal]));
          if (stopping.signal.aborted || lost.signal.aborted) throw new Error('stopped');
        }
        leader = true;
        log.info({}, 'this process now polls VK Teams (poller lock taken)');
        heartbeat = setInterval(() => {
          client.query('select 1').catch((e: Error) => { log.warn({ err: e.message }, 'VK Teams poller lost its lock connection'); lost.abort(); });
        }, Math.max(250, retryMs));
        const stats = await runPoller({
          client: messenger,
          loadLastEventId: () => loadLastEventId(ctx.db),
          saveLastEventId: (id) => saveLastEventId(ctx.db, id),
          handle: (ev) => handleBotEvent(ctx, messenger, ev),
          signal: AbortSignal.any([stopping.signal, lost.signal]),
          pollTime, logger: log,
        });
        allStats.push(stats);
      } catch (e) {
        if (!stopping.signal.aborted && (e as Error).message !== 'stopped') log.warn({ err: (e as Error).message }, 'VK Teams poller stopped; retrying');
      } finally {
        if (heartbeat) clearInterval(heartbeat);
        if (leader) log.info({}, 'this process no longer polls VK Teams');
        leader = false;
        lockClient = null;
        // Closing the session releases the advisory lock.
        await client.end().catch(() => undefined);
      }
      if (!stopping.signal.aborted) await abortableSleep(Math.min(retryMs, 1000), stopping.signal);
    }
  };
  const running = loop();
  return {
    name: 'bot',
    isLeader: () => leader,
    stats: () => allStats,
    simulateCrash: async () => {
      const c = lockClient;
      if (!c) return;
      // Kill our own session from outside, as if the process had died.
      const killer = new pg.Client({ connectionString: ctx.connectionString });
      await killer.connect();
      try {
        await killer.query(`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'calendula-bot-poller' and pid = $1`, [(c as unknown as { processID: number }).processID]);
      } finally { await killer.end(); }
    },
    stop: async () => {
      stopping.abort();
      await running;
    },
  };
}
