/**
 * When alarms fire (RFC 5545 §3.6.6, RFC 9074 ACKNOWLEDGED, Mozilla's
 * X-MOZ-LASTACK / X-MOZ-SNOOZE-TIME extensions).
 */
import ICAL from 'ical.js';
import { compileResource, type CompiledSeries } from './compile.js';
import { expandCompiled, isCompiled } from './expand.js';

/** One alarm firing. */
export interface AlarmFiring {
  uid: string;
  recurrenceId: string;
  occurrenceStart: Date;
  fireAt: Date;
  action: string;
  /** Index of the VALARM in its component, or -1 for a snooze. */
  alarmIndex: number;
  /** UID / X-WR-ALARMUID of the VALARM when present. */
  alarmUid: string | null;
  snooze: boolean;
}

const DAY = 86_400_000;
/** Instant of a UTC date-time value, whether ical.js typed it or left it as text (X- properties). */
function toMs(v: unknown): number | null {
  if (v instanceof ICAL.Time) return v.toJSDate().getTime();
  if (typeof v !== 'string') return null;
  const m = /^(\d{4})-?(\d{2})-?(\d{2})T(\d{2}):?(\d{2}):?(\d{2})(?:\.\d+)?Z$/.exec(v.trim());
  return m ? Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) : null;
}

/** Absolute times alarms fire in [from, to) for occurrences of the resource. */
export function alarmTriggers(
  resource: string | ICAL.Component | CompiledSeries,
  from: Date,
  to: Date,
  opts: { defaultTz?: string } = {},
): AlarmFiring[] {
  const s = isCompiled(resource) ? resource : compileResource(resource);
  const f = from.getTime();
  const t = to.getTime();
  const out: AlarmFiring[] = [];
  // Alarms may fire up to weeks before/after their occurrence: widen the window (capped).
  let widen = DAY;
  for (const c of s.components) {
    for (const v of c.getAllSubcomponents('valarm')) {
      const tr = v.getFirstPropertyValue('trigger');
      if (tr instanceof ICAL.Duration) widen = Math.max(widen, Math.abs(tr.toSeconds()) * 1000 + DAY);
    }
  }
  widen = Math.min(widen, 400 * DAY);
  const occs = expandCompiled(s, new Date(f - widen), new Date(t + widen), { defaultTz: opts.defaultTz, limit: 5000 });
  const master = s.master?.comp ?? s.components[0];
  const lastAck = toMs(master.getFirstPropertyValue('x-moz-lastack'));
  const seenAbsolute = new Set<string>();
  for (const o of occs) {
    const comp = (o.override ? s.overrides.get(o.recurrenceId)?.comp : s.master?.comp) ?? master;
    comp.getAllSubcomponents('valarm').forEach((v, idx) => {
      const trig = v.getFirstProperty('trigger');
      if (!trig) return;
      const val = trig.getFirstValue();
      let base: number;
      if (val instanceof ICAL.Duration) {
        const rel = String(trig.getParameter('related') ?? 'START').toUpperCase() === 'END' ? o.end.getTime() : o.start.getTime();
        base = rel + val.toSeconds() * 1000;
      } else if (val instanceof ICAL.Time) {
        const key = `${idx}`;
        if (seenAbsolute.has(key)) return; // an absolute trigger fires once, not per occurrence
        seenAbsolute.add(key);
        base = val.toJSDate().getTime();
      } else return;
      const ack = toMs(v.getFirstPropertyValue('acknowledged'));
      const repeat = Math.max(0, Math.min(100, Number(v.getFirstPropertyValue('repeat') ?? 0) || 0));
      const dur = v.getFirstPropertyValue('duration');
      const step = dur instanceof ICAL.Duration ? dur.toSeconds() * 1000 : 0;
      for (let k = 0; k <= (step > 0 ? repeat : 0); k++) {
        const at = base + k * step;
        if (at < f || at >= t) continue;
        if ((ack !== null && at <= ack) || (lastAck !== null && at <= lastAck)) continue;
        out.push({
          uid: s.uid, recurrenceId: o.recurrenceId, occurrenceStart: o.start, fireAt: new Date(at),
          action: String(v.getFirstPropertyValue('action') ?? 'DISPLAY').toUpperCase(), alarmIndex: idx,
          alarmUid: String(v.getFirstPropertyValue('uid') ?? v.getFirstPropertyValue('x-wr-alarmuid') ?? '') || null, snooze: false,
        });
      }
    });
  }
  // Snoozes (Thunderbird): X-MOZ-SNOOZE-TIME[-<rid µs>] holds the UTC time to fire again.
  for (const p of master.getAllProperties()) {
    if (!p.name.startsWith('x-moz-snooze-time')) continue;
    const at = toMs(p.getFirstValue());
    if (at === null) continue;
    if (at < f || at >= t || (lastAck !== null && at <= lastAck)) continue;
    out.push({ uid: s.uid, recurrenceId: '', occurrenceStart: new Date(at), fireAt: new Date(at), action: 'DISPLAY', alarmIndex: -1, alarmUid: null, snooze: true });
  }
  return out.sort((a, b) => a.fireAt.getTime() - b.fireAt.getTime());
}
