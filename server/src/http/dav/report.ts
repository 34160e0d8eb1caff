/** REPORT — RFC 3253 §3.6: parse the body (lib/dav), then one handler per report. */
import { parseReport, parseXml } from '../../lib/dav/index.js';
import { DavHttpError } from './errors.js';
import { calendarQuery } from './reports/calendar-query.js';
import { multiget } from './reports/multiget.js';
import { syncCollection } from './reports/sync-collection.js';
import { freeBusyQuery } from './reports/free-busy-query.js';
import { expandProperty } from './reports/expand-property.js';
import { calendarServerPrincipalSearch, principalPropertySearch, principalSearchPropertySet } from './reports/principal-search.js';
import { requirePrivilege, type DavRequest } from './common.js';

export async function report(d: DavRequest) {
  if (!d.body.trim()) throw new DavHttpError(400, 'REPORT needs a body');
  const q = d.report ?? parseReport(parseXml(d.body));
  if (d.target.res.kind === 'null') throw new DavHttpError(404, 'No such resource');
  // Free-busy-only grants allow exactly one report (RFC 4791 §6.1.1).
  if (q.kind !== 'free-busy-query' && (d.target.res.kind === 'calendar' || d.target.res.kind === 'object')) requirePrivilege(d.target, 'read');
  switch (q.kind) {
    case 'calendar-query': return calendarQuery(d, q);
    case 'calendar-multiget': return multiget(d, q);
    case 'sync-collection': return syncCollection(d, q);
    case 'free-busy-query': return freeBusyQuery(d, q);
    case 'expand-property': return expandProperty(d, q);
    case 'principal-property-search': return principalPropertySearch(d, q);
    case 'principal-search-property-set': return principalSearchPropertySet(d);
    case 'calendarserver-principal-search': return calendarServerPrincipalSearch(d, q);
  }
}
