/** iTIP (RFC 5546) and implicit scheduling (RFC 6638) as a pure library. */
export { normalizeAddress, isDeliverableAddress } from './address.js';
export { plan, SIGNIFICANT_PROPS, TIME_PROPS } from './plan.js';
export { validateAttendeeChange, type DisallowedChange } from './attendee.js';
export { apply, applyToNewCopies } from './apply.js';
export {
  counter, declineCounter, refresh, requestFor, attendeeCopyFromOrganizer, replyToOrganizerCopy,
  setScheduleStatus,
} from './builders.js';
export type * from './types.js';
