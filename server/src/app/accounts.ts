/** Accounts and sign-in (the reference system's swa): users, sessions, app passwords, API tokens. */
import { enqueue } from '../jobs/queue.js';
import type { AppContext } from './context.js';
import type { Actor } from '../domain/actor.js';
import { DomainError, invalid, notFound, forbidden } from '../domain/errors.js';
import { isValidEmail, normalizeEmail } from '../domain/addresses.js';
import { hashPassword, verifyPassword, checkPasswordStrength, generatePassword } from '../domain/auth/passwords.js';
import { hashSecret, randomSecret } from '../domain/auth/secrets.js';
import * as principals from '../store/principals.js';
import * as creds from '../store/credentials.js';
import { ensureDefaultCalendar } from './calendars.js';
import type { PrincipalRow } from '../store/schema.js';
import { audit } from './audit.js';
import { updatePrincipalZoneAware } from './events/reminders-replan.js';

export const TOKEN_SCOPES = ['read', 'write', 'admin'] as const;
export type Scope = (typeof TOKEN_SCOPES)[number];

export function publicUser(p: PrincipalRow) {
  return {
    id: p.id,
    kind: p.kind,
    email: p.email,
    name: p.name,
    isAdmin: p.is_admin,
    disabled: p.disabled,
    language: p.language,
    timezone: p.timezone,
    createdAt: p.created_at.toISOString(),
    ...(p.kind === 'room' ? { roomCapacity: p.room_capacity, roomAutoAccept: p.room_auto_accept ?? 'accept-if-free' } : {}),
  };
}

const policy = (ctx: AppContext) => ({ memoryCost: ctx.config.argonMemoryKib, timeCost: ctx.config.argonTime });

export function requireAdmin(actor: Actor): void {
  if (!actor.isAdmin) throw forbidden('This action needs an administrator');
}

export async function createPrincipal(ctx: AppContext, actor: Actor, input: {
  kind?: 'user' | 'group' | 'room'; email: string; name?: string; password?: string; isAdmin?: boolean;
  language?: 'en' | 'ru'; timezone?: string; roomCapacity?: number; roomAutoAccept?: 'accept-if-free' | 'always' | 'manual';
}): Promise<PrincipalRow> {
  requireAdmin(actor);
  const kind = input.kind ?? 'user';
  const email = input.email.trim();
  if (!isValidEmail(email)) throw new DomainError('INVALID_ADDRESS', `"${email}" is not a valid e-mail address`, { email });
  if (input.password !== undefined) {
    const weak = checkPasswordStrength(input.password);
    if (weak) throw invalid(weak, { field: 'password' });
  }
  if (input.timezone && !isKnownZone(input.timezone)) throw invalid(`Unknown time zone "${input.timezone}"`, { field: 'timezone' });
  if (await principals.findPrincipalByEmail(ctx.db, email)) throw new DomainError('ALREADY_EXISTS', `A user, group or room with the address ${email} already exists`, { email });
  const passwordHash = input.password !== undefined && kind === 'user' ? await hashPassword(input.password, policy(ctx)) : null;
  try {
    const row = await principals.insertPrincipal(ctx.db, {
      kind, email, name: input.name, isAdmin: kind === 'user' && !!input.isAdmin, passwordHash,
      language: input.language, timezone: input.timezone, roomCapacity: input.roomCapacity, roomAutoAccept: input.roomAutoAccept,
    });
    if (kind !== 'group') await ensureDefaultCalendar(ctx, row);
    await audit(ctx, actor, 'principal.create', row.id, { kind, email });
    return row;
  } catch (e) {
    if ((e as { code?: string }).code === '23505') throw new DomainError('ALREADY_EXISTS', `A user, group or room with the address ${email} already exists`, { email });
    throw e;
  }
}

export async function updateUser(ctx: AppContext, actor: Actor, id: string, patch: {
  name?: string; isAdmin?: boolean; disabled?: boolean; password?: string; language?: 'en' | 'ru'; timezone?: string;
  roomCapacity?: number | null; roomAutoAccept?: 'accept-if-free' | 'always' | 'manual';
}) {
  requireAdmin(actor);
  const existing = await principals.findPrincipalById(ctx.db, id);
  if (!existing) throw notFound('User', { id });
  if ((patch.roomCapacity !== undefined || patch.roomAutoAccept !== undefined) && existing.kind !== 'room') {
    throw invalid('Only rooms have a capacity and a booking policy', { field: patch.roomAutoAccept !== undefined ? 'roomAutoAccept' : 'roomCapacity', rule: 'room-only' });
  }
  if (patch.password !== undefined) {
    const weak = checkPasswordStrength(patch.password);
    if (weak) throw invalid(weak, { field: 'password' });
  }
  if (patch.timezone && !isKnownZone(patch.timezone)) throw invalid(`Unknown time zone "${patch.timezone}"`, { field: 'timezone' });
  if ((patch.disabled === true || patch.isAdmin === false) && existing.is_admin && actor.userId === id) {
    throw invalid('You cannot disable or demote yourself');
  }
  const row = await updatePrincipalZoneAware(ctx, existing, {
    name: patch.name, is_admin: patch.isAdmin, disabled: patch.disabled, language: patch.language, timezone: patch.timezone,
    room_capacity: patch.roomCapacity, room_auto_accept: patch.roomAutoAccept,
    password_hash: patch.password !== undefined ? await hashPassword(patch.password, policy(ctx)) : undefined,
  });
  if (patch.disabled || patch.password !== undefined) await creds.deleteSessionsOf(ctx.db, id);
  // From 'manual' to an automatic policy: the bookings waiting for a person get their answer now.
  if (existing.kind === 'room' && existing.room_auto_accept === 'manual' && patch.roomAutoAccept && patch.roomAutoAccept !== 'manual') {
    await enqueue(ctx.db, 'room-decide-pending', { roomId: id }, { jobKey: `room-decide:${id}` });
  }
  await audit(ctx, actor, 'principal.update', id, { fields: Object.keys(patch).filter((k) => k !== 'password').concat(patch.password ? ['password'] : []) });
  return row!;
}

export function isKnownZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

// Sign-in ------------------------------------------------------------------------------------------

export interface SignedIn { user: PrincipalRow; sessionToken: string; csrf: string; expiresAt: Date }

function throttleKeys(email: string, ip?: string) {
  return { account: `acct:${normalizeEmail(email)}`, client: ip ? `ip:${ip}` : null };
}

async function checkThrottle(ctx: AppContext, key: string | null) {
  if (!key) return;
  const t = await creds.getThrottle(ctx.db, key);
  if (t?.locked_until && t.locked_until.getTime() > Date.now()) {
    const seconds = Math.ceil((t.locked_until.getTime() - Date.now()) / 1000);
    throw new DomainError('SIGNIN_LOCKED', `Too many failed sign-ins. Try again in ${seconds} s.`, { retryAfterSeconds: seconds });
  }
}

/** Password check shared by the web sign-in and CalDAV Basic auth, with throttling per account and per client. */
export async function checkPassword(ctx: AppContext, email: string, password: string, ip?: string): Promise<PrincipalRow> {
  const keys = throttleKeys(email, ip);
  await checkThrottle(ctx, keys.account);
  await checkThrottle(ctx, keys.client);
  const user = await principals.findPrincipalByEmail(ctx.db, email);
  const ok = user?.kind === 'user' && (await verifyPassword(user.password_hash, password));
  if (!ok || !user) {
    const windowMs = ctx.config.signinLockoutSeconds * 1000;
    await creds.recordFailure(ctx.db, keys.account, ctx.config.signinMaxFailures, windowMs);
    if (keys.client) await creds.recordFailure(ctx.db, keys.client, ctx.config.signinMaxFailures * 4, windowMs);
    throw new DomainError('INVALID_CREDENTIALS', 'The e-mail or password is wrong');
  }
  if (user.disabled) throw new DomainError('ACCOUNT_DISABLED', 'This account is disabled; ask your administrator');
  await creds.clearThrottle(ctx.db, keys.account);
  return user;
}

export async function signIn(ctx: AppContext, email: string, password: string, meta: { ip?: string; userAgent?: string } = {}): Promise<SignedIn> {
  const user = await checkPassword(ctx, email, password, meta.ip);
  return startSession(ctx, user, meta);
}

export async function startSession(ctx: AppContext, user: PrincipalRow, meta: { ip?: string; userAgent?: string } = {}): Promise<SignedIn> {
  const sessionToken = randomSecret(32);
  const csrf = randomSecret(24);
  const expiresAt = new Date(Date.now() + ctx.config.sessionTtlHours * 3600_000);
  await creds.insertSession(ctx.db, { idHash: hashSecret(sessionToken), ownerId: user.id, csrf, expiresAt, userAgent: meta.userAgent?.slice(0, 300), ip: meta.ip });
  await ensureDefaultCalendar(ctx, user);
  return { user, sessionToken, csrf, expiresAt };
}

export async function resolveSession(ctx: AppContext, token: string): Promise<{ user: PrincipalRow; csrf: string } | null> {
  if (!token || token.length > 200) return null;
  const s = await creds.touchSession(ctx.db, hashSecret(token), ctx.config.sessionTtlHours * 3600_000);
  if (!s) return null;
  const user = await principals.findPrincipalByIdCached(ctx.db, s.owner_id);
  if (!user || user.disabled) return null;
  return { user, csrf: s.csrf };
}

export async function signOut(ctx: AppContext, token: string): Promise<void> {
  await creds.deleteSession(ctx.db, hashSecret(token));
}

// App passwords (CalDAV) and API tokens ------------------------------------------------------------

function appPasswordText(): string {
  const alphabet = 'abcdefghijkmnpqrstuvwxyz23456789';
  const b = crypto.getRandomValues(new Uint8Array(24));
  const c = Array.from(b, (x) => alphabet[x % alphabet.length]).join('');
  return [0, 6, 12, 18].map((i) => c.slice(i, i + 6)).join('-');
}

export async function createAppPassword(ctx: AppContext, actor: Actor, name: string) {
  const userId = actor.userId!;
  const secret = appPasswordText();
  const row = await creds.insertAppPassword(ctx.db, userId, name.trim() || 'CalDAV', hashSecret(secret));
  await audit(ctx, actor, 'app-password.create', row.id, { name: row.name });
  return { ...row, password: secret };
}

export async function revokeAppPassword(ctx: AppContext, actor: Actor, id: string) {
  if (!(await creds.revokeAppPassword(ctx.db, actor.userId!, id))) throw notFound('App password', { id });
  await audit(ctx, actor, 'app-password.revoke', id);
}

/** CalDAV Basic auth: an app password, or the account password when allowed. */
/** `via` (optional) is told which secret verified: the app password's stored hash, or none (the account password). */
export async function checkDavCredentials(ctx: AppContext, email: string, password: string, ip?: string, via?: { appPasswordHash?: string }): Promise<PrincipalRow> {
  const secretHash = hashSecret(password.trim());
  const ap = await creds.useAppPassword(ctx.db, secretHash);
  if (ap) {
    const user = await principals.findPrincipalById(ctx.db, ap.owner_id);
    if (user && !user.disabled && normalizeEmail(user.email) === normalizeEmail(email)) {
      if (via) via.appPasswordHash = secretHash;
      return user;
    }
  }
  if (!ctx.config.allowPasswordForDav) throw new DomainError('INVALID_CREDENTIALS', 'Use an app password for calendar clients');
  return checkPassword(ctx, email, password, ip);
}

export async function createApiToken(ctx: AppContext, actor: Actor, input: { name: string; scopes: string[]; expiresInDays?: number; forUserId?: string }) {
  const ownerId = input.forUserId ?? actor.userId!;
  if (ownerId !== actor.userId) requireAdmin(actor);
  const scopes = [...new Set(input.scopes)];
  const bad = scopes.filter((s) => !(TOKEN_SCOPES as readonly string[]).includes(s));
  if (bad.length || !scopes.length) throw invalid(`Scopes must be a non-empty subset of ${TOKEN_SCOPES.join(', ')}`, { scopes: bad });
  const owner = await principals.findPrincipalById(ctx.db, ownerId);
  if (!owner) throw notFound('User', { id: ownerId });
  if (scopes.includes('admin') && !owner.is_admin) throw forbidden('Only administrators can hold tokens with the admin scope');
  const token = `cal_${randomSecret(32)}`;
  const row = await creds.insertApiToken(ctx.db, {
    ownerId, name: input.name.trim() || 'token', secretHash: hashSecret(token), scopes,
    expiresAt: input.expiresInDays ? new Date(Date.now() + input.expiresInDays * 86400_000) : null,
  });
  await audit(ctx, actor, 'api-token.create', row.id, { scopes });
  return { ...row, token };
}

export async function revokeApiToken(ctx: AppContext, actor: Actor, id: string) {
  const ok = await creds.revokeApiToken(ctx.db, actor.isAdmin ? null : actor.userId, id);
  if (!ok) throw notFound('API token', { id });
  await audit(ctx, actor, 'api-token.revoke', id);
}

export async function resolveApiToken(ctx: AppContext, token: string): Promise<{ user: PrincipalRow; scopes: string[] } | null> {
  if (!token.startsWith('cal_') || token.length > 200) return null;
  const t = await creds.useApiToken(ctx.db, hashSecret(token));
  if (!t) return null;
  const user = await principals.findPrincipalByIdCached(ctx.db, t.owner_id);
  if (!user || user.disabled) return null;
  return { user, scopes: t.scopes };
}

/**
 * First start: make sure an administrator exists. With CALENDULA_ADMIN_EMAIL (+ _PASSWORD) that
 * account is created; otherwise admin@localhost with a generated password, printed once.
 */
export async function ensureFirstAdmin(ctx: AppContext): Promise<{ email: string; password?: string; created: boolean }> {
  if ((await principals.countAdmins(ctx.db)) > 0) return { email: '', created: false };
  const email = ctx.config.adminEmail ?? 'admin@localhost';
  const password = ctx.config.adminPassword ?? generatePassword();
  const existing = await principals.findPrincipalByEmail(ctx.db, email);
  if (existing) {
    await principals.updatePrincipal(ctx.db, existing.id, { is_admin: true, disabled: false, password_hash: await hashPassword(password, policy(ctx)) });
  } else {
    await principals.insertPrincipal(ctx.db, { kind: 'user', email, name: 'Administrator', isAdmin: true, passwordHash: await hashPassword(password, policy(ctx)) });
  }
  return { email, password: ctx.config.adminPassword ? undefined : password, created: true };
}

export async function setPasswordByEmail(ctx: AppContext, email: string, password: string) {
  const weak = checkPasswordStrength(password);
  if (weak) throw invalid(weak, { field: 'password' });
  const user = await principals.findPrincipalByEmail(ctx.db, email);
  if (!user) throw notFound('User', { email });
  await principals.updatePrincipal(ctx.db, user.id, { password_hash: await hashPassword(password, policy(ctx)) });
  await creds.deleteSessionsOf(ctx.db, user.id);
  return user;
}
