// Pure rendering of every bot message, in Russian or English, in the recipient's time zone.
// Output is parseMode=HTML; everything that came from a user (titles, places, names, comments,
// URLs) goes through escapeHtml. Russian phrasing avoids gendered past-tense verbs on purpose.
import type { Button } from './types.js';

export type Lang = 'ru' | 'en';
export type AnswerCode = 'A' | 'T' | 'D';
export interface Recipient { lang: Lang; timeZone: string }
export interface Person { name?: string; email: string }
export type Weekday = 'MO' | 'TU' | 'WE' | 'TH' | 'FR' | 'SA' | 'SU';
export interface RecurrenceView {
  freq: 'DAILY' | 'WEEKLY' | 'MONTHLY' | 'YEARLY';
  interval?: number;
  byDay?: Weekday[];
  until?: Date;
  count?: number;
}
export interface EventView {
  title: string;
  start: Date;
  /** Exclusive end. For all-day events start/end are UTC midnights of the floating dates. */
  end: Date;
  allDay?: boolean;
  location?: string;
  organizer: Person;
  participantsCount: number;
  /** Link to the event in the web UI. Only http(s) links are rendered. */
  url: string;
  recurrence?: RecurrenceView;
}
export type Change =
  | { field: 'time'; old: { start: Date; end: Date; allDay?: boolean }; new: { start: Date; end: Date; allDay?: boolean } }
  | { field: 'title' | 'location'; old?: string; new?: string }
  | { field: 'recurrence'; old?: RecurrenceView; new?: RecurrenceView };
/** callbackData for each answer button (see callback-token.ts). */
export type AnswerTokens = Record<AnswerCode, string>;
export interface AgendaItem {
  title: string; start: Date; end: Date; allDay?: boolean; location?: string; url?: string;
  /** The recipient's own answer; 'N' = not answered yet. Undefined for the organizer. */
  myAnswer?: AnswerCode | 'N';
}
export interface RenderedMessage { text: string; parseMode: 'HTML'; inlineKeyboardMarkup?: Button[][] }
export type CallbackOutcome = AnswerCode | 'stale' | 'cancelled' | 'not-yours' | 'forged' | 'malformed' | 'expired' | 'error';

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const T = {
  en: {
    locale: 'en-GB', noTitle: '(no title)', none: '(none)', when: 'When', where: 'Where', organizer: 'Organizer',
    participants: 'Participants', repeats: 'Repeats', open: 'Open in Calendula', event: 'Event', comment: 'Comment',
    invitation: 'Invitation', updated: 'Event changed', cancelled: 'Cancelled', cancelledOcc: 'Occurrence cancelled',
    allDay: 'all day', yourAnswer: 'Your answer', changeHint: 'You can change your answer with the buttons below.',
    buttons: { A: 'Accept', T: 'Maybe', D: 'Decline' },
    answered: { A: 'Accepted', T: 'Maybe', D: 'Declined' },
    replyIcon: { A: '✅', T: '❔', D: '❌' },
    title: { when: 'Time', title: 'Title', location: 'Place', recurrence: 'Repeats' },
    today: 'Today', tomorrow: 'Tomorrow', noEvents: 'No events.', needsAnswer: 'no answer yet', maybe: 'maybe', declined: 'declined',
    startsIn: (m: string) => `starts in ${m}`, startsNow: 'starts now', h: 'h', min: 'min',
    every: (f: RecurrenceView['freq'], n: number) => n === 1
      ? { DAILY: 'every day', WEEKLY: 'every week', MONTHLY: 'every month', YEARLY: 'every year' }[f]
      : `every ${n} ${{ DAILY: 'days', WEEKLY: 'weeks', MONTHLY: 'months', YEARLY: 'years' }[f]}`,
    onDays: (d: string) => `on ${d}`, until: (d: string) => `until ${d}`, times: (n: number) => (n === 1 ? 'once' : `${n} times`),
    hello: (n?: string) => `👋 Hello${n ? `, ${n}` : ''}! I am the Calendula calendar bot.`,
    willSend: 'I will send you here: invitations with Accept / Maybe / Decline buttons, changes and cancellations of your meetings, answers of the people you invited, and reminders.',
    commands: 'Commands:\n/today — your agenda for today\n/tomorrow — your agenda for tomorrow\n/help — this help',
    helpHead: 'ℹ️ <b>Calendula bot</b>', helpBody: 'Press a button under an invitation to answer it; your answer goes to the organizer, as if you had answered in the calendar.',
    unknown: 'Sorry, I did not understand that. Try /today, /tomorrow or /help.',
    cb: {
      stale: 'This invitation has changed since this message. Please use the latest message.',
      cancelled: 'This event has been cancelled.', 'not-yours': 'This button belongs to someone else.',
      forged: 'This button is not valid.', malformed: 'This button is not valid.', expired: 'This button has expired. Please answer in the calendar.',
      error: 'Something went wrong. Please try again later.',
    },
  },
  ru: {
    locale: 'ru-RU', noTitle: '(без названия)', none: '(нет)', when: 'Когда', where: 'Где', organizer: 'Организатор',
    participants: 'Участников', repeats: 'Повторяется', open: 'Открыть в Calendula', event: 'Встреча', comment: 'Комментарий',
    invitation: 'Приглашение', updated: 'Встреча изменена', cancelled: 'Отменено', cancelledOcc: 'Отменено повторение',
    allDay: 'весь день', yourAnswer: 'Ваш ответ', changeHint: 'Ответ можно изменить кнопками ниже.',
    buttons: { A: 'Принять', T: 'Под вопросом', D: 'Отклонить' },
    answered: { A: 'Принято', T: 'Под вопросом', D: 'Отклонено' },
    replyIcon: { A: '✅', T: '❔', D: '❌' },
    title: { when: 'Время', title: 'Название', location: 'Место', recurrence: 'Повторение' },
    today: 'Сегодня', tomorrow: 'Завтра', noEvents: 'Встреч нет.', needsAnswer: 'нет ответа', maybe: 'под вопросом', declined: 'отклонено',
    startsIn: (m: string) => `начнётся через ${m}`, startsNow: 'начинается сейчас', h: 'ч', min: 'мин',
    every: (f: RecurrenceView['freq'], n: number) => n === 1
      ? { DAILY: 'каждый день', WEEKLY: 'каждую неделю', MONTHLY: 'каждый месяц', YEARLY: 'каждый год' }[f]
      : `${plural(n, f === 'WEEKLY' ? 'каждую' : 'каждый', 'каждые', 'каждые')} ${n} ${{
        DAILY: plural(n, 'день', 'дня', 'дней'), WEEKLY: plural(n, 'неделю', 'недели', 'недель'),
        MONTHLY: plural(n, 'месяц', 'месяца', 'месяцев'), YEARLY: plural(n, 'год', 'года', 'лет'),
      }[f]}`,
    onDays: (d: string) => `(${d})`, until: (d: string) => `до ${d}`, times: (n: number) => `${n} ${plural(n, 'раз', 'раза', 'раз')}`,
    hello: (n?: string) => `👋 Здравствуйте${n ? `, ${n}` : ''}! Я бот календаря Calendula.`,
    willSend: 'Сюда я буду присылать приглашения с кнопками «Принять / Под вопросом / Отклонить», изменения и отмены ваших встреч, ответы приглашённых вами участников и напоминания.',
    commands: 'Команды:\n/today — встречи на сегодня\n/tomorrow — встречи на завтра\n/help — эта справка',
    helpHead: 'ℹ️ <b>Бот Calendula</b>', helpBody: 'Нажмите кнопку под приглашением, чтобы ответить: ответ получит организатор, как если бы вы ответили в календаре.',
    unknown: 'Не удалось разобрать сообщение. Попробуйте /today, /tomorrow или /help.',
    cb: {
      stale: 'Приглашение изменилось после этого сообщения. Ответьте в последнем сообщении.',
      cancelled: 'Встреча отменена.', 'not-yours': 'Эта кнопка предназначена другому человеку.',
      forged: 'Кнопка недействительна.', malformed: 'Кнопка недействительна.', expired: 'Срок действия кнопки истёк. Ответьте в календаре.',
      error: 'Что-то пошло не так. Попробуйте позже.',
    },
  },
} as const;

function plural(n: number, one: string, few: string, many: string): string {
  const m10 = n % 10, m100 = n % 100;
  if (m10 === 1 && m100 !== 11) return one;
  if (m10 >= 2 && m10 <= 4 && (m100 < 12 || m100 > 14)) return few;
  return many;
}

function zone(tz: string): string {
  try { new Intl.DateTimeFormat('en', { timeZone: tz }); return tz; } catch { return 'UTC'; }
}

function parts(d: Date, r: Recipient, opt: Intl.DateTimeFormatOptions, tz = zone(r.timeZone)): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of new Intl.DateTimeFormat(T[r.lang].locale, { timeZone: tz, ...opt }).formatToParts(d)) out[p.type] = p.value;
  return out;
}

/** "Mon, 20 January 2025" / "пн, 20 января 2025". */
export function formatDay(d: Date, r: Recipient, tz = zone(r.timeZone)): string {
  const p = parts(d, r, { weekday: 'short', day: 'numeric', month: 'long', year: 'numeric' }, tz);
  return `${p.weekday}, ${p.day} ${p.month} ${p.year}`;
}
function formatTime(d: Date, r: Recipient): string {
  const p = parts(d, r, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  return `${p.hour}:${p.minute}`;
}
function offset(d: Date, r: Recipient): string {
  const v = parts(d, r, { timeZoneName: 'shortOffset' }).timeZoneName ?? 'UTC';
  return v === 'GMT' || v === 'GMT+0' || v === 'UTC' ? 'UTC' : v;
}

/** The "when" line, in the recipient's zone (all-day dates are floating and shown as they are). */
export function formatWhen(w: { start: Date; end: Date; allDay?: boolean }, r: Recipient): string {
  const t = T[r.lang];
  if (w.allDay) {
    const last = new Date(Math.max(w.start.getTime(), w.end.getTime() - 86_400_000));
    const a = formatDay(w.start, r, 'UTC'), b = formatDay(last, r, 'UTC');
    return a === b ? `${a} (${t.allDay})` : `${a} – ${b} (${t.allDay})`;
  }
  const a = formatDay(w.start, r), b = formatDay(w.end, r);
  const tz = offset(w.start, r);
  return a === b
    ? `${a}, ${formatTime(w.start, r)}–${formatTime(w.end, r)} (${tz})`
    : `${a}, ${formatTime(w.start, r)} – ${b}, ${formatTime(w.end, r)} (${tz})`;
}

const WEEKDAYS: Weekday[] = ['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'];
export function formatRecurrence(rr: RecurrenceView, r: Recipient): string {
  const t = T[r.lang];
  const out: string[] = [t.every(rr.freq, Math.max(1, rr.interval ?? 1))];
  if (rr.byDay?.length) {
    const names = [...rr.byDay].sort((x, y) => WEEKDAYS.indexOf(x) - WEEKDAYS.indexOf(y)).map((d) =>
      new Intl.DateTimeFormat(t.locale, { weekday: 'short', timeZone: 'UTC' }).format(new Date(Date.UTC(2024, 0, 1 + WEEKDAYS.indexOf(d)))));
    out.push(t.onDays(new Intl.ListFormat(t.locale, { type: 'conjunction' }).format(names)));
  }
  let s = out.join(' ');
  if (rr.until) s += `, ${t.until(formatDay(rr.until, r))}`;
  else if (rr.count) s += `, ${t.times(rr.count)}`;
  return s;
}

const title = (s: string, r: Recipient) => escapeHtml(s.trim() || T[r.lang].noTitle);
const person = (p: Person) => escapeHtml(p.name?.trim() || p.email);
const link = (url: string | undefined, text: string) =>
  url && /^https?:\/\//i.test(url) ? `<a href="${escapeHtml(url)}">${text}</a>` : text;

function details(ev: EventView, r: Recipient, o: { when?: boolean; where?: boolean; link?: boolean } = {}): string[] {
  const t = T[r.lang];
  const lines: string[] = [];
  if (o.when !== false) lines.push(`${t.when}: ${formatWhen(ev, r)}`);
  if (ev.recurrence) lines.push(`${t.repeats}: ${formatRecurrence(ev.recurrence, r)}`);
  if (o.where !== false && ev.location?.trim()) lines.push(`${t.where}: ${escapeHtml(ev.location.trim())}`);
  lines.push(`${t.organizer}: ${person(ev.organizer)}`);
  lines.push(`${t.participants}: ${ev.participantsCount}`);
  if (o.link !== false && /^https?:\/\//i.test(ev.url)) lines.push(link(ev.url, t.open));
  return lines;
}

/** Accept / Maybe / Decline (styles primary / base / attention). `chosen` gets a ✓. */
export function answerKeyboard(r: Recipient, tokens: AnswerTokens, chosen?: AnswerCode): Button[][] {
  const b = T[r.lang].buttons;
  const mk = (a: AnswerCode, style: 'primary' | 'base' | 'attention'): Button =>
    ({ text: a === chosen ? `✓ ${b[a]}` : b[a], callbackData: tokens[a], style });
  return [[mk('A', 'primary'), mk('T', 'base'), mk('D', 'attention')]];
}

export function renderInvitation(r: Recipient, ev: EventView, tokens: AnswerTokens): RenderedMessage {
  const t = T[r.lang];
  return { text: [`📅 <b>${t.invitation}: ${title(ev.title, r)}</b>`, ...details(ev, r)].join('\n'), parseMode: 'HTML', inlineKeyboardMarkup: answerKeyboard(r, tokens) };
}

/** The invitation edited after an answer: shows the answer, keeps buttons to change it. */
export function renderAnsweredInvitation(r: Recipient, ev: EventView, answer: AnswerCode, tokens: AnswerTokens): RenderedMessage {
  const t = T[r.lang];
  return {
    text: [`📅 <b>${t.invitation}: ${title(ev.title, r)}</b>`, ...details(ev, r), '',
      `${t.yourAnswer}: <b>${t.answered[answer]} ✓</b>`, t.changeHint].join('\n'),
    parseMode: 'HTML', inlineKeyboardMarkup: answerKeyboard(r, tokens, answer),
  };
}

function changeLine(c: Change, r: Recipient): string {
  const t = T[r.lang];
  const v = (s?: string) => (s?.trim() ? escapeHtml(s.trim()) : t.none);
  switch (c.field) {
    case 'time': return `${t.title.when}: ${formatWhen(c.old, r)} → <b>${formatWhen(c.new, r)}</b>`;
    case 'title': return `${t.title.title}: ${v(c.old)} → <b>${v(c.new)}</b>`;
    case 'location': return `${t.title.location}: ${v(c.old)} → <b>${v(c.new)}</b>`;
    case 'recurrence': {
      const f = (x?: RecurrenceView) => (x ? formatRecurrence(x, r) : t.none);
      return `${t.title.recurrence}: ${f(c.old)} → <b>${f(c.new)}</b>`;
    }
  }
}

/** What changed (old → new), then the current details; buttons when the answer must be given again. */
export function renderUpdate(r: Recipient, ev: EventView, changes: Change[], tokens?: AnswerTokens): RenderedMessage {
  const t = T[r.lang];
  const changed = new Set(changes.map((c) => c.field));
  const text = [`✏️ <b>${t.updated}: ${title(ev.title, r)}</b>`, ...changes.map((c) => changeLine(c, r)), '',
    ...details(ev, r, { when: !changed.has('time'), where: !changed.has('location') })].join('\n');
  return { text, parseMode: 'HTML', ...(tokens ? { inlineKeyboardMarkup: answerKeyboard(r, tokens) } : {}) };
}

/** A cancelled event or, with `occurrence`, one cancelled occurrence (ev.start/end = that occurrence). */
export function renderCancellation(r: Recipient, ev: EventView, o: { occurrence?: boolean } = {}): RenderedMessage {
  const t = T[r.lang];
  const lines = [`❌ <b>${o.occurrence ? t.cancelledOcc : t.cancelled}: ${title(ev.title, r)}</b>`,
    `${t.when}: ${formatWhen(ev, r)}`, `${t.organizer}: ${person(ev.organizer)}`];
  return { text: lines.join('\n'), parseMode: 'HTML' };
}

/** To the organizer: an attendee answered. */
export function renderAttendeeReply(r: Recipient, ev: EventView, attendee: Person, answer: AnswerCode, comment?: string): RenderedMessage {
  const t = T[r.lang];
  const lines = [`${t.replyIcon[answer]} ${t.answered[answer]}: <b>${person(attendee)}</b>`,
    `${t.event}: ${link(ev.url, title(ev.title, r))}`, `${t.when}: ${formatWhen(ev, r)}`];
  if (comment?.trim()) lines.push(`${t.comment}: ${escapeHtml(comment.trim())}`);
  return { text: lines.join('\n'), parseMode: 'HTML' };
}

export function renderReminder(r: Recipient, ev: EventView, now: Date): RenderedMessage {
  const t = T[r.lang];
  const mins = Math.round((ev.start.getTime() - now.getTime()) / 60_000);
  const h = Math.floor(mins / 60), m = mins % 60;
  const span = h > 0 ? `${h} ${t.h}${m ? ` ${m} ${t.min}` : ''}` : `${m} ${t.min}`;
  const lines = [`⏰ <b>${title(ev.title, r)}</b> — ${mins > 0 && !ev.allDay ? t.startsIn(span) : t.startsNow}`,
    `${t.when}: ${formatWhen(ev, r)}`];
  if (ev.location?.trim()) lines.push(`${t.where}: ${escapeHtml(ev.location.trim())}`);
  if (/^https?:\/\//i.test(ev.url)) lines.push(link(ev.url, t.open));
  return { text: lines.join('\n'), parseMode: 'HTML' };
}

/** /today and /tomorrow. `day` is any instant within that day in the recipient's zone. */
export function renderAgenda(r: Recipient, which: 'today' | 'tomorrow', day: Date, items: AgendaItem[]): RenderedMessage {
  const t = T[r.lang];
  const head = `📋 <b>${which === 'today' ? t.today : t.tomorrow}, ${formatDay(day, r)}</b> (${offset(day, r)})`;
  if (!items.length) return { text: `${head}\n${t.noEvents}`, parseMode: 'HTML' };
  const sorted = [...items].sort((a, b) => Number(!a.allDay) - Number(!b.allDay) || a.start.getTime() - b.start.getTime());
  const lines = sorted.map((it) => {
    const when = it.allDay ? t.allDay : `${formatTime(it.start, r)}–${formatTime(it.end, r)}`;
    const mark = it.myAnswer === 'N' ? ` (${t.needsAnswer})` : it.myAnswer === 'T' ? ` (${t.maybe})` : it.myAnswer === 'D' ? ` (${t.declined})` : '';
    const where = it.location?.trim() ? ` · ${escapeHtml(it.location.trim())}` : '';
    const name = link(it.url, title(it.title, r));
    return `${when}  ${it.myAnswer === 'D' ? `<s>${name}</s>` : name}${where}${mark}`;
  });
  return { text: [head, ...lines].join('\n'), parseMode: 'HTML' };
}

export function renderStart(r: Recipient, o: { name?: string } = {}): RenderedMessage {
  const t = T[r.lang];
  return { text: [t.hello(o.name?.trim() ? escapeHtml(o.name.trim()) : undefined), '', t.willSend, '', t.commands].join('\n'), parseMode: 'HTML' };
}

export function renderHelp(r: Recipient): RenderedMessage {
  const t = T[r.lang];
  return { text: [t.helpHead, t.helpBody, '', t.commands].join('\n'), parseMode: 'HTML' };
}

export function renderUnknown(r: Recipient): RenderedMessage {
  return { text: T[r.lang].unknown, parseMode: 'HTML' };
}

/** Plain text for answerCallbackQuery (no HTML there); errors as an alert. */
export function renderCallbackAnswer(r: Recipient, outcome: CallbackOutcome): { text: string; showAlert: boolean } {
  const t = T[r.lang];
  if (outcome === 'A' || outcome === 'T' || outcome === 'D') return { text: `${t.answered[outcome]} ✓`, showAlert: false };
  return { text: t.cb[outcome], showAlert: true };
}
