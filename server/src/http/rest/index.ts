import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../app/context.js';
import { sessionRoutes } from './session.js';
import { userRoutes } from './users.js';
import { calendarRoutes } from './calendars.js';
import { settingsRoutes } from './settings.js';
import { credentialRoutes } from './credentials.js';
import { directoryRoutes } from './directory.js';
import { eventRoutes } from './events.js';
import { schedulingRoutes } from './scheduling.js';
import { transferRoutes } from './transfer.js';
import { eventTextRoutes } from './event-text.js';
import { attachmentRoutes } from './attachments.js';
import { answerRoutes } from './answer.js';
import { botRoutes } from './bot.js';
import { mailRoutes } from './mail.js';
import { proposalRoutes } from './proposals.js';

export type RestModule = (app: FastifyInstance, ctx: AppContext) => void | Promise<void>;

/** Extra REST modules registered by later parts (events, attachments, …) before the app is built. */
export const restModules: RestModule[] = [];

export async function registerRestRoutes(app: FastifyInstance, ctx: AppContext) {
  for (const m of [sessionRoutes, userRoutes, calendarRoutes, settingsRoutes, credentialRoutes, directoryRoutes, eventRoutes, eventTextRoutes, schedulingRoutes, transferRoutes, attachmentRoutes, answerRoutes, mailRoutes, proposalRoutes, botRoutes, ...restModules]) await m(app, ctx);
}
