// VK Teams Bot API v1 client (see /work/shared/INTEGRATIONS.md §1).
// Every call is an HTTP GET with query parameters and the token as the `token` parameter, as the
// official SDKs do. A request whose URL would get too long (big HTML texts with keyboards) is sent
// as POST application/x-www-form-urlencoded with the same fields instead (observed to work in the
// wild, not documented; see postAboveUrlLength).
import { parseJsonPreservingBigInts } from './json.js';
import type {
  BotEvent, BotInfo, BotChat, BotUser, BotMessageRef, Button, CallbackQueryEvent, NewMessageEvent,
} from './types.js';

export type { BotEvent, BotInfo, BotChat, BotUser, BotMessageRef, Button, CallbackQueryEvent, NewMessageEvent };
export type { ButtonStyle } from './types.js';

/** Minimal structured logger; pino's Logger satisfies it. */
export interface BotLogger {
  debug?(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface SendTextInput {
  chatId: string;
  text: string;
  parseMode?: 'HTML';
  inlineKeyboardMarkup?: Button[][];
}
export interface EditTextInput extends SendTextInput { msgId: string }
export interface AnswerCallbackInput { queryId: string; text?: string; showAlert?: boolean; url?: string }
export interface GetEventsInput { lastEventId: number; pollTime: number; signal?: AbortSignal }

/** The messenger port the bot role depends on; `BotApiClient` implements it, tests may fake it. */
export interface MessengerPort {
  selfGet(): Promise<BotInfo>;
  sendText(input: SendTextInput): Promise<{ msgId: string }>;
  editText(input: EditTextInput): Promise<void>;
  answerCallbackQuery(input: AnswerCallbackInput): Promise<void>;
  getEvents(input: GetEventsInput): Promise<BotEvent[]>;
}

export type BotApiErrorKind = 'api' | 'http' | 'network' | 'timeout' | 'aborted' | 'protocol';

/**
 * Any failure of a Bot API call. `kind`: 'api' = HTTP 200 with ok:false (description from the
 * API); 'http' = non-2xx status; 'network' = connection failure; 'timeout' = our own HTTP
 * timeout; 'aborted' = caller's signal; 'protocol' = unparseable response.
 */
export class BotApiError extends Error {
  readonly method: string;
  readonly kind: BotApiErrorKind;
  readonly status: number | undefined;
  readonly description: string | undefined;
  readonly retryable: boolean;
  readonly attempts: number;
  constructor(o: { method: string; kind: BotApiErrorKind; status?: number; description?: string;
    retryable: boolean; attempts?: number; cause?: unknown }) {
    const what = o.description ?? (o.status !== undefined ? `HTTP ${o.status}` : o.kind);
    super(`VK Teams Bot API ${o.method} failed: ${what}`, o.cause === undefined ? undefined : { cause: o.cause });
    this.name = 'BotApiError';
    this.method = o.method;
    this.kind = o.kind;
    this.status = o.status;
    this.description = o.description;
    this.retryable = o.retryable;
    this.attempts = o.attempts ?? 1;
  }
}

export interface BotApiClientOptions {
  /** e.g. https://myteam.example.com/bot/v1 (a trailing slash is fine). */
  baseUrl: string;
  token: string;
  fetch?: typeof fetch;
  logger?: BotLogger;
  /** attempts = total tries including the first (default 4); baseDelayMs default 250. */
  retry?: { attempts: number; baseDelayMs: number; maxDelayMs?: number };
  /** Timeout of non-polling calls (default 15 s). */
  requestTimeoutMs?: number;
  /** events/get HTTP timeout = pollTime + this margin (default 15 s). */
  pollTimeoutMarginMs?: number;
  /** Switch from GET to form POST when the URL would exceed this many characters (default 7000). */
  postAboveUrlLength?: number;
  /** Injectable for tests. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
}

type Params = Record<string, string | number | boolean | undefined>;

export class BotApiClient implements MessengerPort {
  private readonly base: string;
  private readonly token: string;
  private readonly fetchImpl: typeof fetch;
  private readonly log: BotLogger | undefined;
  private readonly attempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly requestTimeoutMs: number;
  private readonly pollMarginMs: number;
  private readonly postAbove: number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly random: () => number;

  constructor(o: BotApiClientOptions) {
    if (!o.baseUrl) throw new Error('VK Teams Bot API: baseUrl is required');
    if (!o.token) throw new Error('VK Teams Bot API: token is required');
    this.base = o.baseUrl.replace(/\/+$/, '');
    this.token = o.token;
    this.fetchImpl = o.fetch ?? globalThis.fetch;
    this.log = o.logger;
    this.attempts = Math.max(1, o.retry?.attempts ?? 4);
    this.baseDelayMs = o.retry?.baseDelayMs ?? 250;
    this.maxDelayMs = o.retry?.maxDelayMs ?? 30_000;
    this.requestTimeoutMs = o.requestTimeoutMs ?? 15_000;
    this.pollMarginMs = o.pollTimeoutMarginMs ?? 15_000;
    this.postAbove = o.postAboveUrlLength ?? 7000;
    this.sleep = o.sleep ?? abortableSleep;
    this.random = o.random ?? Math.random;
  }

  async selfGet(): Promise<BotInfo> {
    const r = await this.call('self/get', {});
    return {
      userId: str(r.userId) ?? '',
      nick: str(r.nick),
      firstName: str(r.firstName),
      about: str(r.about),
    };
  }

  async sendText(i: SendTextInput): Promise<{ msgId: string }> {
    const r = await this.call('messages/sendText', textParams(i));
    const msgId = str(r.msgId);
    if (!msgId) throw new BotApiError({ method: 'messages/sendText', kind: 'protocol', description: 'response has no msgId', retryable: false });
    return { msgId };
  }

  async editText(i: EditTextInput): Promise<void> {
    await this.call('messages/editText', { ...textParams(i), msgId: i.msgId });
  }

  async answerCallbackQuery(i: AnswerCallbackInput): Promise<void> {
    await this.call('messages/answerCallbackQuery', {
      queryId: i.queryId, text: i.text, showAlert: i.showAlert === undefined ? undefined : String(i.showAlert), url: i.url,
    });
  }

  /** One long poll. Not retried here: the poller owns back-off for polling. */
  async getEvents(i: GetEventsInput): Promise<BotEvent[]> {
    const r = await this.call('events/get', { lastEventId: i.lastEventId, pollTime: i.pollTime }, {
      timeoutMs: i.pollTime * 1000 + this.pollMarginMs, signal: i.signal, attempts: 1,
    });
    if (!Array.isArray(r.events)) {
      throw new BotApiError({ method: 'events/get', kind: 'protocol', description: 'response has no events array', retryable: true });
    }
    return r.events.map(normaliseEvent).filter((e): e is BotEvent => e !== null);
  }

  private async call(method: string, params: Params,
    opt: { timeoutMs?: number; signal?: AbortSignal; attempts?: number } = {}): Promise<Record<string, unknown>> {
    const attempts = opt.attempts ?? this.attempts;
    for (let attempt = 1; ; attempt++) {
      let err: BotApiError;
      let retryAfterMs: number | undefined;
      try {
        return await this.once(method, params, opt.timeoutMs ?? this.requestTimeoutMs, opt.signal, attempt);
      } catch (e) {
        if (!(e instanceof BotApiError)) throw e;
        err = e;
        retryAfterMs = (e as BotApiError & { retryAfterMs?: number }).retryAfterMs;
      }
      if (!err.retryable || attempt >= attempts || opt.signal?.aborted) {
        if (err.kind !== 'aborted') this.log?.error({ method, kind: err.kind, status: err.status, description: err.description, attempts: attempt },
          `VK Teams Bot API ${method} failed: ${err.description ?? err.kind}`);
        throw err;
      }
      const backoff = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
      const jittered = backoff / 2 + this.random() * (backoff / 2);
      // Retry-After (seconds or HTTP date) wins over a shorter back-off; capped at 5 minutes.
      const delay = Math.max(jittered, Math.min(retryAfterMs ?? 0, 300_000));
      this.log?.warn({ method, kind: err.kind, status: err.status, description: err.description, attempt, delayMs: Math.round(delay) },
        `VK Teams Bot API ${method} failed (${err.description ?? err.kind}), retrying`);
      await this.sleep(delay, opt.signal);
    }
  }

  private async once(method: string, params: Params, timeoutMs: number, signal: AbortSignal | undefined,
    attempt: number): Promise<Record<string, unknown>> {
    const qs = new URLSearchParams();
    qs.set('token', this.token);
    for (const [k, v] of Object.entries(params)) if (v !== undefined) qs.set(k, String(v));
    const url = `${this.base}/${method}`;
    const body = qs.toString();
    const usePost = url.length + 1 + body.length > this.postAbove;
    const timeout = AbortSignal.timeout(timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let res: Response;
    let text: string;
    try {
      res = await this.fetchImpl(usePost ? url : `${url}?${body}`, usePost
        ? { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' }, signal: combined }
        : { method: 'GET', signal: combined });
      text = await res.text();
    } catch (e) {
      if (signal?.aborted) throw new BotApiError({ method, kind: 'aborted', retryable: false, attempts: attempt, cause: e });
      if (timeout.aborted) {
        throw new BotApiError({ method, kind: 'timeout', description: `no response within ${timeoutMs} ms`, retryable: true, attempts: attempt, cause: e });
      }
      const msg = e instanceof Error ? (e.cause instanceof Error ? `${e.message}: ${e.cause.message}` : e.message) : String(e);
      throw new BotApiError({ method, kind: 'network', description: msg, retryable: true, attempts: attempt, cause: e });
    }
    let json: unknown;
    try { json = parseJsonPreservingBigInts(text); } catch { json = undefined; }
    const obj = json !== null && typeof json === 'object' && !Array.isArray(json) ? json as Record<string, unknown> : undefined;
    const description = obj && typeof obj.description === 'string' ? obj.description : undefined;
    if (!res.ok) {
      const retryable = res.status === 429 || res.status >= 500 || res.status === 408;
      const e = new BotApiError({ method, kind: 'http', status: res.status, description: description ?? `HTTP ${res.status}`, retryable, attempts: attempt });
      const ra = parseRetryAfter(res.headers.get('retry-after'));
      if (ra !== undefined) Object.assign(e, { retryAfterMs: ra });
      throw e;
    }
    if (!obj) {
      throw new BotApiError({ method, kind: 'protocol', status: res.status, description: `unparseable response: ${text.slice(0, 200)}`, retryable: false, attempts: attempt });
    }
    if (obj.ok !== true) {
      throw new BotApiError({ method, kind: 'api', status: res.status, description: description ?? 'ok: false without description', retryable: false, attempts: attempt });
    }
    return obj;
  }
}

function textParams(i: SendTextInput): Params {
  return {
    chatId: i.chatId,
    text: i.text,
    parseMode: i.parseMode,
    inlineKeyboardMarkup: i.inlineKeyboardMarkup ? JSON.stringify(i.inlineKeyboardMarkup) : undefined,
  };
}

function parseRetryAfter(v: string | null): number | undefined {
  if (!v) return undefined;
  if (/^\d+(\.\d+)?$/.test(v.trim())) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - Date.now());
}

export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() { clearTimeout(t); signal?.removeEventListener('abort', done); resolve(); }
    signal?.addEventListener('abort', done, { once: true });
  });
}

function str(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  return undefined;
}

function user(v: unknown): BotUser {
  const o = (v && typeof v === 'object' ? v : {}) as Record<string, unknown>;
  return { userId: str(o.userId) ?? '', firstName: str(o.firstName), lastName: str(o.lastName), nick: str(o.nick) };
}

function chat(v: unknown): BotChat {
  const o = (v && typeof v === 'object' ? v : {}) as Record<string, unknown>;
  const t = str(o.type);
  return { chatId: str(o.chatId) ?? '', type: t === 'group' || t === 'channel' ? t : 'private', title: str(o.title) };
}

function message(v: unknown): BotMessageRef {
  const o = (v && typeof v === 'object' ? v : {}) as Record<string, unknown>;
  return {
    msgId: str(o.msgId) ?? '', text: str(o.text), timestamp: typeof o.timestamp === 'number' ? o.timestamp : undefined,
    chat: o.chat ? chat(o.chat) : undefined, from: o.from ? user(o.from) : undefined,
    parts: Array.isArray(o.parts) ? o.parts : undefined,
  };
}

/** Maps a raw event to its typed shape; ids become strings. Returns null for garbage. */
export function normaliseEvent(raw: unknown): BotEvent | null {
  if (!raw || typeof raw !== 'object') return null;
  const r = raw as Record<string, unknown>;
  const eventId = typeof r.eventId === 'number' ? r.eventId : Number(r.eventId);
  if (!Number.isSafeInteger(eventId)) return null;
  const p = (r.payload && typeof r.payload === 'object' ? r.payload : {}) as Record<string, unknown>;
  if (r.type === 'newMessage') {
    const m = message(p);
    return { eventId, type: 'newMessage', payload: { ...m, chat: chat(p.chat), from: user(p.from), text: m.text ?? '' } };
  }
  if (r.type === 'callbackQuery') {
    const m = message(p.message);
    const from = user(p.from);
    return {
      eventId, type: 'callbackQuery',
      payload: {
        queryId: str(p.queryId) ?? '', callbackData: str(p.callbackData) ?? '', from,
        chat: m.chat ?? (p.chat ? chat(p.chat) : { chatId: from.userId, type: 'private' }),
        message: m,
      },
    };
  }
  return { eventId, type: 'other', originalType: str(r.type) ?? '', payload: p };
}
