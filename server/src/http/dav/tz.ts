/** Time zones as CalDAV carries them: a VCALENDAR with one VTIMEZONE (RFC 4791 §5.2.2). */
import ICAL from 'ical.js';
import { parseCalendar, resolveTzid } from '../../lib/ical/index.js';

/** The IANA zone named by a CALDAV:calendar-timezone / CALDAV:timezone value, or null. */
export function timezoneFromVcalendar(text: string): string | null {
  if (!text.trim()) return null;
  try {
    const cal = parseCalendar(text.trim());
    const vtz = cal.getFirstSubcomponent('vtimezone');
    if (!vtz) return null;
    const tzid = String(vtz.getFirstPropertyValue('tzid') ?? '');
    return resolveTzid(tzid, [vtz]).iana;
  } catch {
    return null;
  }
}

/** An ical.js zone for floating times from a CALDAV:timezone element (RFC 4791 §9.8). */
export function icalZoneFrom(text: string | null): ICAL.Timezone | null {
  if (!text) return null;
  try {
    const vtz = parseCalendar(text.trim()).getFirstSubcomponent('vtimezone');
    return vtz ? new ICAL.Timezone(vtz) : null;
  } catch {
    return null;
  }
}
