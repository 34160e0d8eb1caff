/**
 * The real `npm start` path: the built server (`node bin/calendula.mjs start`) on a fresh data
 * dir with the embedded PostgreSQL, signed into over HTTP; graceful stop, restart on the same
 * data, recovery after SIGKILL, and the CLI working next to the running server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../support/oidc.js';
import { withChildren } from '../../../bench/_procs.mjs';

const root = resolve(import.meta.dirname, '../../..');
const bin = join(root, 'bin/calendula.mjs');
const ADMIN = 'boss@example.com';
const ADMIN_PW = 'boss-password-123';

let dataDir: string;
let port: number;
let env: NodeJS.ProcessEnv;

interface Running { child: ChildProcess; output: () => string; exited: Promise<number | null> }

function childEnv(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), CALENDULA_DATA_DIR: dataDir, CALENDULA_ADMIN_EMAIL: ADMIN, CALENDULA_ADMIN_PASSWORD: ADMIN_PW, LOG_LEVEL: 'warn' };
  delete e.DATABASE_URL;
  delete e.TEST_DATABASE_URL;
  delete e.CALENDULA_CONFIG;
  delete e.HOST;
  delete e.VITEST; // the child is a normal process
  return e;
}

function start(): Running {
  const child = spawn(process.execPath, [bin, 'start'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, output: () => out, exited };
}

async function waitReady(r: Running, ms = 60_000): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (r.child.exitCode !== null) throw new Error(`server exited early (${r.child.exitCode}):\n${r.output()}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`);
      // Ready, and the start banner (printed once every role runs) is out.
      if (res.status === 200 && r.output().includes('Calendula is running')) return Date.now() - t0;
    } catch { /* not listening yet */ }
    await new Promise((x) => setTimeout(x, 100));
  }
  throw new Error(`not ready after ${ms} ms:\n${r.output()}`);
}

async function signIn(email: string, password: string) {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) });
  const cookie = res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  return { status: res.status, cookie, body: await res.json() };
}

async function meAs(email: string, password: string) {
  const s = await signIn(email, password);
  expect(s.status, JSON.stringify(s.body)).toBe(200);
  const me = await fetch(`http://127.0.0.1:${port}/api/v1/me`, { headers: { cookie: s.cookie } });
  expect(me.status).toBe(200);
  return (await me.json()).user;
}

function postmasterPid(): number | null {
  const f = join(dataDir, 'pg', 'postmaster.pid');
  return existsSync(f) ? Number(readFileSync(f, 'utf8').split('\n')[0]) : null;
}

function alive(pid: number) {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

async function waitGone(pid: number, ms = 15_000) {
  const t0 = Date.now();
  while (Date.now() - t0 < ms && alive(pid)) await new Promise((r) => setTimeout(r, 50));
  return !alive(pid);
}

function cli(args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
}

let current: Running | null = null;

beforeAll(() => {
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'inherit' });
  dataDir = mkdtempSync(join(tmpdir(), 'calendula-start-'));
}, 120_000);

beforeAll(async () => {
  port = await freePort();
  env = childEnv();
});

afterAll(async () => {
  if (current && current.child.exitCode === null) {
    current.child.kill('SIGTERM');
    await Promise.race([current.exited, new Promise((r) => setTimeout(r, 15_000))]);
  }
  const pm = postmasterPid();
  if (pm && alive(pm)) { try { process.kill(pm, 'SIGINT'); } catch { /* gone */ } await waitGone(pm); }
  rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

describe('calendula start (embedded PostgreSQL)', () => {
  it('starts on a fresh data dir, creates the administrator, and serves signed-in requests', async () => {
    current = start();
    await waitReady(current, 120_000);
    expect(current.output()).toContain(`An administrator was created: ${ADMIN}`);
    expect(current.output()).not.toContain(ADMIN_PW); // a given password is never echoed
    const user = await meAs(ADMIN, ADMIN_PW);
    expect(user).toMatchObject({ email: ADMIN, isAdmin: true });
    // The embedded server has a port of its own, never 5432.
    const pgPort = Number(readFileSync(join(dataDir, 'pg.port'), 'utf8'));
    expect(pgPort).toBeGreaterThan(0);
    expect(pgPort).not.toBe(5432);
    // Operations endpoints.
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toContain('calendula_http_request_duration_seconds');
    const openapi = await (await fetch(`http://127.0.0.1:${port}/api/openapi.json`)).json();
    expect(openapi.openapi).toBe('3.1.0');
  }, 150_000);

  it('the CLI adds a user while the server runs, and that user can sign in', async () => {
    const r = cli(['user', 'add', 'cli.user@example.com', '--password', 'cli-password-1', '--name', 'Cli User']);
    expect(r.status, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toContain('created cli.user@example.com');
    const u = await meAs('cli.user@example.com', 'cli-password-1');
    expect(u.name).toBe('Cli User');
    const list = cli(['user', 'list', '--json']);
    expect(list.status).toBe(0);
    expect(JSON.parse(list.stdout).map((x: { email: string }) => x.email)).toContain('cli.user@example.com');
    const dup = cli(['user', 'add', 'cli.user@example.com', '--password', 'cli-password-1']);
    expect(dup.status).toBe(1);
    expect(dup.stderr).toContain('ALREADY_EXISTS');
    // The server is still healthy after the CLI process came and went.
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
  }, 90_000);

  it('stops on SIGTERM with exit code 0 and stops the embedded PostgreSQL', async () => {
    const pm = postmasterPid();
    expect(pm).toBeTruthy();
    expect(alive(pm!)).toBe(true);
    current!.child.kill('SIGTERM');
    expect(await current!.exited).toBe(0);
    expect(await waitGone(pm!)).toBe(true);
  }, 60_000);

  it('a second start reuses the data', async () => {
    current = start();
    await waitReady(current, 60_000);
    expect(current.output()).not.toContain('An administrator was created');
    expect((await meAs(ADMIN, ADMIN_PW)).isAdmin).toBe(true);
    expect((await meAs('cli.user@example.com', 'cli-password-1')).name).toBe('Cli User');
  }, 90_000);

  it('recovers after a SIGKILL that orphaned the embedded PostgreSQL', async () => {
    const pm = postmasterPid();
    // `calendula start` runs the server as a child (the heap-capping launcher): the launcher is
    // killed outright, the server child follows it (it watches the launcher), the cluster stays.
    const server = withChildren(current!.child.pid!).slice(1);
    current!.child.kill('SIGKILL');
    await current!.exited;
    for (const pid of server) expect(await waitGone(pid)).toBe(true);
    expect(pm && alive(pm)).toBe(true); // the orphan is still there
    current = start();
    await waitReady(current, 60_000);
    expect(alive(pm!)).toBe(false);
    expect((await meAs('cli.user@example.com', 'cli-password-1')).email).toBe('cli.user@example.com');
    current.child.kill('SIGTERM');
    expect(await current.exited).toBe(0);
  }, 120_000);
});

describe('calendula --help', () => {
  const commands = [[], ['start'], ['migrate'], ['user'], ['user', 'add'], ['user', 'list'], ['user', 'disable'], ['user', 'enable'], ['user', 'passwd'], ['user', 'make-admin'], ['token'], ['token', 'create'], ['token', 'revoke']];
  it.each(commands.map((c) => [c.join(' ') || '(top level)', c]))('%s --help exits 0', (_name, c) => {
    const r = cli([...(c as string[]), '--help']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Usage: calendula/);
  });
});
