/**
 * HTTP Basic for CalDAV clients (RFC 7617): app passwords, and the account password unless
 * `allowPasswordForDav` is off.
 *
 * A verified credential is remembered for CALENDULA_AUTH_CACHE_MS (authCacheMs; 0 turns this
 * off), keyed by a keyed hash of the header, so a sync burst neither hashes an account password
 * with argon2 nor looks up the app password per request. What is remembered is re-validated on
 * every request inside the request's one lookup query (store/dav-lookup.ts), so a change made by
 * any process takes effect at the next request:
 *   - the principal must still exist, be a user and be enabled;
 *   - an app password must still be unrevoked and belong to that principal;
 *   - an account password is remembered with the password hash it verified against: a password
 *     change (new hash) makes the entry stale, and the full check then runs (and fails).
 */
import { hash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { AppContext } from '../../app/context.js';
import { checkDavCredentials } from '../../app/accounts.js';
import { normalizeEmail } from '../../domain/addresses.js';
import type { PrincipalRow } from '../../store/schema.js';
import { DavHttpError, WWW_AUTHENTICATE } from './errors.js';

const MAX_ENTRIES = 10_000;

interface Remembered {
  userId: string;
  until: number;
  /** Set when an app password verified: its stored hash (checked unrevoked per request). */
  appPasswordHash: string | null;
  /** Set when the account password verified: the principal's password hash at that time. */
  passwordHash: string | null;
  /** The address the client signs in with (app passwords are bound to the user's own address). */
  login: string;
}

const cache = new Map<string, Remembered>();

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

/** The outcome of authenticate(): a freshly verified user, or a remembered one still to re-validate. */
export type DavCredential =
  | { kind: 'verified'; user: PrincipalRow }
  | { kind: 'remembered'; key: string; entry: Remembered };

// crypto.hash: the one-shot form (no Hash object per request).
const cacheKey = (ctx: AppContext, header: string) => hash('sha256', `${ctx.secret}\0${header}`, 'base64url');

/**
 * Check the request's Basic credentials. A remembered credential is returned unverified: the
 * caller must pass it to stillValid() with the principal row (and app-password state) read in
 * the request's lookup, and call authenticate() again with `fresh` when that says no.
 */
export async function authenticate(ctx: AppContext, req: FastifyRequest, fresh = false): Promise<DavCredential> {
  const header = req.headers.authorization;
  const creds = parseBasic(header);
  if (!creds) unauthorized('Sign in with your e-mail address and an app password (HTTP Basic)');
  const key = cacheKey(ctx, header!);
  if (!fresh && ctx.config.authCacheMs) {
    const hit = cache.get(key);
    if (hit && hit.until > Date.now()) return { kind: 'remembered', key, entry: hit };
    if (hit) cache.delete(key);
  } else if (fresh) {
    cache.delete(key);
  }
  let user: PrincipalRow;
  const via: { appPasswordHash?: string } = {};
  try {
    user = await checkDavCredentials(ctx, creds.user.trim(), creds.password, req.ip, via);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'SIGNIN_LOCKED' || code === 'RATE_LIMITED') throw e;
    unauthorized((e as Error).message || 'Wrong e-mail address or password');
  }
  if (user.kind !== 'user' || user.disabled) unauthorized('This account cannot use CalDAV');
  if (ctx.config.authCacheMs) {
    if (cache.size >= MAX_ENTRIES) cache.delete(cache.keys().next().value!);
    cache.set(key, {
      userId: user.id, until: Date.now() + ctx.config.authCacheMs, login: normalizeEmail(creds.user),
      appPasswordHash: via.appPasswordHash ?? null, passwordHash: via.appPasswordHash ? null : user.password_hash,
    });
  }
  return { kind: 'verified', user };
}

/**
 * The remembered credential of an Authorization header, without verifying anything (the caller
 * must know it is still valid: http/dav/fast-get.ts asks the read cache); undefined when none.
 */
export function rememberedCredential(ctx: AppContext, header: string | undefined): { key: string; entry: Remembered } | undefined {
  if (!ctx.config.authCacheMs || !header || !parseBasic(header)) return undefined;
  const key = cacheKey(ctx, header);
  const hit = cache.get(key);
  return hit && hit.until > Date.now() ? { key, entry: hit } : undefined;
}

/** Whether a remembered credential still holds, given what the request's lookup read now. */
export function stillValid(entry: Remembered, principal: PrincipalRow | undefined, appPasswordValid: boolean | null): principal is PrincipalRow {
  if (!principal || principal.id !== entry.userId || principal.kind !== 'user' || principal.disabled) return false;
  if (entry.appPasswordHash) return appPasswordValid === true && normalizeEmail(principal.email) === entry.login;
  return entry.passwordHash !== null && principal.password_hash === entry.passwordHash;
}

/** Tests and admin actions can drop remembered credentials. */
export function forgetDavCredentials(): void {
  cache.clear();
}
