import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { apply, plan } from '../../../src/lib/itip/index.js';
import { att, cal, comps, master } from './helpers.js';

const DIR = '/work/shared/corpus/ics';
const read = (f: string) => readFileSync(join(DIR, f), 'utf8');

describe('real-world iTIP samples through apply()', () => {
  test.each([
    ['windows-live-request-pst.ics', 'abc@outlook.com', 'abc@web.de', 'create', 'APPLIED_NEW'],
    ['yahoo-request-rdate.ics', 'abc@yahoo.com', 'abc@web.de', 'create', 'APPLIED_NEW'],
    ['zidestore-request-quoted-params.ics', 'matt@mcbridematt.dhs.org', 'matt@mcbridematt.dhs.org', 'create', 'APPLIED_NEW'],
    ['obm-request.ics', 'ouazana@linagora.com', 'duzan@linagora.com', 'create', 'APPLIED_NEW'],
    ['lotus-notes6-request-recurid.ics', 'iCalChair@coffeebean.com', 'iCalParticipant@coffeebean.com', 'create', 'APPLIED_NEW'],
    // Exchange sent a REQUEST without ORGANIZER; RFC 5546 §3.2.2 requires one.
    ['exchange-request-pst-same-start.ics', 'someone@example.com', 'someone@example.com', 'reject', 'INVALID_MESSAGE'],
    // Spoofed: right recipient, wrong sender.
    ['obm-request.ics', 'mallory@evil.example', 'duzan@linagora.com', 'reject', 'NOT_ORGANIZER'],
    ['obm-request.ics', 'ouazana@linagora.com', 'stranger@linagora.com', 'reject', 'NOT_ATTENDEE'],
  ])('%s from %s to %s → %s %s', (file, sender, recipient, action, code) => {
    const r = apply({ ical: read(file), sender }, null, recipient);
    expect([r.action, r.code]).toEqual([action, code]);
    if (r.newText) {
      expect(r.newText).not.toMatch(/^METHOD:/m);
      const mine = comps(r.newText).map((c) => att(c, recipient.toLowerCase()) ?? c.getAllProperties('attendee').find((p) => String(p.getFirstValue()).toLowerCase().endsWith(recipient.toLowerCase())));
      expect(mine.some(Boolean)).toBe(true);
    }
  });

  test('obm: stored copy keeps DURATION and the resource attendee; re-delivery is stale', () => {
    const first = apply({ ical: read('obm-request.ics'), sender: 'ouazana@linagora.com' }, null, 'duzan@linagora.com');
    expect(first.newText).toContain('DURATION:PT1H30M');
    const again = apply({ ical: read('obm-request.ics'), sender: 'ouazana@linagora.com' }, first.newText!, 'duzan@linagora.com');
    expect(again.code).toBe('STALE_SEQUENCE');
  });

  test('lotus notes: a later instance REQUEST merges into the stored instance', () => {
    const text = read('lotus-notes6-request-recurid.ics');
    const first = apply({ ical: text, sender: 'icalchair@coffeebean.com' }, null, 'icalparticipant@coffeebean.com');
    const next = text.replace('SEQUENCE:1', 'SEQUENCE:2').replace('DTSTART;TZID=Eastern:20050426T100000', 'DTSTART;TZID=Eastern:20050426T120000');
    const r = apply({ ical: next, sender: 'icalchair@coffeebean.com' }, first.newText!, 'icalparticipant@coffeebean.com');
    expect(r.code).toBe('APPLIED_INSTANCE');
    expect(comps(r.newText!)).toHaveLength(1);
    expect(r.newText).toContain('20050426T120000');
  });

  test('exchange REPLY (declined, with COMMENT) applied to our organizer copy', () => {
    const uid = 'ecc5e718-08eb-4247-a871-d7e09a3ffbbc@localhost';
    const organizerCopy = cal({ uid, seq: 1, organizer: 'me@example.com', attendees: [{ email: 'calendar@gmail.com' }] });
    const r = apply({ ical: read('exchange-reply.ics'), sender: 'calendar@gmail.com' }, organizerCopy, 'me@example.com');
    expect([r.action, r.code]).toEqual(['update', 'APPLIED_REPLY']);
    expect(r.reply).toMatchObject({ attendee: 'calendar@gmail.com', partstat: 'DECLINED', comment: 'test-message-from-the-calendar\n' });
    expect(att(master(r.newText!), 'calendar@gmail.com')!.getParameter('partstat')).toBe('DECLINED');
    expect(apply({ ical: read('exchange-reply.ics'), sender: 'other@gmail.com' }, organizerCopy, 'me@example.com').code).toBe('SENDER_NOT_ATTENDEE');
  });

  test('recurid-cancelled-instance: as an organizer copy, the cancelled override reaches the attendee; a CANCEL of another instance applies', () => {
    const text = read('recurid-cancelled-instance.ics').replace(/SUMMARY:Arbeit\r?\n/g, 'SUMMARY:Arbeit\r\nORGANIZER:mailto:boss@example.com\r\nATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:w@example.com\r\n');
    const p = plan({ oldText: null, newText: text, actorEmail: 'boss@example.com', now: new Date('2014-06-01T00:00:00Z') });
    expect(p.messages).toHaveLength(1);
    const copy = apply({ ical: p.messages[0].ical, sender: 'boss@example.com' }, null, 'w@example.com');
    expect(comps(copy.newText!)).toHaveLength(3);
    const cancelled = comps(copy.newText!).filter((c) => c.getFirstPropertyValue('status') === 'CANCELLED');
    expect(cancelled).toHaveLength(1);
    const next = plan({ oldText: p.newText, newText: p.newText!.replace(/(RECURRENCE-ID:20140707T050000Z[\s\S]*?)(END:VEVENT)/, '$1STATUS:CANCELLED\r\n$2'), actorEmail: 'boss@example.com', now: new Date('2014-06-02T00:00:00Z') });
    const cancel = next.messages.find((m) => m.method === 'CANCEL')!;
    expect(cancel.recurrenceIds).toEqual(['20140707T050000Z']);
    const r = apply({ ical: cancel.ical, sender: 'boss@example.com' }, copy.newText!, 'w@example.com');
    expect(r.code).toBe('CANCELLED_INSTANCES');
  });

  test('every corpus file goes through apply() without throwing', () => {
    for (const f of readdirSync(DIR).filter((x) => x.endsWith('.ics'))) {
      let text: string;
      try {
        text = readFileSync(join(DIR, f), 'utf8');
      } catch {
        continue;
      }
      const r = apply({ ical: text, sender: 'x@example.com' }, null, 'y@example.com');
      expect(typeof r.code, f).toBe('string');
      expect(r.reason.length, f).toBeGreaterThan(0);
    }
  });
});
