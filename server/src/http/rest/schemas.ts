import { Type, type TSchema } from '@sinclair/typebox';

export const ErrorBody = Type.Object({ error: Type.String(), message: Type.String(), details: Type.Optional(Type.Unknown()) }, { $id: 'Error' });

/** Every body schema is closed: unknown fields are refused with VALIDATION_FAILED. */
export const Body = <T extends Record<string, TSchema>>(props: T) => Type.Object(props, { additionalProperties: false });

export const Uuid = Type.String({ format: 'uuid' });
export const Email = Type.String({ minLength: 3, maxLength: 254 });
export const IdParams = Type.Object({ id: Uuid });
/**
 * The precondition header of every event write (PATCH, DELETE, respond, move, restore): the etag
 * the client read. A stale one is refused with 412 ETAG_MISMATCH whose details say who changed
 * the event and when (changedBy, changedAt) and give the current etag.
 */
export const IfMatchHeaders = Type.Object({
  'if-match': Type.Optional(Type.String({ maxLength: 200, description: 'The etag you read ("…"); a stale one answers 412 ETAG_MISMATCH with changedBy, changedAt and the current etag' })),
});

export const User = Type.Object({
  id: Uuid, kind: Type.String(), email: Type.String(), name: Type.String(), isAdmin: Type.Boolean(), disabled: Type.Boolean(),
  language: Type.String(), timezone: Type.String(), createdAt: Type.String(),
  /** Rooms only. */
  roomCapacity: Type.Optional(Type.Union([Type.Integer(), Type.Null()])),
  roomAutoAccept: Type.Optional(Type.String()),
});

export const Reminder = Type.Object({ minutesBefore: Type.Integer({ minimum: 0, maximum: 40320 }), action: Type.Union([Type.Literal('DISPLAY'), Type.Literal('EMAIL')]) }, { additionalProperties: false });

export const Calendar = Type.Object({
  id: Uuid, name: Type.String(), description: Type.String(), color: Type.String(), timezone: Type.Union([Type.String(), Type.Null()]),
  defaultReminders: Type.Array(Reminder), order: Type.Integer(), hidden: Type.Boolean(), isDefault: Type.Boolean(),
  access: Type.String(), owner: Type.Union([Type.Null(), Type.Object({ id: Type.String(), email: Type.String(), name: Type.String() })]),
  syncToken: Type.String(),
});

export const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, ErrorBody]));
