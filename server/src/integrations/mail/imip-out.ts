// Outgoing mail composers. composeImip builds an RFC 6047 iMIP message for external
// attendees; composeNotification / composeReminder build plain notification mail for
// internal users. All return nodemailer SendMailOptions and do no I/O.
import ICAL from 'ical.js';
import type { SendMailOptions } from 'nodemailer';
import { oneLine, t, formatTime, type DateInput, type Lang, type MessageKey } from './i18n.js';
import { formatAddress, renderBody, threadHeaders, type Change, type MailPerson } from './render.js';

export type { Change, MailPerson } from './render.js';
export type { Lang } from './i18n.js';

export type ImipMethod = 'REQUEST' | 'CANCEL' | 'REPLY' | 'COUNTER' | 'DECLINECOUNTER' | 'ADD' | 'REFRESH';
export const IMIP_METHODS: readonly ImipMethod[] = ['REQUEST', 'CANCEL', 'REPLY', 'COUNTER', 'DECLINECOUNTER', 'ADD', 'REFRESH'];

interface CommonParams {
  from: MailPerson;
  to: MailPerson[];
  replyTo?: MailPerson;
  /** Envelope sender (MAIL FROM), e.g. a bounce address; defaults to `from`. */
  envelopeFrom?: string;
  lang: Lang;
  /** Recipient's IANA time zone; invalid zones fall back to UTC. */
  timezone: string;
  eventUrl?: string;
  /** Stable per delivery: the idempotency key. `left@domain` is used verbatim, anything else is hashed. */
  messageId: string;
  /** Per event UID: all mail about one event threads together. */
  threadId: string;
  summary: string;
  start: DateInput;
  end?: DateInput;
  allDay?: boolean;
  location?: string;
  organizerName?: string;
}

export interface ImipParams extends CommonParams {
  method: ImipMethod;
  /** Full VCALENDAR text including METHOD. */
  ical: string;
  changes?: Change[];
  /** Override the REQUEST new/updated decision (default: SEQUENCE > 0 or changes given). */
  isUpdate?: boolean;
  /** For REPLY/COUNTER/REFRESH: who answers (defaults to `from`). */
  attendeeName?: string;
}

type Facts = { method: string | null; sequence: number; partstat: string | null; uid: string | null };
// A fan-out composes the same calendar text for every attendee: parse it once.
const factsCache = new Map<string, Facts>();
function icalFacts(ical: string): Facts {
  let f = factsCache.get(ical);
  if (!f) {
    f = parseFacts(ical);
    if (factsCache.size >= 32) factsCache.delete(factsCache.keys().next().value!);
    factsCache.set(ical, f);
  }
  return f;
}

function parseFacts(ical: string): Facts {
  try {
    const root = new ICAL.Component(ICAL.parse(ical) as unknown[]);
    const ev = root.getFirstSubcomponent('vevent') ?? root.getFirstSubcomponent('vtodo');
    const method = root.getFirstPropertyValue('method');
    const att = ev?.getFirstProperty('attendee');
    return {
      method: method ? String(method).toUpperCase() : null,
      sequence: Number(ev?.getFirstPropertyValue('sequence') ?? 0) || 0,
      partstat: att ? String(att.getParameter('partstat') ?? '').toUpperCase() || null : null,
      uid: ev?.getFirstPropertyValue('uid') ? String(ev.getFirstPropertyValue('uid')) : null,
    };
  } catch (err) {
    throw new Error(`composeImip: calendar does not parse: ${(err as Error).message}`);
  }
}

function subjectKey(method: ImipMethod, isUpdate: boolean, partstat: string | null): MessageKey {
  if (method === 'REQUEST') return isUpdate ? 'subject.REQUEST.update' : 'subject.REQUEST';
  if (method === 'REPLY') {
    const key = `subject.REPLY.${partstat ?? ''}`;
    return ['ACCEPTED', 'DECLINED', 'TENTATIVE', 'DELEGATED'].includes(partstat ?? '') ? (key as MessageKey) : 'subject.REPLY';
  }
  return `subject.${method}` as MessageKey;
}

export function composeImip(p: ImipParams): SendMailOptions {
  if (!IMIP_METHODS.includes(p.method)) throw new Error(`composeImip: unsupported method ${String(p.method)}`);
  const facts = icalFacts(p.ical);
  if (facts.method !== p.method) {
    throw new Error(`composeImip: METHOD:${facts.method ?? '(none)'} in the calendar differs from ${p.method}`);
  }
  const isUpdate = p.isUpdate ?? (facts.sequence > 0 || (p.changes?.length ?? 0) > 0);
  const summary = oneLine(p.summary) || t(p.lang, 'untitled');
  const organizer = p.organizerName || p.from.name || p.from.email;
  const who = p.attendeeName || p.from.name || p.from.email;
  const answer = t(p.lang, `answer.${facts.partstat ?? 'NEEDS-ACTION'}` as MessageKey) || facts.partstat || '';
  const leadKey: MessageKey = p.method === 'REQUEST' && isUpdate ? 'lead.REQUEST.update' : (`lead.${p.method}` as MessageKey);
  const body = renderBody({
    lang: p.lang,
    timezone: p.timezone,
    lead: t(p.lang, leadKey, { organizer, who, answer }),
    facts: { ...p, summary, changes: p.method === 'REQUEST' ? p.changes : undefined },
    eventUrl: p.eventUrl,
    footer: 'footer.imip',
  });
  const ids = threadHeaders(p.messageId, p.threadId, p.from.email);
  const options: SendMailOptions = {
    from: formatAddress(p.from),
    to: p.to.map(formatAddress),
    subject: t(p.lang, subjectKey(p.method, isUpdate, facts.partstat), { summary }),
    text: body.text,
    html: body.html,
    // nodemailer puts this into multipart/alternative as text/calendar; method=X and adds the
    // invite.ics attachment itself (DEPENDENCIES.md item 7): do not attach another copy.
    icalEvent: { method: p.method, filename: 'invite.ics', content: p.ical },
    ...ids,
    headers: { 'Content-Language': p.lang },
  };
  if (p.replyTo) options.replyTo = formatAddress(p.replyTo);
  if (p.envelopeFrom) options.envelope = { from: p.envelopeFrom, to: p.to.map((x) => x.email) };
  return options;
}

export type NotificationKind = 'created' | 'updated' | 'cancelled' | 'reply';

export interface NotificationParams extends CommonParams {
  kind: NotificationKind;
  changes?: Change[];
  addedAttendees?: string[];
  removedAttendees?: string[];
  /** Signed one-click answer links (created/updated only). */
  actionUrls?: { accept?: string; tentative?: string; decline?: string };
  /** For kind 'reply': who answered and how (PARTSTAT). */
  reply?: { name: string; partstat: string };
}

const NOTIFY_SUBJECT: Record<Exclude<NotificationKind, 'reply'>, MessageKey> = {
  created: 'subject.REQUEST',
  updated: 'subject.REQUEST.update',
  cancelled: 'subject.CANCEL',
};

export function composeNotification(p: NotificationParams): SendMailOptions {
  const summary = oneLine(p.summary) || t(p.lang, 'untitled');
  const organizer = p.organizerName || t(p.lang, 'someone');
  const partstat = (p.reply?.partstat ?? '').toUpperCase();
  const subject =
    p.kind === 'reply' ? t(p.lang, subjectKey('REPLY', false, partstat), { summary }) : t(p.lang, NOTIFY_SUBJECT[p.kind], { summary });
  const lead =
    p.kind === 'reply'
      ? t(p.lang, 'lead.REPLY', {
          who: p.reply?.name || t(p.lang, 'someone'),
          answer: ['ACCEPTED', 'DECLINED', 'TENTATIVE', 'DELEGATED', 'NEEDS-ACTION'].includes(partstat)
            ? t(p.lang, `answer.${partstat}` as MessageKey)
            : partstat.toLowerCase(),
        })
      : t(p.lang, `lead.${p.kind}` as MessageKey, { organizer });
  const actions =
    p.kind === 'created' || p.kind === 'updated'
      ? [
          { label: t(p.lang, 'action.accept'), url: p.actionUrls?.accept },
          { label: t(p.lang, 'action.tentative'), url: p.actionUrls?.tentative },
          { label: t(p.lang, 'action.decline'), url: p.actionUrls?.decline },
        ]
      : [];
  const body = renderBody({
    lang: p.lang,
    timezone: p.timezone,
    lead,
    facts: { ...p, summary },
    actions,
    eventUrl: p.eventUrl,
    footer: 'footer.notification',
  });
  return baseMail(p, subject, body);
}

export interface ReminderParams extends CommonParams {
  minutesBefore?: number;
}

export function composeReminder(p: ReminderParams): SendMailOptions {
  const summary = oneLine(p.summary) || t(p.lang, 'untitled');
  const time = p.allDay ? t(p.lang, 'allDay') : formatTime(p.lang, p.timezone, p.start);
  const lead =
    p.minutesBefore !== undefined && p.minutesBefore > 0
      ? t(p.lang, 'lead.reminder.minutes', { minutes: Math.round(p.minutesBefore) })
      : t(p.lang, 'lead.reminder');
  const body = renderBody({ lang: p.lang, timezone: p.timezone, lead, facts: { ...p, summary }, eventUrl: p.eventUrl, footer: 'footer.notification' });
  return baseMail(p, t(p.lang, 'subject.reminder', { summary, time }), body);
}

function baseMail(p: CommonParams, subject: string, body: { text: string; html: string }): SendMailOptions {
  const options: SendMailOptions = {
    from: formatAddress(p.from),
    to: p.to.map(formatAddress),
    subject,
    text: body.text,
    html: body.html,
    ...threadHeaders(p.messageId, p.threadId, p.from.email),
    // RFC 3834: machine-generated; tells autoresponders not to answer.
    headers: { 'Auto-Submitted': 'auto-generated', 'Content-Language': p.lang },
  };
  if (p.replyTo) options.replyTo = formatAddress(p.replyTo);
  if (p.envelopeFrom) options.envelope = { from: p.envelopeFrom, to: p.to.map((x) => x.email) };
  return options;
}
