import { describe, expect, test } from 'vitest';
import {
  apply, attendeeCopyFromOrganizer, counter, declineCounter, normalizeAddress, plan, refresh,
  replyToOrganizerCopy, requestFor, setScheduleStatus,
} from '../../../src/lib/itip/index.js';
import { att, cal, comps, LATER, master, method, NOW, ORG, type Ev } from './helpers.js';

const A = 'anna@example.com';
const B = 'boris@example.com';
const MALLORY = 'mallory@evil.example';
const ev: Ev = { rrule: 'FREQ=WEEKLY;COUNT=5', attendees: [{ email: A }, { email: B, partstat: 'ACCEPTED' }] };
const withMethod = (m: string, text: string) => text.replace('VERSION:2.0', `VERSION:2.0\r\nMETHOD:${m}`);
const orgCopy = plan({ oldText: null, newText: cal(ev), actorEmail: ORG, now: NOW }).newText!;
const invite = requestFor(orgCopy, A, NOW)!;
const annaCopy = apply({ ical: invite.ical, sender: ORG }, null, A).newText!;

describe('apply REQUEST', () => {
  test('creates the copy with METHOD stripped and PARTSTAT NEEDS-ACTION', () => {
    const noPartstat = invite.ical.replace(`ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:${A}`, `ATTENDEE:mailto:${A}`);
    const r = apply({ ical: noPartstat, sender: `MAILTO:${ORG.toUpperCase()}` }, null, A);
    expect([r.action, r.code]).toEqual(['create', 'APPLIED_NEW']);
    expect(method(r.newText!)).toBe('');
    expect(att(master(r.newText!), A)!.getParameter('partstat')).toBe('NEEDS-ACTION');
  });

  test.each([
    ['older SEQUENCE', 0, '20240601T000000Z', 'ignore', 'STALE_SEQUENCE'],
    ['same SEQUENCE, older DTSTAMP', 1, '20240101T000000Z', 'ignore', 'STALE_SEQUENCE'],
    ['same SEQUENCE, same DTSTAMP', 1, '20240501T100000Z', 'ignore', 'STALE_SEQUENCE'],
    ['same SEQUENCE, newer DTSTAMP', 1, '20240601T000000Z', 'update', 'APPLIED_UPDATE'],
    ['newer SEQUENCE', 2, '20240101T000000Z', 'update', 'APPLIED_UPDATE'],
  ])('%s → %s', (_n, seq, stamp, action, code) => {
    const existing = annaCopy.replace('SEQUENCE:0', 'SEQUENCE:1');
    const msg = invite.ical.replace('SEQUENCE:0', `SEQUENCE:${seq}`).replace('DTSTAMP:20240501T100000Z', `DTSTAMP:${stamp}`).replace('SUMMARY:Planning', 'SUMMARY:Changed');
    const r = apply({ ical: msg, sender: ORG }, existing, A);
    expect([r.action, r.code]).toEqual([action, code]);
  });

  test('keeps the recipient\'s alarms, TRANSP, private X- and answer on a minor update; resets on a time change', () => {
    const mine = annaCopy.replace('SUMMARY:Planning', 'SUMMARY:Planning\r\nTRANSP:TRANSPARENT\r\nX-CALENDULA-PRIVATE-COLOR:red\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT10M\r\nEND:VALARM')
      .replace(`PARTSTAT=NEEDS-ACTION:mailto:${A}`, `PARTSTAT=ACCEPTED:mailto:${A}`);
    const minor = requestFor(orgCopy.replace('SUMMARY:Planning', 'SUMMARY:Planning v2'), A, LATER)!;
    const r = apply({ ical: minor.ical, sender: ORG }, mine, A);
    expect(r.code).toBe('APPLIED_UPDATE');
    expect(r.newText).toContain('TRIGGER:-PT10M');
    expect(r.newText).toContain('TRANSP:TRANSPARENT');
    expect(r.newText).toContain('X-CALENDULA-PRIVATE-COLOR:red');
    expect(att(master(r.newText!), A)!.getParameter('partstat')).toBe('ACCEPTED');
    const moved = plan({ oldText: orgCopy, newText: orgCopy.replace('DTSTART:20240610T090000Z', 'DTSTART:20240610T080000Z'), actorEmail: ORG, now: LATER });
    const r2 = apply({ ical: moved.messages.find((m) => m.recipient === A)!.ical, sender: ORG }, mine, A);
    expect(att(master(r2.newText!), A)!.getParameter('partstat')).toBe('NEEDS-ACTION');
    expect(r2.newText).toContain('TRIGGER:-PT10M');
  });

  test('single-instance REQUEST is merged into the series as an override', () => {
    const inst = cal({ ...ev, rrule: undefined, rid: '20240617T090000Z', start: '20240617T110000Z', end: '20240617T120000Z', seq: 1, stamp: '20240502T000000Z' });
    const r = apply({ ical: withMethod('REQUEST', inst), sender: ORG }, annaCopy, A);
    expect([r.action, r.code]).toEqual(['update', 'APPLIED_INSTANCE']);
    expect(comps(r.newText!)).toHaveLength(2);
    expect(apply({ ical: withMethod('REQUEST', inst), sender: ORG }, r.newText!, A).code).toBe('STALE_SEQUENCE');
  });

  test.each([
    ['REQUEST from a third party', 'REQUEST', MALLORY, 'NOT_ORGANIZER'],
    ['CANCEL from a third party', 'CANCEL', MALLORY, 'NOT_ORGANIZER'],
    ['ADD from a third party', 'ADD', MALLORY, 'NOT_ORGANIZER'],
    ['DECLINECOUNTER from a third party', 'DECLINECOUNTER', MALLORY, 'NOT_ORGANIZER'],
  ])('spoofing: %s is rejected', (_n, m, sender, code) => {
    const r = apply({ ical: withMethod(m, cal({ ...ev, seq: 9 })), sender }, annaCopy, A);
    expect([r.action, r.code, r.newText]).toEqual(['reject', code, undefined]);
  });

  test('spoofing: a REQUEST that names itself organizer of a guessed UID is rejected', () => {
    const hijack = withMethod('REQUEST', cal({ ...ev, seq: 9, organizer: MALLORY }));
    expect(apply({ ical: hijack, sender: MALLORY }, annaCopy, A).code).toBe('ORGANIZER_MISMATCH');
  });

  test('SENT-BY speaks for the organizer; trust=trusted skips the check but reports it', () => {
    const sent = withMethod('REQUEST', cal(ev)).replace('ORGANIZER;CN=Olga', 'ORGANIZER;CN=Olga;SENT-BY="mailto:assistant@example.com"');
    expect(apply({ ical: sent, sender: 'assistant@example.com' }, null, A).code).toBe('APPLIED_NEW');
    const r = apply({ ical: withMethod('REQUEST', cal(ev)), sender: MALLORY }, null, A, { trust: 'trusted' });
    expect([r.code, r.senderMatches]).toEqual(['APPLIED_NEW', false]);
  });

  test('recipient not invited → NOT_ATTENDEE; UID mismatch → UID_MISMATCH; no ORGANIZER → INVALID_MESSAGE', () => {
    expect(apply({ ical: invite.ical, sender: ORG }, null, 'zed@example.com').code).toBe('NOT_ATTENDEE');
    expect(apply({ ical: withMethod('REQUEST', cal({ ...ev, uid: 'other' })), sender: ORG }, annaCopy, A).code).toBe('UID_MISMATCH');
    expect(apply({ ical: 'garbage', sender: ORG }, null, A).code).toBe('INVALID_MESSAGE');
  });
});

describe('apply CANCEL', () => {
  test('whole series: action delete with a STATUS:CANCELLED copy; stale cancel ignored', () => {
    const c = plan({ oldText: orgCopy, newText: null, actorEmail: ORG, now: LATER }).messages.find((m) => m.recipient === A)!;
    const r = apply({ ical: c.ical, sender: ORG }, annaCopy, A);
    expect([r.action, r.code]).toEqual(['delete', 'CANCELLED_SERIES']);
    expect(comps(r.newText!).every((x) => x.getFirstPropertyValue('status') === 'CANCELLED')).toBe(true);
    const stale = c.ical.replace('SEQUENCE:1', 'SEQUENCE:0').replace(/DTSTAMP:\d+T\d+Z/, 'DTSTAMP:20200101T000000Z');
    expect(apply({ ical: stale, sender: ORG }, annaCopy, A).code).toBe('STALE_SEQUENCE');
    expect(apply({ ical: c.ical, sender: ORG }, null, A).code).toBe('UNKNOWN_UID');
  });

  test('one instance: EXDATE added (or override cancelled); repeat is a no-op', () => {
    const r0 = plan({ oldText: orgCopy, newText: orgCopy.replace('RRULE:FREQ=WEEKLY;COUNT=5', 'RRULE:FREQ=WEEKLY;COUNT=5\r\nEXDATE:20240617T090000Z'), actorEmail: ORG, now: LATER });
    const c = r0.messages.find((m) => m.recipient === A)!;
    const r = apply({ ical: c.ical, sender: ORG }, annaCopy, A);
    expect([r.action, r.code]).toEqual(['update', 'CANCELLED_INSTANCES']);
    expect(r.newText).toContain('EXDATE:20240617T090000Z');
    expect(apply({ ical: c.ical, sender: ORG }, r.newText!, A).code).toBe('ALREADY_CANCELLED');
    const withOverride = annaCopy.replace('END:VCALENDAR', `${comps(cal({ ...ev, rrule: undefined, rid: '20240617T090000Z', start: '20240617T090000Z', end: '20240617T100000Z' }))[0].toString()}\r\nEND:VCALENDAR`);
    const r2 = apply({ ical: c.ical, sender: ORG }, withOverride, A);
    expect(comps(r2.newText!).find((x) => x.getFirstProperty('recurrence-id'))!.getFirstPropertyValue('status')).toBe('CANCELLED');
  });
});

describe('apply REPLY', () => {
  const reply = (who: string, partstat: string, extra: Partial<Ev> = {}) =>
    withMethod('REPLY', cal({ ...ev, rrule: undefined, attendees: [{ email: who, partstat }], stamp: '20240502T000000Z', ...extra }));

  test('updates PARTSTAT and SCHEDULE-STATUS=2.0', () => {
    const r = apply({ ical: reply(A, 'TENTATIVE'), sender: A }, orgCopy, ORG);
    expect([r.action, r.code]).toEqual(['update', 'APPLIED_REPLY']);
    const p = att(master(r.newText!), A)!;
    expect([p.getParameter('partstat'), p.getParameter('schedule-status')]).toEqual(['TENTATIVE', '2.0']);
    // An older reply (by DTSTAMP) arriving later is ignored.
    const older = reply(A, 'DECLINED', { stamp: '20240501T000000Z' });
    expect(apply({ ical: older, sender: A }, r.newText!, ORG).code).toBe('STALE_REPLY');
  });

  test('a REPLY from a third party on behalf of an attendee is rejected', () => {
    expect(apply({ ical: reply(A, 'DECLINED'), sender: MALLORY }, orgCopy, ORG).code).toBe('SENDER_NOT_ATTENDEE');
  });

  test('party crasher: rejected by default, added by option', () => {
    expect(apply({ ical: reply(MALLORY, 'ACCEPTED'), sender: MALLORY }, orgCopy, ORG).code).toBe('PARTY_CRASHER');
    const r = apply({ ical: reply(MALLORY, 'ACCEPTED'), sender: MALLORY }, orgCopy, ORG, { acceptPartyCrashers: true });
    expect(r.code).toBe('PARTY_CRASHER_ADDED');
    expect(att(master(r.newText!), MALLORY)!.getParameter('partstat')).toBe('ACCEPTED');
  });

  test('applied only to the organizer\'s copy', () => {
    expect(apply({ ical: reply(A, 'ACCEPTED'), sender: A }, annaCopy, B).code).toBe('NOT_ORGANIZER_COPY');
  });
});

describe('COUNTER / DECLINECOUNTER / REFRESH / ADD', () => {
  test('COUNTER → structured proposal; DECLINECOUNTER back to the attendee', () => {
    const m = counter({ attendeeText: annaCopy, attendeeEmail: A, dtstart: '20240610T130000Z', dtend: '20240610T140000Z', comment: 'afternoon?', now: LATER });
    expect([m.method, m.sender, m.recipient]).toEqual(['COUNTER', A, ORG]);
    const r = apply({ ical: m.ical, sender: A }, orgCopy, ORG);
    expect([r.action, r.code]).toEqual(['ignore', 'COUNTER_PROPOSAL']);
    expect(r.counterProposal).toMatchObject({ from: A, comment: 'afternoon?' });
    expect(r.counterProposal!.dtstart).toContain('2024-06-10T13:00:00');
    expect(apply({ ical: m.ical, sender: MALLORY }, orgCopy, ORG).code).toBe('SENDER_NOT_ATTENDEE');
    const d = declineCounter({ organizerText: orgCopy, counterIcal: m.ical, comment: 'no', now: LATER });
    expect([d.method, d.recipient]).toEqual(['DECLINECOUNTER', A]);
    expect(apply({ ical: d.ical, sender: ORG }, annaCopy, A).code).toBe('COUNTER_DECLINED');
  });

  test('REFRESH → refreshFor, answered with requestFor', () => {
    const m = refresh({ attendeeText: annaCopy, attendeeEmail: A, now: LATER });
    const r = apply({ ical: m.ical, sender: A }, orgCopy, ORG);
    expect([r.code, r.refreshFor]).toEqual(['REFRESH_REQUESTED', A]);
    expect(requestFor(orgCopy, r.refreshFor!)!.method).toBe('REQUEST');
    expect(apply({ ical: refresh({ attendeeText: annaCopy, attendeeEmail: A }).ical.replace(A, MALLORY), sender: MALLORY }, orgCopy, ORG).code).toBe('PARTY_CRASHER');
  });

  test('ADD adds an instance (RDATE + override)', () => {
    const add = withMethod('ADD', cal({ ...ev, rrule: undefined, start: '20240801T090000Z', end: '20240801T100000Z', seq: 1 }));
    const r = apply({ ical: add, sender: ORG }, annaCopy, A);
    expect(r.code).toBe('APPLIED_ADD');
    expect(r.newText).toContain('RDATE:20240801T090000Z');
    expect(comps(r.newText!)).toHaveLength(2);
  });
});

describe('internal scheduling helpers', () => {
  test('attendeeCopyFromOrganizer equals applying the REQUEST; replyToOrganizerCopy carries the answer back', () => {
    const copy = attendeeCopyFromOrganizer(orgCopy, A, null, NOW);
    expect(copy.code).toBe('APPLIED_NEW');
    const answered = copy.newText!.replace(`PARTSTAT=NEEDS-ACTION:mailto:${A}`, `PARTSTAT=ACCEPTED:mailto:${A}`);
    const back = replyToOrganizerCopy(orgCopy, answered, A, LATER);
    expect(back.code).toBe('APPLIED_REPLY');
    expect(att(master(back.newText!), A)!.getParameter('partstat')).toBe('ACCEPTED');
    const removed = orgCopy.replace(/ATTENDEE;PARTSTAT=NEEDS-ACTION;SCHEDULE-STATUS=1.2:mailto:anna@example.com\r?\n/, '').replace('SEQUENCE:0', 'SEQUENCE:1');
    expect(attendeeCopyFromOrganizer(removed, A, answered, LATER).code).toBe('CANCELLED_SERIES');
  });

  test('setScheduleStatus writes a delivery result', () => {
    expect(att(master(setScheduleStatus(orgCopy, `MAILTO:${A.toUpperCase()}`, '5.1')), A)!.getParameter('schedule-status')).toBe('5.1');
  });

  test.each([
    ['MAILTO:Anna@Example.COM', 'anna@example.com'],
    ['  mailto: anna@example.com ', 'anna@example.com'],
    ['Mailto:<Anna@Example.com>', 'anna@example.com'],
    ['anna@example.com', 'anna@example.com'],
    ['', ''],
  ])('normalizeAddress(%j) = %j', (input, out) => expect(normalizeAddress(input)).toBe(out));

  test('EMAIL= param identifies urn:uuid attendees', () => {
    const t = cal({ attendees: [] }).replace('END:VEVENT', 'ATTENDEE;EMAIL=Anna@Example.com;PARTSTAT=NEEDS-ACTION:urn:uuid:1234\r\nEND:VEVENT');
    const r = plan({ oldText: null, newText: t, actorEmail: ORG, now: NOW });
    expect(r.messages.map((m) => m.recipient)).toEqual([A]);
  });
});
