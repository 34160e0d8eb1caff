// Recurrence builder model ⇄ RRULE (RFC 5545 §3.3.10), and a readable summary in Russian or English.
import type { Lang } from './i18n';

export type Freq = 'NONE' | 'DAILY' | 'WEEKLY' | 'MONTHLY' | 'YEARLY';
export const WEEKDAYS = ['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export interface Rule {
  freq: Freq;
  interval: number;
  byDay: Weekday[];                 // WEEKLY
  monthlyMode: 'date' | 'weekday';  // MONTHLY: BYMONTHDAY=n or BYDAY=±nXX
  end: 'never' | 'until' | 'count';
  until: string;                    // YYYY-MM-DD
  count: number;
}

export function defaultRule(startDay: string): Rule {
  return { freq: 'NONE', interval: 1, byDay: [weekdayOf(startDay)], monthlyMode: 'date', end: 'never', until: '', count: 10 };
}

export function weekdayOf(day: string): Weekday {
  const d = new Date(day.slice(0, 10) + 'T00:00:00Z').getUTCDay(); // 0 = Sunday
  return WEEKDAYS[(d + 6) % 7];
}
/** Which weekday-of-month (1..4, or -1 for the last) the date is. */
export function nthOfMonth(day: string): number {
  const d = new Date(day.slice(0, 10) + 'T00:00:00Z');
  const n = Math.ceil(d.getUTCDate() / 7);
  const daysInMonth = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate();
  return d.getUTCDate() + 7 > daysInMonth && n >= 4 ? -1 : n;
}

export function toRRule(r: Rule, startDay: string): string | null {
  if (r.freq === 'NONE') return null;
  const parts = [`FREQ=${r.freq}`];
  if (r.interval > 1) parts.push(`INTERVAL=${r.interval}`);
  if (r.freq === 'WEEKLY' && r.byDay.length) parts.push(`BYDAY=${sortDays(r.byDay).join(',')}`);
  if (r.freq === 'MONTHLY') {
    if (r.monthlyMode === 'date') parts.push(`BYMONTHDAY=${Number(startDay.slice(8, 10))}`);
    else parts.push(`BYDAY=${nthOfMonth(startDay)}${weekdayOf(startDay)}`);
  }
  if (r.end === 'until' && r.until) parts.push(`UNTIL=${r.until.replace(/-/g, '')}T235959Z`);
  if (r.end === 'count' && r.count > 0) parts.push(`COUNT=${r.count}`);
  return parts.join(';');
}

export function fromRRule(rrule: string | null | undefined, startDay: string): Rule {
  const r = defaultRule(startDay);
  if (!rrule) return r;
  const kv = Object.fromEntries(rrule.replace(/^RRULE:/i, '').split(';').map((p) => p.split('=') as [string, string]));
  r.freq = (['DAILY', 'WEEKLY', 'MONTHLY', 'YEARLY'].includes(kv.FREQ) ? kv.FREQ : 'NONE') as Freq;
  r.interval = Math.max(1, Number(kv.INTERVAL ?? 1) || 1);
  if (kv.BYDAY) {
    const days = kv.BYDAY.split(',');
    if (r.freq === 'MONTHLY' && /^[+-]?\d/.test(days[0])) r.monthlyMode = 'weekday';
    else r.byDay = days.map((d) => d.slice(-2) as Weekday).filter((d) => WEEKDAYS.includes(d));
  }
  if (kv.UNTIL) { r.end = 'until'; r.until = `${kv.UNTIL.slice(0, 4)}-${kv.UNTIL.slice(4, 6)}-${kv.UNTIL.slice(6, 8)}`; }
  else if (kv.COUNT) { r.end = 'count'; r.count = Number(kv.COUNT) || 1; }
  return r;
}

const sortDays = (d: Weekday[]) => [...new Set(d)].sort((a, b) => WEEKDAYS.indexOf(a) - WEEKDAYS.indexOf(b));

function dayName(w: Weekday, lang: Lang, style: 'short' | 'long', ruCase: 'nom' | 'acc' = 'nom') {
  const idx = WEEKDAYS.indexOf(w);
  const date = new Date(Date.UTC(2024, 0, 1 + idx)); // 2024-01-01 is a Monday
  let s = date.toLocaleDateString(lang === 'ru' ? 'ru-RU' : 'en-GB', { weekday: style, timeZone: 'UTC' });
  if (lang === 'ru' && style === 'long' && ruCase === 'acc') s = s.replace(/а$/, 'у'); // среда → среду, пятница → пятницу, суббота → субботу
  return s;
}

function ruPlural(n: number, one: string, few: string, many: string) {
  const m10 = n % 10, m100 = n % 100;
  if (m10 === 1 && m100 !== 11) return one;
  if (m10 >= 2 && m10 <= 4 && (m100 < 12 || m100 > 14)) return few;
  return many;
}

/** e.g. "Every 2 weeks on Mon and Wed until 30 June" / "Каждые 2 недели по пн и ср до 30 июня". */
export function summarize(r: Rule, startDay: string, lang: Lang): string {
  if (r.freq === 'NONE') return lang === 'ru' ? 'Не повторяется' : 'Does not repeat';
  const n = r.interval;
  const join = (items: string[]) => {
    const and = lang === 'ru' ? ' и ' : ' and ';
    return items.length <= 1 ? items.join('') : items.slice(0, -1).join(', ') + and + items[items.length - 1];
  };
  let s: string;
  if (lang === 'ru') {
    const unit = { DAILY: ['день', 'дня', 'дней'], WEEKLY: ['неделю', 'недели', 'недель'], MONTHLY: ['месяц', 'месяца', 'месяцев'], YEARLY: ['год', 'года', 'лет'] }[r.freq];
    const every = n === 1 ? { DAILY: 'Каждый день', WEEKLY: 'Каждую неделю', MONTHLY: 'Каждый месяц', YEARLY: 'Каждый год' }[r.freq]
      : `${ruPlural(n, 'Каждый', 'Каждые', 'Каждые')} ${n} ${ruPlural(n, unit[0], unit[1], unit[2])}`;
    s = every;
    if (r.freq === 'WEEKLY' && r.byDay.length) s += ' по ' + join(sortDays(r.byDay).map((d) => dayName(d, lang, 'short')));
    if (r.freq === 'MONTHLY') {
      if (r.monthlyMode === 'date') s += `, ${Number(startDay.slice(8, 10))}-го числа`;
      else {
        const k = nthOfMonth(startDay);
        const wdCode = weekdayOf(startDay);
        const wd = dayName(wdCode, lang, 'long', 'acc');
        const g = wdCode === 'SU' ? 2 : ['WE', 'FR', 'SA'].includes(wdCode) ? 1 : 0;
        const ords = [['первый', 'первую', 'первое'], ['второй', 'вторую', 'второе'], ['третий', 'третью', 'третье'], ['четвёртый', 'четвёртую', 'четвёртое'], ['пятый', 'пятую', 'пятое']];
        const last = ['последний', 'последнюю', 'последнее'][g];
        s += `, в ${k === -1 ? last : ords[k - 1][g]} ${wd}`;
      }
    }
    if (r.freq === 'YEARLY') s += ', ' + new Date(startDay.slice(0, 10) + 'T00:00:00Z').toLocaleDateString('ru-RU', { day: 'numeric', month: 'long', timeZone: 'UTC' });
    if (r.end === 'until' && r.until) s += ' до ' + new Date(r.until + 'T00:00:00Z').toLocaleDateString('ru-RU', { day: 'numeric', month: 'long', year: sameYear(r.until) ? undefined : 'numeric', timeZone: 'UTC' });
    if (r.end === 'count') s += `, ${r.count} ${ruPlural(r.count, 'раз', 'раза', 'раз')}`;
  } else {
    const unit = { DAILY: 'day', WEEKLY: 'week', MONTHLY: 'month', YEARLY: 'year' }[r.freq];
    s = n === 1 ? `Every ${unit}` : `Every ${n} ${unit}s`;
    if (r.freq === 'WEEKLY' && r.byDay.length) s += ' on ' + join(sortDays(r.byDay).map((d) => dayName(d, lang, 'short')));
    if (r.freq === 'MONTHLY') {
      if (r.monthlyMode === 'date') s += ` on day ${Number(startDay.slice(8, 10))}`;
      else {
        const k = nthOfMonth(startDay);
        s += ` on the ${k === -1 ? 'last' : ['first', 'second', 'third', 'fourth', 'fifth'][k - 1]} ${dayName(weekdayOf(startDay), lang, 'long')}`;
      }
    }
    if (r.freq === 'YEARLY') s += ' on ' + new Date(startDay.slice(0, 10) + 'T00:00:00Z').toLocaleDateString('en-GB', { day: 'numeric', month: 'long', timeZone: 'UTC' });
    if (r.end === 'until' && r.until) s += ' until ' + new Date(r.until + 'T00:00:00Z').toLocaleDateString('en-GB', { day: 'numeric', month: 'long', year: sameYear(r.until) ? undefined : 'numeric', timeZone: 'UTC' });
    if (r.end === 'count') s += `, ${r.count} time${r.count === 1 ? '' : 's'}`;
  }
  return s;
}

const sameYear = (day: string) => Number(day.slice(0, 4)) === new Date().getFullYear();
