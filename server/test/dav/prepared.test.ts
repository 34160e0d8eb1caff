// store/prepared.ts: named statements run without a Describe give the rows pg's rowMode 'array'
// gives, report errors, and always hand their connection back to the pool.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase } from '../support/harness.js';
import { queryPrepared } from '../../src/store/prepared.js';

let url: string;
let pool: pg.Pool;
beforeAll(async () => {
  url = await createTestDatabase();
  pool = new pg.Pool({ connectionString: url, max: 2 });
});
afterAll(async () => pool?.end());

describe('queryPrepared', () => {
  it('decodes every column as pg does, on every connection and every run', async () => {
    const stmt = {
      name: 'test-prepared-types',
      text: `select $1::int, $2::text, $3::timestamptz, '{"a":[1,"x"]}'::jsonb, array['a','b,c','"q"']::text[], 12345678901::bigint, true, null::text,
        1.5::numeric, '2024-01-02'::date, gen_random_uuid() is not null, $4::uuid, 'é😀'::text, '{1,2}'::int[], '\\x0102'::bytea, n from generate_series(1, $1::int) n`,
    };
    const values = [3, 'hello', new Date('2030-01-02T03:04:05.678Z'), '00000000-0000-4000-8000-000000000001'];
    const want = (await pool.query({ text: stmt.text, values, rowMode: 'array' })).rows;
    // The first run learns the column types; then two connections each prepare it once and reuse it.
    for (let i = 0; i < 6; i++) expect(await queryPrepared(pool, stmt, values)).toEqual(want);
    const both = await Promise.all([queryPrepared(pool, stmt, values), queryPrepared(pool, stmt, values)]);
    expect(both).toEqual([want, want]);
    expect(await queryPrepared(pool, stmt, [0, null, null, null])).toEqual([]);
  });

  it('timestamps: every row gets its own Date with its own value (the last parsed one is remembered)', async () => {
    const stmt = { name: 'test-prepared-dates', text: `select ($1::timestamptz + n * interval '1 hour') :: timestamptz, $1::timestamptz, 'infinity'::timestamptz, $2::timestamptz from generate_series(0, 2) n` };
    const values = [new Date('2030-05-06T07:08:09.123Z'), new Date('1999-12-31T23:59:59Z')];
    const want = (await pool.query({ text: stmt.text, values, rowMode: 'array' })).rows;
    for (let i = 0; i < 3; i++) {
      const got = await queryPrepared(pool, stmt, values);
      expect(got).toEqual(want);
      // Mutating one row's Date changes no other row and no later result.
      (got[0]![1] as Date).setTime(0);
      expect(got[1]![1]).toEqual(values[0]);
      expect(got[1]![1]).not.toBe(got[2]![1]);
    }
    expect(await queryPrepared(pool, stmt, [values[1], values[0]])).toEqual((await pool.query({ text: stmt.text, values: [values[1], values[0]], rowMode: 'array' })).rows);
  });

  it('passes errors on and releases the connection (run-time, parse-time and bind-time errors)', async () => {
    const div = { name: 'test-prepared-div', text: 'select 1 / $1::int' };
    expect(await queryPrepared(pool, div, [1])).toEqual([[1]]);
    for (let i = 0; i < 5; i++) await expect(queryPrepared(pool, div, [0])).rejects.toMatchObject({ code: '22012' });
    await expect(queryPrepared(pool, { name: 'test-prepared-bad', text: 'selec 1' }, [])).rejects.toMatchObject({ code: '42601' });
    await expect(queryPrepared(pool, div, ['not a number'])).rejects.toMatchObject({ code: '22P02' });
    const bad = { toPostgres: () => { throw new Error('cannot encode'); } };
    await expect(queryPrepared(pool, div, [bad])).rejects.toThrow('cannot encode');
    expect(await queryPrepared(pool, div, [2])).toEqual([[0]]);
    expect(pool.totalCount).toBeLessThanOrEqual(2);
    expect(pool.idleCount).toBe(pool.totalCount);
    expect(pool.waitingCount).toBe(0);
  });

  it('refuses a different text under a name the connection has prepared (as pg does)', async () => {
    const one = new pg.Pool({ connectionString: url, max: 1 });
    try {
      await queryPrepared(one, { name: 'test-prepared-same', text: 'select 1' }, []);
      await queryPrepared(one, { name: 'test-prepared-same', text: 'select 1' }, []);
      await expect(queryPrepared(one, { name: 'test-prepared-same', text: 'select 2' }, [])).rejects.toThrow(/unique/);
      expect(await queryPrepared(one, { name: 'test-prepared-same', text: 'select 1' }, [])).toEqual([[1]]);
    } finally {
      await one.end();
    }
  });
});
