/**
 * The one typed configuration schema. Every setting has an environment variable, an optional
 * key in the JSON config file (CALENDULA_CONFIG), a default and help text. docs/configuration.md
 * is generated from this table (`npm run docs:config`).
 */
type Kind = 'string' | 'int' | 'bool' | 'list';

type ValueOf<K extends Kind> = K extends 'int' ? number : K extends 'bool' ? boolean : K extends 'list' ? string[] : string | undefined;

interface Setting<K extends Kind, D extends ValueOf<K>> {
  env: string;
  kind: K;
  default: D;
  help: string;
  secret?: boolean;
}

function s<K extends Kind, D extends ValueOf<K>>(env: string, kind: K, def: D, help: string, secret = false): Setting<K, D> {
  return { env, kind, default: def, help, secret };
}

export const settings = {
  port: s('PORT', 'int', 8080, 'HTTP port of the api role.'),
  host: s('HOST', 'string', undefined, 'Address to listen on. Default 127.0.0.1 with the embedded database, 0.0.0.0 with DATABASE_URL.'),
  publicUrl: s('CALENDULA_PUBLIC_URL', 'string', undefined, 'External base URL (https://calendar.example.com) used in links in e-mails and bot messages. Default http://HOST:PORT.'),
  databaseUrl: s('DATABASE_URL', 'string', undefined, 'PostgreSQL 15+ connection string. When unset, an embedded PostgreSQL is started in CALENDULA_DATA_DIR/pg.', true),
  dataDir: s('CALENDULA_DATA_DIR', 'string', './data', 'Folder for the embedded database, attachments and the local mail outbox.'),
  embeddedPgPort: s('CALENDULA_EMBEDDED_PG_PORT', 'int', 0, 'Port of the embedded PostgreSQL (0 = pick a free port on first start and remember it). Never 5432. Calendula itself connects through the cluster\'s Unix socket in `<dataDir>/pg` (TCP when that path is too long for a socket); the port on 127.0.0.1 stays open for tools such as `pg_dump`.'),
  adminEmail: s('CALENDULA_ADMIN_EMAIL', 'string', undefined, 'E-mail of the first administrator, created at first start if no administrator exists.'),
  adminPassword: s('CALENDULA_ADMIN_PASSWORD', 'string', undefined, 'Password of that administrator. When unset, one is generated and printed once.', true),
  roles: s('CALENDULA_ROLES', 'list', ['api', 'worker', 'mail-in', 'bot', 'exchange'], 'Roles this process runs (also `calendula start --roles`).'),
  logLevel: s('LOG_LEVEL', 'string', 'info', 'pino log level: fatal, error, warn, info, debug, trace, silent.'),
  bodyLimit: s('CALENDULA_BODY_LIMIT', 'int', 1_048_576, 'Largest JSON/XML/iCalendar request body in bytes (uploads have their own limit).'),
  trustProxy: s('CALENDULA_TRUST_PROXY', 'bool', false, 'Trust X-Forwarded-* from a reverse proxy (sets Secure cookies when the proxy says https).'),
  sessionTtlHours: s('CALENDULA_SESSION_TTL_HOURS', 'int', 24 * 14, 'Lifetime of a sign-in session (sliding).'),
  signinMaxFailures: s('CALENDULA_SIGNIN_MAX_FAILURES', 'int', 5, 'Failed sign-ins per account (and per client address) before a temporary lockout.'),
  signinLockoutSeconds: s('CALENDULA_SIGNIN_LOCKOUT_SECONDS', 'int', 300, 'Length of a lockout. Lockouts always expire; repeated failures never extend one past this window.'),
  allowPasswordForDav: s('CALENDULA_DAV_ACCOUNT_PASSWORD', 'bool', true, 'Allow the account password (not only app passwords) for CalDAV Basic auth.'),
  argonMemoryKib: s('CALENDULA_ARGON2_MEMORY_KIB', 'int', 19456, 'argon2id memory cost.'),
  argonTime: s('CALENDULA_ARGON2_TIME', 'int', 2, 'argon2id time cost.'),
  oidcIssuer: s('OIDC_ISSUER', 'string', undefined, 'OpenID Connect issuer URL; enables "Sign in with SSO".'),
  oidcClientId: s('OIDC_CLIENT_ID', 'string', undefined, 'OIDC client id.'),
  oidcClientSecret: s('OIDC_CLIENT_SECRET', 'string', undefined, 'OIDC client secret.', true),
  oidcEmailClaim: s('OIDC_EMAIL_CLAIM', 'string', 'email', 'ID token / userinfo claim that holds the user e-mail.'),
  oidcNameClaim: s('OIDC_NAME_CLAIM', 'string', 'name', 'Claim with the display name.'),
  oidcAllowInsecure: s('OIDC_ALLOW_INSECURE', 'bool', false, 'Allow an http:// issuer (tests and labs only).'),
  mailDomains: s('CALENDULA_MAIL_DOMAINS', 'list', [], "The organisation's own mail domains (comma-separated). Addresses there must be known users, groups or rooms."),
  addressMxCheck: s('CALENDULA_ADDRESS_MX_CHECK', 'bool', false, 'Refuse a new external attendee whose mail domain does not exist or accepts no mail (DNS MX, else A/AAAA; RFC 5321 §5.1, RFC 7505). A DNS failure lets the address pass.'),
  dnsServers: s('CALENDULA_DNS_SERVERS', 'list', [], 'DNS servers for the mail-domain check (host or host:port, comma-separated); empty: the system resolvers.'),
  addressCheckTimeoutMs: s('CALENDULA_ADDRESS_CHECK_TIMEOUT_MS', 'int', 2000, 'Time-out of one DNS query of the mail-domain check, ms (two attempts).'),
  smtpUrl: s('SMTP_URL', 'string', undefined, 'Outgoing SMTP relay, e.g. smtp://user:pass@relay:587. Unset: mail goes to the local outbox in the data dir.', true),
  mailFrom: s('MAIL_FROM', 'string', 'calendar@localhost', 'From address of notification e-mails (CALENDULA_MAIL_FROM is read too).'),
  smtpMaxConnections: s('CALENDULA_SMTP_MAX_CONNECTIONS', 'int', 5, 'Pooled SMTP connections per worker process.'),
  smtpRatePerDomain: s('CALENDULA_SMTP_RATE_PER_DOMAIN', 'int', 0, 'Outgoing messages per second per recipient domain and worker process (0 = no limit). Messages over the rate wait; they are not refused.'),
  smtpRateLimits: s('CALENDULA_SMTP_RATE_LIMITS', 'list', [], 'Per-domain exceptions to CALENDULA_SMTP_RATE_PER_DOMAIN, as domain=messages-per-second (e.g. gmail.com=20,yandex.ru=10).'),
  dkimDomain: s('CALENDULA_DKIM_DOMAIN', 'string', undefined, 'Sign outgoing mail with DKIM for this domain (d=). Needs the selector and the private key.'),
  dkimSelector: s('CALENDULA_DKIM_SELECTOR', 'string', undefined, 'DKIM selector (s=); the public key is published at <selector>._domainkey.<domain>.'),
  dkimPrivateKey: s('CALENDULA_DKIM_PRIVATE_KEY', 'string', undefined, 'DKIM private key: PEM text, or the path of a PEM file.', true),
  attachmentMaxBytes: s('CALENDULA_ATTACHMENT_MAX_BYTES', 'int', 25 * 1024 * 1024, 'Largest attachment upload.'),
  attachmentQuotaBytes: s('CALENDULA_ATTACHMENT_QUOTA_BYTES', 'int', 1024 * 1024 * 1024, 'Attachment quota per user.'),
  blobStore: s('CALENDULA_BLOB_STORE', 'string', 'fs', 'Where attachments are kept: fs (CALENDULA_DATA_DIR/attachments; shared by all api processes) or s3 (an S3-compatible bucket, CALENDULA_S3_*).'),
  s3Endpoint: s('CALENDULA_S3_ENDPOINT', 'string', undefined, 'S3-compatible endpoint URL, e.g. https://s3.eu-central-1.amazonaws.com or http://minio:9000 (CALENDULA_BLOB_STORE=s3).'),
  s3Bucket: s('CALENDULA_S3_BUCKET', 'string', undefined, 'Bucket of the attachments (CALENDULA_BLOB_STORE=s3).'),
  s3Region: s('CALENDULA_S3_REGION', 'string', 'us-east-1', 'Region the requests are signed for (AWS Signature V4).'),
  s3AccessKeyId: s('CALENDULA_S3_ACCESS_KEY_ID', 'string', undefined, 'Access key id of the S3-compatible store.'),
  s3SecretAccessKey: s('CALENDULA_S3_SECRET_ACCESS_KEY', 'string', undefined, 'Secret access key of the S3-compatible store.', true),
  s3PathStyle: s('CALENDULA_S3_PATH_STYLE', 'bool', false, 'Path-style addressing (endpoint/bucket/key), as MinIO and most S3-compatible stores want; default virtual-hosted (bucket.endpoint/key), as AWS wants.'),
  attachmentLinkDays: s('CALENDULA_ATTACHMENT_LINK_DAYS', 'int', 30, 'How long the signed attachment links in invitations to external attendees stay valid, in days.'),
  lmtpPort: s('LMTP_PORT', 'int', 0, 'Port of the LMTP listener of the mail-in role (0 = off).'),
  lmtpHost: s('LMTP_HOST', 'string', '127.0.0.1', 'Address of the LMTP listener.'),
  smtpInPort: s('SMTP_IN_PORT', 'int', 0, 'Port of the SMTP intake listener (0 = off).'),
  smtpInHost: s('SMTP_IN_HOST', 'string', '127.0.0.1', 'Address of the SMTP intake listener.'),
  intakeMaxBytes: s('CALENDULA_INTAKE_MAX_BYTES', 'int', 10 * 1024 * 1024, 'Largest inbound message (LMTP/SMTP answer 552, HTTP 413).'),
  intakeTrust: s('CALENDULA_INTAKE_TRUST', 'string', 'default', 'Which inbound iMIP is applied without asking: default (the sender matches the ORGANIZER/attendee and no authentication failure is reported), authenticated (also needs DMARC/DKIM/SPF pass from a trusted relay), known (also needs an earlier event from that organizer), never (every invitation is held for the user).'),
  intakeTrustedAuthserv: s('CALENDULA_INTAKE_TRUSTED_AUTHSERV', 'list', [], 'authserv-ids (RFC 8601) of our own MTAs whose Authentication-Results headers are honoured; others are ignored.'),
  intakeAcceptPartyCrashers: s('CALENDULA_INTAKE_ACCEPT_PARTY_CRASHERS', 'bool', false, 'A REPLY from someone not invited adds them as an attendee (otherwise it is logged and ignored).'),
  vkteamsApiUrl: s('VKTEAMS_API_URL', 'string', undefined, 'VK Teams Bot API base, e.g. https://myteam.example.com/bot/v1. With the token, turns the bot on.'),
  vkteamsBotToken: s('VKTEAMS_BOT_TOKEN', 'string', undefined, 'VK Teams bot token (from Metabot).', true),
  heapMb: s('CALENDULA_HEAP_MB', 'int', 192, 'V8 old-generation limit of `calendula start` in MB (--max-old-space-size; 0 = Node\'s default, sized from the machine\'s memory). The launcher starts the server as a child process with the flag unless NODE_OPTIONS or the node command line already set --max-old-space-size. Lower: smaller RSS, more GC work; below the live data the process stops with "heap out of memory" (the core benchmark\'s live heap is ~65 MB).'),
  workerConcurrency: s('CALENDULA_WORKER_CONCURRENCY', 'int', 10, 'Jobs run in parallel by one worker process.'),
  notifyCoalesceSeconds: s('CALENDULA_NOTIFY_COALESCE_SECONDS', 'int', 60, 'Updates to one event within this window are sent as one update.'),
  authCacheMs: s('CALENDULA_AUTH_CACHE_MS', 'int', 5000, 'How long one api process may reuse a checked session, API token or calendar list (ms). Writes in the same process invalidate at once; other processes see a sign-out or revocation within this time. CalDAV Basic credentials are remembered as long, but re-checked in each request\'s query: a revoked app password, changed password or disabled account takes effect at once. 0 = off.'),
  davCacheMb: s('CALENDULA_DAV_CACHE_MB', 'int', 64, 'Memory for the CalDAV read cache of one api process (calendar objects and member listings, MB; credentials and calendar views are bounded by count). An object is kept from its second read, or at once when a CalDAV PUT of this process stores it (write-through); least recently used first out. Kept exact by PostgreSQL LISTEN/NOTIFY: a change is seen at once by the process that made it and by the others when the notification arrives; while the LISTEN connection is down the cache is not used. Needs a session-mode connection (not PgBouncer transaction pooling, where LISTEN does nothing: set 0). 0 = off.'),
  secret: s('CALENDULA_SECRET', 'string', undefined, 'Key for signed links and tokens. Default: generated once and kept in the database.', true),
} as const;

type Settings = typeof settings;
export type Config = {
  [K in keyof Settings]: Settings[K]['kind'] extends 'int' ? number
    : Settings[K]['kind'] extends 'bool' ? boolean
    : Settings[K]['kind'] extends 'list' ? string[]
    : undefined extends Settings[K]['default'] ? string | undefined : string;
};
