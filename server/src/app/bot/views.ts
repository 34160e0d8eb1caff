/** Turns stored events into the renderer's views (integrations/vkteams/render.ts). */
import type { AppContext } from '../context.js';
import type { ObjectRow, PrincipalRow } from '../../store/schema.js';
import * as principals from '../../store/principals.js';
import { compileResource, indexResource, expandCompiled, formatRRule, type CompiledSeries } from '../../lib/ical/index.js';
import { publicUrl } from '../../config/load.js';
import {
  encodeCallbackToken, type AnswerCode, type AnswerTokens, type Change, type EventView, type Recipient, type RecurrenceView, type Weekday,
} from '../../integrations/vkteams/index.js';
import { callbackKey } from './messenger.js';

export const recipientOf = (u: Pick<PrincipalRow, 'language' | 'timezone'>): Recipient => ({ lang: u.language === 'ru' ? 'ru' : 'en', timeZone: u.timezone || 'UTC' });

export const PARTSTAT_OF: Record<AnswerCode, 'ACCEPTED' | 'TENTATIVE' | 'DECLINED'> = { A: 'ACCEPTED', T: 'TENTATIVE', D: 'DECLINED' };
export const ANSWER_OF: Record<string, AnswerCode | undefined> = { ACCEPTED: 'A', TENTATIVE: 'T', DECLINED: 'D' };

export function eventUrl(ctx: AppContext, objectId: string): string {
  return `${publicUrl(ctx.config)}/?event=${objectId}`;
}

function safeCompile(text: string): CompiledSeries | null {
  try { return compileResource(text); } catch { return null; }
}

/** Start/end of the occurrence to show: the next one from `after` for a series, else the first. */
export function whenOf(text: string, after?: Date): { start: Date; end: Date; allDay: boolean } | null {
  const c = safeCompile(text);
  const ix = indexResource(text);
  if (!ix.firstStart) return null;
  if (c) {
    const from = ix.recurring && after && after > ix.firstStart ? after : ix.firstStart;
    try {
      const [o] = expandCompiled(c, from, new Date(from.getTime() + 800 * 86_400_000), { limit: 1 });
      if (o) return { start: o.start, end: o.end, allDay: o.allDay };
      if (ix.recurring && from !== ix.firstStart) {
        const [first] = expandCompiled(c, ix.firstStart, new Date(ix.firstStart.getTime() + 800 * 86_400_000), { limit: 1 });
        if (first) return { start: first.start, end: first.end, allDay: first.allDay };
      }
    } catch { /* fall through */ }
  }
  return { start: ix.firstStart, end: ix.lastEnd ?? ix.firstStart, allDay: ix.allDay };
}

const WD = new Set(['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU']);
export function recurrenceOf(text: string): RecurrenceView | undefined {
  const c = safeCompile(text);
  const r = c?.rule;
  if (!r || !['DAILY', 'WEEKLY', 'MONTHLY', 'YEARLY'].includes(r.freq)) return undefined;
  let until: Date | undefined;
  if (r.until) {
    const m = /^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2}))?/.exec(r.until);
    if (m) until = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +(m[4] ?? 0), +(m[5] ?? 0), +(m[6] ?? 0)));
  }
  const byDay = (r.byDay ?? []).filter((d) => WD.has(d)) as Weekday[];
  return { freq: r.freq as RecurrenceView['freq'], interval: r.interval, ...(byDay.length ? { byDay } : {}), ...(until ? { until } : {}), ...(r.count ? { count: r.count } : {}) };
}

export async function eventView(ctx: AppContext, row: ObjectRow, o: { occurrenceStart?: Date } = {}): Promise<EventView> {
  const ix = indexResource(row.ical);
  let when = whenOf(row.ical, new Date());
  if (o.occurrenceStart) {
    const dur = when ? when.end.getTime() - when.start.getTime() : 0;
    when = { start: o.occurrenceStart, end: new Date(o.occurrenceStart.getTime() + dur), allDay: when?.allDay ?? row.all_day };
  }
  const orgEmail = ix.organizer ?? row.organizer;
  let orgName = ix.attendees.find((a) => a.email === orgEmail)?.cn ?? undefined;
  if (orgEmail && !orgName) orgName = (await principals.findPrincipalByEmail(ctx.db, orgEmail))?.name || undefined;
  const start = when?.start ?? new Date();
  return {
    title: row.summary, start, end: when?.end ?? start, allDay: when?.allDay ?? row.all_day,
    location: row.location || undefined,
    organizer: { email: orgEmail ?? '', name: orgName },
    participantsCount: ix.attendees.length, url: eventUrl(ctx, row.id),
    recurrence: row.recurring ? recurrenceOf(row.ical) : undefined,
  };
}

/** What an update changed (old → new) for the update message. */
export function changesOf(previous: string | null | undefined, current: string): Change[] {
  if (!previous) return [];
  let a, b;
  try { a = indexResource(previous); b = indexResource(current); } catch { return []; }
  const out: Change[] = [];
  const wa = whenOf(previous), wb = whenOf(current);
  if (wa && wb && (wa.start.getTime() !== wb.start.getTime() || wa.end.getTime() !== wb.end.getTime() || wa.allDay !== wb.allDay)) {
    out.push({ field: 'time', old: wa, new: wb });
  }
  if ((a.summary ?? '') !== (b.summary ?? '')) out.push({ field: 'title', old: a.summary ?? undefined, new: b.summary ?? undefined });
  if ((a.location ?? '') !== (b.location ?? '')) out.push({ field: 'location', old: a.location ?? undefined, new: b.location ?? undefined });
  const ra = safeCompile(previous)?.rule, rb = safeCompile(current)?.rule;
  if ((ra ? formatRRule(ra) : '') !== (rb ? formatRRule(rb) : '')) out.push({ field: 'recurrence', old: recurrenceOf(previous), new: recurrenceOf(current) });
  return out;
}

/** The three signed callbackData tokens for a user's copy (bound to user, copy and SEQUENCE). */
export function answerTokens(ctx: AppContext, user: PrincipalRow, row: ObjectRow, rid?: string): AnswerTokens {
  const key = callbackKey(ctx);
  const mk = (answer: AnswerCode) => encodeCallbackToken({ copyId: row.id, userId: user.id, answer, seq: row.sequence, ...(rid ? { rid } : {}) }, key);
  return { A: mk('A'), T: mk('T'), D: mk('D') };
}
