/**
 * PROPPATCH — RFC 4918 §9.2: all or nothing, in document order. Calendars carry live properties
 * only (displayname, description, timezone, colour, order); dead properties are not stored, so
 * setting one fails with 403 and the rest of the request with 424 Failed Dependency.
 */
import { PropertyRegistry, davEl, el, parseProppatch, type DavError, type PropResult } from '../../lib/dav/index.js';
import { updateCalendar } from '../../app/calendars.js';
import { DavHttpError, NS_CALENDULA } from './errors.js';
import { href } from './paths.js';
import { registry, type CalendarPatch, type PatchTarget } from './props.js';
import { requirePrivilege, sendMultistatus, type DavRequest } from './common.js';
import type { PropertySet } from '../../lib/dav/index.js';

const NOT_STORED: DavError = { status: 403, ns: NS_CALENDULA, name: 'dead-properties-not-stored' };

/** Apply property sets to a calendar patch; returns per-property results (all 200 if none failed). */
export async function applyProps(t: PatchTarget, ops: Array<({ op: 'set' } & PropertySet) | { op: 'remove'; name: { ns: string; name: string } }>): Promise<{ results: PropResult[]; ok: boolean }> {
  const results: PropResult[] = [];
  let ok = true;
  for (const op of ops) {
    const kind = registry.classify(op.name);
    const def = registry.get(op.name);
    const empty = el(op.name.ns, op.name.name);
    if (kind === 'protected' || (def?.appliesTo && !def.appliesTo(t))) {
      results.push(PropertyRegistry.protectedResult(op.name));
      ok = false;
      continue;
    }
    if (kind === 'dead') {
      if (op.op === 'remove') {
        results.push({ prop: empty, status: 200 }); // removing a property that does not exist succeeds (RFC 4918 §14.23)
      } else {
        results.push({ prop: empty, status: 403, error: NOT_STORED });
        ok = false;
      }
      continue;
    }
    try {
      if (op.op === 'set') await def!.set!(t, op.element);
      else if (def!.remove) await def!.remove(t);
      else throw new DavHttpError(403, 'This property cannot be removed');
      results.push({ prop: empty, status: 200 });
    } catch (e) {
      if (!(e instanceof DavHttpError)) throw e;
      results.push({ prop: empty, status: e.status, ...(e.condition ? { error: e.condition } : {}) });
      ok = false;
    }
  }
  if (!ok) for (const r of results) if (r.status === 200) r.status = 424;
  return { results, ok };
}

export function hasPatch(p: CalendarPatch): boolean {
  return Object.values(p).some((v) => v !== undefined);
}

export async function proppatch(d: DavRequest) {
  const req = parseProppatch(d.body);
  const t = d.target;
  if (t.res.kind === 'null') throw new DavHttpError(404, 'No such resource');
  requirePrivilege(t, 'write-properties');
  const pt: PatchTarget = { ...t, patch: {} };
  const { results, ok } = await applyProps(pt, req.ops);
  if (ok && hasPatch(pt.patch)) {
    if (t.res.kind !== 'calendar') throw new DavHttpError(403, 'Only calendar properties can be changed');
    const p = pt.patch;
    await updateCalendar(d.env.ctx, d.env.actor, t.res.cal.id, { name: p.name, description: p.description, color: p.color, order: p.order, timezone: p.timezone });
  }
  void davEl;
  return sendMultistatus(d, [{ href: href(t.res.path), props: results }], { minimal: false });
}
