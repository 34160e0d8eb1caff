// The pure WebDAV/CalDAV protocol library: XML in → typed requests; typed values → XML out.
export * from './xml.js';
export * from './requests.js';
export * from './responses.js';
export * from './filter.js';
export { pruneCalendarData, expandCalendar, defaultExpander, type ExpandFn, type PruneOptions } from './calendarData.js';
export { TimeContext, timezoneFromCalendarText } from './icaltime.js';
export * from './hrefs.js';
export * from './privileges.js';
export * from './properties.js';
