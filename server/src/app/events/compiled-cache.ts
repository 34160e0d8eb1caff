/** Compiled recurring series, cached by etag (content hash): expansion is the hot path of range listing. */
import { compileResource, type CompiledSeries } from '../../lib/ical/index.js';

const MAX = 20_000;
const cache = new Map<string, CompiledSeries>();

export function compiledFor(etag: string, ical: string): CompiledSeries {
  let c = cache.get(etag);
  if (c) {
    cache.delete(etag);
    cache.set(etag, c);
    return c;
  }
  c = compileResource(ical);
  cache.set(etag, c);
  if (cache.size > MAX) cache.delete(cache.keys().next().value!);
  return c;
}
