import { hash, verify } from '@node-rs/argon2';

export interface PasswordPolicy { memoryCost: number; timeCost: number }

// Algorithm 2 = argon2id (RFC 9106 recommends it).
export function hashPassword(password: string, p: PasswordPolicy): Promise<string> {
  return hash(password, { algorithm: 2, memoryCost: p.memoryCost, timeCost: p.timeCost, parallelism: 1 });
}

export async function verifyPassword(stored: string | null, password: string): Promise<boolean> {
  if (!stored) return false;
  try {
    return await verify(stored, password);
  } catch {
    return false;
  }
}

export function checkPasswordStrength(password: string): string | null {
  if (password.length < 8) return 'The password must be at least 8 characters long';
  if (password.length > 512) return 'The password must be at most 512 characters long';
  return null;
}

/** A readable generated password (for the first administrator): 4 groups of 5 characters. */
export function generatePassword(): string {
  const alphabet = 'abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  const bytes = crypto.getRandomValues(new Uint8Array(20));
  const chars = Array.from(bytes, (b) => alphabet[b % alphabet.length]);
  return [0, 5, 10, 15].map((i) => chars.slice(i, i + 5).join('')).join('-');
}
