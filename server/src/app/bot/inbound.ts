/**
 * What the poller hands us: messages (commands) and button presses (flow 2). A press becomes the
 * respond command — the same one the web UI, CalDAV and e-mail links use — so the organizer's
 * copy, other attendees and the organizer's notifications follow from the one write path.
 */
import type { AppContext } from '../context.js';
import { DomainError } from '../../domain/errors.js';
import * as objects from '../../store/objects.js';
import { respond } from '../events/commands.js';
import {
  escapeHtml, renderCallbackAnswer, verifyCallbackToken, verifyCallbackTokenFor,
  type BotEvent, type CallbackOutcome, type CallbackQueryEvent, type MessengerPort, type NewMessageEvent,
} from '../../integrations/vkteams/index.js';
import { botDb, findByMsgId } from './store.js';
import { CALLBACK_MAX_AGE_MS, callbackKey } from './messenger.js';
import { linkChat, userForVkId } from './linking.js';
import { enqueueBotEdit, enqueueBotSend, type CommandKind } from './outbox.js';
import { PARTSTAT_OF, recipientOf } from './views.js';

export async function handleBotEvent(ctx: AppContext, m: MessengerPort, e: BotEvent): Promise<void> {
  if (e.type === 'newMessage') return handleMessage(ctx, m, e);
  if (e.type === 'callbackQuery') { await handleCallback(ctx, m, e); return; }
}

const COMMANDS: Record<string, CommandKind> = { start: 'start', help: 'help', today: 'today', tomorrow: 'tomorrow', 'сегодня': 'today', 'завтра': 'tomorrow', 'помощь': 'help' };

export async function handleMessage(ctx: AppContext, m: MessengerPort, e: NewMessageEvent): Promise<void> {
  const p = e.payload;
  const log = ctx.log.child({ component: 'bot', eventId: e.eventId, from: p.from.userId });
  if (p.chat.type !== 'private' || !p.from.userId) { log.debug({ chat: p.chat.chatId }, 'VK Teams: message outside a private chat ignored'); return; }
  const user = await userForVkId(ctx, p.from.userId);
  if (!user) {
    log.warn({}, 'VK Teams: a message from an unknown user (no Calendula account has this VK Teams id)');
    const id = escapeHtml(p.from.userId);
    await m.sendText({
      chatId: p.chat.chatId, parseMode: 'HTML',
      text: `Calendula: no calendar account is linked to <b>${id}</b>. Ask your administrator to set your VK Teams id.\n`
        + `Calendula: к <b>${id}</b> не привязана учётная запись календаря. Попросите администратора указать ваш идентификатор VK Teams.`,
    }).catch((err: Error) => log.warn({ err: err.message }, 'VK Teams: could not answer an unknown user'));
    return;
  }
  const name = [p.from.firstName, p.from.lastName].filter(Boolean).join(' ').trim();
  // Any message proves the dialogue is open: (re)link the chat, so /today works without /start too.
  await linkChat(ctx, user, p.from.userId, p.chat.chatId, name);
  const cmd = /^\/([\p{L}\d_]+)(?:@\S+)?(?:\s|$)/u.exec(p.text.trim())?.[1]?.toLowerCase();
  const kind: CommandKind = (cmd && COMMANDS[cmd]) || 'unknown';
  await enqueueBotSend(ctx.db, { op: 'command', kind, recipientId: user.id, key: `cmd:${e.eventId}:${p.msgId}`, name: p.from.firstName, at: (p.timestamp ? p.timestamp * 1000 : Date.now()) });
}

export type PressOutcome = CallbackOutcome | 'duplicate';

export async function handleCallback(ctx: AppContext, m: MessengerPort, e: CallbackQueryEvent): Promise<PressOutcome> {
  const p = e.payload;
  const log = ctx.log.child({ component: 'bot', eventId: e.eventId, queryId: p.queryId, from: p.from.userId });
  const presser = p.from.userId ? await userForVkId(ctx, p.from.userId) : undefined;
  const r = presser ? recipientOf(presser) : { lang: 'en' as const, timeZone: 'UTC' };
  const answer = async (o: CallbackOutcome) => {
    const a = renderCallbackAnswer(r, o);
    try { await m.answerCallbackQuery({ queryId: p.queryId, text: a.text, showAlert: a.showAlert }); } catch (err) { log.warn({ err: (err as Error).message }, 'VK Teams: answerCallbackQuery failed'); }
  };
  const key = callbackKey(ctx);
  if (!presser) {
    const v = verifyCallbackToken(p.callbackData, key);
    const o: CallbackOutcome = v.ok ? 'not-yours' : v.reason;
    log.warn({ outcome: o }, 'VK Teams: button press by someone without a Calendula account');
    await answer(o);
    return o;
  }
  const v = verifyCallbackTokenFor(p.callbackData, key, presser.id, { maxAgeMs: CALLBACK_MAX_AGE_MS });
  if (!v.ok) {
    log.warn({ outcome: v.reason, userId: presser.id }, `VK Teams: button press refused (${v.reason})`);
    await answer(v.reason);
    return v.reason;
  }
  const tok = v.payload;
  const db = botDb(ctx.db);
  // The same press (queryId) handled again — e.g. replayed after a crash — changes nothing.
  const fresh = await db.insertInto('bot_callback').values({ owner_id: presser.id, query_id: p.queryId, object_id: tok.copyId, answer: tok.answer })
    .onConflict((oc) => oc.columns(['owner_id', 'query_id']).doNothing()).returning('query_id').executeTakeFirst();
  if (!fresh) {
    const prev = await db.selectFrom('bot_callback').select('outcome').where('owner_id', '=', presser.id).where('query_id', '=', p.queryId).executeTakeFirst();
    if (prev && prev.outcome !== 'processing') { log.info({ outcome: prev.outcome }, 'VK Teams: press already processed'); return 'duplicate'; }
  }
  const finish = async (o: CallbackOutcome) => {
    await db.updateTable('bot_callback').set({ outcome: o, done_at: new Date() }).where('owner_id', '=', presser.id).where('query_id', '=', p.queryId).execute();
    await answer(o);
    return o;
  };
  // The button must sit on a message we sent this user about this very copy.
  if (p.message.msgId) {
    const sent = await findByMsgId(ctx.db, presser.id, p.message.msgId);
    if (sent && sent.object_id && sent.object_id !== tok.copyId) { log.warn({ msgId: p.message.msgId }, 'VK Teams: token pressed on another event\'s message'); return finish('forged'); }
  }
  const row = await objects.findObject(ctx.db, presser.id, tok.copyId);
  if (!row || row.status === 'CANCELLED') return finish('cancelled');
  if (row.role !== 'attendee' || row.sequence !== tok.seq) {
    log.info({ seq: row.sequence, tokenSeq: tok.seq }, 'VK Teams: stale press (the event changed since the message)');
    return finish('stale');
  }
  const partstat = PARTSTAT_OF[tok.answer];
  if (tok.rid || row.my_partstat !== partstat) {
    try {
      await respond(ctx, { userId: presser.id, email: presser.email, via: 'bot' }, row.id, { partstat, recurrenceId: tok.rid ?? null });
    } catch (err) {
      if (err instanceof DomainError) {
        const o: CallbackOutcome = err.code === 'NOT_FOUND' || err.details?.reason === 'cancelled' || /cancel/i.test(err.message) ? 'cancelled' : err.code === 'CONFLICT' ? 'stale' : 'error';
        log.warn({ code: err.code, err: err.message }, 'VK Teams: respond refused');
        return finish(o);
      }
      throw err; // the poller retries the event
    }
    log.info({ objectId: row.id, partstat }, 'VK Teams: invitation answered');
  } else {
    log.info({ objectId: row.id, partstat }, 'VK Teams: same answer again; nothing to change');
  }
  const chatId = p.message.chat?.chatId ?? p.chat.chatId;
  if (p.message.msgId && chatId) await enqueueBotEdit(ctx.db, { recipientId: presser.id, objectId: row.id, chatId, msgId: p.message.msgId, answer: tok.answer, key: `edit:${p.queryId}` });
  return finish(tok.answer);
}
