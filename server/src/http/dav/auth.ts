/**
 * HTTP Basic for CalDAV clients (RFC 7617): app passwords, and the account password unless
 * `allowPasswordForDav` is off. Verified credentials are remembered for a short while (keyed by a
 * hash of the header) so a sync burst does not hash a password per request; a revoked app
 * password stops working within CALENDULA_AUTH_CACHE_MS (authCacheMs; 0 turns the cache off).
 */
import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { AppContext } from '../../app/context.js';
import { checkDavCredentials } from '../../app/accounts.js';
import { findPrincipalById } from '../../store/principals.js';
import type { PrincipalRow } from '../../store/schema.js';
import { DavHttpError, WWW_AUTHENTICATE } from './errors.js';

const MAX_ENTRIES = 10_000;
const cache = new Map<string, { userId: string; until: number }>();

function unauthorized(message: string): never {
  throw new DavHttpError(401, message, undefined, { 'www-authenticate': WWW_AUTHENTICATE });
}

export function parseBasic(header: string | undefined): { user: string; password: string } | null {
  if (!header) return null;
  const m = /^Basic\s+([A-Za-z0-9+/=._~-]+)\s*$/i.exec(header);
  if (!m) return null;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return null;
  return { user: decoded.slice(0, i), password: decoded.slice(i + 1) };
}

export async function authenticate(ctx: AppContext, req: FastifyRequest): Promise<PrincipalRow> {
  const header = req.headers.authorization;
  const creds = parseBasic(header);
  if (!creds) unauthorized('Sign in with your e-mail address and an app password (HTTP Basic)');
  const key = createHash('sha256').update(`${ctx.secret}\0${header}`).digest('base64url');
  const hit = cache.get(key);
  if (hit && hit.until > Date.now()) {
    const user = await findPrincipalById(ctx.db, hit.userId);
    if (user && !user.disabled) return user;
    cache.delete(key);
  }
  let user: PrincipalRow;
  try {
    user = await checkDavCredentials(ctx, creds.user.trim(), creds.password, req.ip);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'SIGNIN_LOCKED' || code === 'RATE_LIMITED') throw e;
    unauthorized((e as Error).message || 'Wrong e-mail address or password');
  }
  if (user.kind !== 'user' || user.disabled) unauthorized('This account cannot use CalDAV');
  if (!ctx.config.authCacheMs) return user;
  if (cache.size >= MAX_ENTRIES) cache.delete(cache.keys().next().value!);
  cache.set(key, { userId: user.id, until: Date.now() + ctx.config.authCacheMs });
  return user;
}

/** Tests and admin actions (password change) can drop remembered credentials. */
export function forgetDavCredentials(): void {
  cache.clear();
}
