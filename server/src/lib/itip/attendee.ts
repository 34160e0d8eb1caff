/** The attendee side of implicit scheduling (RFC 6638 §3.2.2): replies and allowed changes. */
import ICAL from 'ical.js';
import { normalizeAddress, propAddress } from './address.js';
import {
  MASTER, attendeeProp, byKey, clone, dateKeys, organizerOf, param, parseCalendar, partstatOf,
  removeParams, schedulable, seqOf, serialize, type Comp,
} from './model.js';
import type { ItipMessage, PlanResult } from './types.js';
import { buildMessage, cnOf, minimalComp, projectInstance } from './views.js';

interface ReplyPart { key: string; comp: Comp; partstat?: string }

export function planAttendee(oldCal: Comp | null, newCal: Comp | null, actor: string, newText: string | null, now: Date): PlanResult {
  const none: PlanResult = { messages: [], newText, sequenceBumped: false };
  const src = newCal ?? oldCal!;
  const orgProp = schedulable(src).map(organizerOf).find(Boolean);
  if (!orgProp) return none;
  const agent = param(orgProp, 'schedule-agent').toUpperCase();
  if (agent === 'CLIENT' || agent === 'NONE') return none;
  const organizer = propAddress(orgProp);
  const oldMap = oldCal ? byKey(oldCal) : new Map<string, Comp>();
  const parts: ReplyPart[] = [];

  if (!newCal) {
    // RFC 6638 §3.2.2.3: an attendee deleting their copy declines, unless they already had.
    const master = oldMap.get(MASTER);
    const targets = master && attendeeProp(master, actor) ? [[MASTER, master] as const] : [...oldMap].filter(([k]) => k !== MASTER);
    for (const [k, c] of targets) {
      const p = attendeeProp(c, actor);
      if (p && partstatOf(p) !== 'DECLINED') parts.push({ key: k, comp: c, partstat: 'DECLINED' });
    }
  } else {
    const newMap = byKey(newCal);
    const oldMaster = oldMap.get(MASTER);
    for (const [k, c] of newMap) {
      const p = attendeeProp(c, actor);
      if (!p) continue;
      const before = oldMap.get(k) ?? (k !== MASTER ? oldMaster : undefined);
      const was = before ? partstatOf(attendeeProp(before, actor)) : 'NEEDS-ACTION';
      if (was !== partstatOf(p) || param(p, 'schedule-force-send').toUpperCase() === 'REPLY') parts.push({ key: k, comp: c });
    }
    // An instance the attendee removed from their copy (new EXDATE) is declined.
    const newMaster = newMap.get(MASTER);
    if (newMaster && oldMaster && attendeeProp(newMaster, actor)) {
      const oldEx = new Set(dateKeys(oldMaster, 'exdate', oldCal));
      for (const k of dateKeys(newMaster, 'exdate', newCal)) {
        if (oldEx.has(k)) continue;
        const inst = oldMap.get(k) ?? projectInstance(oldMaster, k, oldCal);
        parts.push({ key: k, comp: inst, partstat: 'DECLINED' });
      }
    }
  }
  if (!parts.length) return none;

  const comps = parts.map(({ key, comp, partstat }) => {
    const me = new ICAL.Property(structuredClone(attendeeProp(comp, actor)!.toJSON()) as never);
    if (partstat) me.setParameter('partstat', partstat);
    removeParams(me, (n) => n === 'rsvp');
    const c = minimalComp(comp, { key: key === MASTER ? null : key, cal: newCal ?? oldCal, seq: seqOf(comp), attendees: [me] });
    if (key === MASTER) for (const n of ['rrule', 'rdate', 'exdate']) c.removeAllProperties(n);
    for (const cm of comp.getAllProperties('comment')) c.addProperty(new ICAL.Property(structuredClone(cm.toJSON()) as never));
    c.addPropertyWithValue('request-status', '2.0;Success');
    return c;
  });
  const uid = String(comps[0].getFirstPropertyValue('uid') ?? '');
  const rids = parts.filter((p) => p.key !== MASTER).map((p) => p.key);
  const message: ItipMessage = {
    method: 'REPLY', uid, sender: actor, recipient: organizer, recipientCn: cnOf(orgProp),
    ical: buildMessage('REPLY', src, comps, now), significantChange: true,
    recurrenceIds: rids.length === parts.length ? rids : undefined,
  };
  if (newCal) for (const c of schedulable(newCal)) organizerOf(c)?.setParameter('schedule-status', '1.2');
  return { messages: [message], newText: newCal ? serialize(newCal) : null, sequenceBumped: false };
}

export interface DisallowedChange {
  /** 'master' or the instance key. */
  recurrenceId: string;
  property: string;
  change: 'added' | 'removed' | 'modified';
}

/**
 * RFC 6638 §3.2.2.1 (CALDAV:allowed-attendee-scheduling-object-change): an attendee may change
 * their own PARTSTAT (and RSVP, COMMENT), alarms, TRANSP, X- and private properties, add EXDATEs
 * (declining instances) and add overrides that differ only in those. Anything else is listed.
 */
export function validateAttendeeChange(oldText: string, newText: string, actorEmail: string): DisallowedChange[] {
  const actor = normalizeAddress(actorEmail);
  const oldCal = parseCalendar(oldText);
  const newCal = parseCalendar(newText);
  const oldMap = byKey(oldCal);
  const newMap = byKey(newCal);
  const out: DisallowedChange[] = [];
  for (const [k, c] of newMap) {
    let before = oldMap.get(k);
    if (!before && k !== MASTER && oldMap.get(MASTER)) before = projectInstance(oldMap.get(MASTER)!, k, oldCal);
    if (!before) {
      out.push({ recurrenceId: k, property: c.name.toUpperCase(), change: 'added' });
      continue;
    }
    const a = comparable(before, actor, k === MASTER);
    const b = comparable(c, actor, k === MASTER);
    for (const name of new Set([...a.keys(), ...b.keys()])) {
      const x = a.get(name);
      const y = b.get(name);
      if (x === y) continue;
      out.push({ recurrenceId: k, property: name.toUpperCase(), change: !x ? 'added' : !y ? 'removed' : 'modified' });
    }
    if (k === MASTER) {
      const nowEx = new Set(dateKeys(c, 'exdate', newCal));
      if (dateKeys(before, 'exdate', oldCal).some((e) => !nowEx.has(e))) {
        out.push({ recurrenceId: k, property: 'EXDATE', change: 'removed' });
      }
    }
  }
  return out;
}

const ATTENDEE_OWNED = new Set(['dtstamp', 'last-modified', 'created', 'transp', 'comment', 'sequence', 'exdate', 'request-status']);

function comparable(c: Comp, actor: string, isMaster: boolean): Map<string, string> {
  const x = clone(c);
  const out = new Map<string, string[]>();
  for (const p of x.getAllProperties()) {
    if (ATTENDEE_OWNED.has(p.name) || p.name.startsWith('x-')) continue;
    if (!isMaster && p.name === 'recurrence-id') continue;
    if (p.name === 'attendee' || p.name === 'organizer') {
      removeParams(p, (n) => n.startsWith('schedule-') || n.startsWith('x-'));
      if (p.name === 'attendee' && propAddress(p) === actor) removeParams(p, (n) => n === 'partstat' || n === 'rsvp');
    }
    const list = out.get(p.name) ?? [];
    list.push(p.toICALString().replace(/^[^:;]*/, ''));
    out.set(p.name, list);
  }
  return new Map([...out].map(([k, v]) => [k, v.sort().join('\n')]));
}
