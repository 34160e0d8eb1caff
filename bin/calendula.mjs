#!/usr/bin/env node
// The `calendula` command. The TypeScript sources are built to dist/ by scripts/ensure.mjs
// (run by `npm start`, `npm test` and `npm run calendula`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { execFileSync } from 'node:child_process';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (!existsSync(join(root, 'dist/server/src/cli/main.js'))) {
  execFileSync(process.execPath, [join(root, 'scripts/ensure.mjs'), '--quiet'], { cwd: root, stdio: 'inherit' });
}
const { main } = await import(join(root, 'dist/server/src/cli/main.js'));
await main(process.argv.slice(2));
