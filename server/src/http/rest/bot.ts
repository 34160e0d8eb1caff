/** VK Teams bot: the user's link state (settings) and the admin mapping of a user's VK Teams id. */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../../app/context.js';
import { linkState, setVkteamsId, unlinkChat } from '../../app/bot/linking.js';
import * as principals from '../../store/principals.js';
import { notFound } from '../../domain/errors.js';
import { Body, IdParams, errors } from './schemas.js';
import { actorOf } from '../auth.js';

const LinkState = Type.Object({
  botEnabled: Type.Boolean({ description: 'The VK Teams bot is configured on this server' }),
  vkteamsId: Type.String({ description: 'The VK Teams id the bot knows this user by (mapping, or the login e-mail)' }),
  mapped: Type.Boolean({ description: 'An administrator set the VK Teams id explicitly' }),
  linked: Type.Boolean({ description: 'The user has started a dialogue with the bot (/start): messages are delivered' }),
  linkedAt: Type.Union([Type.String(), Type.Null()]),
});

export async function botRoutes(app: FastifyInstance, ctx: AppContext) {
  app.get('/settings/vkteams', {
    schema: { tags: ['settings'], summary: 'My VK Teams bot link state', response: { 200: LinkState, ...errors(401) } },
  }, async (req) => {
    actorOf(req);
    return linkState(ctx, req.user!);
  });

  app.delete('/settings/vkteams', {
    schema: { tags: ['settings'], summary: 'Unlink my VK Teams chat (the bot stops writing until I send /start again)', response: { 200: LinkState, ...errors(401) } },
  }, async (req) => {
    const actor = actorOf(req);
    await unlinkChat(ctx, actor.userId!);
    return linkState(ctx, req.user!);
  });

  app.get('/users/:id/vkteams', {
    config: { auth: 'admin' },
    schema: { tags: ['admin'], summary: 'A user\'s VK Teams mapping and link state', params: IdParams, response: { 200: LinkState, ...errors(401, 403, 404) } },
  }, async (req) => {
    const u = await principals.findPrincipalById(ctx.db, (req.params as { id: string }).id);
    if (!u || u.kind !== 'user') throw notFound('User');
    return linkState(ctx, u);
  });

  app.put('/users/:id/vkteams', {
    config: { auth: 'admin' },
    schema: {
      tags: ['admin'], summary: 'Map a user\'s VK Teams id (null: back to the login e-mail)', params: IdParams,
      body: Body({ vkteamsId: Type.Union([Type.String({ minLength: 1, maxLength: 200 }), Type.Null()]) }),
      response: { 200: LinkState, ...errors(400, 401, 403, 404, 409) },
    },
  }, async (req) => {
    const row = await setVkteamsId(ctx, actorOf(req), (req.params as { id: string }).id, (req.body as { vkteamsId: string | null }).vkteamsId);
    return linkState(ctx, row);
  });
}
