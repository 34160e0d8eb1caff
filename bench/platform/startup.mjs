// (c) Cold start of `node bin/calendula.mjs start` (all roles, embedded PostgreSQL) on an existing
// data dir to the first 200 from /readyz (target < 5 s), and idle RSS of that process (< 200 MB).
import { rmSync } from 'node:fs';
import { ensureBuilt, freePort, percentile, postgresPids, rssMb, signIn, startServer, tempDataDir } from './_server.mjs';

const RUNS = Number(process.env.BENCH_STARTS ?? 3);

export default async function run(log) {
  ensureBuilt();
  const dataDir = tempDataDir();
  const port = await freePort();
  try {
    // First start: initialises the data dir (initdb, migrations, administrator).
    const first = startServer({ port, dataDir });
    const initMs = await first.ready();
    await signIn(port);
    if ((await first.stop()) !== 0) throw new Error('first run did not exit 0');
    log(`first start (initdb + migrations) ${Math.round(initMs)} ms`);

    const times = [];
    let rss = NaN;
    let pgRss = NaN;
    let pgCount = 0;
    for (let i = 0; i < RUNS; i++) {
      const s = startServer({ port, dataDir });
      times.push(await s.ready());
      if (i === RUNS - 1) {
        await signIn(port); // exercise it once, then let it idle
        await new Promise((r) => setTimeout(r, 10_000));
        rss = rssMb(s.child.pid);
        const pids = postgresPids(dataDir);
        pgCount = pids.length;
        pgRss = pids.reduce((a, p) => { try { return a + rssMb(p); } catch { return a; } }, 0);
      }
      if ((await s.stop()) !== 0) throw new Error('run did not exit 0');
    }
    const sorted = [...times].sort((a, b) => a - b);
    const median = percentile(sorted, 50);
    return [
      { bench: 'startup: first start on an empty data dir', metric: 'to /readyz', value: initMs / 1000, unit: 's' },
      { bench: `startup: cold start on existing data dir (median of ${RUNS})`, metric: 'to /readyz', value: median / 1000, unit: 's', target: '< 5 s', pass: median < 5000 },
      { bench: 'startup: all-roles node process, idle 10 s', metric: 'VmRSS', value: rss, unit: 'MB', target: '< 200 MB', pass: rss < 200 },
      { bench: `startup: embedded postgres (${pgCount} processes, shared memory counted in each)`, metric: 'sum VmRSS', value: pgRss, unit: 'MB' },
    ];
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
