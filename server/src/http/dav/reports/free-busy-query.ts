/** CALDAV:free-busy-query — RFC 4791 §7.10: busy time of one calendar, as a VFREEBUSY. */
import { sql } from 'kysely';
import type { FreeBusyQueryReport } from '../../../lib/dav/index.js';
import { expandCompiled } from '../../../lib/ical/index.js';
import { compiledFor } from '../../../app/events/compiled-cache.js';
import { mergePeriods, type BusyType, type Period } from '../../../app/events/busy-periods.js';
import { floatingSingleOccurrences } from '../../../app/events/expansions.js';
import { zonedRangeOverlaps } from '../../../store/objects.js';
import { DavHttpError } from '../errors.js';
import { requirePrivilege, type DavRequest } from '../common.js';

export const basicUtc = (ms: number) => new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');

export function vfreebusy(periods: Period[], from: Date, to: Date, extra: string[] = []): string {
  const lines = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Calendula//CalDAV//EN', ...extra.filter((l) => l.startsWith('METHOD:')), 'BEGIN:VFREEBUSY',
    `DTSTAMP:${basicUtc(Date.now())}`, `DTSTART:${basicUtc(from.getTime())}`, `DTEND:${basicUtc(to.getTime())}`, ...extra.filter((l) => !l.startsWith('METHOD:'))];
  for (const p of periods) lines.push(`FREEBUSY;FBTYPE=${p.type}:${basicUtc(p.start)}/${basicUtc(p.end)}`);
  lines.push('END:VFREEBUSY', 'END:VCALENDAR');
  return lines.join('\r\n') + '\r\n';
}

export async function freeBusyQuery(d: DavRequest, q: FreeBusyQueryReport) {
  const t = d.target;
  if (t.res.kind !== 'calendar') throw new DavHttpError(403, 'free-busy-query runs on calendar collections', { status: 403, ns: 'DAV:', name: 'supported-report' });
  requirePrivilege(t, 'read-free-busy');
  const cal = t.res.cal;
  const from = q.timeRange.start ?? new Date(Date.now() - 86_400_000);
  const to = q.timeRange.end ?? new Date(from.getTime() + 366 * 86_400_000);
  const rows = await d.env.ctx.db.selectFrom('calendar_object')
    .select(['etag', 'recurring', 'first_start', 'last_end', 'status', 'transp', 'my_partstat'])
    // All-day dates are floating as well (RFC 4791 §9.9).
    .select(sql<boolean>`floating or all_day`.as('floating'))
    .select(sql<string>`case when recurring or floating or all_day then ical else '' end`.as('ical'))
    .where('owner_id', '=', cal.owner_id).where('calendar_id', '=', cal.id).where('deleted_at', 'is', null).where('component', '=', 'VEVENT')
    .where(zonedRangeOverlaps(from, to))
    .execute();
  // RFC 4791 §9.9: floating times and all-day dates are in the calendar's time zone (CALDAV:calendar-timezone, else
  // the user's); the index columns hold them read as UTC.
  const floatingZone = cal.timezone ?? d.env.user.timezone ?? 'UTC';
  const out: Period[] = [];
  for (const r of rows) {
    if (r.my_partstat === 'DECLINED') continue;
    const type: BusyType = r.my_partstat === 'TENTATIVE' || r.status === 'TENTATIVE' ? 'BUSY-TENTATIVE' : 'BUSY';
    if (!r.recurring) {
      if (r.status === 'CANCELLED' || r.transp === 'TRANSPARENT' || !r.first_start) continue;
      if (r.floating) {
        try {
          for (const o of floatingSingleOccurrences(r.etag, r.ical, from, to, floatingZone)) out.push({ start: o.start.getTime(), end: o.end.getTime(), type });
        } catch { /* unparsable: contributes nothing */ }
        continue;
      }
      out.push({ start: r.first_start.getTime(), end: (r.last_end ?? r.first_start).getTime(), type });
      continue;
    }
    try {
      // A floating series is expanded in the floating zone too (non-floating ones keep UTC for DATE values).
      for (const o of expandCompiled(compiledFor(r.etag, r.ical), from, to, { limit: 5000, ...(r.floating ? { defaultTz: floatingZone } : {}) })) {
        if ((o.status ?? r.status) === 'CANCELLED' || (o.transp ?? r.transp) === 'TRANSPARENT') continue;
        out.push({ start: o.start.getTime(), end: o.end.getTime(), type: o.status === 'TENTATIVE' ? 'BUSY-TENTATIVE' : type });
      }
    } catch { /* an unexpandable series contributes nothing */ }
  }
  const periods = mergePeriods(out.map((p) => ({ ...p, start: Math.max(p.start, from.getTime()), end: Math.min(p.end, to.getTime()) })).filter((p) => p.end > p.start));
  return d.reply.status(200).type('text/calendar; charset=utf-8').send(vfreebusy(periods, from, to));
}
