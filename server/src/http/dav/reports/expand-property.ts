/**
 * DAV:expand-property — RFC 3253 §3.8: properties whose values are hrefs are replaced by the
 * responses of the resources they name (Apple uses it for principal look-ups).
 */
import { NS_DAV, davEl, hrefToPath, type ExpandPropertyItem, type ExpandPropertyReport, type MultistatusResponse, type PropResult } from '../../../lib/dav/index.js';
import { multistatusElement } from '../../../lib/dav/index.js';
import { href, requestPath, resolvePath } from '../paths.js';
import { propsFor, sendMultistatus, type DavRequest } from '../common.js';
import type { Target } from '../types.js';

async function expand(t: Target, items: ExpandPropertyItem[], depth: number): Promise<PropResult[]> {
  const results = await propsFor(t, { kind: 'prop', props: items.map((i) => i.name) });
  if (depth > 3) return results;
  for (const r of results) {
    const item = items.find((i) => i.name.ns === r.prop.ns && i.name.name === r.prop.name);
    if (!item || !item.children.length || r.status !== 200) continue;
    const expanded = [];
    for (const h of r.prop.children) {
      if (h.ns !== NS_DAV || h.name !== 'href') {
        expanded.push(h);
        continue;
      }
      let response: MultistatusResponse;
      try {
        const res = await resolvePath(t.env, requestPath(hrefToPath(h.text)));
        if (res.kind === 'null') throw new Error('missing');
        response = { href: h.text, props: await expand({ env: t.env, res }, item.children, depth + 1) };
      } catch {
        response = { href: h.text, status: 404 };
      }
      expanded.push(...multistatusElement([response]).children);
    }
    r.prop = { ...r.prop, children: expanded };
  }
  return results;
}

export async function expandProperty(d: DavRequest, q: ExpandPropertyReport) {
  const props = await expand(d.target, q.properties, 0);
  void davEl;
  return sendMultistatus(d, [{ href: href(d.target.res.path), props }], { minimal: false });
}
