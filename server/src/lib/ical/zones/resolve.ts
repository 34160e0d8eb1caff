/**
 * TZID resolution: IANA names, Windows ids, Outlook display labels, Mozilla
 * "/mozilla.org/…/Europe/Berlin" prefixes, client VTIMEZONEs (honoured when
 * the TZID is not an IANA or Windows id, and when a label's or X-LIC-LOCATION's
 * zone contradicts them), fixed-offset labels, blank TZIDs.
 */
import ICAL from 'ical.js';
import { tzlib_get_ical_block } from 'timezones-ical-library';
import { CustomZone, FixedZone, UTC_ZONE, ianaZone, isIanaZone, wallToUtc as wallToUtcMs, type Zone } from './zone.js';
import { LABEL_PHRASES, WINDOWS_TO_IANA_LC } from './windows-zones.js';

/** How a TZID was resolved. */
export interface TzResolution {
  /** The IANA zone, when the TZID maps to one. */
  iana: string | null;
  /** The zone to compute with; null when unresolvable (treat as floating). */
  zone: Zone | null;
  source: 'iana' | 'windows' | 'label' | 'x-lic-location' | 'custom' | 'offset' | 'unknown';
}

let ianaList: string[] | null = null;
let ianaByCity: Map<string, string> | null = null;
function cityIndex(): Map<string, string> {
  if (!ianaByCity) {
    ianaList = (Intl as unknown as { supportedValuesOf(k: string): string[] }).supportedValuesOf('timeZone');
    ianaByCity = new Map();
    for (const id of ianaList) {
      const city = id.split('/').pop()!.toLowerCase();
      if (!ianaByCity.has(city)) ianaByCity.set(city, id);
    }
  }
  return ianaByCity;
}

/** Strip quotes, surrounding spaces and RFC 5545 escapes from a TZID. */
export function cleanTzid(tzid: string): string {
  return tzid.replace(/\\([,;\\])/g, '$1').replace(/^\s*"?|"?\s*$/g, '').trim();
}

function fromIanaLike(id: string): string | null {
  if (isIanaZone(id) && id.includes('/') ) return id;
  if (/^(UTC|GMT|Z|Zulu|Etc\/UTC)$/i.test(id)) return 'Etc/UTC';
  if (isIanaZone(id) && /^[A-Z]/.test(id) && !/^[A-Z]{2,5}$/.test(id)) return id; // e.g. "Japan", not "EST"
  // "/mozilla.org/20050126_1/Europe/Berlin", "/softwarestudio.org/Olson_…/America/New_York"
  const parts = id.split('/').filter(Boolean);
  for (let i = 1; i < parts.length - 1; i++) {
    const tail = parts.slice(i).join('/');
    if (tail.includes('/') && isIanaZone(tail)) return tail;
  }
  return null;
}

function standardOffsetsMatch(iana: string, offsetMs: number): boolean {
  const z = ianaZone(iana);
  const y = new Date().getUTCFullYear();
  return z.offsetAt(Date.UTC(y, 0, 1)) === offsetMs || z.offsetAt(Date.UTC(y, 6, 1)) === offsetMs;
}

const LABEL_RE = /^\(?\s*(?:UTC|GMT)\s*(?:([+-])\s*(\d{1,2})(?::?(\d{2}))?)?\s*\)?\s*(.*)$/i;

function fromLabel(id: string): { iana: string | null; offset: number | null } | null {
  const m = LABEL_RE.exec(id);
  if (!m) return null;
  const offset = m[1] ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3] ?? 0)) * 60_000 : 0;
  const rest = m[4].normalize('NFD').replace(/[\u0300-\u036f]/g, '');
  const ok = (z: string) => !m[1] && !rest ? true : standardOffsetsMatch(z, offset);
  for (const [re, z] of LABEL_PHRASES) if (re.test(rest) && ok(z)) return { iana: z, offset };
  const cities = cityIndex();
  for (const token of rest.split(/,|&|\/|\band\b|\(|\)/)) {
    const key = token.trim().replace(/\s+/g, '_').toLowerCase();
    const z = key && cities.get(key);
    if (z && ok(z)) return { iana: z, offset };
  }
  return { iana: null, offset };
}

/** Fixed-offset zone id for an offset, e.g. +3h → Etc/GMT-3 (POSIX sign inversion). */
function fixedZone(offset: number): Zone {
  if (offset === 0) return UTC_ZONE;
  if (offset % 3_600_000 === 0) {
    const h = offset / 3_600_000;
    const id = `Etc/GMT${h > 0 ? '-' : '+'}${Math.abs(h)}`;
    if (isIanaZone(id)) return ianaZone(id);
  }
  const sign = offset < 0 ? '-' : '+';
  const a = Math.abs(offset) / 60_000;
  return new FixedZone(`UTC${sign}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`, offset);
}

/** Build a client zone from its VTIMEZONE; null when the definition is unusable. */
function customZone(tzid: string, vtz: ICAL.Component): Zone | null {
  try {
    const tz = new ICAL.Timezone(vtz);
    const z = new CustomZone(tzid, tz);
    for (const probe of [Date.UTC(2000, 0, 1), Date.UTC(2025, 0, 15), Date.UTC(2025, 6, 15)]) {
      const o = z.offsetAt(probe);
      if (!Number.isFinite(o) || Math.abs(o) > 18 * 3_600_000) return null;
    }
    return z;
  } catch {
    return null;
  }
}

/**
 * Resolve a TZID as found in a calendar. `vtimezones` are the calendar's own
 * VTIMEZONE components (or a map TZID → component); they are used only when
 * the TZID is not a known IANA/Windows/label zone.
 */
export function resolveTzid(
  tzid: string | null | undefined,
  vtimezones?: ICAL.Component[] | Map<string, ICAL.Component>,
): TzResolution {
  const raw = tzid ?? '';
  const id = cleanTzid(raw);
  const direct = id ? fromIanaLike(id) : null;
  if (direct) return { iana: direct, zone: ianaZone(direct), source: 'iana' };
  const win = WINDOWS_TO_IANA_LC.get(id.toLowerCase());
  if (win && isIanaZone(win)) return { iana: win, zone: ianaZone(win), source: 'windows' };
  const label = id ? fromLabel(id) : null;
  const vtz = findVtimezone(raw, id, vtimezones);
  // A guess from a display label or X-LIC-LOCATION names an IANA zone, whose rules are kept up to
  // date; it is taken unless the calendar's own VTIMEZONE (RFC 5545 §3.6.5) contradicts it.
  let custom: Zone | null | undefined;
  const own = () => (custom === undefined ? (custom = vtz ? customZone(id, vtz) : null) : custom);
  if (label?.iana && agrees(label.iana, own())) return { iana: label.iana, zone: ianaZone(label.iana), source: 'label' };
  if (vtz) {
    const loc = vtz.getFirstPropertyValue('x-lic-location');
    const locIana = typeof loc === 'string' ? fromIanaLike(cleanTzid(loc)) : null;
    if (locIana && agrees(locIana, own())) return { iana: locIana, zone: ianaZone(locIana), source: 'x-lic-location' };
    const z = own();
    if (z) return { iana: null, zone: z, source: 'custom' };
  }
  if (label && label.offset !== null) return { iana: null, zone: fixedZone(label.offset), source: 'offset' };
  return { iana: null, zone: null, source: 'unknown' };
}

/**
 * Whether a guessed IANA zone fits the calendar's own definition: some offset the definition uses
 * in winter or summer of this year is one the IANA zone uses then (a definition from an older
 * Outlook may still carry daylight time a country has dropped; a different base offset is
 * another zone). No usable definition: nothing to contradict the guess.
 */
function agrees(iana: string, own: Zone | null): boolean {
  if (!own) return true;
  const y = new Date().getUTCFullYear();
  const probes = [Date.UTC(y, 0, 15), Date.UTC(y, 6, 15)];
  const z = ianaZone(iana);
  const theirs = new Set(probes.map((t) => z.offsetAt(t)));
  return probes.some((t) => theirs.has(own.offsetAt(t)));
}

function findVtimezone(
  raw: string,
  id: string,
  vtimezones?: ICAL.Component[] | Map<string, ICAL.Component>,
): ICAL.Component | null {
  if (!vtimezones) return null;
  if (vtimezones instanceof Map) return vtimezones.get(raw) ?? vtimezones.get(id) ?? null;
  for (const v of vtimezones) {
    for (const p of v.getAllProperties('tzid')) {
      const val = String(p.getFirstValue() ?? '');
      if (val === raw || cleanTzid(val) === id) return v;
    }
  }
  return null;
}

/**
 * Per-calendar zone lookup: resolves each TZID once, keeping client-defined
 * zones private to this calendar. Unresolvable TZIDs yield null (floating).
 */
export class ZoneContext {
  private readonly cache = new Map<string, TzResolution>();
  constructor(private readonly vtimezones: ICAL.Component[] = []) {}
  /** Build from a VCALENDAR's own VTIMEZONE components. */
  static of(cal: ICAL.Component): ZoneContext {
    return new ZoneContext(cal.getAllSubcomponents('vtimezone'));
  }
  resolve(tzid: string): TzResolution {
    let r = this.cache.get(tzid);
    if (!r) {
      r = resolveTzid(tzid, this.vtimezones);
      this.cache.set(tzid, r);
    }
    return r;
  }
}

let zonesReady = false;
/**
 * Initialise the shared zone registry once: registers UTC in the process-global
 * ICAL.TimezoneService. Canonical IANA zones are registered lazily by
 * registerCanonicalZone(); client VTIMEZONEs are never registered there.
 */
export function ensureZones(): void {
  if (zonesReady) return;
  zonesReady = true;
  if (!ICAL.TimezoneService.has('UTC')) ICAL.TimezoneService.register(ICAL.Timezone.utcTimezone, 'UTC');
}

/** Register the canonical VTIMEZONE of an IANA zone in ICAL.TimezoneService (idempotent). */
export function registerCanonicalZone(iana: string): boolean {
  ensureZones();
  if (ICAL.TimezoneService.has(iana)) return true;
  const block = vtimezoneBlock(iana);
  if (!block) return false;
  const comp = new ICAL.Component(ICAL.parse(block) as never);
  ICAL.TimezoneService.register(new ICAL.Timezone(comp), iana);
  return true;
}

/** Blocks found, by IANA name (a finite set: the library's zones), built once per process. */
const blocks = new Map<string, string>();

function vtimezoneBlock(iana: string): string | null {
  const hit = blocks.get(iana);
  if (hit !== undefined) return hit;
  try {
    const r = tzlib_get_ical_block(iana);
    const block = Array.isArray(r) ? r[0] : r;
    if (typeof block !== 'string' || !block.startsWith('BEGIN:VTIMEZONE')) return null;
    blocks.set(iana, block);
    return block;
  } catch {
    return null;
  }
}

/**
 * The canonical VTIMEZONE text (CRLF, no trailing CRLF) for an IANA zone, from
 * timezones-ical-library (current rules only). `tzid` renames it, e.g. to keep
 * a client's Windows TZID. Falls back to a fixed-offset block from Intl.
 */
export function vtimezoneFor(iana: string, tzid: string = iana): string {
  const esc = (s: string) => s.replace(/[\\;,]/g, (c) => '\\' + c);
  let block = vtimezoneBlock(iana);
  if (!block) {
    const z = ianaZone(iana);
    const o = z.offsetAt(Date.now()) / 60_000;
    const off = `${o < 0 ? '-' : '+'}${String(Math.floor(Math.abs(o) / 60)).padStart(2, '0')}${String(Math.abs(o) % 60).padStart(2, '0')}`;
    block = ['BEGIN:VTIMEZONE', `TZID:${iana}`, 'BEGIN:STANDARD', `TZOFFSETFROM:${off}`, `TZOFFSETTO:${off}`, 'DTSTART:19700101T000000', 'END:STANDARD', 'END:VTIMEZONE'].join('\r\n');
  }
  return block.replace(/^TZID:.*$/m, `TZID:${esc(tzid)}`).replace(/^LAST-MODIFIED:.*\r?\n/m, '');
}

/** Local date-time parts (month 1–12). */
export interface LocalParts {
  year: number;
  month: number;
  day: number;
  hour?: number;
  minute?: number;
  second?: number;
}

/**
 * The instant of a local date-time in an IANA zone (Intl tzdata). Ambiguous
 * times take the earlier instant; nonexistent times move forward by the gap
 * (RFC 5545 §3.3.5).
 */
export function zonedToUtc(parts: LocalParts, iana: string): Date {
  const wall = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0);
  return new Date(wallToUtcMs(wall, ianaZone(iana)));
}

/** Local date-time parts of an instant in an IANA zone, plus the offset in minutes. */
export function utcToZoned(date: Date, iana: string): Required<LocalParts> & { offsetMinutes: number } {
  const z = ianaZone(iana);
  const off = z.offsetAt(date.getTime());
  const w = new Date(date.getTime() + off);
  return {
    year: w.getUTCFullYear(),
    month: w.getUTCMonth() + 1,
    day: w.getUTCDate(),
    hour: w.getUTCHours(),
    minute: w.getUTCMinutes(),
    second: w.getUTCSeconds(),
    offsetMinutes: off / 60_000,
  };
}

