import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { apply, plan } from '../../../src/lib/itip/index.js';
import { byKey, fingerprint, parseCalendar, schedulable, seqOf } from '../../../src/lib/itip/model.js';
import { viewFor } from '../../../src/lib/itip/views.js';
import { cal, ORG, type Ev } from './helpers.js';

const A = 'anna@example.com';
const B = 'boris@example.com';

interface Model {
  shift: number; summary: string; description: string; location: string;
  exdates: Set<number>; overrides: Map<number, { shift: number; cancelled: boolean }>; aInvited: boolean; bInvited: boolean;
}

type Op =
  | { t: 'move'; h: number } | { t: 'summary'; s: string } | { t: 'description'; s: string } | { t: 'location'; s: string }
  | { t: 'exdate'; w: number } | { t: 'cancelInstance'; w: number } | { t: 'moveInstance'; w: number; h: number }
  | { t: 'toggleA' } | { t: 'toggleB' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ t: fc.constant('move' as const), h: fc.integer({ min: -3, max: 3 }) }),
  fc.record({ t: fc.constant('summary' as const), s: fc.constantFrom('Planning', 'Review', 'Sync') }),
  fc.record({ t: fc.constant('description' as const), s: fc.constantFrom('', 'agenda', 'notes') }),
  fc.record({ t: fc.constant('location' as const), s: fc.constantFrom('', 'Room 1', 'Room 2') }),
  fc.record({ t: fc.constant('exdate' as const), w: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ t: fc.constant('cancelInstance' as const), w: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ t: fc.constant('moveInstance' as const), w: fc.integer({ min: 1, max: 4 }), h: fc.integer({ min: 1, max: 3 }) }),
  fc.constant({ t: 'toggleA' as const }),
  fc.constant({ t: 'toggleB' as const }),
);

function step(m: Model, op: Op): void {
  switch (op.t) {
    case 'move': m.shift += op.h; break;
    case 'summary': m.summary = op.s; break;
    case 'description': m.description = op.s; break;
    case 'location': m.location = op.s; break;
    case 'exdate': m.exdates.add(op.w); m.overrides.delete(op.w); break;
    case 'cancelInstance': if (!m.exdates.has(op.w)) m.overrides.set(op.w, { shift: m.overrides.get(op.w)?.shift ?? 0, cancelled: true }); break;
    case 'moveInstance': if (!m.exdates.has(op.w) && !m.overrides.get(op.w)?.cancelled) m.overrides.set(op.w, { shift: op.h, cancelled: false }); break;
    case 'toggleA': m.aInvited = !m.aInvited; break;
    case 'toggleB': m.bInvited = !m.bInvited; break;
  }
}

const utc = (week: number, hour: number) => {
  const d = new Date(Date.UTC(2024, 5, 10 + 7 * week, hour));
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
};

function render(m: Model, seq: number): string {
  const attendees = [
    ...(m.aInvited ? [{ email: A }] : []), ...(m.bInvited ? [{ email: B }] : []), { email: ORG, partstat: 'ACCEPTED' },
  ];
  const base: Ev = {
    seq, summary: m.summary, description: m.description || undefined, location: m.location || undefined, attendees,
    start: utc(0, 9 + m.shift), end: utc(0, 10 + m.shift), rrule: 'FREQ=WEEKLY;COUNT=5',
    exdate: [...m.exdates].sort().map((w) => utc(w, 9 + m.shift)),
  };
  const overrides: Ev[] = [...m.overrides].sort(([a], [b]) => a - b).map(([w, o]) => ({
    ...base, rrule: undefined, exdate: undefined, rid: utc(w, 9 + m.shift),
    start: utc(w, 9 + m.shift + o.shift), end: utc(w, 10 + m.shift + o.shift), status: o.cancelled ? 'CANCELLED' : undefined,
  }));
  return cal(base, ...overrides);
}

function eventData(text: string, who: string | null): string {
  const c = parseCalendar(text);
  const view = who ? viewFor(c, who)! : byKey(c);
  return fingerprint(view, c, { dropPartstat: true });
}

describe('property: organizer edits delivered in order reproduce the organizer\'s event data', () => {
  test('REQUEST/CANCEL sequence → equal copy; stale messages never change it', () => {
    fc.assert(fc.property(fc.array(opArb, { minLength: 1, maxLength: 12 }), fc.nat(), (ops, pick) => {
      const m: Model = { shift: 0, summary: 'Planning', description: '', location: '', exdates: new Set(), overrides: new Map(), aInvited: true, bInvited: true };
      let clock = Date.UTC(2024, 4, 1);
      let stored = plan({ oldText: null, newText: render(m, 0), actorEmail: ORG, now: new Date(clock) });
      const history: string[] = [];
      let copy: string | null = null;
      const deliver = (r: typeof stored) => {
        for (const msg of r.messages.filter((x) => x.recipient === A)) {
          const res = apply({ ical: msg.ical, sender: ORG }, copy, A, { now: new Date(clock) });
          expect(['create', 'update', 'delete', 'ignore']).toContain(res.action);
          if (res.newText) copy = res.newText;
          history.push(msg.ical);
        }
      };
      deliver(stored);
      for (const op of ops) {
        step(m, op);
        clock += 60_000;
        const prevSeq = Math.max(...schedulable(parseCalendar(stored.newText!)).map(seqOf));
        stored = plan({ oldText: stored.newText, newText: render(m, prevSeq), actorEmail: ORG, now: new Date(clock) });
        deliver(stored);
        if (m.aInvited) {
          expect(copy).not.toBeNull();
          expect(eventData(copy!, null)).toBe(eventData(stored.newText!, A));
        } else if (copy) {
          expect(schedulable(parseCalendar(copy)).every((c) => c.getFirstPropertyValue('status') === 'CANCELLED')).toBe(true);
        }
        // A message with an older SEQUENCE than the copy never changes it.
        if (copy && history.length) {
          const old = history[pick % history.length];
          const copySeq = seqOf(schedulable(parseCalendar(copy))[0]);
          const oldSeq = Math.max(...schedulable(parseCalendar(old)).map(seqOf));
          if (oldSeq < copySeq) {
            const res = apply({ ical: old, sender: ORG }, copy, A, { now: new Date(clock) });
            expect(res.newText === undefined || res.newText === copy || res.action === 'ignore').toBe(true);
            expect(['ignore']).toContain(res.action);
          }
        }
      }
    }), { numRuns: 400 });
  });
});
