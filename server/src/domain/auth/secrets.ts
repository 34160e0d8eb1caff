import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** A high-entropy random secret, URL-safe. 32 bytes = 256 bits. */
export function randomSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/**
 * Secrets we issue (session ids, app passwords, API tokens) are random with ≥ 128 bits, so a fast
 * hash is enough to store them (no dictionary to attack); passwords people choose use argon2id.
 */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('base64url');
}

export function hmac(key: string, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

export function safeEqual(a: Buffer | string, b: Buffer | string): boolean {
  const x = Buffer.isBuffer(a) ? a : Buffer.from(a);
  const y = Buffer.isBuffer(b) ? b : Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Signed, expiring, single-purpose tokens (links in e-mails, attachment links, OIDC state):
 * base64url(JSON payload) + '.' + base64url(HMAC). The purpose is part of the MAC input, so a token
 * minted for one purpose never verifies for another.
 */
export function signToken(key: string, purpose: string, payload: Record<string, unknown>, ttlSeconds: number, now = Date.now()): string {
  const body = Buffer.from(JSON.stringify({ ...payload, exp: Math.floor(now / 1000) + ttlSeconds })).toString('base64url');
  const mac = hmac(key, `${purpose}.${body}`).subarray(0, 20).toString('base64url');
  return `${body}.${mac}`;
}

export function verifyToken<T extends Record<string, unknown>>(key: string, purpose: string, token: string, now = Date.now()): T | null {
  if (typeof token !== 'string' || token.length > 4096) return null;
  const dot = token.indexOf('.');
  if (dot < 1) return null;
  const body = token.slice(0, dot);
  const mac = token.slice(dot + 1);
  const expected = hmac(key, `${purpose}.${body}`).subarray(0, 20).toString('base64url');
  if (!safeEqual(mac, expected)) return null;
  try {
    const payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    if (typeof payload !== 'object' || payload === null) return null;
    if (typeof payload.exp !== 'number' || payload.exp * 1000 < now) return null;
    return payload as T;
  } catch {
    return null;
  }
}
