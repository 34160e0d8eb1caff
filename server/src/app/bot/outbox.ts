/**
 * Outgoing bot messages are jobs ('bot-send', 'bot-edit'): queued in the caller's transaction,
 * retried with back-off on network errors and HTTP 429/5xx, and logged in bot_message with their
 * outcome. A message is rendered when it is sent, from the current state of the event, in the
 * recipient's language and time zone. Each has a stable key: a retry never sends it twice (a
 * crash between the API's answer and the log write can still duplicate one: at-least-once).
 */
import type { AppContext } from '../context.js';
import type { DB } from '../../store/db.js';
import * as principals from '../../store/principals.js';
import * as objects from '../../store/objects.js';
import type { PrincipalRow } from '../../store/schema.js';
import { enqueue } from '../../jobs/queue.js';
import type { JobHandler } from '../../jobs/queue.js';
import {
  BotApiError, renderAgenda, renderAnsweredInvitation, renderAttendeeReply, renderCancellation, renderHelp, renderInvitation,
  renderReminder, renderStart, renderUnknown, renderUpdate, type AgendaItem, type AnswerCode, type RenderedMessage,
} from '../../integrations/vkteams/index.js';
import { botDb, findDelivery, recordOutcome } from './store.js';
import { messengerFor } from './messenger.js';
import { ANSWER_OF, answerTokens, changesOf, eventUrl, eventView, recipientOf } from './views.js';
import { visibleCalendars, listOccurrences } from '../events/queries.js';

export type CommandKind = 'start' | 'help' | 'unknown' | 'today' | 'tomorrow';

/** The 'bot-send' job: replies to commands. (Notifications and reminders go through the notify
 *  jobs' channel dispatch, see channel.ts.) */
export interface BotSendPayload { op: 'command'; kind: CommandKind; recipientId: string; key: string; name?: string; at: number }

/** A 'bot-edit' job: mode 'answer' (default) shows the pressed answer and keeps the buttons;
 *  'cancelled' marks an invitation of a cancelled event as cancelled and removes its buttons. */
export interface BotEditPayload { recipientId: string; objectId: string; chatId: string; msgId: string; answer?: AnswerCode; key: string; mode?: 'answer' | 'cancelled' }

export async function enqueueBotSend(db: DB, p: BotSendPayload): Promise<void> {
  await enqueue(db, 'bot-send', p, { jobKey: `bot:${p.recipientId}:${p.key}`, maxAttempts: 25 });
}

export async function enqueueBotEdit(db: DB, p: BotEditPayload): Promise<void> {
  // A cancellation's edit has its own key: a pending answer edit must not replace it (and the
  // answer edit, if it runs later, sees the cancelled copy and renders the cancellation too).
  const jobKey = p.mode === 'cancelled' ? `botcancel:${p.recipientId}:${p.msgId}` : `botedit:${p.recipientId}:${p.msgId}`;
  await enqueue(db, 'bot-edit', p, { jobKey, maxAttempts: 25 });
}

/** Midnight of the day containing `at` (+ dayOffset days) in time zone tz, as an instant. */
export function dayStart(at: Date, tz: string, dayOffset = 0): Date {
  const p = Object.fromEntries(new Intl.DateTimeFormat('en-US', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' }).formatToParts(at).map((x) => [x.type, x.value]));
  const guess = Date.UTC(+p.year, +p.month - 1, +p.day + dayOffset);
  const offset = (t: number) => {
    const q = Object.fromEntries(new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }).formatToParts(new Date(t)).map((x) => [x.type, x.value]));
    return Date.UTC(+q.year, +q.month - 1, +q.day, +q.hour, +q.minute, +q.second) - t;
  };
  let t = guess - offset(guess);
  t = guess - offset(t);
  return new Date(t);
}

async function agenda(ctx: AppContext, user: PrincipalRow, which: 'today' | 'tomorrow', at: Date): Promise<RenderedMessage> {
  const r = recipientOf(user);
  const tz = r.timeZone;
  let from: Date;
  try { from = dayStart(at, tz, which === 'today' ? 0 : 1); } catch { from = dayStart(at, 'UTC', which === 'today' ? 0 : 1); }
  const to = dayStart(new Date(from.getTime() + 36 * 3600_000), tz);
  const actor = { userId: user.id, email: user.email, via: 'bot' as const };
  const own = (await visibleCalendars(ctx, actor)).filter((c) => c.owner_id === user.id && c.components.includes('VEVENT')).map((c) => c.id);
  const occ = own.length ? await listOccurrences(ctx, actor, { from, to, calendarIds: own }, tz) : [];
  const items: AgendaItem[] = occ.filter((o) => o.status !== 'CANCELLED').map((o) => ({
    title: o.summary, start: new Date(o.start), end: new Date(o.end), allDay: o.allDay, location: o.location || undefined,
    url: eventUrl(ctx, o.id),
    myAnswer: o.isOrganizer || !o.myPartstat ? undefined : (ANSWER_OF[o.myPartstat] ?? 'N'),
  }));
  return renderAgenda(r, which, new Date(from.getTime() + 12 * 3600_000), items);
}

async function renderCommand(ctx: AppContext, user: PrincipalRow, p: BotSendPayload): Promise<RenderedMessage> {
  const r = recipientOf(user);
  switch (p.kind) {
    case 'start': return renderStart(r, { name: p.name });
    case 'help': return renderHelp(r);
    case 'unknown': return renderUnknown(r);
    default: return agenda(ctx, user, p.kind, new Date(p.at));
  }
}

function describe(e: unknown) {
  return e instanceof BotApiError ? (e.description ?? e.kind) : e instanceof Error ? e.message : String(e);
}

export type SendOutcome = 'off' | 'sent' | 'already-sent' | 'skipped-unlinked' | 'skipped-gone' | 'failed';

/**
 * Sends one message to a user's linked chat, once per key: checks the link (unlinked users are
 * skipped with a log line), renders, sends, records the outcome and msgId in bot_message.
 * Throws on temporary failures (the caller's job is retried); returns 'failed' on permanent ones.
 */
export async function sendToUser(ctx: AppContext, user: PrincipalRow, o: { key: string; kind: string; objectId?: string | null; render: () => Promise<RenderedMessage | null> }): Promise<{ outcome: SendOutcome; msgId?: string; detail?: string }> {
  const log = ctx.log.child({ component: 'bot', kind: o.kind, userId: user.id, key: o.key });
  const messenger = messengerFor(ctx);
  if (!messenger) return { outcome: 'off' };
  const base = { ownerId: user.id, key: o.key, kind: o.kind, objectId: o.objectId ?? null };
  const done = await findDelivery(ctx.db, user.id, o.key);
  if (done?.outcome === 'sent') return { outcome: 'already-sent', msgId: done.msg_id ?? undefined };
  const chat = await botDb(ctx.db).selectFrom('bot_chat').selectAll().where('owner_id', '=', user.id).executeTakeFirst();
  if (!chat) {
    await recordOutcome(ctx.db, { ...base, outcome: 'skipped-unlinked', detail: 'the user has not started a dialogue with the bot' });
    log.info({ email: user.email }, 'VK Teams message skipped: the user has not started the bot (/start); e-mail is unaffected');
    return { outcome: 'skipped-unlinked' };
  }
  const msg = await o.render();
  if (!msg) { await recordOutcome(ctx.db, { ...base, outcome: 'skipped-gone' }); return { outcome: 'skipped-gone' }; }
  try {
    const { msgId } = await messenger.sendText({ chatId: chat.chat_id, ...msg });
    await recordOutcome(ctx.db, { ...base, chatId: chat.chat_id, msgId, outcome: 'sent', attempt: true });
    log.info({ msgId }, 'VK Teams message sent');
    return { outcome: 'sent', msgId };
  } catch (e) {
    const retry = !(e instanceof BotApiError) || e.retryable;
    const detail = describe(e).slice(0, 500);
    await recordOutcome(ctx.db, { ...base, chatId: chat.chat_id, outcome: retry ? 'retrying' : 'failed', detail, attempt: true });
    if (!retry) {
      log.error({ err: detail }, 'VK Teams message failed permanently (not retried)');
      return { outcome: 'failed', detail };
    }
    throw e; // the queue retries with back-off
  }
}

export async function sendBotMessage(ctx: AppContext, p: BotSendPayload): Promise<SendOutcome | 'gone'> {
  const user = await principals.findPrincipalById(ctx.db, p.recipientId);
  if (!user || user.kind !== 'user' || user.disabled) return 'gone';
  return (await sendToUser(ctx, user, { key: p.key, kind: p.kind, render: () => renderCommand(ctx, user, p) })).outcome;
}

/**
 * Edits a sent invitation: after a press, to show the answer (the buttons stay so it can be
 * changed); once the event is cancelled (or the copy deleted), to say so — without buttons.
 * Whatever the payload's mode, the copy's current state decides: an answer edit that runs after
 * the cancellation must not bring the buttons back.
 */
export async function editAnsweredMessage(ctx: AppContext, p: BotEditPayload): Promise<string> {
  const log = ctx.log.child({ component: 'bot', job: 'bot-edit', userId: p.recipientId, msgId: p.msgId });
  const messenger = messengerFor(ctx);
  if (!messenger) return 'off';
  const user = await principals.findPrincipalById(ctx.db, p.recipientId);
  const row = user ? await objects.findObject(ctx.db, user.id, p.objectId, { includeDeleted: true }) : undefined;
  if (!user || !row) return 'skipped-gone';
  const cancelled = !!row.deleted_at || row.status === 'CANCELLED';
  if (p.mode === 'cancelled' && !cancelled) return 'skipped-not-cancelled'; // e.g. only one occurrence was cancelled
  const base = { ownerId: user.id, key: p.key, kind: 'edit', objectId: row.id, chatId: p.chatId, msgId: p.msgId };
  let msg: RenderedMessage;
  if (cancelled) {
    // An explicit empty keyboard removes the buttons.
    msg = { ...renderCancellation(recipientOf(user), await eventView(ctx, row)), inlineKeyboardMarkup: [] };
  } else {
    // Show the answer the copy has now (a later press may have changed it again).
    const answer = ANSWER_OF[row.my_partstat ?? ''] ?? p.answer;
    if (!answer) return 'skipped-no-answer';
    msg = renderAnsweredInvitation(recipientOf(user), await eventView(ctx, row), answer, answerTokens(ctx, user, row));
  }
  try {
    await messenger.editText({ chatId: p.chatId, msgId: p.msgId, ...msg });
    await recordOutcome(ctx.db, { ...base, outcome: 'sent', attempt: true });
    return 'sent';
  } catch (e) {
    const retry = !(e instanceof BotApiError) || e.retryable;
    await recordOutcome(ctx.db, { ...base, outcome: retry ? 'retrying' : 'failed', detail: describe(e).slice(0, 500), attempt: true });
    if (!retry) { log.error({ err: describe(e) }, 'VK Teams message edit failed permanently'); return 'failed'; }
    throw e;
  }
}

/**
 * The event was cancelled: queue edits of the invitations (and updates, which may carry buttons)
 * sent to this user about this copy, so they say "cancelled" and lose their buttons.
 */
export async function retractInvitationButtons(ctx: AppContext, userId: string, objectId: string, key: string): Promise<number> {
  const rows = await botDb(ctx.db).selectFrom('bot_message').select(['chat_id', 'msg_id'])
    .where('owner_id', '=', userId).where('object_id', '=', objectId).where('kind', 'in', ['invitation', 'update'])
    .where('outcome', '=', 'sent').where('msg_id', 'is not', null).where('chat_id', 'is not', null).execute();
  const seen = new Set<string>();
  for (const r of rows) {
    if (seen.has(r.msg_id!)) continue;
    seen.add(r.msg_id!);
    await enqueueBotEdit(ctx.db, { recipientId: userId, objectId, chatId: r.chat_id!, msgId: r.msg_id!, key: `cancel:${key}:${r.msg_id}`, mode: 'cancelled' });
  }
  return seen.size;
}

export function botSendHandlers(ctx: AppContext): Record<'bot-send' | 'bot-edit', JobHandler> {
  return {
    'bot-send': async (payload) => { await sendBotMessage(ctx, payload as BotSendPayload); },
    'bot-edit': async (payload) => { await editAnsweredMessage(ctx, payload as BotEditPayload); },
  };
}
