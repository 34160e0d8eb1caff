/** Concurrent conflicting writes, room double-booking, editing leases (issue 3 §5, Tests). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, eventually, makeUser, startTestWorker, type TestEnv } from '../support/harness.js';
import { create, ev, user, type TestUser } from './_helpers.js';

let env: TestEnv;
let worker: { stop(): Promise<void> };
let anna: TestUser;
let boris: TestUser;
let carl: TestUser;
let more: TestUser[];

beforeAll(async () => {
  env = await createTestEnv({ mailDomains: ['example.com'], dataDir: `/tmp/calendula-test-conc-${process.pid}` });
  anna = await user(env, 'anna@example.com', 'Anna');
  boris = await user(env, 'boris@example.com', 'Boris');
  carl = await user(env, 'carl@example.com', 'Carl');
  await makeUser(env.ctx, 'room7@example.com', { name: 'Room 7', kind: 'room' });
  more = [await user(env, 'dana@example.com', 'Dana'), await user(env, 'egor@example.com', 'Egor'), await user(env, 'fedor@example.com', 'Fedor')];
  await makeUser(env.ctx, 'room8@example.com', { name: 'Room 8', kind: 'room' });
  // Boris may edit Anna's calendar (a delegate).
  await anna.api.put(`/calendars/${anna.cal}/shares`, { email: boris.email, access: 'read-write' });
  worker = await startTestWorker(env, 8);
});
afterAll(async () => {
  await worker.stop();
  await env.close();
});

describe('50 parallel updates with the same fresh etag', () => {
  it('exactly one wins, the others get 412 with who/when, no deadlock, final state is the winner', async () => {
    const e = await create(anna, ev('Contended', '2032-03-01T10:00:00', '2032-03-01T11:00:00', { attendees: [{ email: 'carl@example.com' }] }));
    const t0 = Date.now();
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) =>
      anna.api.patch(`/events/${e.id}`, { event: { summary: `Version ${i}` } }, { 'if-match': `"${e.etag}"` }).then((r) => ({ i, r }))));
    expect(Date.now() - t0).toBeLessThan(20_000);
    const ok = results.filter((x) => x.r.statusCode === 200);
    const conflicts = results.filter((x) => x.r.statusCode === 412);
    expect(ok).toHaveLength(1);
    expect(conflicts).toHaveLength(49);
    for (const c of conflicts) {
      expect(c.r.json().error).toBe('ETAG_MISMATCH');
      expect(c.r.json().details.changedBy).toBe('Anna');
      expect(Date.parse(c.r.json().details.changedAt)).toBeGreaterThan(0);
    }
    const final = (await anna.api.get(`/events/${e.id}`)).json();
    expect(final.event.summary).toBe(`Version ${ok[0].i}`);
    expect(final.etag).toBe(ok[0].r.json().etag);
    // Exactly one scheduling update went out for the winner: Carl's copy ends with the winner's title.
    await eventually(async () => {
      const c = await env.ctx.db.selectFrom('calendar_object').select('summary').where('owner_id', '=', carl.id).where('uid', '=', e.uid).executeTakeFirst();
      return c?.summary === `Version ${ok[0].i}`;
    }, 10_000, "winner's title on the attendee copy");
  });

  it('writes without If-Match serialise per UID: no lost update, 20 parallel writers all land in order', async () => {
    const e = await create(anna, ev('Counter', '2032-03-02T10:00:00', '2032-03-02T11:00:00'));
    const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => anna.api.patch(`/events/${e.id}`, { event: { description: `d${i}` } })));
    expect(rs.every((r) => r.statusCode === 200)).toBe(true);
    const changes = await env.ctx.db.selectFrom('calendar_change').select('seq').where('owner_id', '=', anna.id).where('object_id', '=', e.id).execute();
    expect(changes).toHaveLength(21);
  });
});

describe('room double-booking', () => {
  it('two organizers invite the same free room for the same slot at once: one ACCEPTED, one DECLINED', async () => {
    for (let round = 0; round < 3; round++) {
      const day = `2032-04-0${round + 1}`;
      const [a, b] = await Promise.all([
        create(anna, ev(`A${round}`, `${day}T10:00:00`, `${day}T11:00:00`, { attendees: [{ email: 'room7@example.com' }] })),
        create(carl, ev(`C${round}`, `${day}T10:30:00`, `${day}T11:30:00`, { attendees: [{ email: 'room7@example.com' }] })),
      ]);
      const answer = async (u: TestUser, id: string) => eventually(async () => {
        const p = (await u.api.get(`/events/${id}`)).json().event.attendees.find((x: { email: string }) => x.email === 'room7@example.com').partstat;
        return p !== 'NEEDS-ACTION' ? p : null;
      }, 15_000, 'room answer');
      const answers = [await answer(anna, a.id), await answer(carl, b.id)].sort();
      expect(answers, `round ${round}`).toEqual(['ACCEPTED', 'DECLINED']);
    }
  });
});

describe('room double-booking with recurring and single bookings', () => {
  // Bookings of one week, as [organizer, first start (hour of day 0 = Monday), hours, rule]; all in UTC.
  type Booking = { who: number; day: number; from: number; hours: number; freq?: 'DAILY' | 'WEEKLY'; count?: number };
  const plan: Booking[] = [
    { who: 0, day: 0, from: 10, hours: 1, freq: 'WEEKLY', count: 4 }, // Anna: Mondays 10–11, four weeks
    { who: 1, day: 7, from: 10.5, hours: 1 }, // Boris: the second Monday 10:30–11:30
    { who: 2, day: 6, from: 10.25, hours: 0.5, freq: 'DAILY', count: 4 }, // Carl: Sunday–Wednesday 10:15–10:45
    { who: 3, day: 14, from: 9.5, hours: 1 }, // Dana: the third Monday 9:30–10:30
    { who: 4, day: 9, from: 9, hours: 1.5, freq: 'WEEKLY', count: 2 }, // Egor: Wednesdays 9–10:30 (Carl's last day at 10:15)
    { who: 5, day: 2, from: 14, hours: 2, freq: 'DAILY', count: 3 }, // Fedor: 14–16, clashing with nobody
    { who: 0, day: 7, from: 10.75, hours: 0.5 }, // Anna again: the second Monday 10:45–11:15
    { who: 1, day: 21, from: 10, hours: 1, freq: 'DAILY', count: 2 }, // Boris: the fourth Monday and Tuesday 10–11
  ];
  const H = 3_600_000;
  const D = 24 * H;
  const occurrences = (b: Booking, base: number) => Array.from({ length: b.count ?? 1 }, (_, i) => {
    const s = base + b.day * D + b.from * H + i * (b.freq === 'WEEKLY' ? 7 * D : D);
    return [s, s + b.hours * H] as const;
  });
  const clash = (x: readonly (readonly [number, number])[], y: readonly (readonly [number, number])[]) => x.some(([s, e]) => y.some(([s2, e2]) => s < e2 && s2 < e));
  const local = (t: number) => new Date(t).toISOString().slice(0, 19);

  it('six organizers book overlapping series and single events at once: at most one accepted per slot, a declined booking clashes with an accepted one', async () => {
    const organizers = [anna, boris, carl, ...more];
    for (let round = 0; round < 3; round++) {
      const base = Date.parse('2033-01-03T00:00:00Z') + round * 35 * D; // a Monday, five weeks apart
      const made = await Promise.all(plan.map((b, i) => {
        const [[s, e]] = occurrences(b, base);
        const rrule = b.freq ? { rrule: `FREQ=${b.freq};COUNT=${b.count}` } : {};
        return create(organizers[b.who], ev(`R${round}.${i}`, local(s), local(e), { attendees: [{ email: 'room8@example.com' }], ...rrule }));
      }));
      const roomId = (await env.ctx.db.selectFrom('principal').select('id').where('email', '=', 'room8@example.com').executeTakeFirstOrThrow()).id;
      const answers = await eventually(async () => {
        const rows = await env.ctx.db.selectFrom('calendar_object').select(['uid', 'my_partstat']).where('owner_id', '=', roomId).where('uid', 'in', made.map((m) => m.uid)).execute();
        const byUid = new Map(rows.map((r) => [r.uid, r.my_partstat]));
        const all = made.map((m) => byUid.get(m.uid));
        return all.every((p) => p === 'ACCEPTED' || p === 'DECLINED') ? all : null;
      }, 30_000, `room answers, round ${round}`);
      const occ = plan.map((b) => occurrences(b, base));
      const accepted = plan.map((_, i) => i).filter((i) => answers[i] === 'ACCEPTED');
      // No two accepted bookings share an instant.
      for (const i of accepted) for (const j of accepted) if (i < j) expect(clash(occ[i], occ[j]), `round ${round}: ${i} and ${j} both accepted`).toBe(false);
      // Each declined booking clashes with an accepted one (nothing declined for no reason).
      for (let i = 0; i < plan.length; i++) if (answers[i] === 'DECLINED') expect(accepted.some((j) => clash(occ[i], occ[j])), `round ${round}: ${i} declined without a clash`).toBe(true);
      // Fedor's series clashes with nobody.
      expect(answers[5]).toBe('ACCEPTED');
      // The organizers see the room's answers.
      for (const [i, m] of made.entries()) {
        await eventually(async () => {
          const r = (await organizers[plan[i].who].api.get(`/events/${m.id}`)).json();
          return r.event.attendees.find((x: { email: string }) => x.email === 'room8@example.com').partstat === answers[i];
        }, 15_000, `answer ${i} at its organizer`);
      }
    }
  });
});

describe('editing leases', () => {
  it('acquire, conflict names the holder, renew, release, expiry, organizer force', async () => {
    const e = await create(anna, ev('Leased', '2032-05-01T10:00:00', '2032-05-01T11:00:00'));
    const l1 = await boris.api.post(`/events/${e.id}/lease`);
    expect(l1.statusCode, l1.body).toBe(200);
    expect(l1.json().holderName).toBe('Boris');
    // Anna sees who edits, her lease and save are refused.
    expect((await anna.api.get(`/events/${e.id}`)).json().lease).toMatchObject({ holderName: 'Boris' });
    const l2 = await anna.api.post(`/events/${e.id}/lease`);
    expect(l2.statusCode).toBe(423);
    expect(l2.json()).toMatchObject({ error: 'LEASE_HELD', details: { holderName: 'Boris' } });
    const save = await anna.api.patch(`/events/${e.id}`, { event: { summary: 'Anna edit' } });
    expect(save.statusCode).toBe(423);
    expect(save.json().details.holderName).toBe('Boris');
    expect((await anna.api.del(`/events/${e.id}`)).statusCode).toBe(423);
    // Renew extends.
    await new Promise((r) => setTimeout(r, 20));
    const renew = await boris.api.post(`/events/${e.id}/lease`);
    expect(renew.statusCode).toBe(200);
    expect(Date.parse(renew.json().expiresAt)).toBeGreaterThan(Date.parse(l1.json().expiresAt));
    // Releasing someone else's lease does nothing.
    expect((await anna.api.del(`/events/${e.id}/lease`)).statusCode).toBe(204);
    expect((await anna.api.post(`/events/${e.id}/lease`)).statusCode).toBe(423);
    // Release, then Anna can take it.
    expect((await boris.api.del(`/events/${e.id}/lease`)).statusCode).toBe(204);
    expect((await anna.api.post(`/events/${e.id}/lease`)).statusCode).toBe(200);
    // Saving releases one's own lease.
    expect((await anna.api.patch(`/events/${e.id}`, { event: { summary: 'Saved' } })).statusCode).toBe(200);
    expect((await anna.api.get(`/events/${e.id}`)).json().lease).toBeNull();
    // Expiry.
    expect((await boris.api.post(`/events/${e.id}/lease`)).statusCode).toBe(200);
    await env.ctx.db.updateTable('edit_lease').set({ expires_at: new Date(Date.now() - 1000) }).where('uid', '=', e.uid).execute();
    expect((await anna.api.get(`/events/${e.id}`)).json().lease).toBeNull();
    expect((await anna.api.patch(`/events/${e.id}`, { event: { summary: 'After expiry' } })).statusCode).toBe(200);
    // Organizer force.
    const m = await create(anna, ev('Meeting', '2032-05-02T10:00:00', '2032-05-02T11:00:00', { attendees: [{ email: 'carl@example.com' }] }));
    expect((await boris.api.post(`/events/${m.id}/lease`)).statusCode).toBe(200);
    expect((await anna.api.patch(`/events/${m.id}`, { event: { summary: 'Forced' } })).statusCode).toBe(423);
    const forced = await anna.api.patch(`/events/${m.id}`, { event: { summary: 'Forced' }, force: true });
    expect(forced.statusCode, forced.body).toBe(200);
    // An attendee cannot force.
    const carlCopy = await eventually(async () => (await carl.api.get('/invitations')).json().items.find((i: { uid: string }) => i.uid === m.uid), 10_000, 'invite');
    const cf = await carl.api.patch(`/events/${carlCopy.id}`, { event: { summary: 'x' }, force: true });
    expect(cf.statusCode).toBe(403);
  });

  it('two users racing for a free lease: exactly one gets it', async () => {
    const e = await create(anna, ev('Race', '2032-05-03T10:00:00', '2032-05-03T11:00:00'));
    const rs = await Promise.all([anna.api.post(`/events/${e.id}/lease`), boris.api.post(`/events/${e.id}/lease`), anna.api.post(`/events/${e.id}/lease`), boris.api.post(`/events/${e.id}/lease`)]);
    const holders = new Set(rs.filter((r) => r.statusCode === 200).map((r) => r.json().holderName));
    expect(holders.size).toBe(1);
    expect(rs.filter((r) => r.statusCode === 423).length).toBeGreaterThanOrEqual(1);
  });
});
