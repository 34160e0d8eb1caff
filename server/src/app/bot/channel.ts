/**
 * ─── THE MESSENGER CHANNEL (VK Teams) for the notifications code in server/src/app/notify/ ──────
 *
 * To the notifications engineer: this plugs into YOUR interface (notify/channels.ts,
 * NotificationChannel + registerChannel). `registerMessengerChannel(ctx)` registers the channel
 * named 'messenger' when VKTEAMS_API_URL and VKTEAMS_BOT_TOKEN are set; jobs/handlers.ts calls it
 * when the worker builds its handlers (app/bot/jobs.ts botJobHandlers), so every process that runs
 * 'notify' / 'reminder' jobs has it. Your dispatch() then does preference, idempotency and the
 * delivery log; `send` here renders (user's language and zone, buttons for invitations), sends
 * once and returns the Bot API msgId as messageId (also kept in bot_message so the message can
 * be edited after a button press).
 *
 * Contract details you may care about:
 *   - reachable(user) is always true (the VK Teams id defaults to the login e-mail). Whether the
 *     user has started the bot is only known from the database, so an UNLINKED user makes send()
 *     throw an error with `permanent: true, skipped: true` and message "not linked ...": your
 *     dispatch records it as failed (not retried); the bot logs it at info level. If you add an
 *     async reachability check or a 'skipped' status, use `isLinked(ctx, userId)` from linking.ts.
 *   - temporary Bot API failures (network, 429, 5xx) throw a plain error → your job is retried;
 *     permanent ones (ok:false, e.g. "Chat not found") throw with `permanent: true`.
 *   - kinds rendered: invitation, update, cancellation, reply, reminder; counter and
 *     delivery-failed get a short generic message.
 * The older hook named in the bot brief, `messengerChannel(ctx)`, is this same object.
 * ─────────────────────────────────────────────────────────────────────────────────────────────
 */
import type { AppContext } from '../context.js';
import type { PrincipalRow } from '../../store/schema.js';
import * as objects from '../../store/objects.js';
import { registerChannel, type Notification, type NotificationChannel, type ChannelResult } from '../notify/channels.js';
import { parseRRule } from '../../lib/ical/index.js';
import {
  escapeHtml, renderAnsweredInvitation, renderAttendeeReply, renderCancellation, renderInvitation, renderReminder, renderUpdate,
  type Change, type RenderedMessage, type RecurrenceView,
} from '../../integrations/vkteams/index.js';
import { botConfigured } from './messenger.js';
import { retractInvitationButtons, sendToUser } from './outbox.js';
import { ANSWER_OF, answerTokens, eventView, recipientOf, whenOf } from './views.js';

const asDate = (v: unknown): Date | undefined => (v instanceof Date ? v : typeof v === 'string' && !Number.isNaN(Date.parse(v)) ? new Date(v) : undefined);

function rrView(v: unknown): RecurrenceView | undefined {
  if (typeof v !== 'string' || !v) return undefined;
  try {
    const r = parseRRule(v);
    if (!['DAILY', 'WEEKLY', 'MONTHLY', 'YEARLY'].includes(r.freq)) return undefined;
    return { freq: r.freq as RecurrenceView['freq'], interval: r.interval, ...(r.count ? { count: r.count } : {}) };
  } catch { return undefined; }
}

/** The notification's changes (mail shape) as the bot renderer's. */
function botChanges(n: Notification, cur: { start: Date; end: Date; allDay: boolean } | null): Change[] {
  const out: Change[] = [];
  const list = n.changes ?? [];
  const start = list.find((c) => c.field === 'start'), end = list.find((c) => c.field === 'end');
  if ((start || end) && cur) {
    const dur = cur.end.getTime() - cur.start.getTime();
    const oldStart = asDate(start?.old) ?? cur.start;
    const oldEnd = asDate(end?.old) ?? new Date(oldStart.getTime() + dur);
    out.push({ field: 'time', old: { start: oldStart, end: oldEnd, allDay: cur.allDay }, new: cur });
  }
  for (const c of list) {
    if (c.field === 'summary') out.push({ field: 'title', old: (c.old as string) ?? undefined, new: (c.new as string) ?? undefined });
    else if (c.field === 'location') out.push({ field: 'location', old: (c.old as string) ?? undefined, new: (c.new as string) ?? undefined });
    else if (c.field === 'rrule') out.push({ field: 'recurrence', old: rrView(c.old), new: rrView(c.new) });
  }
  return out;
}

async function renderNotification(ctx: AppContext, user: PrincipalRow, n: Notification): Promise<RenderedMessage | null> {
  const r = recipientOf(user);
  const row = await objects.findObject(ctx.db, user.id, n.event.objectId, { includeDeleted: true });
  if (!row) return null;
  const view = await eventView(ctx, row, n.kind === 'reminder' && n.reminder ? { occurrenceStart: new Date(n.reminder.occurrenceStart) } : {});
  const open = row.role === 'attendee' && !row.deleted_at && row.status !== 'CANCELLED';
  switch (n.kind) {
    case 'invitation': {
      if (!open) return null; // cancelled or deleted meanwhile: the cancellation says so
      const tokens = answerTokens(ctx, user, row);
      const answered = ANSWER_OF[row.my_partstat ?? ''];
      return answered ? renderAnsweredInvitation(r, view, answered, tokens) : renderInvitation(r, view, tokens);
    }
    case 'update': {
      if (row.deleted_at) return null;
      const ask = open && row.my_partstat === 'NEEDS-ACTION';
      return renderUpdate(r, view, botChanges(n, whenOf(row.ical, new Date())), ask ? answerTokens(ctx, user, row) : undefined);
    }
    case 'cancellation': return renderCancellation(r, view);
    case 'reply': {
      const a = ANSWER_OF[n.reply?.partstat ?? ''];
      if (!a) return null;
      const who = n.from ?? { email: n.reply?.name ?? '' };
      return renderAttendeeReply(r, view, { email: who.email, name: who.name || n.reply?.name || undefined }, a, n.reply?.comment);
    }
    case 'reminder': return row.deleted_at || row.status === 'CANCELLED' ? null : renderReminder(r, view, new Date());
    case 'counter': {
      const who = escapeHtml(n.counter?.from ?? '');
      const title = escapeHtml(row.summary || '—');
      return { parseMode: 'HTML', text: r.lang === 'ru' ? `🕒 ${who} предлагает другое время: <b>${title}</b>` : `🕒 ${who} proposes another time: <b>${title}</b>` };
    }
    case 'counter-declined': {
      const who = escapeHtml(n.from?.name || n.declined?.by || '');
      const title = escapeHtml(row.summary || '—');
      return { parseMode: 'HTML', text: r.lang === 'ru' ? `🚫 ${who} отклонил(а) предложенное вами время: <b>${title}</b>` : `🚫 ${who} declined the time you proposed: <b>${title}</b>` };
    }
    case 'delivery-failed': {
      const who = escapeHtml(n.failure?.recipient ?? '');
      const title = escapeHtml(row.summary || '—');
      return { parseMode: 'HTML', text: r.lang === 'ru' ? `⚠️ Приглашение для ${who} не доставлено: <b>${title}</b>` : `⚠️ The invitation to ${who} was not delivered: <b>${title}</b>` };
    }
  }
  return null;
}

const permanent = (message: string, extra: object = {}) => Object.assign(new Error(message), { permanent: true, ...extra });

export const messengerNotificationChannel: NotificationChannel = {
  name: 'messenger',
  reachable: (user) => user.kind === 'user',
  async send(ctx: AppContext, n: Notification): Promise<ChannelResult> {
    const res = await sendToUser(ctx, n.recipient, { key: n.key, kind: n.kind, objectId: n.event.objectId, render: () => renderNotification(ctx, n.recipient, n) });
    // A cancellation also edits the earlier invitations: "cancelled", no buttons (the edit job
    // checks that the whole event is cancelled, not only one occurrence).
    if (n.kind === 'cancellation' && res.outcome !== 'off') await retractInvitationButtons(ctx, n.recipient.id, n.event.objectId, n.key);
    switch (res.outcome) {
      case 'sent': case 'already-sent': return { messageId: res.msgId, response: res.outcome };
      case 'skipped-unlinked': throw permanent('not linked: the user has not started a dialogue with the VK Teams bot (skipped)', { skipped: true });
      case 'skipped-gone': return { response: 'nothing to send: the event is gone or cancelled' };
      case 'off': throw permanent('the VK Teams bot is not configured', { skipped: true });
      case 'failed': throw permanent(`VK Teams: ${res.detail ?? 'failed'}`);
    }
  },
};

/** Registers the 'messenger' channel with the notifications dispatcher when the bot is configured. */
export function registerMessengerChannel(ctx: AppContext): boolean {
  if (!botConfigured(ctx)) return false;
  registerChannel(messengerNotificationChannel);
  return true;
}

/** The hook named in the bot brief: the channel object the notifications code dispatches to. */
export function messengerChannel(_ctx: AppContext): NotificationChannel {
  return messengerNotificationChannel;
}
