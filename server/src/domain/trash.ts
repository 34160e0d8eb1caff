/** Deleted events stay restorable in the trash this long, then the purge job removes them. */
export const TRASH_DAYS = 30;

/** Events deleted before this instant are past the trash period. */
export function trashCutoff(now = Date.now()): Date {
  return new Date(now - TRASH_DAYS * 86_400_000);
}
