import { sql } from 'kysely';
import type { DB } from './db.js';
import { TtlCache, SESSION_TTL_MS } from './cache.js';

type SessionRow = { id: string; owner_id: string; csrf: string; expires_at: Date; last_seen_at: Date };
/** Sessions by id hash; sign-out and 'sign out everywhere' invalidate at once in this process. */
const sessionCache = new TtlCache<SessionRow>(SESSION_TTL_MS);
type TokenRow = { id: string; owner_id: string; scopes: string[]; expires_at: Date | null; last_used_at: Date | null };
const tokenCache = new TtlCache<TokenRow>(SESSION_TTL_MS);

// Sessions --------------------------------------------------------------------------------------

export async function insertSession(db: DB, s: { idHash: string; ownerId: string; csrf: string; expiresAt: Date; userAgent?: string; ip?: string }) {
  await db.insertInto('session').values({ id: s.idHash, owner_id: s.ownerId, csrf: s.csrf, expires_at: s.expiresAt, user_agent: s.userAgent ?? null, ip: s.ip ?? null }).execute();
}

/** Looks a session up and slides its expiry; expired sessions are deleted on sight. */
export async function touchSession(db: DB, idHash: string, ttlMs: number) {
  const now = new Date();
  const cached = sessionCache.get(idHash);
  if (cached && cached.expires_at.getTime() > now.getTime() && now.getTime() - cached.last_seen_at.getTime() <= 60_000) return cached;
  const row = await db.selectFrom('session').select(['id', 'owner_id', 'csrf', 'expires_at', 'last_seen_at']).where('id', '=', idHash).executeTakeFirst();
  if (!row) return undefined;
  if (row.expires_at.getTime() <= now.getTime()) {
    await db.deleteFrom('session').where('id', '=', idHash).execute();
    return undefined;
  }
  // Write at most once a minute to keep reads cheap.
  if (now.getTime() - row.last_seen_at.getTime() > 60_000) {
    await db.updateTable('session').set({ last_seen_at: now, expires_at: new Date(now.getTime() + ttlMs) }).where('id', '=', idHash).execute();
    row.last_seen_at = now;
    row.expires_at = new Date(now.getTime() + ttlMs);
  }
  sessionCache.set(idHash, row);
  return row;
}

export async function deleteSession(db: DB, idHash: string) {
  sessionCache.delete(idHash);
  await db.deleteFrom('session').where('id', '=', idHash).execute();
}

export async function deleteSessionsOf(db: DB, ownerId: string) {
  sessionCache.deleteWhere((s) => s.owner_id === ownerId);
  await db.deleteFrom('session').where('owner_id', '=', ownerId).execute();
}

// App passwords and API tokens -------------------------------------------------------------------

export function insertAppPassword(db: DB, ownerId: string, name: string, secretHash: string) {
  return db.insertInto('app_password').values({ owner_id: ownerId, name, secret_hash: secretHash }).returning(['id', 'name', 'created_at']).executeTakeFirstOrThrow();
}

export function listAppPasswords(db: DB, ownerId: string) {
  return db.selectFrom('app_password').select(['id', 'name', 'created_at', 'last_used_at', 'revoked_at']).where('owner_id', '=', ownerId).orderBy('created_at', 'desc').execute();
}

export async function revokeAppPassword(db: DB, ownerId: string, id: string): Promise<boolean> {
  const r = await db.updateTable('app_password').set({ revoked_at: new Date() }).where('owner_id', '=', ownerId).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function useAppPassword(db: DB, secretHash: string) {
  const row = await db.selectFrom('app_password').select(['id', 'owner_id', 'last_used_at']).where('secret_hash', '=', secretHash).where('revoked_at', 'is', null).executeTakeFirst();
  if (row && (!row.last_used_at || Date.now() - row.last_used_at.getTime() > 60_000)) {
    await db.updateTable('app_password').set({ last_used_at: new Date() }).where('id', '=', row.id).where('owner_id', '=', row.owner_id).execute();
  }
  return row;
}

export function insertApiToken(db: DB, t: { ownerId: string; name: string; secretHash: string; scopes: string[]; expiresAt: Date | null }) {
  return db.insertInto('api_token').values({ owner_id: t.ownerId, name: t.name, secret_hash: t.secretHash, scopes: t.scopes, expires_at: t.expiresAt }).returning(['id', 'name', 'scopes', 'created_at', 'expires_at']).executeTakeFirstOrThrow();
}

export function listApiTokens(db: DB, ownerId: string) {
  return db.selectFrom('api_token').select(['id', 'name', 'scopes', 'created_at', 'expires_at', 'last_used_at', 'revoked_at']).where('owner_id', '=', ownerId).orderBy('created_at', 'desc').execute();
}

export async function revokeApiToken(db: DB, ownerId: string | null, id: string): Promise<boolean> {
  tokenCache.deleteWhere((t) => t.id === id);
  let q = db.updateTable('api_token').set({ revoked_at: new Date() }).where('id', '=', id).where('revoked_at', 'is', null);
  if (ownerId) q = q.where('owner_id', '=', ownerId);
  const r = await q.executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function useApiToken(db: DB, secretHash: string) {
  const hit = tokenCache.get(secretHash);
  if (hit && (!hit.expires_at || hit.expires_at.getTime() >= Date.now())) return hit;
  const row = await db.selectFrom('api_token').select(['id', 'owner_id', 'scopes', 'expires_at', 'last_used_at']).where('secret_hash', '=', secretHash).where('revoked_at', 'is', null).executeTakeFirst();
  if (!row) return undefined;
  if (row.expires_at && row.expires_at.getTime() < Date.now()) return undefined;
  if (!row.last_used_at || Date.now() - row.last_used_at.getTime() > 60_000) {
    await db.updateTable('api_token').set({ last_used_at: new Date() }).where('id', '=', row.id).where('owner_id', '=', row.owner_id).execute();
    row.last_used_at = new Date();
  }
  tokenCache.set(secretHash, row);
  return row;
}

// Sign-in throttling -----------------------------------------------------------------------------

export function getThrottle(db: DB, key: string) {
  return db.selectFrom('signin_throttle').selectAll().where('key', '=', key).executeTakeFirst();
}

/**
 * Records a failure inside a fixed window. When the count reaches `max`, the key is locked until
 * window start + lockout — a lockout is never extended by further failures, so an attacker can
 * delay a victim by at most one window at a time, never lock them out forever.
 */
export async function recordFailure(db: DB, key: string, max: number, windowMs: number) {
  const now = new Date();
  const windowFloor = new Date(now.getTime() - windowMs);
  await sql`
    insert into signin_throttle (key, failures, window_started_at)
    values (${key}, 1, ${now})
    on conflict (key) do update set
      failures = case when signin_throttle.window_started_at < ${windowFloor} then 1 else signin_throttle.failures + 1 end,
      window_started_at = case when signin_throttle.window_started_at < ${windowFloor} then ${now} else signin_throttle.window_started_at end
  `.execute(db);
  await sql`
    update signin_throttle set locked_until = window_started_at + ${windowMs + ' milliseconds'}::interval
    where key = ${key} and failures >= ${max} and (locked_until is null or locked_until < window_started_at)
  `.execute(db);
}

export async function clearThrottle(db: DB, key: string) {
  await db.deleteFrom('signin_throttle').where('key', '=', key).execute();
}
