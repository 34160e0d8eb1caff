/** Public API of the pure iCalendar library (parse, zones, split, index, expand, build, edit, alarms). */
export { IcalError, type IcalErrorCode } from './errors.js';
export { decodeIcalBytes, normalizeLineEndings } from './decode.js';
export { parseCalendar, parseCalendars, preprocessIcal, serializeComponent, DEFAULT_MAX_BYTES, type ParseOptions } from './parse.js';
export {
  ensureZones, registerCanonicalZone, resolveTzid, vtimezoneFor, zonedToUtc, utcToZoned, cleanTzid, ZoneContext,
  type TzResolution, type LocalParts,
} from './zones/resolve.js';
export { WINDOWS_TO_IANA } from './zones/windows-zones.js';
export { splitResources, attachTimezones, referencedTzids, type Resource, type SplitOptions, type SplitResult } from './split.js';
export { compileResource, type CompiledSeries } from './compile.js';
export { expand, expandCompiled, type ExpandOptions, type Occurrence } from './expand.js';
export { indexResource, attendeesOf, addressOf, type ResourceIndex, type AttendeeInfo } from './index-resource.js';
export { parseRRule, formatRRule, type RuleParts } from './rrule.js';
export { buildComponent, applyEventPatch, eventToJson } from './build.js';
export type { EventInput, EventPatch, EventJson, AttendeeInput, AlarmInput } from './model.js';
export { splitSeries, addOverride, excludeOccurrence } from './recurrence-edit.js';
export { alarmTriggers, type AlarmFiring } from './alarms.js';
