/** What every CalDAV handler works with: the resolved target resource and who is asking. */
import type { AppContext } from '../../app/context.js';
import type { Actor } from '../../domain/actor.js';
import type { CalendarRow, ObjectRow, PrincipalRow } from '../../store/schema.js';
import type { AccessLevel } from '../../lib/dav/index.js';

export interface DavEnv {
  ctx: AppContext;
  user: PrincipalRow;
  actor: Actor;
}

/** A calendar as seen by the requesting user: their access level and where it lives in their home. */
export type DavCalendar = CalendarRow & { access: AccessLevel; ownerEmail: string };

/** A calendar object as listed (without its text unless asked for). */
export type ObjectMeta = Pick<ObjectRow, 'id' | 'name' | 'etag' | 'schedule_tag' | 'role' | 'component' | 'updated_at' | 'class'> & { size: number; ical?: string };

export type DavResource =
  | { kind: 'root'; path: string }
  | { kind: 'principals'; path: string }
  | { kind: 'principal'; path: string; principal: PrincipalRow }
  | { kind: 'home'; path: string }
  | { kind: 'calendar'; path: string; cal: DavCalendar }
  | { kind: 'inbox'; path: string }
  | { kind: 'outbox'; path: string }
  | { kind: 'object'; path: string; cal: DavCalendar; obj: ObjectMeta }
  | { kind: 'inbox-item'; path: string; obj: ObjectMeta }
  /** A URL that maps to nothing yet: PUT, MKCALENDAR, MKCOL and COPY/MOVE can create it. */
  | { kind: 'null'; path: string; parent: DavResource | null; name: string };

/** A resource bundled with the request environment, which is what property getters receive. */
export interface Target {
  env: DavEnv;
  res: DavResource;
}
