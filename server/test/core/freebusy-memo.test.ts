/**
 * Free/busy and find-a-time read busy time from a per-person memo (busyOfManyCached): merged over
 * a wide window, sliced per request, used only while the person's calendars' sync tokens are
 * unchanged. Checked: the same periods as the uncached computation for many ranges (overlapping
 * busy/tentative events, transparent and all-day ones, a series with a moved occurrence), and a
 * write — through the API, or straight to the database as another process's store code does it
 * (row and calendar sync_seq) — shows in the next answer.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, makeUser, type TestEnv } from '../support/harness.js';
import { create, ev, occurrences, user, type TestUser } from './_helpers.js';
import build from 'fast-json-stringify';
import { busyOfMany, busyOfManyCached, freeBusy } from '../../src/app/events/freebusy.js';
import { FreeBusyList } from '../../src/http/rest/scheduling.js';
import { findPrincipalById } from '../../src/store/principals.js';

// The memo covers a year back and two ahead of today: the data sits ~100 days from now.
const BASE = Math.floor(Date.now() / 86_400_000 + 100) * 86_400_000;
/** The date `n` days after BASE ("YYYY-MM-DD"). */
const D = (n: number) => new Date(BASE + n * 86_400_000).toISOString().slice(0, 10);

let env: TestEnv;
let anna: TestUser;
let boris: TestUser;

beforeAll(async () => {
  env = await createTestEnv({ mailDomains: ['example.com'], dataDir: `/tmp/calendula-test-fbm-${process.pid}` });
  anna = await user(env, 'anya@example.com', 'Anya');
  boris = await user(env, 'bor@example.com', 'Bor');
  await create(boris, ev('Long', `${D(0)}T09:00:00`, `${D(0)}T13:00:00`));
  await create(boris, ev('Maybe', `${D(0)}T12:00:00`, `${D(0)}T15:00:00`, { status: 'TENTATIVE' }));
  await create(boris, ev('Adjacent', `${D(0)}T15:00:00`, `${D(0)}T16:00:00`));
  await create(boris, ev('Free time', `${D(1)}T09:00:00`, `${D(1)}T10:00:00`, { transparency: 'TRANSPARENT' }));
  await create(boris, ev('Trip', `${D(2)}`, `${D(4)}`, { allDay: true }));
  const s = await create(boris, ev('Daily', `${D(5)}T08:00:00`, `${D(5)}T08:30:00`, { rrule: 'FREQ=DAILY;COUNT=8' }));
  const third = (await occurrences(boris, `${D(7)}T00:00:00Z`, `${D(8)}T00:00:00Z`)).find((o) => o.id === s.id);
  const r = await boris.api.patch(`/events/${s.id}`, { event: { start: `${D(7)}T17:00:00`, end: `${D(7)}T18:00:00`, timezone: 'UTC' }, scope: 'this', recurrenceId: third.recurrenceId });
  expect(r.statusCode, r.body).toBe(200);
});
afterAll(async () => {
  await env.close();
});

const fb = async (from: string, to: string) => {
  const r = await anna.api.post('/freebusy', { attendees: [boris.email], from, to });
  expect(r.statusCode, r.body).toBe(200);
  return r.json().items[0].busy as { start: string; end: string; type: string }[];
};

describe('per-person busy memo', () => {
  it('gives the same periods as the uncached computation for any range', async () => {
    const who = [(await findPrincipalById(env.ctx.db, boris.id))!, (await findPrincipalById(env.ctx.db, anna.id))!];
    const base = BASE - 86_400_000;
    let checked = 0;
    for (let a = 0; a < 14 * 24; a += 7) {
      for (const len of [1, 5, 30, 24 * 3, 24 * 20]) {
        const from = new Date(base + a * 3_600_000);
        const to = new Date(from.getTime() + len * 3_600_000);
        const cached = await busyOfManyCached(env.ctx, who, from, to);
        const reference = await busyOfMany(env.ctx, who, from, to);
        expect(cached, `${from.toISOString()} +${len}h`).toEqual(reference);
        checked += reference.get(boris.id)!.length;
      }
    }
    expect(checked).toBeGreaterThan(100);
  });

  it('POST /freebusy writes the bytes the schema serialiser gives for freeBusy() (people, rooms, groups, unknown)', async () => {
    const serialise = build(FreeBusyList as never) as (x: unknown) => string;
    await makeUser(env.ctx, 'room-7@example.com', { kind: 'room', name: 'Room "7"' });
    await makeUser(env.ctx, 'team@example.com', { kind: 'group' });
    const attendees = [boris.email, 'ROOM-7@example.com', 'team@example.com', 'ghost@example.com', anna.email, boris.email];
    for (const [from, to] of [[`${D(0)}T10:00:00Z`, `${D(0)}T14:30:00Z`], [`${D(-3)}T00:00:00Z`, `${D(30)}T00:00:00Z`], ['2040-01-01T00:00:00Z', '2040-02-01T00:00:00Z']]) {
      for (let pass = 0; pass < 2; pass++) {
        const r = await anna.api.post('/freebusy', { attendees, from, to });
        expect(r.statusCode, r.body).toBe(200);
        expect(String(r.headers['content-type'])).toBe('application/json; charset=utf-8');
        const reference = serialise({ items: await freeBusy(env.ctx, { userId: anna.id, email: anna.email, via: 'rest' } as never, attendees, new Date(from), new Date(to)) });
        expect(r.body, `${from} pass ${pass}`).toBe(reference);
      }
    }
    const items = (await anna.api.post('/freebusy', { attendees, from: `${D(0)}T10:00:00Z`, to: `${D(0)}T14:30:00Z` })).json().items;
    expect(items.map((i: { error?: string }) => i.error ?? null)).toEqual([null, null, 'GROUP', 'UNKNOWN', null]);
    // Clipped to the range; where the busy and the tentative event overlap, busy wins (one run).
    expect(items[0].busy).toEqual([
      { start: `${D(0)}T10:00:00.000Z`, end: `${D(0)}T13:00:00.000Z`, type: 'BUSY' },
      { start: `${D(0)}T13:00:00.000Z`, end: `${D(0)}T14:30:00.000Z`, type: 'BUSY-TENTATIVE' },
    ]);
  });

  it('sees a write made through the API', async () => {
    const range = [`${D(19)}T00:00:00Z`, `${D(20)}T00:00:00Z`] as const;
    expect(await fb(...range)).toEqual([]);
    const e = await create(boris, ev('New', `${D(19)}T10:00:00`, `${D(19)}T11:00:00`));
    expect(await fb(...range)).toEqual([{ start: `${D(19)}T10:00:00.000Z`, end: `${D(19)}T11:00:00.000Z`, type: 'BUSY' }]);
    expect((await boris.api.del(`/events/${e.id}`)).statusCode).toBe(204);
    expect(await fb(...range)).toEqual([]);
  });

  it('sees a write made by another process (row and sync token changed, nothing in this process told)', async () => {
    const range = [`${D(0)}T00:00:00Z`, `${D(1)}T00:00:00Z`] as const;
    const before = await fb(...range);
    expect(before.some((p) => p.type === 'BUSY-TENTATIVE')).toBe(true);
    // What store/objects.ts does for an update, as one statement: the row, then its calendar's token.
    await sql`with o as (update calendar_object set transp = 'TRANSPARENT' where owner_id = ${boris.id} and summary = 'Maybe' returning calendar_id)
      update calendar set sync_seq = sync_seq + 1 where owner_id = ${boris.id} and id in (select calendar_id from o)`.execute(env.ctx.db);
    const after = await fb(...range);
    expect(after.some((p) => p.type === 'BUSY-TENTATIVE')).toBe(false);
    expect(after).toEqual([
      { start: `${D(0)}T09:00:00.000Z`, end: `${D(0)}T13:00:00.000Z`, type: 'BUSY' },
      { start: `${D(0)}T15:00:00.000Z`, end: `${D(0)}T16:00:00.000Z`, type: 'BUSY' },
    ]);
  });
});
