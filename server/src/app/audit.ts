import type { AppContext } from './context.js';
import type { Actor } from '../domain/actor.js';

export async function audit(ctx: AppContext, actor: Actor, action: string, target: string | null, details?: Record<string, unknown>, ownerId?: string | null): Promise<void> {
  await ctx.db.insertInto('audit_log').values({
    owner_id: ownerId ?? actor.userId, actor_id: actor.userId, via: actor.via, action, target, details: details ? JSON.stringify(details) : null,
  }).execute();
}
