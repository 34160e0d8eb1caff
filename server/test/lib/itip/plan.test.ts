import { describe, expect, test } from 'vitest';
import { plan, apply, validateAttendeeChange } from '../../../src/lib/itip/index.js';
import { att, cal, comps, LATER, master, method, NOW, ORG, type Ev } from './helpers.js';

const A = 'anna@example.com';
const B = 'boris@example.com';
const C = 'clara@example.com';
const three: Ev = {
  attendees: [{ email: A }, { email: B, partstat: 'ACCEPTED' }, { email: C, params: ';SCHEDULE-AGENT=CLIENT' }, { email: ORG, partstat: 'ACCEPTED' }],
  extra: ['X-MOZ-LASTACK:20240101T000000Z', 'X-CALENDULA-PRIVATE-NOTE:mine', 'BEGIN:VALARM', 'ACTION:DISPLAY', 'TRIGGER:-PT5M', 'END:VALARM'],
};
const weekly: Ev = { ...three, rrule: 'FREQ=WEEKLY;COUNT=5' };
const created = (ev: Ev) => plan({ oldText: null, newText: cal(ev), actorEmail: ORG, now: NOW }).newText!;
const byRecipient = (r: ReturnType<typeof plan>) => Object.fromEntries(r.messages.map((m) => [`${m.method}:${m.recipient}`, m]));

describe('plan — organizer', () => {
  test('new event: REQUEST to each attendee except organizer and SCHEDULE-AGENT=CLIENT; private data stripped', () => {
    const r = plan({ oldText: null, newText: cal(three), actorEmail: 'MAILTO:Org@Example.com', now: NOW });
    expect(r.messages.map((m) => `${m.method}:${m.recipient}`).sort()).toEqual([`REQUEST:${A}`, `REQUEST:${B}`]);
    for (const m of r.messages) {
      expect(m.significantChange).toBe(true);
      expect(method(m.ical)).toBe('REQUEST');
      expect(m.ical).not.toMatch(/VALARM|X-MOZ|X-CALENDULA-PRIVATE|SCHEDULE-AGENT|SCHEDULE-STATUS/);
      expect(m.ical).toContain('DTSTAMP:20240501T100000Z');
    }
    const stored = master(r.newText!);
    expect(att(stored, A)!.getParameter('schedule-status')).toBe('1.2');
    expect(att(stored, C)!.getParameter('schedule-status')).toBeUndefined();
    expect(r.newText).toContain('BEGIN:VALARM'); // the organizer keeps their own alarm
    expect(r.sequenceBumped).toBe(false);
  });

  test('SCHEDULE-FORCE-SEND=REQUEST sends even without change; invalid address gets 3.7', () => {
    const ev: Ev = { attendees: [{ email: A }, { email: 'not-an-address' }] };
    const first = created(ev);
    expect(att(master(first), 'not-an-address')!.getParameter('schedule-status')).toBe('3.7');
    const forced = first.replace(`:mailto:${A}`, `;SCHEDULE-FORCE-SEND=REQUEST:mailto:${A}`);
    const r = plan({ oldText: first, newText: forced, actorEmail: ORG, now: LATER });
    expect(r.messages.map((m) => m.recipient)).toEqual([A]);
    expect(plan({ oldText: first, newText: first, actorEmail: ORG, now: LATER }).messages).toEqual([]);
    expect(plan({ oldText: first, newText: first, actorEmail: ORG, forceSendFor: [A], now: LATER }).messages).toHaveLength(1);
  });

  test('moving the time: REQUEST, SEQUENCE bumped, PARTSTAT reset with RSVP', () => {
    const old = created(three);
    const moved = old.replace('DTSTART:20240610T090000Z', 'DTSTART:20240611T090000Z').replace('DTEND:20240610T100000Z', 'DTEND:20240611T100000Z');
    const r = plan({ oldText: old, newText: moved, actorEmail: ORG, now: LATER });
    expect(r.sequenceBumped).toBe(true);
    const m = byRecipient(r)[`REQUEST:${B}`];
    expect(m.significantChange).toBe(true);
    expect(m.ical).toContain('SEQUENCE:1');
    expect(m.ical).toMatch(/ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:boris/);
    expect(att(master(r.newText!), ORG)!.getParameter('partstat')).toBe('ACCEPTED');
  });

  test('description-only change: REQUEST with same SEQUENCE, not significant, answers kept', () => {
    const old = created(three);
    const r = plan({ oldText: old, newText: old.replace('SUMMARY:Planning', 'SUMMARY:Planning\r\nDESCRIPTION:agenda'), actorEmail: ORG, now: LATER });
    expect(r.sequenceBumped).toBe(false);
    const m = byRecipient(r)[`REQUEST:${B}`];
    expect(m.significantChange).toBe(false);
    expect(m.ical).toContain('SEQUENCE:0');
    expect(m.ical).toMatch(/PARTSTAT=ACCEPTED:mailto:boris/);
    // …and the attendee applies it (same SEQUENCE, newer DTSTAMP) keeping their answer.
    const copy = apply({ ical: plan({ oldText: null, newText: old, actorEmail: ORG, now: NOW, forceSendFor: [B] }).messages.find((x) => x.recipient === B)!.ical, sender: ORG }, null, B).newText!;
    const upd = apply({ ical: m.ical, sender: ORG }, copy, B);
    expect(upd.code).toBe('APPLIED_UPDATE');
    expect(upd.newText).toContain('DESCRIPTION:agenda');
  });

  test('location change bumps SEQUENCE but does not reset answers', () => {
    const old = created(three);
    const r = plan({ oldText: old, newText: old.replace('SUMMARY:Planning', 'SUMMARY:Planning\r\nLOCATION:Room 2'), actorEmail: ORG, now: LATER });
    expect(r.sequenceBumped).toBe(true);
    expect(byRecipient(r)[`REQUEST:${B}`].ical).toMatch(/PARTSTAT=ACCEPTED:mailto:boris/);
  });

  test('removing an attendee: CANCEL to them, REQUEST (not significant) to the rest', () => {
    const old = created(three);
    const r = plan({ oldText: old, newText: old.replace(/ATTENDEE;PARTSTAT=NEEDS-ACTION;SCHEDULE-STATUS=1.2:mailto:anna@example.com\r?\n/, ''), actorEmail: ORG, now: LATER });
    const by = byRecipient(r);
    expect(method(by[`CANCEL:${A}`].ical)).toBe('CANCEL');
    expect(by[`CANCEL:${A}`].ical).toContain('STATUS:CANCELLED');
    expect(by[`REQUEST:${B}`].significantChange).toBe(false);
  });

  test('cancelling one instance of a weekly series (EXDATE): CANCEL with RECURRENCE-ID only', () => {
    const old = created(weekly);
    const r = plan({ oldText: old, newText: old.replace('RRULE:FREQ=WEEKLY;COUNT=5', 'RRULE:FREQ=WEEKLY;COUNT=5\r\nEXDATE:20240617T090000Z'), actorEmail: ORG, now: LATER });
    const m = byRecipient(r)[`CANCEL:${A}`];
    expect(r.messages.map((x) => x.method)).toEqual(['CANCEL', 'CANCEL']);
    expect(m.recurrenceIds).toEqual(['20240617T090000Z']);
    expect(m.ical).toContain('RECURRENCE-ID:20240617T090000Z');
    expect(m.ical).toContain('SEQUENCE:1');
  });

  test('cancelling one instance with an override STATUS:CANCELLED', () => {
    const old = created(weekly);
    const neu = cal({ ...weekly, seq: 0 }, { ...three, rid: '20240624T090000Z', start: '20240624T090000Z', end: '20240624T100000Z', status: 'CANCELLED' });
    const r = plan({ oldText: old, newText: neu, actorEmail: ORG, now: LATER });
    expect(byRecipient(r)[`CANCEL:${B}`].recurrenceIds).toEqual(['20240624T090000Z']);
  });

  test('attendee invited to one instance only gets only that instance', () => {
    const neu = cal({ ...weekly }, { ...three, rid: '20240617T090000Z', start: '20240617T090000Z', end: '20240617T100000Z', attendees: [...three.attendees!, { email: 'dan@example.com' }] });
    const r = plan({ oldText: null, newText: neu, actorEmail: ORG, now: NOW });
    const d = byRecipient(r)['REQUEST:dan@example.com'];
    expect(d.recurrenceIds).toEqual(['20240617T090000Z']);
    expect(comps(d.ical)).toHaveLength(1);
    expect(d.ical).not.toContain('RRULE');
    const a = byRecipient(r)[`REQUEST:${A}`];
    expect(comps(a.ical)).toHaveLength(2);
  });

  test('attendee in the series but dropped from one override sees an EXDATE', () => {
    const over: Ev = { ...three, rid: '20240617T090000Z', start: '20240617T090000Z', end: '20240617T100000Z', attendees: [{ email: B }] };
    const r = plan({ oldText: null, newText: cal(weekly, over), actorEmail: ORG, now: NOW });
    const a = byRecipient(r)[`REQUEST:${A}`];
    expect(comps(a.ical)).toHaveLength(1);
    expect(a.ical).toContain('EXDATE:20240617T090000Z');
  });

  test('deleting the event: CANCEL to everyone, SEQUENCE above the stored one', () => {
    const old = created(three);
    const r = plan({ oldText: old, newText: null, actorEmail: ORG, now: LATER });
    expect(r.messages.map((m) => `${m.method}:${m.recipient}`).sort()).toEqual([`CANCEL:${A}`, `CANCEL:${B}`]);
    expect(r.messages[0].ical).toContain('SEQUENCE:1');
    expect(r.newText).toBeNull();
  });

  test('not a scheduling object (no attendees): nothing', () => {
    expect(plan({ oldText: null, newText: cal({}), actorEmail: ORG }).messages).toEqual([]);
  });
});

describe('plan — attendee', () => {
  const orgCopy = created(weekly);
  const mine = apply({ ical: plan({ oldText: null, newText: orgCopy, actorEmail: ORG, now: NOW }).messages.find((m) => m.recipient === A)!.ical, sender: ORG }, null, A).newText!;

  test('accepting the series: REPLY with only my ATTENDEE line to the organizer', () => {
    const neu = mine.replace(`ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:${A}`, `ATTENDEE;PARTSTAT=ACCEPTED:mailto:${A}`).replace('SUMMARY:Planning', 'SUMMARY:Planning\r\nCOMMENT:see you');
    const r = plan({ oldText: mine, newText: neu, actorEmail: A, now: LATER });
    expect(r.messages).toHaveLength(1);
    const m = r.messages[0];
    expect([m.method, m.sender, m.recipient]).toEqual(['REPLY', A, ORG]);
    expect(comps(m.ical)[0].getAllProperties('attendee')).toHaveLength(1);
    expect(m.ical).toContain('PARTSTAT=ACCEPTED');
    expect(m.ical).toContain('COMMENT:see you');
    expect(m.ical).not.toContain('RECURRENCE-ID');
    const applied = apply({ ical: m.ical, sender: A }, orgCopy, ORG);
    expect(applied.code).toBe('APPLIED_REPLY');
    expect(att(master(applied.newText!), A)!.getParameter('partstat')).toBe('ACCEPTED');
    expect(att(master(applied.newText!), A)!.getParameter('schedule-status')).toBe('2.0');
  });

  test('declining one instance via an override: REPLY with RECURRENCE-ID; organizer copy gets an override', () => {
    const over = comps(mine)[0].toString()
      .replace(/RRULE:[^\r\n]*\r?\n/, 'RECURRENCE-ID:20240617T090000Z\r\n')
      .replace('DTSTART:20240610T090000Z', 'DTSTART:20240617T090000Z').replace('DTEND:20240610T100000Z', 'DTEND:20240617T100000Z')
      .replace(`ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:${A}`, `ATTENDEE;PARTSTAT=DECLINED:mailto:${A}`);
    const neu = mine.replace('END:VCALENDAR', `${over}\r\nEND:VCALENDAR`);
    expect(validateAttendeeChange(mine, neu, A)).toEqual([]);
    const r = plan({ oldText: mine, newText: neu, actorEmail: A, now: LATER });
    expect(r.messages[0].recurrenceIds).toEqual(['20240617T090000Z']);
    const applied = apply({ ical: r.messages[0].ical, sender: A }, orgCopy, ORG);
    expect(applied.code).toBe('APPLIED_REPLY');
    expect(comps(applied.newText!)).toHaveLength(2);
    expect(applied.reply).toMatchObject({ attendee: A, partstat: 'DECLINED', recurrenceIds: ['20240617T090000Z'] });
  });

  test('deleting my copy declines; unless already declined', () => {
    const r = plan({ oldText: mine, newText: null, actorEmail: A, now: LATER });
    expect(r.messages[0].method).toBe('REPLY');
    expect(r.messages[0].ical).toContain('PARTSTAT=DECLINED');
    const declined = mine.replace(`PARTSTAT=NEEDS-ACTION:mailto:${A}`, `PARTSTAT=DECLINED:mailto:${A}`);
    expect(plan({ oldText: declined, newText: null, actorEmail: A }).messages).toEqual([]);
  });

  test('an EXDATE added by the attendee declines that instance', () => {
    const neu = mine.replace('RRULE:FREQ=WEEKLY;COUNT=5', 'RRULE:FREQ=WEEKLY;COUNT=5\r\nEXDATE:20240624T090000Z');
    const r = plan({ oldText: mine, newText: neu, actorEmail: A, now: LATER });
    expect(r.messages[0].recurrenceIds).toEqual(['20240624T090000Z']);
    expect(r.messages[0].ical).toContain('PARTSTAT=DECLINED');
  });

  test('alarm / TRANSP / X- changes are allowed and send nothing; time changes are flagged', () => {
    const cosmetic = mine.replace('SUMMARY:Planning', 'SUMMARY:Planning\r\nTRANSP:TRANSPARENT\r\nX-CALENDULA-PRIVATE-COLOR:red');
    expect(validateAttendeeChange(mine, cosmetic, A)).toEqual([]);
    expect(plan({ oldText: mine, newText: cosmetic, actorEmail: A }).messages).toEqual([]);
    const moved = mine.replace('DTSTART:20240610T090000Z', 'DTSTART:20240610T080000Z').replace(`PARTSTAT=ACCEPTED:mailto:${B}`, `PARTSTAT=TENTATIVE:mailto:${B}`);
    const bad = validateAttendeeChange(mine, moved, A);
    expect(bad.map((b) => b.property).sort()).toEqual(['ATTENDEE', 'DTSTART']);
  });

  test('organizer SCHEDULE-AGENT=CLIENT: the attendee side sends nothing', () => {
    const x = mine.replace('ORGANIZER;CN=Olga', 'ORGANIZER;CN=Olga;SCHEDULE-AGENT=CLIENT');
    expect(plan({ oldText: x, newText: x.replace(`PARTSTAT=NEEDS-ACTION:mailto:${A}`, `PARTSTAT=ACCEPTED:mailto:${A}`), actorEmail: A }).messages).toEqual([]);
  });
});

describe('plan — attendees with the same view share one message text', () => {
  const D = 'dina@example.com';
  const series: Ev = { rrule: 'FREQ=DAILY;COUNT=5', attendees: [{ email: A }, { email: B }, { email: D }] };
  const override: Ev = { rid: '20240611T090000Z', start: '20240611T130000Z', end: '20240611T140000Z', attendees: [{ email: A }, { email: B }] };

  test('whole-series attendees get the same text; one missing from an override gets their own view', () => {
    const r = plan({ oldText: null, newText: cal(series, override), actorEmail: ORG, now: NOW });
    const m = byRecipient(r);
    expect(m[`REQUEST:${A}`].ical).toBe(m[`REQUEST:${B}`].ical);
    expect(m[`REQUEST:${A}`].ical).toContain('RECURRENCE-ID:20240611T090000Z');
    expect(m[`REQUEST:${D}`].ical).not.toBe(m[`REQUEST:${A}`].ical);
    expect(m[`REQUEST:${D}`].ical).not.toContain('RECURRENCE-ID');
    expect(m[`REQUEST:${D}`].ical).toMatch(/EXDATE[^\r\n]*20240611T090000Z/);
    // Each recipient's message still applies to their own copy.
    for (const x of r.messages) expect(apply({ method: x.method, ical: x.ical, sender: ORG }, null, x.recipient).action).toBe('create');
  });

  test('a 1,000-attendee meeting is serialised once; CANCELs stay per recipient', () => {
    const many: Ev = { attendees: Array.from({ length: 1000 }, (_, i) => ({ email: `p${i}@partner.org` })) };
    const first = plan({ oldText: null, newText: cal(many), actorEmail: ORG, now: NOW });
    expect(first.messages).toHaveLength(1000);
    expect(new Set(first.messages.map((x) => x.ical)).size).toBe(1);
    const fewer: Ev = { attendees: many.attendees!.slice(0, 998) };
    const r = plan({ oldText: first.newText, newText: cal(fewer), actorEmail: ORG, now: LATER });
    const cancels = r.messages.filter((x) => x.method === 'CANCEL');
    expect(cancels.map((x) => x.recipient).sort()).toEqual(['p998@partner.org', 'p999@partner.org']);
    for (const c of cancels) {
      expect(c.ical.match(/^ATTENDEE/gm)).toHaveLength(1);
      expect(c.ical).toContain(`mailto:${c.recipient}`);
    }
  });
});
