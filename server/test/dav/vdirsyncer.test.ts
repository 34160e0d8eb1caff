// vdirsyncer (Debian package) as a real client: two-way sync between a local folder and Calendula.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDavEnv, dav, davUser, responses, vevent, type DavTestEnv, type DavUser } from './support.js';

const run = promisify(execFile);
const BIN = ['/usr/bin/vdirsyncer', '/usr/local/bin/vdirsyncer'].find((p) => existsSync(p));
if (!BIN) console.warn('vdirsyncer is not installed (apt-get install vdirsyncer): skipping the vdirsyncer tests');

let env: DavTestEnv;
let anna: DavUser;
let dir: string;

async function vdir(...args: string[]) {
  try {
    return await run(BIN!, ['-c', join(dir, 'config'), ...args], { env: { ...process.env, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' }, timeout: 120_000 });
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`vdirsyncer ${args.join(' ')} failed: ${x.message}\n${x.stdout ?? ''}\n${x.stderr ?? ''}`);
  }
}

const N = 300;
const localFiles = () => readdirSync(join(dir, 'local')).filter((f) => f.endsWith('.ics')).sort();
async function remoteNames(): Promise<string[]> {
  const r = await dav(env, 'PROPFIND', anna.defaultCalendar, { user: anna, headers: { depth: '1' }, body: '<propfind xmlns="DAV:"><prop><getetag/></prop></propfind>' });
  return [...responses(r.xml()).keys()].filter((h) => h !== anna.defaultCalendar).map((h) => h.split('/').pop()!).sort();
}

describe.skipIf(!BIN)('vdirsyncer', () => {
  beforeAll(async () => {
    env = await createDavEnv();
    anna = await davUser(env, 'anna@example.com');
    dir = mkdtempSync(join(tmpdir(), 'calendula-vdirsyncer-'));
    mkdirSync(join(dir, 'local'));
    writeFileSync(join(dir, 'config'), `[general]
status_path = "${dir}/status/"

[pair cal]
a = "local"
b = "calendula"
collections = null
conflict_resolution = null

[storage local]
type = "filesystem"
path = "${dir}/local/"
fileext = ".ics"

[storage calendula]
type = "caldav"
url = "${env.base}${anna.defaultCalendar}"
username = "${anna.email}"
password = "${anna.password}"
`);
  }, 60_000);
  afterAll(async () => {
    await env?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(`two-way sync of ${N} local and 20 remote events converges, edits and deletions on both sides`, async () => {
    for (let i = 0; i < N; i++) {
      const day = String(1 + (i % 28)).padStart(2, '0');
      const extra = i % 20 === 0 ? { rrule: 'FREQ=WEEKLY;COUNT=10' } : {};
      writeFileSync(join(dir, 'local', `local-${i}.ics`), vevent(`local-${i}`, { start: `203001${day}T0900${String(i % 60).padStart(2, '0')}Z`, end: `203001${day}T1000${String(i % 60).padStart(2, '0')}Z`, summary: `Local ${i}`, ...extra }));
    }
    for (let i = 0; i < 20; i++) {
      const r = await dav(env, 'PUT', `${anna.defaultCalendar}remote-${i}.ics`, { user: anna, body: vevent(`remote-${i}`, { summary: `Remote ${i}` }) });
      expect(r.status).toBe(201);
    }
    await vdir('discover');
    await vdir('sync');
    expect(localFiles()).toHaveLength(N + 20);
    expect(await remoteNames()).toHaveLength(N + 20);

    // Edits and deletions on both sides.
    const local0 = join(dir, 'local', 'local-0.ics');
    writeFileSync(local0, readFileSync(local0, 'utf8').replace('SUMMARY:Local 0', 'SUMMARY:Local 0 edited'));
    unlinkSync(join(dir, 'local', 'local-1.ics'));
    let r = await dav(env, 'PUT', `${anna.defaultCalendar}remote-0.ics`, { user: anna, body: vevent('remote-0', { summary: 'Remote 0 edited', sequence: 1 }) });
    expect(r.status).toBe(204);
    r = await dav(env, 'DELETE', `${anna.defaultCalendar}remote-1.ics`, { user: anna });
    expect(r.status).toBe(204);
    await vdir('sync');

    const local = localFiles();
    const remote = await remoteNames();
    expect(local).toHaveLength(N + 18);
    expect(remote).toHaveLength(N + 18);
    // No duplicates: every UID exactly once on each side.
    const uids = local.map((f) => /UID:(.*)\r?\n/.exec(readFileSync(join(dir, 'local', f), 'utf8'))![1]);
    expect(new Set(uids).size).toBe(uids.length);
    expect(uids).not.toContain('local-1');
    expect(uids).not.toContain('remote-1');
    const remote0 = local.map((f) => readFileSync(join(dir, 'local', f), 'utf8')).find((t) => t.includes('UID:remote-0'))!;
    expect(remote0).toContain('SUMMARY:Remote 0 edited');
    r = await dav(env, 'GET', `${anna.defaultCalendar}local-0.ics`, { user: anna });
    expect(r.text).toContain('SUMMARY:Local 0 edited');

    // A third sync has nothing to do.
    const out = await vdir('sync');
    expect(`${out.stdout}${out.stderr}`).not.toMatch(/Copying|Updating|Deleting/);
  }, 180_000);
});
