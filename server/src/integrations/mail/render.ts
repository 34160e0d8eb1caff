// Shared body layout (text + HTML) and message-id/threading helpers for outgoing mail.
import { createHash } from 'node:crypto';
import { escapeHtml, formatDateTime, formatRange, hasKey, safeUrl, t, type DateInput, type Lang, type MessageKey } from './i18n.js';

export interface MailPerson {
  email: string;
  name?: string;
}

export interface Change {
  /** 'start' | 'end' | 'time' | 'summary' | 'location' | 'description' | 'rrule' | 'status' | any other label */
  field: string;
  old: string | Date | null | undefined;
  new: string | Date | null | undefined;
}

export interface EventFacts {
  summary: string;
  start: DateInput;
  end?: DateInput;
  allDay?: boolean;
  location?: string;
  organizerName?: string;
  changes?: Change[];
  addedAttendees?: string[];
  removedAttendees?: string[];
}

export interface BodyInput {
  lang: Lang;
  timezone: string;
  lead: string;
  facts: EventFacts;
  actions?: { label: string; url: string | undefined }[];
  eventUrl?: string;
  footer: MessageKey;
}

function changeValue(lang: Lang, tz: string, field: string, v: Change['old']): string {
  if (v === null || v === undefined || v === '') return t(lang, 'empty');
  if (v instanceof Date) return formatDateTime(lang, tz, v);
  if (['start', 'end', 'time', 'dtstart', 'dtend'].includes(field.toLowerCase()) && !Number.isNaN(Date.parse(v))) {
    return formatDateTime(lang, tz, v);
  }
  return v;
}

function fieldLabel(lang: Lang, field: string): string {
  const key = `field.${field.toLowerCase()}`;
  return hasKey(key) ? t(lang, key) : field;
}

export function renderBody(input: BodyInput): { text: string; html: string } {
  const { lang, timezone: tz, facts } = input;
  const summary = facts.summary.trim() || t(lang, 'untitled');
  const when = formatRange(lang, tz, facts.start, facts.end, facts.allDay);
  const rows: [string, string][] = [[t(lang, 'label.when'), when]];
  if (facts.location) rows.push([t(lang, 'label.where'), facts.location]);
  if (facts.organizerName) rows.push([t(lang, 'label.organizer'), facts.organizerName]);
  const changes = (facts.changes ?? []).map(
    (c) => [fieldLabel(lang, c.field), changeValue(lang, tz, c.field, c.old), changeValue(lang, tz, c.field, c.new)] as const,
  );
  const added = facts.addedAttendees ?? [];
  const removed = facts.removedAttendees ?? [];
  const actions = (input.actions ?? []).flatMap((a) => {
    const url = safeUrl(a.url);
    return url ? [{ label: a.label, url }] : [];
  });
  const eventUrl = safeUrl(input.eventUrl);

  const text: string[] = [input.lead, '', summary, ''];
  for (const [k, v] of rows) text.push(`${k}: ${v}`);
  if (changes.length) {
    text.push('', `${t(lang, 'label.changes')}:`);
    for (const [label, o, n] of changes) text.push(`  ${label}: ${o} → ${n}`);
  }
  if (added.length) text.push('', `${t(lang, 'label.added')}: ${added.join(', ')}`);
  if (removed.length) text.push('', `${t(lang, 'label.removed')}: ${removed.join(', ')}`);
  if (actions.length) {
    text.push('');
    for (const a of actions) text.push(`${a.label}: ${a.url}`);
  }
  if (eventUrl) text.push('', `${t(lang, 'action.open')}: ${eventUrl}`);
  text.push('', '-- ', t(lang, input.footer));

  const e = escapeHtml;
  const td = 'padding:4px 12px 4px 0;vertical-align:top';
  const html: string[] = [
    `<!DOCTYPE html><html lang="${lang}"><head><meta charset="utf-8"><title>${e(summary)}</title></head>`,
    '<body style="font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#222">',
    `<p>${e(input.lead)}</p>`,
    `<h2 style="font-size:18px;margin:12px 0">${e(summary)}</h2>`,
    '<table role="presentation" style="border-collapse:collapse">',
    ...rows.map(([k, v]) => `<tr><td style="${td};color:#666">${e(k)}</td><td style="${td}">${e(v)}</td></tr>`),
    '</table>',
  ];
  if (changes.length) {
    html.push(`<h3 style="font-size:15px">${e(t(lang, 'label.changes'))}</h3><table role="presentation" style="border-collapse:collapse">`);
    for (const [label, o, n] of changes) {
      html.push(
        `<tr><td style="${td};color:#666">${e(label)}</td><td style="${td}"><s style="color:#999">${e(o)}</s> → <b>${e(n)}</b></td></tr>`,
      );
    }
    html.push('</table>');
  }
  if (added.length) html.push(`<p><b>${e(t(lang, 'label.added'))}:</b> ${e(added.join(', '))}</p>`);
  if (removed.length) html.push(`<p><b>${e(t(lang, 'label.removed'))}:</b> ${e(removed.join(', '))}</p>`);
  if (actions.length) {
    const btn = 'display:inline-block;padding:8px 16px;margin:0 8px 8px 0;border-radius:4px;background:#1a73e8;color:#fff;text-decoration:none';
    html.push(`<p>${actions.map((a) => `<a href="${e(a.url)}" style="${btn}">${e(a.label)}</a>`).join('')}</p>`);
  }
  if (eventUrl) html.push(`<p><a href="${e(eventUrl)}">${e(t(lang, 'action.open'))}</a></p>`);
  html.push(`<p style="color:#888;font-size:12px">${e(t(lang, input.footer))}</p></body></html>`);
  return { text: text.join('\n'), html: html.join('\n') };
}

export function formatAddress(p: MailPerson): { address: string; name: string } | string {
  return p.name ? { address: p.email, name: p.name.replace(/[\r\n]+/g, ' ') } : p.email;
}

function domainOf(email: string): string {
  const d = email.split('@')[1]?.trim().toLowerCase();
  return d && /^[a-z0-9.-]+$/.test(d) ? d : 'calendula.invalid';
}

/**
 * RFC 5322 msg-id from a caller key. A key that already looks like `left@domain` is used as is;
 * anything else is hashed, so the same key always yields the same id (idempotent retries).
 */
export function toMessageId(key: string, fromEmail: string, prefix = 'calendula'): string {
  const bare = key.trim().replace(/^<|>$/g, '');
  if (/^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+$/.test(bare)) return `<${bare}>`;
  const hash = createHash('sha256').update(bare).digest('hex').slice(0, 32);
  return `<${prefix}-${hash}@${domainOf(fromEmail)}>`;
}

/** Message-ID plus In-Reply-To/References pointing at one synthetic root per event UID. */
export function threadHeaders(messageId: string, threadId: string, fromEmail: string) {
  const root = toMessageId(`thread:${threadId}`, fromEmail, 'thread');
  return { messageId: toMessageId(messageId, fromEmail), inReplyTo: root, references: [root] };
}
