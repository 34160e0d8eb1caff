/**
 * applyToNewCopies (the batched delivery's shortcut: one parse and one serialisation for all the
 * recipients without a copy) gives exactly what apply() gives for each recipient alone.
 */
import { describe, expect, test } from 'vitest';
import { apply, applyToNewCopies, plan } from '../../../src/lib/itip/index.js';
import { cal, NOW, ORG } from './helpers.js';

const people = ['a@example.com', 'B@Example.com', 'c@example.com', 'd@example.com', 'stranger@example.com'];
const withMethod = (m: string, text: string) => text.replace('VERSION:2.0', `VERSION:2.0\r\nMETHOD:${m}`);

function same(message: { ical: string; sender: string; method?: 'REQUEST' | 'CANCEL' }, recipients: string[], trust?: 'trusted' | 'enforce') {
  const many = applyToNewCopies(message as never, recipients, { trust, now: NOW });
  const one = recipients.map((r) => apply(message as never, null, r, { trust, now: NOW }));
  expect(many).toEqual(one);
  return many;
}

describe('applyToNewCopies', () => {
  const series = plan({
    oldText: null, actorEmail: ORG, now: NOW,
    newText: cal(
      { rrule: 'FREQ=DAILY;COUNT=5', attendees: [{ email: ORG, partstat: 'ACCEPTED' }, { email: 'a@example.com' }, { email: 'b@example.com', partstat: 'TENTATIVE' }] },
      // c only in one occurrence; d without PARTSTAT in the override (apply adds NEEDS-ACTION for d alone).
      { rid: '20240611T090000Z', start: '20240611T110000Z', end: '20240611T120000Z', attendees: [{ email: ORG, partstat: 'ACCEPTED' }, { email: 'a@example.com' }, { email: 'b@example.com' }, { email: 'c@example.com' }], extra: ['ATTENDEE:mailto:d@example.com'] },
    ),
  });
  const request = series.messages.find((m) => m.method === 'REQUEST')!;

  test('a planner REQUEST: one shared text for the invited, apply() results for the rest', () => {
    const r = same({ ical: request.ical, sender: ORG, method: 'REQUEST' }, people, 'trusted');
    expect(r[0].action).toBe('create');
    expect(r[0].newText).toBe(r[1].newText);
    expect(r[4].code).toBe('NOT_ATTENDEE');
  });

  test('METHOD taken from the text when the caller names none; a sender who is not the organizer', () => {
    const text = withMethod('REQUEST', cal({ attendees: [{ email: 'a@example.com' }, { email: 'c@example.com', partstat: 'ACCEPTED' }] }));
    same({ ical: text, sender: ORG }, people);
    same({ ical: text, sender: 'mallory@evil.example', method: 'REQUEST' }, people, 'enforce');
    same({ ical: text, sender: 'mallory@evil.example', method: 'REQUEST' }, people, 'trusted');
  });

  test('CANCEL, invalid text and a single recipient go through apply()', () => {
    same({ ical: withMethod('CANCEL', cal({ status: 'CANCELLED', attendees: [{ email: 'a@example.com' }] })), sender: ORG, method: 'CANCEL' }, people, 'trusted');
    same({ ical: 'BEGIN:VCALENDAR\r\nnot really', sender: ORG, method: 'REQUEST' }, people, 'trusted');
    same({ ical: request.ical, sender: ORG, method: 'REQUEST' }, ['a@example.com'], 'trusted');
  });
});
