// Every user-visible string of outgoing mail, in Russian and English, plus the small
// formatting helpers (dates in the recipient's locale and zone, HTML escaping).

export type Lang = 'ru' | 'en';

const en = {
  'subject.REQUEST': 'Invitation: {summary}',
  'subject.REQUEST.update': 'Updated invitation: {summary}',
  'subject.CANCEL': 'Cancelled: {summary}',
  'subject.REPLY.ACCEPTED': 'Accepted: {summary}',
  'subject.REPLY.DECLINED': 'Declined: {summary}',
  'subject.REPLY.TENTATIVE': 'Tentative: {summary}',
  'subject.REPLY.DELEGATED': 'Delegated: {summary}',
  'subject.REPLY': 'Reply: {summary}',
  'subject.COUNTER': 'New time proposed: {summary}',
  'subject.DECLINECOUNTER': 'Proposal declined: {summary}',
  'subject.ADD': 'Added to the series: {summary}',
  'subject.REFRESH': 'Refresh request: {summary}',
  'subject.reminder': 'Reminder: {summary} at {time}',
  'lead.REQUEST': '{organizer} invites you to an event.',
  'lead.REQUEST.update': '{organizer} has updated an event.',
  'lead.CANCEL': '{organizer} has cancelled an event.',
  'lead.REPLY': '{who} has answered your invitation: {answer}.',
  'lead.COUNTER': '{who} proposes a new time.',
  'lead.DECLINECOUNTER': '{organizer} has declined your proposal.',
  'lead.ADD': '{organizer} has added an occurrence.',
  'lead.REFRESH': '{who} asks for the current version of the event.',
  'lead.created': '{organizer} has invited you to an event.',
  'lead.updated': '{organizer} has changed an event.',
  'lead.cancelled': '{organizer} has cancelled an event.',
  'lead.reminder': 'Your event starts soon.',
  'lead.reminder.minutes': 'Your event starts in {minutes} min.',
  'someone': 'Someone',
  'answer.ACCEPTED': 'accepted',
  'answer.DECLINED': 'declined',
  'answer.TENTATIVE': 'maybe',
  'answer.DELEGATED': 'delegated',
  'answer.NEEDS-ACTION': 'no answer yet',
  'label.when': 'When',
  'label.where': 'Where',
  'label.organizer': 'Organizer',
  'label.changes': 'What changed',
  'label.added': 'Added participants',
  'label.removed': 'Removed participants',
  'field.start': 'Start',
  'field.end': 'End',
  'field.time': 'Time',
  'field.summary': 'Title',
  'field.location': 'Location',
  'field.description': 'Description',
  'field.rrule': 'Repeats',
  'field.status': 'Status',
  'field.attendees': 'Participants',
  'action.accept': 'Accept',
  'action.tentative': 'Maybe',
  'action.decline': 'Decline',
  'action.open': 'Open the event',
  'empty': '(none)',
  'untitled': '(no title)',
  'footer.imip': 'Your mail program can answer this invitation with its own buttons.',
  'footer.notification': 'You receive this message because you take part in this event.',
  'allDay': 'all day',
} as const;

export type MessageKey = keyof typeof en;

const ru: Record<MessageKey, string> = {
  'subject.REQUEST': 'Приглашение: {summary}',
  'subject.REQUEST.update': 'Обновлённое приглашение: {summary}',
  'subject.CANCEL': 'Отменено: {summary}',
  'subject.REPLY.ACCEPTED': 'Принято: {summary}',
  'subject.REPLY.DECLINED': 'Отклонено: {summary}',
  'subject.REPLY.TENTATIVE': 'Под вопросом: {summary}',
  'subject.REPLY.DELEGATED': 'Делегировано: {summary}',
  'subject.REPLY': 'Ответ: {summary}',
  'subject.COUNTER': 'Предложено новое время: {summary}',
  'subject.DECLINECOUNTER': 'Предложение отклонено: {summary}',
  'subject.ADD': 'Добавлено в серию: {summary}',
  'subject.REFRESH': 'Запрос обновления: {summary}',
  'subject.reminder': 'Напоминание: {summary} в {time}',
  'lead.REQUEST': '{organizer} приглашает вас на встречу.',
  'lead.REQUEST.update': '{organizer} изменил(а) встречу.',
  'lead.CANCEL': '{organizer} отменил(а) встречу.',
  'lead.REPLY': '{who} ответил(а) на приглашение: {answer}.',
  'lead.COUNTER': '{who} предлагает другое время.',
  'lead.DECLINECOUNTER': '{organizer} отклонил(а) ваше предложение.',
  'lead.ADD': '{organizer} добавил(а) повторение встречи.',
  'lead.REFRESH': '{who} запрашивает актуальную версию встречи.',
  'lead.created': '{organizer} пригласил(а) вас на встречу.',
  'lead.updated': '{organizer} изменил(а) встречу.',
  'lead.cancelled': '{organizer} отменил(а) встречу.',
  'lead.reminder': 'Скоро начнётся встреча.',
  'lead.reminder.minutes': 'Встреча начнётся через {minutes} мин.',
  'someone': 'Кто-то',
  'answer.ACCEPTED': 'пойду',
  'answer.DECLINED': 'не пойду',
  'answer.TENTATIVE': 'возможно',
  'answer.DELEGATED': 'делегировано',
  'answer.NEEDS-ACTION': 'пока без ответа',
  'label.when': 'Когда',
  'label.where': 'Где',
  'label.organizer': 'Организатор',
  'label.changes': 'Что изменилось',
  'label.added': 'Добавлены участники',
  'label.removed': 'Удалены участники',
  'field.start': 'Начало',
  'field.end': 'Окончание',
  'field.time': 'Время',
  'field.summary': 'Название',
  'field.location': 'Место',
  'field.description': 'Описание',
  'field.rrule': 'Повторение',
  'field.status': 'Статус',
  'field.attendees': 'Участники',
  'action.accept': 'Пойду',
  'action.tentative': 'Возможно',
  'action.decline': 'Не пойду',
  'action.open': 'Открыть встречу',
  'empty': '(нет)',
  'untitled': '(без названия)',
  'footer.imip': 'Ответить на приглашение можно кнопками вашей почтовой программы.',
  'footer.notification': 'Вы получили это письмо, потому что участвуете во встрече.',
  'allDay': 'весь день',
};

export const messages: Record<Lang, Record<MessageKey, string>> = { en, ru };

export function t(lang: Lang, key: MessageKey, vars: Record<string, string | number> = {}): string {
  const table = messages[lang] ?? messages.en;
  return (table[key] ?? en[key]).replace(/\{(\w+)\}/g, (m, name: string) => (name in vars ? String(vars[name]) : m));
}

export function hasKey(key: string): key is MessageKey {
  return key in en;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Only http(s) links go into mail; anything else (javascript:, data:) is dropped. */
export function safeUrl(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.toString() : undefined;
  } catch {
    return undefined;
  }
}

/** One line, no control characters: safe for a Subject header. */
export function oneLine(s: string, max = 200): string {
  const clean = s.replace(/[\u0000-\u001f\u007f]+/g, ' ').replace(/\s+/g, ' ').trim();
  return clean.length > max ? clean.slice(0, max - 1) + '…' : clean;
}

const LOCALES: Record<Lang, string> = { ru: 'ru-RU', en: 'en-GB' };

const zoneOk = new Map<string, string>();
function validZone(timeZone: string): string {
  let z = zoneOk.get(timeZone);
  if (z) return z;
  try {
    new Intl.DateTimeFormat('en', { timeZone });
    z = timeZone;
  } catch {
    z = 'UTC';
  }
  if (zoneOk.size > 1000) zoneOk.clear();
  zoneOk.set(timeZone, z);
  return z;
}

// Intl.DateTimeFormat construction is expensive (a fan-out formats the same dates thousands of times).
const formats = new Map<string, Intl.DateTimeFormat>();
function dtf(lang: Lang, o: Intl.DateTimeFormatOptions & { timeZone: string }): Intl.DateTimeFormat {
  const key = `${lang}|${o.dateStyle ?? ''}|${o.timeStyle ?? ''}|${o.timeZone}`;
  let f = formats.get(key);
  if (!f) {
    if (formats.size > 1000) formats.clear();
    formats.set(key, (f = new Intl.DateTimeFormat(LOCALES[lang], o)));
  }
  return f;
}

export type DateInput = Date | string | number;

function toDate(d: DateInput): Date {
  const date = d instanceof Date ? d : new Date(d);
  if (Number.isNaN(date.getTime())) throw new RangeError(`invalid date: ${String(d)}`);
  return date;
}

// ICU's range formatting costs ~30 µs a call, and a fan-out formats the same range for every
// recipient who shares a language and time zone.
const ranges = new Map<string, string>();

/** "Monday, 3 March 2025, 10:00–11:00 (Europe/Moscow)"; all-day ranges use dates only (end exclusive). */
export function formatRange(lang: Lang, timeZone: string, start: DateInput, end: DateInput | undefined, allDay = false): string {
  const s = toDate(start);
  const e = end === undefined ? undefined : toDate(end);
  const key = `${lang}|${timeZone}|${s.getTime()}|${e?.getTime() ?? ''}|${allDay ? 1 : 0}`;
  let text = ranges.get(key);
  if (text === undefined) {
    if (ranges.size >= 2000) ranges.clear();
    ranges.set(key, (text = formatRangeNow(lang, timeZone, s, e, allDay)));
  }
  return text;
}

function formatRangeNow(lang: Lang, timeZone: string, s: Date, end: Date | undefined, allDay: boolean): string {
  const zone = allDay ? 'UTC' : validZone(timeZone);
  let e = end;
  if (allDay) {
    if (e) e = new Date(Math.max(s.getTime(), e.getTime() - 86_400_000));
    const fmt = dtf(lang, { dateStyle: 'full', timeZone: zone });
    const text = e && e.getTime() !== s.getTime() ? fmt.formatRange(s, e) : fmt.format(s);
    return `${text} (${t(lang, 'allDay')})`;
  }
  const fmt = dtf(lang, { dateStyle: 'full', timeStyle: 'short', timeZone: zone });
  const text = e && e.getTime() > s.getTime() ? fmt.formatRange(s, e) : fmt.format(s);
  return `${text} (${zone})`;
}

export function formatDateTime(lang: Lang, timeZone: string, d: DateInput): string {
  return dtf(lang, { dateStyle: 'medium', timeStyle: 'short', timeZone: validZone(timeZone) }).format(toDate(d));
}

export function formatTime(lang: Lang, timeZone: string, d: DateInput): string {
  return dtf(lang, { timeStyle: 'short', timeZone: validZone(timeZone) }).format(toDate(d));
}
