/**
 * Implicit scheduling planner (RFC 6638 §3.2): given the before/after text of one calendar
 * object resource and who wrote it, decide which iTIP messages (RFC 5546) go to whom and what the
 * stored copy should become. Pure: no I/O, clock injectable.
 */
import { isDeliverableAddress, normalizeAddress, propAddress, propAddresses } from './address.js';
import { planAttendee } from './attendee.js';
import {
  MASTER, attendeeProp, byKey, dateKeys, fingerprint, organizerAddress, param, parseCalendar,
  schedulable, seqOf, serialize, setSeq, setStamp, timeKey, type Comp,
} from './model.js';
import type { ItipMessage, PlanInput, PlanResult } from './types.js';
import {
  addExdate, attendeesOf, buildMessage, cnOf, isCancelled, maxSeq, minimalComp, viewFor, type View,
} from './views.js';
import ICAL from 'ical.js';

/**
 * Changes that move the meeting in time: attendees must answer again, so their PARTSTAT is reset
 * to NEEDS-ACTION with RSVP=TRUE (RFC 5546 §2.1.4, as Apple and sabre do).
 */
export const TIME_PROPS = ['dtstart', 'dtend', 'duration', 'due', 'rrule', 'rdate'];
/**
 * Changes that bump SEQUENCE (RFC 5546 §2.1.4 lists DTSTART, DTEND, DURATION, DUE, RRULE,
 * RDATE, EXDATE; cancellation is a STATUS change). We add LOCATION: a meeting moved to another
 * city is a new question to the attendee. SUMMARY and DESCRIPTION are deliberately NOT here:
 * they go out as a REQUEST with the same SEQUENCE and a newer DTSTAMP (§2.1.5), which attendees
 * apply without losing their answer.
 */
export const SIGNIFICANT_PROPS = [...TIME_PROPS, 'exdate', 'status', 'location'];

export function propsFingerprint(c: Comp | undefined, names: string[], cal: Comp | null): string {
  if (!c) return '';
  return names.map((n) => {
    const vals = c.getAllProperties(n).map((p) => {
      if (['dtstart', 'dtend', 'due', 'exdate', 'rdate'].includes(n)) {
        const tz = p.getParameter('tzid');
        return p.getValues().map((v) => timeKey(v instanceof ICAL.Period ? v.start : (v as ICAL.Time), typeof tz === 'string' ? tz : null, cal)).sort().join(',');
      }
      if (n === 'status') return String(p.getFirstValue() ?? '').toUpperCase();
      return p.toICALString().replace(/^[^:]*:/, '');
    });
    return `${n}=${vals.sort().join(';')}`;
  }).join('|');
}

/** For a new override, the time it would have had as a plain instance. */
function changedFrom(oldC: Comp | undefined, newC: Comp, key: string, names: string[], oldCal: Comp | null, newCal: Comp): boolean {
  if (oldC) return propsFingerprint(oldC, names, oldCal) !== propsFingerprint(newC, names, newCal);
  if (key === MASTER) return false;
  const start = newC.getFirstProperty('dtstart');
  const moved = !!start && timeKey(start.getFirstValue() as ICAL.Time, param(start, 'tzid') || null, newCal) !== key;
  return moved || (names.includes('status') && isCancelled(newC));
}

export function plan(input: PlanInput): PlanResult {
  const now = input.now ?? new Date();
  const oldCal = input.oldText ? parseCalendar(input.oldText) : null;
  const newCal = input.newComponent ?? (input.newText ? parseCalendar(input.newText) : null);
  const any = newCal ?? oldCal;
  const actor = normalizeAddress(input.actorEmail);
  const newText = () => input.newText ?? (input.newComponent ? serialize(input.newComponent) : null);
  const none = (): PlanResult => ({ messages: [], newText: newText(), sequenceBumped: false });
  if (!any) return none();
  const organizer = organizerAddress(any);
  // Not a scheduling object resource (RFC 6638 §3.1): no ORGANIZER or no ATTENDEE.
  if (!organizer || attendeesOf(any).size === 0 && attendeesOf(oldCal).size === 0) return none();
  const organizerSide = input.isOrganizerCopy ?? organizer === actor;
  if (!organizerSide) return planAttendee(oldCal, newCal, actor, newText(), now);
  return planOrganizer(oldCal, newCal, organizer, input, now);
}

function planOrganizer(oldCal: Comp | null, newCal: Comp | null, organizer: string, input: PlanInput, now: Date): PlanResult {
  const messages: ItipMessage[] = [];
  let sequenceBumped = false;
  const oldSeq = maxSeq(oldCal);

  if (newCal) {
    const oldMap = oldCal ? byKey(oldCal) : new Map<string, Comp>();
    const newMap = byKey(newCal);
    let significant = false;
    for (const [key, c] of newMap) {
      const o = oldMap.get(key);
      if (oldCal && changedFrom(o, c, key, SIGNIFICANT_PROPS, oldCal, newCal)) significant = true;
      if (oldCal && changedFrom(o, c, key, TIME_PROPS, oldCal, newCal)) {
        for (const a of c.getAllProperties('attendee')) {
          if (propAddress(a) === organizer) continue;
          a.setParameter('partstat', 'NEEDS-ACTION');
          a.setParameter('rsvp', 'TRUE');
        }
      }
    }
    for (const key of oldMap.keys()) if (!newMap.has(key)) significant = true;
    if (!oldCal) {
      for (const c of schedulable(newCal)) if (!c.getFirstProperty('sequence')) setSeq(c, 0);
    } else if (significant && maxSeq(newCal) <= oldSeq) {
      for (const c of schedulable(newCal)) setSeq(c, oldSeq + 1);
    }
    sequenceBumped = !!oldCal && maxSeq(newCal) > oldSeq;
    for (const c of schedulable(newCal)) setStamp(c, now);
  }

  const recipients = new Map([...attendeesOf(oldCal), ...attendeesOf(newCal)]);
  const force = new Set((input.forceSendFor ?? []).map(normalizeAddress));
  const uid = String(schedulable((newCal ?? oldCal)!)[0].getFirstPropertyValue('uid') ?? '');
  const status = new Map<string, string>();

  // What an attendee sees depends only on which components list them: attendees with the same
  // components (everyone invited to the whole series) share one view, one decision and one
  // REQUEST text — a 1,000-attendee meeting is serialised once, not 1,000 times.
  const oldKeys = keysByAddress(oldCal);
  const newKeys = keysByAddress(newCal);
  const groups = new Map<string, Group>();
  for (const [addr, prop] of recipients) {
    if (addr === organizer) continue;
    const agent = param(prop, 'schedule-agent').toUpperCase();
    if (agent === 'CLIENT' || agent === 'NONE') continue; // RFC 6638 §7.1: someone else delivers
    if (!isDeliverableAddress(addr)) {
      status.set(addr, '3.7');
      continue;
    }
    const forced = force.has(addr) || param(prop, 'schedule-force-send').toUpperCase() === 'REQUEST';
    const sig = `${forced}\n${oldKeys.get(addr)?.join('\t') ?? '-'}\n${newKeys.get(addr)?.join('\t') ?? '-'}`;
    let g = groups.get(sig);
    if (!g) {
      g = { oldView: oldCal ? viewFor(oldCal, addr) : null, newView: newCal ? viewFor(newCal, addr) : null };
      groups.set(sig, g);
    }
    const base = { uid, sender: organizer, recipient: addr, recipientCn: cnOf(prop) };
    const out = planForAttendee(g, oldCal, newCal, addr, forced, now, base);
    if (out.length) status.set(addr, '1.2');
    messages.push(...out);
  }

  if (newCal) {
    for (const c of schedulable(newCal)) {
      for (const [addr, s] of status) attendeeProp(c, addr)?.setParameter('schedule-status', s);
    }
  }
  return { messages, newText: newCal ? serialize(newCal) : null, sequenceBumped };
}

type Base = Pick<ItipMessage, 'uid' | 'sender' | 'recipient' | 'recipientCn'>;

/** Recipients whose views are the same: computed once, shared (views are read, never changed, below). */
interface Group {
  oldView: View | null;
  newView: View | null;
  requestIcal?: string;
  decision?: { skip: boolean; cancelled: string[]; onlyCancellations: boolean; significant: boolean };
}

/** address → the keys (MASTER or RECURRENCE-ID) of the components listing it, in component order. */
function keysByAddress(cal: Comp | null): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (!cal) return out;
  for (const [k, c] of byKey(cal)) {
    for (const p of c.getAllProperties('attendee')) {
      for (const a of propAddresses(p)) {
        const ks = out.get(a);
        if (!ks) out.set(a, [k]);
        else if (ks.at(-1) !== k) ks.push(k);
      }
    }
  }
  return out;
}

function planForAttendee(
  g: Group, oldCal: Comp | null, newCal: Comp | null,
  addr: string, forced: boolean, now: Date, base: Base,
): ItipMessage[] {
  const { oldView, newView } = g;
  if (!oldView && !newView) return [];
  const seqNow = maxSeq(newCal);
  if (!newView) {
    // Removed from the meeting, or the meeting deleted: CANCEL what they had (RFC 5546 §3.2.5).
    const seq = newCal ? seqNow : maxSeq(oldCal) + 1;
    const master = oldView!.get(MASTER);
    const comps = master
      ? [minimalComp(master, { key: null, cal: oldCal, seq, attendees: [attendeeProp(master, addr)!], status: 'CANCELLED' })]
      : [...oldView!].map(([k, c]) => minimalComp(c, { key: k, cal: oldCal, seq, attendees: [attendeeProp(c, addr)!], status: 'CANCELLED' }));
    const rids = master ? undefined : [...oldView!.keys()];
    return [{ ...base, method: 'CANCEL', ical: buildMessage('CANCEL', oldCal!, comps, now), significantChange: true, recurrenceIds: rids }];
  }
  const request = (significant: boolean): ItipMessage => ({
    ...base,
    method: 'REQUEST',
    ical: g.requestIcal ??= buildMessage('REQUEST', newCal!, [...newView.values()], now),
    significantChange: significant,
    recurrenceIds: newView.has(MASTER) ? undefined : [...newView.keys()],
  });
  if (!oldView) return [request(true)];

  const { skip, cancelled, onlyCancellations, significant } = g.decision ??= decide(oldView, newView, oldCal, newCal, forced);
  if (skip) return [];

  const out: ItipMessage[] = [];
  // REQUEST first: applying it makes the copy whole, the CANCEL after it is then a no-op.
  if (!onlyCancellations || forced) out.push(request(significant));
  if (cancelled.length) {
    const master = newView.get(MASTER) ?? oldView.get(MASTER);
    const comps = cancelled.map((k) => {
      const src = newView.get(k) ?? oldView.get(k) ?? master!;
      return minimalComp(src, { key: k, cal: newCal, seq: seqNow, attendees: [attendeeProp(src, addr)!].filter(Boolean), status: 'CANCELLED' });
    });
    out.push({ ...base, method: 'CANCEL', ical: buildMessage('CANCEL', newCal!, comps, now), significantChange: true, recurrenceIds: cancelled });
  }
  return out;
}

/** Whether (and what) to send for a change from oldView to newView; the same for every attendee of a group. */
function decide(oldView: View, newView: View, oldCal: Comp | null, newCal: Comp | null, forced: boolean): NonNullable<Group['decision']> {
  const fpOld = fingerprint(oldView, oldCal, { skipProps: ['sequence'] });
  const fpNew = fingerprint(newView, newCal, { skipProps: ['sequence'] });
  if (fpOld === fpNew && !forced) return { skip: true, cancelled: [], onlyCancellations: false, significant: false };

  const cancelled = cancelledInstances(oldView, newView, oldCal, newCal);
  let onlyCancellations = false;
  if (cancelled.length) {
    const sim = new Map([...oldView].map(([k, c]) => [k, c]));
    simulateCancel(sim, cancelled, oldCal);
    onlyCancellations = fingerprint(sim, oldCal, { skipProps: ['sequence'] }) === fpNew;
  }
  let significant = false;
  for (const [k, c] of newView) {
    if (changedFrom(oldView.get(k), c, k, SIGNIFICANT_PROPS, oldCal, newCal!)) significant = true;
  }
  for (const k of oldView.keys()) if (!newView.has(k)) significant = true;
  return { skip: false, cancelled, onlyCancellations, significant };
}

/** Instances the attendee could attend before and cannot now (EXDATE, STATUS:CANCELLED, dropped). */
function cancelledInstances(oldView: View, newView: View, oldCal: Comp | null, newCal: Comp | null): string[] {
  const out = new Set<string>();
  const newMaster = newView.get(MASTER);
  const oldMaster = oldView.get(MASTER);
  const newEx = newMaster ? dateKeys(newMaster, 'exdate', newCal) : [];
  for (const [k, c] of oldView) {
    if (k === MASTER || isCancelled(c)) continue;
    const n = newView.get(k);
    if (n ? isCancelled(n) : !newMaster || newEx.includes(k)) out.add(k);
  }
  for (const [k, c] of newView) {
    if (k !== MASTER && isCancelled(c) && !oldView.has(k) && oldMaster) out.add(k);
  }
  if (newMaster && oldMaster) {
    const oldEx = new Set(dateKeys(oldMaster, 'exdate', oldCal));
    for (const k of newEx) if (!oldEx.has(k) && !oldView.has(k)) out.add(k);
  }
  return [...out].sort();
}

/** What apply() does with an instance CANCEL, used to decide whether a REQUEST is also needed. */
export function simulateCancel(view: View, keys: string[], cal: Comp | null): void {
  for (const k of keys) {
    const o = view.get(k);
    if (o) {
      const x = new ICAL.Component(structuredClone(o.toJSON()));
      x.updatePropertyWithValue('status', 'CANCELLED');
      view.set(k, x);
    } else if (view.get(MASTER)) {
      const m = new ICAL.Component(structuredClone(view.get(MASTER)!.toJSON()));
      addExdate(m, k, cal);
      view.set(MASTER, m);
    }
  }
}

