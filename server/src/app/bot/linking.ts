/**
 * People and linking: a user's VK Teams id defaults to their login e-mail; an admin can map a
 * different one (principal.vkteams_id). The bot may write only to people who started a dialogue
 * with it: their first message (normally /start) links the chat (bot_chat).
 */
import { sql } from 'kysely';
import type { AppContext } from '../context.js';
import type { Actor } from '../../domain/actor.js';
import { DomainError, forbidden, invalid } from '../../domain/errors.js';
import * as principals from '../../store/principals.js';
import type { PrincipalRow } from '../../store/schema.js';
import { audit } from '../audit.js';
import { botDb } from './store.js';
import { botConfigured } from './messenger.js';

/** The id VK Teams knows the user by. */
export const vkteamsIdOf = (u: Pick<PrincipalRow, 'email' | 'vkteams_id'>): string => (u.vkteams_id?.trim() || u.email).toLowerCase();

/** The Calendula user behind a VK Teams userId: an explicit mapping wins, else the login e-mail (unless mapped elsewhere). */
export async function userForVkId(ctx: AppContext, vkId: string): Promise<PrincipalRow | undefined> {
  const id = vkId.trim().toLowerCase();
  if (!id) return undefined;
  const mapped = await ctx.db.selectFrom('principal').selectAll().where(sql`lower(vkteams_id)`, '=', id).where('kind', '=', 'user').executeTakeFirst();
  if (mapped) return mapped.disabled ? undefined : mapped;
  const byMail = await principals.findPrincipalByEmail(ctx.db, id);
  if (!byMail || byMail.kind !== 'user' || byMail.disabled) return undefined;
  if (byMail.vkteams_id && byMail.vkteams_id.trim().toLowerCase() !== id) return undefined; // mapped to another VK Teams id
  return byMail;
}

export async function linkChat(ctx: AppContext, user: PrincipalRow, vkId: string, chatId: string, name: string): Promise<{ created: boolean }> {
  const db = botDb(ctx.db);
  const before = await db.selectFrom('bot_chat').select(['chat_id', 'vkteams_id']).where('owner_id', '=', user.id).executeTakeFirst();
  await db.insertInto('bot_chat').values({ owner_id: user.id, vkteams_id: vkId, chat_id: chatId, display_name: name.slice(0, 200) })
    .onConflict((oc) => oc.column('owner_id').doUpdateSet({ vkteams_id: vkId, chat_id: chatId, display_name: name.slice(0, 200), last_seen_at: new Date() }))
    .execute();
  const created = !before || before.chat_id !== chatId;
  if (created) ctx.log.info({ component: 'bot', userId: user.id, vkteamsId: vkId }, 'VK Teams chat linked');
  return { created };
}

export async function unlinkChat(ctx: AppContext, userId: string): Promise<boolean> {
  const r = await botDb(ctx.db).deleteFrom('bot_chat').where('owner_id', '=', userId).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

export interface LinkState {
  /** The bot is configured on this server. */
  botEnabled: boolean;
  /** The VK Teams id the bot knows this user by (mapping, or the login e-mail). */
  vkteamsId: string;
  /** An administrator set vkteamsId explicitly. */
  mapped: boolean;
  /** The user has started a dialogue with the bot: messages will be delivered. */
  linked: boolean;
  linkedAt: string | null;
}

export async function linkState(ctx: AppContext, user: PrincipalRow): Promise<LinkState> {
  const chat = await botDb(ctx.db).selectFrom('bot_chat').selectAll().where('owner_id', '=', user.id).executeTakeFirst();
  return {
    botEnabled: botConfigured(ctx), vkteamsId: vkteamsIdOf(user), mapped: !!user.vkteams_id,
    linked: !!chat, linkedAt: chat ? chat.linked_at.toISOString() : null,
  };
}

/** Admin: map a user's VK Teams id (null = back to the login e-mail). A changed id drops the old chat link. */
export async function setVkteamsId(ctx: AppContext, actor: Actor, userId: string, vkId: string | null): Promise<PrincipalRow> {
  if (!actor.isAdmin) throw forbidden('Only an administrator can map VK Teams ids');
  const user = await principals.findPrincipalById(ctx.db, userId);
  if (!user || user.kind !== 'user') throw new DomainError('NOT_FOUND', 'User not found');
  const id = vkId?.trim() || null;
  if (id !== null && (id.length > 200 || /[\s\u0000-\u001f]/.test(id))) throw invalid('A VK Teams id is a login such as name@company.ru or a numeric id, without spaces', { field: 'vkteamsId' });
  if (id) {
    const clash = await userForVkId(ctx, id);
    if (clash && clash.id !== user.id) throw new DomainError('CONFLICT', `The VK Teams id ${id} already belongs to ${clash.email}`, { email: clash.email });
  }
  const before = vkteamsIdOf(user);
  const row = (await principals.updatePrincipal(ctx.db, user.id, { vkteams_id: id }))!;
  if (vkteamsIdOf(row) !== before) await unlinkChat(ctx, user.id);
  await audit(ctx, actor, 'user.vkteams', user.id, { vkteamsId: id }, user.id);
  return row;
}

export async function isLinked(ctx: AppContext, userId: string): Promise<boolean> {
  return !!(await botDb(ctx.db).selectFrom('bot_chat').select('owner_id').where('owner_id', '=', userId).executeTakeFirst());
}
