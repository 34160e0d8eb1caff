// Property registry: (namespace, local name) → getter/setter, so the HTTP layer registers small
// property handlers (Xandikos' GetETagProperty style) instead of writing one giant switch.
import { clark, el, type QName, type XmlElement } from './xml.js';
import type { PropfindRequest } from './body.js';
import type { PropResult } from './responses.js';
import { Preconditions } from './preconditions.js';

/** What a getter returns: child elements, text, or null for "not defined here" (→ 404). */
export type PropertyValue = XmlElement[] | string | null;

export interface PropertyDefinition<R> {
  name: QName;
  /** Protected (live, computed) properties cannot be changed by PROPPATCH (RFC 4918 §15). */
  protected: boolean;
  /** RFC 4918 §9.1: allprop returns dead properties and live ones "defined by this spec";
   *  expensive ones (e.g. calendar-data, quota) should set false. */
  inAllprop: boolean;
  /** Whether the property exists on this resource at all (affects propname and allprop). */
  appliesTo?: (resource: R) => boolean;
  get: (resource: R) => PropertyValue | Promise<PropertyValue>;
  /** PROPPATCH set; `element` is the raw property element from the request. */
  set?: (resource: R, element: XmlElement) => void | Promise<void>;
  remove?: (resource: R) => void | Promise<void>;
}

function toElement(name: QName, v: Exclude<PropertyValue, null>): XmlElement {
  return typeof v === 'string' ? el(name.ns, name.name, [], v) : el(name.ns, name.name, v);
}

export class PropertyRegistry<R> {
  private readonly defs = new Map<string, PropertyDefinition<R>>();

  register(def: PropertyDefinition<R>): this {
    const key = clark(def.name);
    if (this.defs.has(key)) throw new Error(`Property ${key} registered twice`);
    this.defs.set(key, def);
    return this;
  }

  get(name: QName): PropertyDefinition<R> | undefined {
    return this.defs.get(clark(name));
  }

  names(resource: R): QName[] {
    return [...this.defs.values()].filter((d) => !d.appliesTo || d.appliesTo(resource)).map((d) => d.name);
  }

  /**
   * Answer a PROPFIND-style selection for one resource. Unknown or inapplicable names in a
   * DAV:prop request are echoed empty with 404 (RFC 4918 §9.1); propname returns empty
   * elements with 200. `dead` supplies stored dead properties (returned for allprop too).
   */
  async resolve(resource: R, request: PropfindRequest, dead: XmlElement[] = []): Promise<PropResult[]> {
    if (request.kind === 'propname') {
      return [...this.names(resource), ...dead].map((q) => ({ prop: el(q.ns, q.name), status: 200 }));
    }
    const deadByName = new Map(dead.map((d) => [clark(d), d]));
    let wanted: QName[];
    if (request.kind === 'prop') {
      wanted = request.props;
    } else {
      const live = [...this.defs.values()].filter((d) => d.inAllprop && (!d.appliesTo || d.appliesTo(resource))).map((d) => d.name);
      const seen = new Set(live.map(clark));
      wanted = [...live, ...dead.filter((d) => !seen.has(clark(d))), ...request.include.filter((q) => !seen.has(clark(q)))];
    }
    const out: PropResult[] = [];
    const seen = new Set<string>();
    for (const q of wanted) {
      const key = clark(q);
      if (seen.has(key)) continue;
      seen.add(key);
      const def = this.defs.get(key);
      if (def && (!def.appliesTo || def.appliesTo(resource))) {
        const v = await def.get(resource);
        if (v !== null) {
          out.push({ prop: toElement(q, v), status: 200 });
          continue;
        }
      } else if (deadByName.has(key)) {
        out.push({ prop: deadByName.get(key)!, status: 200 });
        continue;
      }
      // allprop never reports 404s; a DAV:prop request echoes the missing name.
      if (request.kind === 'prop' || request.include.some((i) => clark(i) === key)) {
        out.push({ prop: el(q.ns, q.name), status: 404 });
      }
    }
    return out;
  }

  /**
   * Classify a PROPPATCH/MKCALENDAR property: 'protected' ones fail with 403
   * cannot-modify-protected-property, 'live' ones go to their setter, 'dead' ones are stored.
   */
  classify(name: QName): 'protected' | 'live' | 'dead' {
    const def = this.defs.get(clark(name));
    if (!def) return 'dead';
    if (def.protected || !def.set) return 'protected';
    return 'live';
  }

  /** The 403 propstat result for an attempt to change a protected property. */
  static protectedResult(name: QName): PropResult {
    return { prop: el(name.ns, name.name), status: 403, error: Preconditions.cannotModifyProtectedProperty() };
  }
}
