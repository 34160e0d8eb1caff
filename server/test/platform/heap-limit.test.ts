/** The launcher applies CALENDULA_HEAP_MB (V8 old-generation limit) to `calendula start`. */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(__dirname, '../../..');
const dir = mkdtempSync(join(tmpdir(), 'calendula-heap-'));
const probe = join(dir, 'probe.mjs');
// Every Node process of the launch reports its heap limit (MB) and script when it starts (a build
// step the launcher may run first reports too; only the launcher's own processes count).
writeFileSync(probe, "import v8 from 'node:v8';\nprocess.stderr.write(`HEAP ${Math.round(v8.getHeapStatistics().heap_size_limit / 2 ** 20)} ${process.argv[1]}\\n`);\n");

function launch(env: Record<string, string>): number[] {
  const r = spawnSync(process.execPath, [join(root, 'bin/calendula.mjs'), 'start', '--help'], {
    cwd: root, encoding: 'utf8', env: { ...process.env, CALENDULA_HEAP_CHILD: '', NODE_OPTIONS: `--import ${probe}`, ...env },
  });
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/--roles/);
  return [...r.stderr.matchAll(/^HEAP (\d+) (.*)$/gm)].filter((m) => m[2].endsWith('calendula.mjs')).map((m) => Number(m[1]));
}

describe('CALENDULA_HEAP_MB', () => {
  it('runs the server in a child process whose old generation is capped at the setting', () => {
    const limits = launch({ CALENDULA_HEAP_MB: '123' });
    expect(limits).toHaveLength(2);
    // heap_size_limit = old generation + young generation (a few tens of MB).
    expect(limits[1]).toBeGreaterThanOrEqual(123);
    expect(limits[1]).toBeLessThan(123 + 100);
    expect(limits[0]).toBeGreaterThan(limits[1]);
  });

  it('0 turns it off, and a --max-old-space-size already in NODE_OPTIONS wins (no child process)', () => {
    expect(launch({ CALENDULA_HEAP_MB: '0' })).toHaveLength(1);
    const own = launch({ CALENDULA_HEAP_MB: '123', NODE_OPTIONS: `--import ${probe} --max-old-space-size=300` });
    expect(own).toHaveLength(1);
    expect(own[0]).toBeGreaterThanOrEqual(300);
  });
});
