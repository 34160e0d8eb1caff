/** The built-in e-mail channel: renders a Notification in the user's language and zone and sends it. */
import type { SendMailOptions } from 'nodemailer';
import type { AppContext } from '../context.js';
import { composeNotification, composeReminder, escapeHtml, formatRange } from '../../integrations/mail/index.js';
import { threadHeaders } from '../../integrations/mail/render.js';
import type { Notification, NotificationChannel } from './channels.js';
import { mailer, mailDomain } from './mailer.js';

const EXTRA = {
  en: {
    counterSubject: 'New time proposed: {summary}', counterLead: '{who} proposes another time for your event.', proposed: 'Proposed',
    declinedSubject: 'Proposal declined: {summary}', declinedLead: '{who} declined the time you proposed; the event stays as it was.',
    failedSubject: 'Not delivered: {summary}', failedLead: 'The invitation to {who} could not be delivered ({status}).',
    review: 'Review the proposal in the calendar', footer: 'This message was sent by the calendar.',
  },
  ru: {
    counterSubject: 'Предложено другое время: {summary}', counterLead: '{who} предлагает другое время для вашего события.', proposed: 'Предложено',
    declinedSubject: 'Предложение отклонено: {summary}', declinedLead: '{who} отклонил(а) предложенное вами время; событие осталось без изменений.',
    failedSubject: 'Не доставлено: {summary}', failedLead: 'Приглашение для {who} не удалось доставить ({status}).',
    review: 'Посмотреть предложение в календаре', footer: 'Это письмо отправлено календарём.',
  },
} as const;

const fill = (s: string, v: Record<string, string>) => s.replace(/\{(\w+)\}/g, (_, k) => v[k] ?? '');

function simpleMail(ctx: AppContext, n: Notification, subject: string, lines: string[], link?: { label: string; url: string }): SendMailOptions {
  const lang = n.recipient.language;
  const text = [...lines, '', ...(link ? [`${link.label}: ${link.url}`] : []), '', '-- ', EXTRA[lang].footer].join('\n');
  const html = `<!DOCTYPE html><html lang="${lang}"><head><meta charset="utf-8"></head><body style="font-family:Arial,sans-serif;font-size:14px">`
    + lines.map((l) => `<p>${escapeHtml(l)}</p>`).join('')
    + (link ? `<p><a href="${escapeHtml(link.url)}">${escapeHtml(link.label)}</a></p>` : '')
    + `<p style="color:#888;font-size:12px">${escapeHtml(EXTRA[lang].footer)}</p></body></html>`;
  return {
    from: { address: ctx.config.mailFrom, name: 'Calendula' }, to: n.recipient.name ? { address: n.recipient.email, name: n.recipient.name } : n.recipient.email,
    subject, text, html,
    ...threadHeaders(messageKey(ctx, n), `${n.event.uid}@${mailDomain(ctx)}`, ctx.config.mailFrom),
    headers: { 'Auto-Submitted': 'auto-generated', 'Content-Language': lang },
  };
}

function messageKey(ctx: AppContext, n: Notification): string {
  return `${n.key.replace(/[^A-Za-z0-9._-]+/g, '.')}@${mailDomain(ctx)}`;
}

export function renderEmail(ctx: AppContext, n: Notification): SendMailOptions {
  const u = n.recipient;
  const lang = u.language;
  const common = {
    from: { email: ctx.config.mailFrom, name: 'Calendula' }, to: [{ email: u.email, name: u.name || undefined }], lang, timezone: u.timezone,
    messageId: messageKey(ctx, n), threadId: `${n.event.uid}@${mailDomain(ctx)}`,
    summary: n.event.summary, start: n.event.start, end: n.event.end, allDay: n.event.allDay, location: n.event.location,
    organizerName: n.event.organizerName, eventUrl: n.event.url,
  };
  switch (n.kind) {
    case 'invitation': case 'update': case 'cancellation': case 'reply':
      return composeNotification({
        ...common, kind: ({ invitation: 'created', update: 'updated', cancellation: 'cancelled', reply: 'reply' } as const)[n.kind],
        organizerName: n.kind === 'reply' ? n.event.organizerName : n.from?.name || n.from?.email || n.event.organizerName,
        changes: n.changes, addedAttendees: n.addedAttendees, removedAttendees: n.removedAttendees,
        ...(n.answerLinks ? { actionUrls: n.answerLinks } : {}), ...(n.reply ? { reply: n.reply } : {}),
      });
    case 'reminder':
      return composeReminder({ ...common, start: n.reminder?.occurrenceStart ?? n.event.start, end: undefined, minutesBefore: n.reminder?.minutesBefore });
    case 'counter': {
      const x = EXTRA[lang];
      const when = n.counter?.start ? formatRange(lang, u.timezone, n.counter.start, n.counter.end, false) : '';
      return simpleMail(ctx, n, fill(x.counterSubject, { summary: n.event.summary }), [
        fill(x.counterLead, { who: n.counter?.from ?? '' }), n.event.summary, ...(when ? [`${x.proposed}: ${when}`] : []), ...(n.counter?.comment ? [n.counter.comment] : []),
      ], { label: x.review, url: n.event.url });
    }
    case 'counter-declined': {
      const x = EXTRA[lang];
      const when = n.declined?.start ? formatRange(lang, u.timezone, n.declined.start, n.declined.end, false) : '';
      return simpleMail(ctx, n, fill(x.declinedSubject, { summary: n.event.summary }), [
        fill(x.declinedLead, { who: n.from?.name || n.declined?.by || '' }), n.event.summary, ...(when ? [`${x.proposed}: ${when}`] : []), ...(n.declined?.comment ? [n.declined.comment] : []),
      ], { label: lang === 'ru' ? 'Открыть событие' : 'Open the event', url: n.event.url });
    }
    case 'delivery-failed': {
      const x = EXTRA[lang];
      return simpleMail(ctx, n, fill(x.failedSubject, { summary: n.event.summary }), [
        fill(x.failedLead, { who: n.failure?.recipient ?? '', status: n.failure?.status ?? '5.1' }), n.event.summary, ...(n.failure?.response ? [n.failure.response] : []),
      ], { label: lang === 'ru' ? 'Открыть событие' : 'Open the event', url: n.event.url });
    }
  }
}

export const emailChannel: NotificationChannel = {
  name: 'email',
  reachable: (user) => !!user.email && user.email.includes('@'),
  async send(ctx, n) {
    const r = await mailer(ctx).send(renderEmail(ctx, n));
    if (r.rejected.length) throw Object.assign(new Error(`recipient refused: ${r.rejectedErrors?.[0]?.response ?? r.rejected.join(', ')}`), { permanent: r.rejectedErrors?.[0]?.permanent ?? true });
    return { messageId: r.messageId, response: r.response };
  },
};
