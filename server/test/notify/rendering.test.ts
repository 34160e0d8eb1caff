// Issue 5 "Rendering": every corpus event (../shared/corpus/ics) renders into a notification
// without error, and the iMIP generated for it (REQUEST, update REQUEST, CANCEL, REPLY) parses
// back with mailparser and ical.js and satisfies RFC 5546's required properties per method
// (imip-checker.ts). Event text is HTML-escaped everywhere (a `<script>` summary arrives as text).
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import ICAL from 'ical.js';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import type { SendMailOptions } from 'nodemailer';
import { simpleParser } from 'mailparser';
import { loadConfig } from '../../src/config/load.js';
import type { AppContext } from '../../src/app/context.js';
import type { PrincipalRow } from '../../src/store/schema.js';
import { plan } from '../../src/lib/itip/index.js';
import { indexResource, splitResources } from '../../src/lib/ical/index.js';
import { composeImip } from '../../src/integrations/mail/index.js';
import { withTimezones } from '../../src/app/notify/imip.js';
import { renderEmail } from '../../src/app/notify/email-channel.js';
import { NOTIFICATION_KINDS, type Notification } from '../../src/app/notify/channels.js';
import { checkImip } from './imip-checker.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const corpusDir = resolve(root, '../shared/corpus/ics');
const SCRIPT = '<script>alert("x")</script> & <b>bold</b>';
const ctx = { config: loadConfig({}, { mailFrom: 'calendar@example.com', mailDomains: ['example.com'], publicUrl: 'https://cal.example.com' }) } as unknown as AppContext;

const user = (lang: 'en' | 'ru', tz: string) => ({
  id: 'u1', kind: 'user', email: 'boris@example.com', name: 'Boris <b>', language: lang, timezone: tz, disabled: false, notify: null,
}) as unknown as PrincipalRow;

/**
 * The corpus file as the server stores it (the import path: splitResources — one resource per UID,
 * METHOD dropped, a VTIMEZONE for every zone, Windows/label zones mapped), VEVENTs only.
 */
function stored(text: string): { resources: string[]; errors: string[] } {
  let r;
  try { r = splitResources(text, { stripMethod: true, generateUid: true, accept: ['VEVENT'] }); } catch (e) { return { resources: [], errors: [(e as Error).message] }; }
  const errors = r.errors.filter((e) => e.code !== 'UNSUPPORTED_COMPONENT').map((e) => `${e.code}: ${e.message}`);
  // The write path compiles every resource (a VEVENT without DTSTART is refused there).
  const resources = r.resources.map((x) => x.text).filter((t) => {
    try { indexResource(t); return true; } catch (e) { errors.push((e as Error).message); return false; }
  });
  return { resources, errors };
}

/** A scheduling version of a stored resource: organised by anna@example.com, one external attendee. */
function scheduling(text: string): string {
  const cal = new ICAL.Component(ICAL.parse(text) as never);
  for (const c of cal.getAllSubcomponents('vevent')) {
    c.removeAllProperties('organizer');
    c.removeAllProperties('attendee');
    c.removeAllSubcomponents('valarm');
    const org = c.addPropertyWithValue('organizer', 'mailto:anna@example.com');
    org.setParameter('cn', 'Anna');
    const att = c.addPropertyWithValue('attendee', 'mailto:ext@partner.org');
    att.setParameter('partstat', 'NEEDS-ACTION');
    att.setParameter('rsvp', 'TRUE');
    c.addPropertyWithValue('attendee', 'mailto:anna@example.com').setParameter('partstat', 'ACCEPTED');
  }
  return cal.toString().replace(/\r?\n/g, '\r\n');
}

async function roundTrip(options: SendMailOptions) {
  const raw = await new MailComposer(options).compile().build();
  return { raw, parsed: await simpleParser(raw) };
}

async function checkImipMail(method: string, ical: string, problems: string[], where: string) {
  const ix = indexResource(ical);
  const options = composeImip({
    method: method as never, ical: withTimezones(ical), from: { email: 'calendar@example.com', name: 'Anna' }, envelopeFrom: 'calendar@example.com',
    to: [{ email: method === 'REPLY' ? 'anna@example.com' : 'ext@partner.org' }], lang: 'en', timezone: 'Europe/Moscow',
    messageId: `imip.test@example.com`, threadId: 'thread@example.com', summary: ix.summary ?? '', start: ix.firstStart ?? new Date(), end: ix.lastEnd ?? undefined,
    allDay: ix.allDay, location: ix.location ?? undefined, organizerName: 'Anna', attendeeName: 'Ext',
  });
  const { raw, parsed } = await roundTrip(options);
  const part = parsed.attachments.find((a) => a.contentType === 'text/calendar' || a.contentType === 'application/ics');
  if (!part) return problems.push(`${where} ${method}: no text/calendar part`);
  const text = part.content.toString('utf8');
  for (const p of checkImip(text)) problems.push(`${where} ${method}: ${p}`);
  const got = String(new ICAL.Component(ICAL.parse(text) as never).getFirstPropertyValue('method'));
  if (got !== method) problems.push(`${where}: METHOD ${got}, expected ${method}`);
  if (!new RegExp(`method=${method}`, 'i').test(raw.toString('latin1'))) problems.push(`${where} ${method}: Content-Type lacks method=`);
  if (/<script>/i.test(String(parsed.html ?? ''))) problems.push(`${where} ${method}: raw <script> in HTML`);
}

const files = readdirSync(corpusDir).filter((f) => f.endsWith('.ics')).sort();

describe('rendering the corpus', () => {
  it('has a corpus', () => expect(files.length).toBeGreaterThan(20));

  it('every corpus event renders into a notification of every kind (en/ru), parses back with mailparser, and escapes HTML', async () => {
    const problems: string[] = [];
    const unstorable: string[] = [];
    let rendered = 0;
    for (const f of files) {
      const { resources, errors } = stored(readFileSync(join(corpusDir, f), 'utf8'));
      // Files the import refuses never become notifications; they must be refused cleanly.
      if (errors.length) unstorable.push(`${f} (${resources.length ? `${errors.length} of its items: ` : ''}${errors[0] ?? 'no VEVENT'})`);
      if (!resources.length) { if (!errors.length) unstorable.push(`${f} (no VEVENT)`); continue; }
      for (const [ri, text] of resources.slice(0, 5).entries()) {
      let ix;
      try { ix = indexResource(text); } catch (e) { problems.push(`${f}#${ri}: does not index: ${(e as Error).message}`); continue; }
      if (!ix.firstStart) continue;
      for (const [lang, tz] of [['en', 'America/New_York'], ['ru', 'Europe/Moscow']] as const) {
        for (const kind of NOTIFICATION_KINDS) {
          const n: Notification = {
            kind, recipient: user(lang, tz), key: `test.${kind}.${f}`,
            event: { objectId: 'o1', uid: ix.uid ?? f, summary: `${ix.summary ?? ''} ${SCRIPT}`, start: ix.firstStart, end: ix.lastEnd ?? undefined, allDay: ix.allDay, location: `${ix.location ?? ''} ${SCRIPT}`, organizerName: `Anna ${SCRIPT}`, url: 'https://cal.example.com/?event=o1' },
            from: { email: 'anna@example.com', name: `Anna ${SCRIPT}` },
            changes: [{ field: 'start', old: new Date('2030-01-01T10:00:00Z'), new: ix.firstStart }, { field: 'summary', old: 'Old', new: `${ix.summary ?? ''} ${SCRIPT}` }],
            addedAttendees: [`New ${SCRIPT} <new@example.com>`], removedAttendees: ['gone@example.com'],
            answerLinks: { accept: 'https://cal.example.com/api/v1/answer?t=a', tentative: 'https://cal.example.com/api/v1/answer?t=t', decline: 'https://cal.example.com/api/v1/answer?t=d' },
            reply: { name: `Ext ${SCRIPT}`, partstat: 'ACCEPTED', comment: SCRIPT },
            reminder: { minutesBefore: 15, occurrenceStart: ix.firstStart },
            counter: { from: 'ext@partner.org', start: ix.firstStart.toISOString(), comment: SCRIPT },
            failure: { recipient: 'ext@partner.org', status: '5.1', response: `550 ${SCRIPT}` },
          };
          try {
            const { parsed } = await roundTrip(renderEmail(ctx, n));
            const html = String(parsed.html ?? '');
            if (!parsed.subject || !parsed.text || !html) problems.push(`${f} ${kind} ${lang}: missing subject/text/html`);
            if (/<script>|<b>bold/i.test(html)) problems.push(`${f} ${kind} ${lang}: unescaped event text in HTML`);
            if (kind !== 'delivery-failed' && kind !== 'counter' && !html.includes('&lt;script&gt;')) problems.push(`${f} ${kind} ${lang}: the summary is not shown as text`);
            rendered++;
          } catch (e) {
            problems.push(`${f} ${kind} ${lang}: ${(e as Error).message}`);
          }
        }
      }
      }
    }
    console.log(`[rendering] ${rendered} notifications rendered; not importable (no VEVENT, or refused by the import): ${unstorable.join('; ')}`);
    expect(problems).toEqual([]);
    expect(rendered).toBeGreaterThan(100);
  });

  it('iMIP generated for every corpus event (REQUEST, update, CANCEL, REPLY) satisfies RFC 5546 per method', async () => {
    const problems: string[] = [];
    const methods = new Map<string, number>();
    for (const f of files) {
      const res = stored(readFileSync(join(corpusDir, f), 'utf8')).resources.slice(0, 5).map(scheduling);
      for (const [i, text] of res.entries()) {
        const where = `${f}#${i}`;
        try {
          const created = plan({ oldText: null, newText: text, actorEmail: 'anna@example.com', now: new Date('2030-01-01T00:00:00Z') });
          const stored = created.newText ?? text;
          const updatedText = stored.replace(/^SUMMARY[^\r\n]*(\r\n[ \t][^\r\n]*)*/gm, `SUMMARY:${SCRIPT.replace(/[,;]/g, '')}`);
          const updated = plan({ oldText: stored, newText: /^SUMMARY/m.test(stored) ? updatedText : stored.replace(/^UID:/m, `SUMMARY:${SCRIPT.replace(/[,;]/g, '')}\r\nUID:`), actorEmail: 'anna@example.com', now: new Date('2030-01-02T00:00:00Z') });
          const cancelled = plan({ oldText: updated.newText ?? stored, newText: null, actorEmail: 'anna@example.com', now: new Date('2030-01-03T00:00:00Z') });
          // The attendee's side: ext@partner.org accepts (the REPLY our users send to external organizers).
          const attendeeCopy = (updated.newText ?? stored).replace(/\r\n[ \t]/g, '').replace(/mailto:anna@example\.com/g, 'mailto:org@partner.org').replace(/mailto:ext@partner\.org/g, 'mailto:boris@example.com');
          const acc = new ICAL.Component(ICAL.parse(attendeeCopy) as never);
          for (const c of acc.getAllSubcomponents('vevent')) for (const a of c.getAllProperties('attendee')) if (/boris@example\.com/i.test(String(a.getFirstValue()))) a.setParameter('partstat', 'ACCEPTED');
          const accepted = acc.toString().replace(/\r?\n/g, '\r\n');
          const replied = plan({ oldText: attendeeCopy, newText: accepted, actorEmail: 'boris@example.com', now: new Date('2030-01-04T00:00:00Z') });
          const all = [...created.messages, ...updated.messages, ...cancelled.messages, ...replied.messages];
          if (!created.messages.length) problems.push(`${where}: no REQUEST planned`);
          if (!cancelled.messages.length) problems.push(`${where}: no CANCEL planned`);
          for (const m of all) {
            methods.set(m.method, (methods.get(m.method) ?? 0) + 1);
            await checkImipMail(m.method, m.ical, problems, where);
          }
        } catch (e) {
          problems.push(`${where}: ${(e as Error).message}`);
        }
      }
    }
    console.log(`[rendering] iMIP checked per method: ${JSON.stringify(Object.fromEntries(methods))}`);
    expect(problems).toEqual([]);
    expect(methods.get('REQUEST')).toBeGreaterThan(20);
    expect(methods.get('CANCEL')).toBeGreaterThan(20);
    expect(methods.get('REPLY')).toBeGreaterThan(20);
  });
});
