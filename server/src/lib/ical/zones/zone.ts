/**
 * Zone objects: everything that can turn a wall-clock time into an instant.
 * Canonical IANA zones use Intl (tzdata with history); client-defined zones use
 * their own VTIMEZONE through an ICAL.Timezone held per calendar, never
 * registered in the process-global ICAL.TimezoneService.
 *
 * Wall-clock times are represented as "wall ms": milliseconds since the epoch of
 * the local date-time read as if it were UTC.
 */
import ICAL from 'ical.js';

/** Something that knows its UTC offset at any instant. */
export interface Zone {
  /** IANA id for canonical zones, the client's TZID for custom ones, 'floating' for floating. */
  readonly id: string;
  readonly kind: 'utc' | 'iana' | 'fixed' | 'custom';
  /** Offset (ms, east positive) in effect at the given instant. */
  offsetAt(utcMs: number): number;
}

const DAY = 86_400_000;

class CachedZone {
  private cache = new Map<number, number>();
  protected cached(utcMs: number, compute: (ms: number) => number): number {
    const bucket = Math.floor(utcMs / 900_000); // all modern transitions fall on 15-minute UTC boundaries
    let v = this.cache.get(bucket);
    if (v === undefined) {
      if (this.cache.size > 50_000) this.cache.clear();
      v = compute(bucket * 900_000);
      this.cache.set(bucket, v);
    }
    return v;
  }
}

/** UTC. */
export const UTC_ZONE: Zone = { id: 'UTC', kind: 'utc', offsetAt: () => 0 };

/** A fixed offset (e.g. an Outlook label "(UTC+05:30)" with no definition). */
export class FixedZone implements Zone {
  readonly kind = 'fixed' as const;
  constructor(readonly id: string, private readonly offset: number) {}
  offsetAt(): number {
    return this.offset;
  }
}

/** A canonical IANA zone; offsets from Intl. */
export class IanaZone extends CachedZone implements Zone {
  readonly kind = 'iana' as const;
  private readonly fmt: Intl.DateTimeFormat;
  constructor(readonly id: string) {
    super();
    this.fmt = new Intl.DateTimeFormat('en-US', {
      timeZone: id,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      era: 'short',
    });
  }
  offsetAt(utcMs: number): number {
    return this.cached(utcMs, (ms) => {
      const p: Record<string, string> = {};
      for (const part of this.fmt.formatToParts(new Date(ms))) p[part.type] = part.value;
      let year = Number(p.year);
      if (p.era === 'BC' || p.era === 'B') year = 1 - year;
      const d = new Date(0);
      d.setUTCFullYear(year, Number(p.month) - 1, Number(p.day));
      d.setUTCHours(Number(p.hour) % 24, Number(p.minute), Number(p.second), 0);
      const floorSec = ms - (((ms % 1000) + 1000) % 1000);
      return d.getTime() - floorSec;
    });
  }
}

/** A client-defined VTIMEZONE (unknown TZID), evaluated by ical.js, private to one calendar. */
export class CustomZone extends CachedZone implements Zone {
  readonly kind = 'custom' as const;
  constructor(readonly id: string, private readonly tz: ICAL.Timezone) {
    super();
  }
  offsetAt(utcMs: number): number {
    return this.cached(utcMs, (ms) => {
      const t = ICAL.Time.fromJSDate(new Date(ms), true);
      const local = t.convertToZone(this.tz);
      return local.utcOffset() * 1000;
    });
  }
}

const validIana = new Map<string, boolean>();
/** True when Intl knows the IANA zone id. */
export function isIanaZone(id: string): boolean {
  let v = validIana.get(id);
  if (v === undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: id });
      v = /^[A-Za-z]/.test(id);
    } catch {
      v = false;
    }
    validIana.set(id, v);
  }
  return v;
}

const ianaZones = new Map<string, Zone>();
/** The shared Zone object for an IANA id (throws RangeError for unknown ids). */
export function ianaZone(id: string): Zone {
  let z = ianaZones.get(id);
  if (!z) {
    if (!isIanaZone(id)) throw new RangeError(`Unknown time zone ${id}`);
    z = /^(Etc\/)?(UTC|UCT|Zulu|Universal|GMT)$/i.test(id) ? UTC_ZONE : new IanaZone(id);
    ianaZones.set(id, z);
  }
  return z;
}

/** A viewer's zone (expansion puts all-day occurrences at midnight there); UTC for an unknown id. */
export function zoneOf(tz: string): Zone {
  try {
    return ianaZone(tz);
  } catch {
    return ianaZone('UTC');
  }
}

/** Wall ms of an instant in a zone. */
export function utcToWall(utcMs: number, zone: Zone): number {
  return utcMs + zone.offsetAt(utcMs);
}

/**
 * Instant of a wall-clock time in a zone. In an overlap (clocks go back) the
 * earlier instant is chosen; in a gap (clocks go forward) the time is moved
 * forward by the length of the gap, i.e. interpreted with the offset before the
 * transition — RFC 5545 §3.3.5 ("02:30" on a spring-forward night → 03:30).
 */
export function wallToUtc(wallMs: number, zone: Zone): number {
  if (zone.kind === 'utc' || zone.kind === 'fixed') return wallMs - zone.offsetAt(wallMs);
  const before = zone.offsetAt(wallMs - DAY);
  const after = zone.offsetAt(wallMs + DAY);
  const c1 = wallMs - before;
  const c2 = wallMs - after;
  const ok1 = c1 + zone.offsetAt(c1) === wallMs;
  const ok2 = c2 + zone.offsetAt(c2) === wallMs;
  if (ok1 && ok2) return Math.min(c1, c2);
  if (ok1) return c1;
  if (ok2) return c2;
  // Gap: neither candidate exists. Use the offset in effect before the gap.
  return c1;
}
