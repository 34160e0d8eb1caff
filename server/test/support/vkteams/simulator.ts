// A VK Teams Bot API v1 simulator for tests: a real HTTP server on loopback, written from the
// public documentation and SDK sources (INTEGRATIONS.md §1). It accepts GET with query
// parameters (what the SDKs send) and POST application/x-www-form-urlencoded.
//
// Not documented, chosen here: an invalid token answers HTTP 200 {"ok":false,"description":
// "Invalid token"} (the Python SDK matches that description); an unknown chat answers
// {"ok":false,"description":"Chat not found"}. Stricter than the real server (on purpose, to catch
// escaping bugs): with parseMode=HTML the text must only use the documented tags, balanced, and
// '&' must start an entity.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';

export interface SimButton { text: string; callbackData?: string; url?: string; style?: string }
export interface SentRecord {
  kind: 'send' | 'edit';
  chatId: string;
  msgId: string;
  text: string;
  parseMode?: string;
  keyboard?: SimButton[][];
  at: number;
}
export interface AnsweredQuery { queryId: string; text?: string; showAlert?: boolean; url?: string; at: number }
export interface SimEvent { eventId: number; type: string; payload: Record<string, unknown> }
export interface RequestRecord { method: string; httpMethod: string; status: number; at: number }

export interface SimulatorOptions {
  token?: string;
  botUserId?: string;
  /** Emit msgId as a bare JSON number instead of a string (seen in some deployments' payloads). */
  bareNumericMsgIds?: boolean;
  /** Chats the bot may write to from the start (a user who wrote /start is added automatically). */
  chats?: string[];
}

const HTML_TAGS = new Set(['b', 'strong', 'i', 'em', 'u', 'ins', 's', 'strike', 'del', 'a', 'code', 'pre', 'blockquote', 'ul', 'ol', 'li', 'br', 'span']);
const STYLES = new Set(['base', 'primary', 'attention']);

export class BotApiSimulator {
  readonly token: string;
  readonly botUserId: string;
  readonly sent: SentRecord[] = [];
  readonly answeredQueries: AnsweredQuery[] = [];
  readonly events: SimEvent[] = [];
  readonly requests: RequestRecord[] = [];
  readonly messages = new Map<string, SentRecord>();
  private readonly chats: Set<string>;
  private readonly queries = new Set<string>();
  private readonly waiters = new Set<() => void>();
  private nextEventId = 1000;
  private nextMsgId = 7513183580768441701n; // odd, with even steps: never exactly representable as a double
  private outage: { status: number; retryAfter?: number } | null = null;
  private server!: Server;
  private readonly bare: boolean;
  baseUrl = '';

  private constructor(o: SimulatorOptions) {
    this.token = o.token ?? `001.${randomBytes(5).readUInt32BE()}.${randomBytes(8).toString('hex')}:1000003205`;
    this.botUserId = o.botUserId ?? '1000003205';
    this.bare = o.bareNumericMsgIds ?? false;
    this.chats = new Set(o.chats ?? []);
  }

  static async start(o: SimulatorOptions = {}): Promise<BotApiSimulator> {
    const sim = new BotApiSimulator(o);
    sim.server = createServer((req, res) => { void sim.route(req, res); });
    await new Promise<void>((resolve) => sim.server.listen(0, '127.0.0.1', resolve));
    sim.baseUrl = `http://127.0.0.1:${(sim.server.address() as AddressInfo).port}/bot/v1`;
    return sim;
  }

  /** A user writes to the bot (this also opens the dialogue, so the bot may write back). */
  emitNewMessage(chatId: string, text: string, from?: { userId?: string; firstName?: string; lastName?: string }): SimEvent {
    this.chats.add(chatId);
    const userId = from?.userId ?? chatId;
    return this.push('newMessage', {
      msgId: this.newMsgId(), text, timestamp: Math.floor(Date.now() / 1000),
      chat: { chatId, type: chatId.endsWith('@chat.agent') ? 'group' : 'private' },
      from: { userId, firstName: from?.firstName ?? userId.split('@')[0], lastName: from?.lastName ?? '' },
    });
  }

  /** A user presses an inline button on the bot's message msgId in chatId. */
  emitCallbackQuery(chatId: string, msgId: string, callbackData: string, fromUserId = chatId): { event: SimEvent; queryId: string } {
    const queryId = `SVR:${fromUserId}:${randomBytes(6).toString('hex')}`;
    this.queries.add(queryId);
    const m = this.messages.get(msgId);
    const event = this.push('callbackQuery', {
      queryId, callbackData,
      from: { userId: fromUserId, firstName: fromUserId.split('@')[0], lastName: '' },
      message: {
        msgId: this.bare ? BigInt(msgId) : msgId, text: m?.text ?? '', timestamp: Math.floor((m?.at ?? Date.now()) / 1000),
        chat: { chatId, type: 'private' }, from: { userId: this.botUserId, firstName: 'calendula', nick: 'calendula_bot' },
      },
    });
    return { event, queryId };
  }

  /** Outage: every request fails with status (default 503) until turned off. */
  setOutage(on: boolean | { status: number; retryAfter?: number }): void {
    this.outage = on === false ? null : on === true ? { status: 503 } : on;
  }

  allowChat(chatId: string): void { this.chats.add(chatId); }

  async close(): Promise<void> {
    for (const w of this.waiters) w();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private push(type: string, payload: Record<string, unknown>): SimEvent {
    const e = { eventId: ++this.nextEventId, type, payload };
    this.events.push(e);
    for (const w of [...this.waiters]) w();
    return e;
  }

  private newMsgId(): string { return (this.nextMsgId += BigInt(2 * (1 + Math.floor(Math.random() * 500)))).toString(); }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sim');
    const params = new URLSearchParams(url.searchParams);
    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      if ((req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
        for (const [k, v] of new URLSearchParams(Buffer.concat(chunks).toString('utf8'))) params.set(k, v);
      }
    }
    const method = url.pathname.replace(/^\/bot\/v1\//, '');
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      this.requests.push({ method, httpMethod: req.method ?? '', status, at: Date.now() });
      if (res.destroyed) return;
      let json = JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? `__BIG__${v}` : v));
      json = json.replace(/"__BIG__(\d+)"/g, '$1');
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(json);
    };
    if (this.outage) {
      const h: Record<string, string> = this.outage.retryAfter !== undefined ? { 'retry-after': String(this.outage.retryAfter) } : {};
      return reply(this.outage.status, { ok: false, description: 'Service temporarily unavailable' }, h);
    }
    if (req.method !== 'GET' && req.method !== 'POST') return reply(405, { ok: false, description: 'Method not allowed' });
    if (!url.pathname.startsWith('/bot/v1/')) return reply(404, { ok: false, description: 'Not found' });
    if (params.get('token') !== this.token) return reply(200, { ok: false, description: 'Invalid token' });
    const fail = (description: string) => reply(200, { ok: false, description });
    const msgIdOut = (id: string) => (this.bare ? BigInt(id) : id);

    switch (method) {
      case 'self/get':
        return reply(200, { userId: this.botUserId, nick: 'calendula_bot', firstName: 'Calendula', about: 'Calendar bot', ok: true });
      case 'messages/sendText':
      case 'messages/editText': {
        const edit = method === 'messages/editText';
        const chatId = params.get('chatId');
        if (!chatId) return fail('Missing required parameter: chatId');
        if (!this.chats.has(chatId)) return fail('Chat not found');
        const text = params.get('text') ?? '';
        const parseMode = params.get('parseMode') ?? undefined;
        if (parseMode !== undefined && parseMode !== 'HTML' && parseMode !== 'MarkdownV2') return fail('Invalid parseMode');
        if (parseMode && params.has('format')) return fail('Cannot use format and parseMode fields at one time');
        if (parseMode === 'HTML') {
          const bad = checkHtml(text);
          if (bad) return fail(`Invalid HTML: ${bad}`);
        }
        let keyboard: SimButton[][] | undefined;
        const kb = params.get('inlineKeyboardMarkup');
        if (kb !== null) {
          const k = parseKeyboard(kb);
          if (typeof k === 'string') return fail(`Invalid inlineKeyboardMarkup: ${k}`);
          keyboard = k;
        }
        let msgId: string;
        if (edit) {
          msgId = params.get('msgId') ?? '';
          const prev = this.messages.get(msgId);
          if (!prev || prev.chatId !== chatId) return fail('Message not found');
        } else {
          msgId = this.newMsgId();
        }
        const rec: SentRecord = { kind: edit ? 'edit' : 'send', chatId, msgId, text, parseMode, keyboard, at: Date.now() };
        this.sent.push(rec);
        this.messages.set(msgId, rec);
        return reply(200, edit ? { ok: true } : { msgId: msgIdOut(msgId), ok: true });
      }
      case 'messages/answerCallbackQuery': {
        const queryId = params.get('queryId');
        if (!queryId) return fail('Missing required parameter: queryId');
        if (!this.queries.has(queryId)) return fail('Query not found');
        const sa = params.get('showAlert');
        this.answeredQueries.push({
          queryId, text: params.get('text') ?? undefined, url: params.get('url') ?? undefined,
          showAlert: sa === null ? undefined : sa === 'true', at: Date.now(),
        });
        return reply(200, { ok: true });
      }
      case 'events/get': {
        const last = Number(params.get('lastEventId'));
        const pollTime = Number(params.get('pollTime') ?? '0');
        if (!Number.isFinite(last)) return fail('Missing required parameter: lastEventId');
        const pending = () => this.events.filter((e) => e.eventId > last);
        if (pending().length === 0 && pollTime > 0) {
          await new Promise<void>((resolve) => {
            const done = () => { clearTimeout(t); this.waiters.delete(done); res.off('close', done); resolve(); };
            const t = setTimeout(done, Math.min(pollTime, 600) * 1000);
            this.waiters.add(done);
            res.on('close', done); // the client went away (res, not req: req closes once its body is read)
          });
        }
        const events = pending().map((e) => ({ ...e, payload: e.type === 'newMessage' ? { ...e.payload, msgId: msgIdOut(e.payload.msgId as string) } : e.payload }));
        return reply(200, { events, ok: true });
      }
      default:
        return reply(404, { ok: false, description: `Unknown method ${method}` });
    }
  }
}

function parseKeyboard(s: string): SimButton[][] | string {
  let v: unknown;
  try { v = JSON.parse(s); } catch { return 'not JSON'; }
  if (!Array.isArray(v)) return 'not an array of rows';
  for (const row of v) {
    if (!Array.isArray(row)) return 'row is not an array';
    for (const b of row as Record<string, unknown>[]) {
      if (!b || typeof b !== 'object' || typeof b.text !== 'string' || !b.text) return 'button without text';
      if ((b.url === undefined) === (b.callbackData === undefined)) return 'button needs exactly one of url, callbackData';
      if (b.style !== undefined && !STYLES.has(b.style as string)) return `bad style ${String(b.style)}`;
    }
  }
  return v as SimButton[][];
}

/** Returns a problem description, or null when the HTML is acceptable. */
export function checkHtml(text: string): string | null {
  const stack: string[] = [];
  const re = /<(\/?)([a-zA-Z0-9]+)((?:\s+[a-zA-Z-]+="[^"<>]*")*)\s*(\/?)>|<|>|&(?:#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);|&/g;
  for (let m; (m = re.exec(text));) {
    const tok = m[0];
    if (tok === '<' || tok === '>') return `raw '${tok}' at ${m.index}`;
    if (tok === '&') return `raw '&' at ${m.index}`;
    if (tok.startsWith('&')) continue;
    const name = m[2].toLowerCase();
    if (!HTML_TAGS.has(name)) return `unsupported tag <${name}>`;
    if (m[4] || name === 'br') continue;
    if (m[1]) {
      if (stack.pop() !== name) return `unbalanced </${name}>`;
    } else stack.push(name);
  }
  return stack.length ? `unclosed <${stack[stack.length - 1]}>` : null;
}
