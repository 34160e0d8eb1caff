import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../../app/context.js';
import { settingsJson, updateSettings, NOTIFY_KINDS } from '../../app/calendars.js';
import { Body, errors } from './schemas.js';
import { actorOf } from '../auth.js';

const Channel = Type.Union([Type.Literal('email'), Type.Literal('messenger')]);
const Settings = Type.Object({
  language: Type.String(), timezone: Type.String(),
  workingHours: Type.Object({ days: Type.Array(Type.Integer()), start: Type.String(), end: Type.String() }),
  notifications: Type.Record(Type.String(), Type.Array(Type.String())),
  vkteamsId: Type.Union([Type.String(), Type.Null()]),
});

export async function settingsRoutes(app: FastifyInstance, ctx: AppContext) {
  app.get('/settings', { schema: { tags: ['settings'], summary: 'My settings', response: { 200: Settings, ...errors(401) } } }, async (req) => {
    actorOf(req);
    return settingsJson(req.user!);
  });
  app.patch('/settings', {
    schema: {
      tags: ['settings'], summary: 'Change language, time zone, working hours, notification channels',
      body: Body({
        language: Type.Optional(Type.Union([Type.Literal('en'), Type.Literal('ru')])),
        timezone: Type.Optional(Type.String({ maxLength: 64 })),
        workingHours: Type.Optional(Type.Object({ days: Type.Array(Type.Integer({ minimum: 0, maximum: 6 }), { maxItems: 7 }), start: Type.String(), end: Type.String() }, { additionalProperties: false })),
        notifications: Type.Optional(Type.Object(Object.fromEntries(NOTIFY_KINDS.map((k) => [k, Type.Optional(Type.Array(Channel, { maxItems: 2 }))])), { additionalProperties: false })),
      }),
      response: { 200: Settings, ...errors(400, 401) },
    },
  }, async (req) => settingsJson(await updateSettings(ctx, actorOf(req), req.body as never)));
}
