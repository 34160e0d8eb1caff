/**
 * Roles, not services (DESIGN.md principle 7): each is a module loaded lazily, so a worker never
 * loads the web stack. `calendula start --roles api,worker` picks them.
 */
import type { AppContext } from '../app/context.js';

export interface RunningRole { name: string; stop(): Promise<void> }
export type RoleStarter = (ctx: AppContext) => Promise<RunningRole>;

export const ROLES: Record<string, () => Promise<{ start: RoleStarter }>> = {
  api: () => import('./api.js'),
  worker: () => import('./worker.js'),
  'mail-in': () => import('./mail-in.js'),
  bot: () => import('./bot.js'),
  exchange: () => import('./exchange.js'),
};

export function parseRoles(list: string[]): string[] {
  const roles = [...new Set(list.map((r) => r.trim()).filter(Boolean))];
  const unknown = roles.filter((r) => !ROLES[r]);
  if (unknown.length) throw new Error(`unknown role(s): ${unknown.join(', ')} (known: ${Object.keys(ROLES).join(', ')})`);
  if (!roles.length) throw new Error('no roles given');
  return roles;
}
