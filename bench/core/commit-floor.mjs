// The floor under any sequential durable write on this machine: one transaction inserting one row
// and committing, one after another, with the server's synchronous_commit (on: the commit waits
// for the WAL flush, fdatasync) and, for comparison, with synchronous_commit off for the session
// (not something Calendula does: a crash of the machine could lose acknowledged writes).
// "create an event … ≥ 300/s sequential" needs ≤ 3.3 ms per create, commit included.
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench -- core/commit-floor
import pg from 'pg';

export default async function commitFloor(log) {
  const url = process.env.DATABASE_URL ?? process.env.TEST_DATABASE_URL;
  if (!url) { log('core/commit-floor: set DATABASE_URL (skipped)'); return []; }
  const N = Number(process.env.BENCH_COMMIT_N ?? 1000);
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const rows = [];
  try {
    await c.query('create table if not exists bench_commit_probe (x int)');
    const wal = (await c.query(`select current_setting('wal_sync_method') as m, current_setting('fsync') as f`)).rows[0];
    for (const mode of ['on', 'off']) {
      await c.query(`set synchronous_commit = ${mode}`);
      for (let i = 0; i < 50; i++) { await c.query('begin'); await c.query('insert into bench_commit_probe values (1)'); await c.query('commit'); }
      const lat = [];
      for (let i = 0; i < N; i++) {
        const t = performance.now();
        await c.query('begin');
        await c.query('insert into bench_commit_probe values (1)');
        await c.query('commit');
        lat.push(performance.now() - t);
      }
      lat.sort((a, b) => a - b);
      const mean = lat.reduce((s, x) => s + x, 0) / N;
      rows.push({ bench: `core: one-row transaction, sequential, synchronous_commit=${mode} (fsync=${wal.f}, ${wal.m})`, metric: 'mean / p50 / p99', value: `${mean.toFixed(2)} / ${lat[N >> 1].toFixed(2)} / ${lat[Math.floor(N * 0.99)].toFixed(2)}`, unit: 'ms' });
      rows.push({ bench: `core: → ceiling for sequential durable writes (synchronous_commit=${mode})`, metric: 'throughput', value: 1000 / mean, unit: '/s', target: mode === 'on' ? '(create ≥ 300/s needs ≥ 300)' : undefined });
    }
    await c.query('drop table bench_commit_probe');
  } finally {
    await c.end();
  }
  return rows;
}
