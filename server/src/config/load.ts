import { readFileSync } from 'node:fs';
import { settings, type Config } from './schema.js';

export class ConfigError extends Error {}

function coerce(key: string, kind: string, raw: unknown): unknown {
  if (raw === undefined || raw === null || raw === '') return undefined;
  switch (kind) {
    case 'int': {
      const n = typeof raw === 'number' ? raw : Number(String(raw).trim());
      if (!Number.isInteger(n) || n < 0) throw new ConfigError(`${key}: expected a non-negative integer, got ${JSON.stringify(raw)}`);
      return n;
    }
    case 'bool': {
      if (typeof raw === 'boolean') return raw;
      const v = String(raw).trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(v)) return true;
      if (['0', 'false', 'no', 'off'].includes(v)) return false;
      throw new ConfigError(`${key}: expected true/false, got ${JSON.stringify(raw)}`);
    }
    case 'list':
      return (Array.isArray(raw) ? raw.map(String) : String(raw).split(',')).map((x) => x.trim()).filter(Boolean);
    default:
      return String(raw);
  }
}

/** Environment variables win over the optional JSON config file (CALENDULA_CONFIG), which wins over defaults. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  let file: Record<string, unknown> = {};
  if (env.CALENDULA_CONFIG) {
    try {
      file = JSON.parse(readFileSync(env.CALENDULA_CONFIG, 'utf8'));
    } catch (e) {
      throw new ConfigError(`cannot read config file ${env.CALENDULA_CONFIG}: ${(e as Error).message}`);
    }
    const known = new Set(Object.keys(settings));
    for (const k of Object.keys(file)) if (!known.has(k)) throw new ConfigError(`unknown key "${k}" in ${env.CALENDULA_CONFIG}`);
  }
  // Older or alternative names of a setting's variable (the first one set wins).
  const ALIASES: Record<string, string[]> = { MAIL_FROM: ['CALENDULA_MAIL_FROM'] };
  for (const [name, alts] of Object.entries(ALIASES)) {
    if (env[name] === undefined) for (const a of alts) if (env[a] !== undefined) { env = { ...env, [name]: env[a] }; break; }
  }
  const out: Record<string, unknown> = {};
  for (const [key, def] of Object.entries(settings)) {
    const v = coerce(def.env, def.kind, env[def.env]) ?? coerce(key, def.kind, file[key]) ?? def.default;
    out[key] = v;
  }
  Object.assign(out, overrides);
  const cfg = out as { -readonly [K in keyof Config]: Config[K] };
  if (!cfg.host) cfg.host = cfg.databaseUrl ? '0.0.0.0' : '127.0.0.1';
  if (cfg.embeddedPgPort === 5432) throw new ConfigError('CALENDULA_EMBEDDED_PG_PORT must not be 5432 (a system PostgreSQL may hold it)');
  if (cfg.blobStore !== 'fs' && cfg.blobStore !== 's3') throw new ConfigError(`CALENDULA_BLOB_STORE: expected fs or s3, got ${JSON.stringify(cfg.blobStore)}`);
  if (cfg.blobStore === 's3') {
    const missing = (['s3Endpoint', 's3Bucket', 's3AccessKeyId', 's3SecretAccessKey'] as const).filter((k) => !cfg[k]).map((k) => settings[k].env);
    if (missing.length) throw new ConfigError(`CALENDULA_BLOB_STORE=s3 needs ${missing.join(', ')}`);
    if (!/^https?:\/\/[^/]/.test(cfg.s3Endpoint!)) throw new ConfigError(`CALENDULA_S3_ENDPOINT: expected an http(s) URL, got ${JSON.stringify(cfg.s3Endpoint)}`);
  }
  return cfg;
}

export function publicUrl(cfg: Config): string {
  const host = cfg.host === '0.0.0.0' ? '127.0.0.1' : cfg.host;
  return (cfg.publicUrl ?? `http://${host}:${cfg.port}`).replace(/\/$/, '');
}
