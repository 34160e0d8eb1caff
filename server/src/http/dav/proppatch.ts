/**
 * PROPPATCH — RFC 4918 §9.2: all or nothing, in document order. Calendars carry live properties
 * (displayname, description, timezone, colour, order); any other property of a calendar or a
 * calendar object is a dead property (RFC 4918 §4.2), stored as its XML and given back by
 * PROPFIND. Protected live properties fail with 403 cannot-modify-protected-property; when any
 * change fails, nothing is stored and the rest get 424 Failed Dependency.
 */
import { Buffer } from 'node:buffer';
import { PropertyRegistry, clark, el, parseProppatch, serializeXml, type DavError, type PropResult, type QName } from '../../lib/dav/index.js';
import { updateCalendar } from '../../app/calendars.js';
import { deadPropNames, writeDeadProps, type DeadResource } from '../../store/dead-props.js';
import { DavHttpError, NS_CALENDULA } from './errors.js';
import { href } from './paths.js';
import { registry, type CalendarPatch, type PatchTarget } from './props.js';
import { requirePrivilege, sendMultistatus, type DavRequest } from './common.js';
import type { PropertySet } from '../../lib/dav/index.js';
import type { DavEnv, Target } from './types.js';

/** Largest stored value (the property element re-serialised, UTF-8 bytes). */
export const MAX_DEAD_PROPERTY_BYTES = 4096;
/** Most dead properties one calendar or object holds. */
export const MAX_DEAD_PROPERTIES = 100;

const NOT_STORED: DavError = { status: 403, ns: NS_CALENDULA, name: 'dead-properties-not-stored', description: 'Only calendars and calendar objects hold dead properties' };
const TOO_LARGE: DavError = { status: 507, ns: NS_CALENDULA, name: 'dead-property-too-large', description: `A dead property value is at most ${MAX_DEAD_PROPERTY_BYTES} bytes of XML` };
const TOO_MANY: DavError = { status: 507, ns: NS_CALENDULA, name: 'too-many-dead-properties', description: `A resource holds at most ${MAX_DEAD_PROPERTIES} dead properties` };

/** One pending dead-property change: the serialised element, or null to remove. */
export interface DeadOp { ns: string; name: string; xml: string | null }

/** Where a target's dead properties live (the calendar owner's rows), or null if it holds none. */
export function deadResourceOf(t: Target): { ownerId: string; r: DeadResource } | null {
  const res = t.res;
  if (res.kind === 'calendar') return { ownerId: res.cal.owner_id, r: { calendarId: res.cal.id } };
  if (res.kind === 'object') return { ownerId: res.cal.owner_id, r: { objectId: res.obj.id } };
  return null;
}

type Op = ({ op: 'set' } & PropertySet) | { op: 'remove'; name: QName };

/**
 * Check property changes against a target without storing anything: live ones fill `t.patch`,
 * dead ones come back in `dead`. Per-property results are all 200 when `ok`.
 */
export async function applyProps(t: PatchTarget, ops: Op[]): Promise<{ results: PropResult[]; ok: boolean; dead: DeadOp[] }> {
  const results: PropResult[] = [];
  const dead: DeadOp[] = [];
  const deadSets: Array<{ key: string; result: PropResult }> = [];
  const where = deadResourceOf(t);
  let ok = true;
  for (const op of ops) {
    let kind = registry.classify(op.name);
    const def = registry.get(op.name);
    const empty = el(op.name.ns, op.name.name);
    // A settable live property of another kind of resource (DAV:displayname of an object) is
    // only a name here: stored like any dead property where dead properties are kept.
    if (kind === 'live' && def?.appliesTo && !def.appliesTo(t)) kind = where ? 'dead' : 'protected';
    if (kind === 'protected') {
      results.push(PropertyRegistry.protectedResult(op.name));
      ok = false;
      continue;
    }
    if (kind === 'dead') {
      if (!where) {
        // Removing a property that does not exist succeeds (RFC 4918 §14.23).
        if (op.op === 'remove') results.push({ prop: empty, status: 200 });
        else {
          results.push({ prop: empty, status: 403, error: NOT_STORED });
          ok = false;
        }
        continue;
      }
      if (op.op === 'remove') {
        dead.push({ ns: op.name.ns, name: op.name.name, xml: null });
        results.push({ prop: empty, status: 200 });
        continue;
      }
      const xml = serializeXml(op.element, { declaration: false });
      if (Buffer.byteLength(xml, 'utf8') > MAX_DEAD_PROPERTY_BYTES) {
        results.push({ prop: empty, status: 507, error: TOO_LARGE });
        ok = false;
        continue;
      }
      dead.push({ ns: op.name.ns, name: op.name.name, xml });
      const result: PropResult = { prop: empty, status: 200 };
      results.push(result);
      deadSets.push({ key: clark(op.name), result });
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
  if (ok && where && deadSets.length) {
    // The per-resource limit, on the state after every change in document order.
    const names = await deadPropNames(t.env.ctx.db, where.ownerId, where.r);
    const before = new Set(names);
    for (const d of dead) {
      const k = clark(d);
      if (d.xml === null) names.delete(k);
      else names.add(k);
    }
    if (names.size > MAX_DEAD_PROPERTIES) {
      for (const s of deadSets) if (!before.has(s.key)) Object.assign(s.result, { status: 507, error: TOO_MANY });
      ok = false;
    }
  }
  if (!ok) for (const r of results) if (r.status === 200) r.status = 424;
  return { results, ok, dead };
}

export function hasPatch(p: CalendarPatch): boolean {
  return Object.values(p).some((v) => v !== undefined);
}

/**
 * Store what applyProps accepted: the dead properties and the calendar's live ones in one
 * transaction (the live update runs last inside it, so a refusal there rolls the dead ones back).
 */
export async function commitProps(env: DavEnv, t: Target, patch: CalendarPatch, dead: DeadOp[], calendarId?: string): Promise<void> {
  const live = hasPatch(patch);
  if (!live && !dead.length) return;
  const where = deadResourceOf(t);
  await env.ctx.db.transaction().execute(async (trx) => {
    if (dead.length && where) await writeDeadProps(trx, where.ownerId, where.r, dead);
    if (live) {
      const id = calendarId ?? (t.res.kind === 'calendar' ? t.res.cal.id : null);
      if (!id) throw new DavHttpError(403, 'Only calendar properties can be changed');
      await updateCalendar(env.ctx, env.actor, id, { name: patch.name, description: patch.description, color: patch.color, order: patch.order, timezone: patch.timezone });
    }
  });
}

export async function proppatch(d: DavRequest) {
  const req = parseProppatch(d.body);
  const t = d.target;
  if (t.res.kind === 'null') throw new DavHttpError(404, 'No such resource');
  requirePrivilege(t, 'write-properties');
  const pt: PatchTarget = { ...t, patch: {} };
  const { results, ok, dead } = await applyProps(pt, req.ops);
  if (ok) await commitProps(d.env, t, pt.patch, dead);
  const limits = results.some((r) => r.status === 507);
  return sendMultistatus(d, [{
    href: href(t.res.path), props: results,
    ...(limits ? { description: `Dead properties: at most ${MAX_DEAD_PROPERTIES} per resource, ${MAX_DEAD_PROPERTY_BYTES} bytes each` } : {}),
  }], { minimal: false });
}
