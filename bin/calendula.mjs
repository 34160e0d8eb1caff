#!/usr/bin/env node
// The `calendula` command. The TypeScript sources are built to dist/ by scripts/ensure.mjs
// (run by `npm start`, `npm test` and `npm run calendula`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { execFileSync, spawn } from 'node:child_process';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (!existsSync(join(root, 'dist/server/src/cli/main.js'))) {
  execFileSync(process.execPath, [join(root, 'scripts/ensure.mjs'), '--quiet'], { cwd: root, stdio: 'inherit' });
}
const argv = process.argv.slice(2);

/**
 * `calendula start` runs with a capped V8 heap (CALENDULA_HEAP_MB, docs/configuration.md): the
 * limit can only be set when a Node process starts, so unless NODE_OPTIONS or the node command
 * line already carry --max-old-space-size, the server runs as a child process with the flag and
 * this process only relays signals and the exit code (it costs ~40 MB of RSS; set NODE_OPTIONS in
 * the service definition to avoid it). A configuration error is left to the command to report.
 */
async function heapLimitMb() {
  if (argv[0] !== 'start' || process.env.CALENDULA_HEAP_CHILD) return 0;
  const already = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((a) => /^--max[-_]old[-_]space[-_]size/.test(a));
  if (already) return 0;
  try {
    const { loadConfig } = await import(join(root, 'dist/server/src/config/load.js'));
    return loadConfig().heapMb;
  } catch {
    return 0;
  }
}

const heapMb = await heapLimitMb();
if (heapMb > 0) {
  const child = spawn(process.execPath, [...process.execArgv, `--max-old-space-size=${heapMb}`, fileURLToPath(import.meta.url), ...argv], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'], env: { ...process.env, CALENDULA_HEAP_CHILD: '1' },
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => process.exit(code ?? (signal === 'SIGINT' ? 130 : signal ? 143 : 1)));
} else {
  if (process.env.CALENDULA_HEAP_CHILD) {
    // If the launcher is killed outright (SIGKILL, which it cannot relay), the server goes the same
    // way instead of living on orphaned: the launcher's end of the IPC channel closes, and as a
    // second check the parent process id changes (re-parented to init).
    const parent = process.ppid;
    const die = () => process.kill(process.pid, 'SIGKILL');
    if (process.channel) {
      process.channel.unref();
      process.on('disconnect', die);
    }
    setInterval(() => { if (process.ppid !== parent) die(); }, 1000).unref();
  }
  const { main } = await import(join(root, 'dist/server/src/cli/main.js'));
  await main(argv);
}
