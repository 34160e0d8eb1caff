// Starts a throwaway Calendula (fresh data dir, embedded PostgreSQL) for the web bench and the
// screenshot script, with helpers to add users and call the REST API as them.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

export async function startServer({ port = 18000 + Math.floor(Math.random() * 1000) } = {}) {
  execFileSync('node', ['scripts/ensure.mjs', '--quiet'], { stdio: 'inherit' });
  const dataDir = mkdtempSync(join(tmpdir(), 'calendula-webbench-'));
  const env = { ...process.env, PORT: String(port), CALENDULA_DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
  const child = spawn('node', ['bin/calendula.mjs', 'start', '--roles', 'api,worker'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try { if ((await fetch(base + '/readyz')).ok) break; } catch { /* not yet */ }
    if (i > 300 || child.exitCode !== null) throw new Error('server did not start:\n' + out);
    await new Promise((r) => setTimeout(r, 100));
  }
  const cli = (...args) => execFileSync('node', ['bin/calendula.mjs', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  return {
    base, dataDir,
    addUser: (email, name, extra = []) => cli('user', 'add', email, '--password', 'password123', '--name', name, ...extra),
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Signs in over REST; returns a tiny client that sends the cookie and CSRF header. */
export async function restAs(base, email) {
  const r = await fetch(base + '/api/v1/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: 'password123' }) });
  if (!r.ok) throw new Error(`sign-in ${email}: ${r.status}`);
  const cookie = r.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const { csrfToken } = await r.json();
  const call = async (method, path, body) => {
    const res = await fetch(base + '/api/v1' + path, { method, headers: { cookie, 'x-csrf-token': csrfToken, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  };
  return { call, cookie };
}

export const mondayOf = (d = new Date()) => {
  const day = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  day.setUTCDate(day.getUTCDate() - ((day.getUTCDay() + 6) % 7));
  return day.toISOString().slice(0, 10);
};
export const addDays = (d, n) => new Date(Date.parse(d + 'T00:00:00Z') + n * 86400000).toISOString().slice(0, 10);
