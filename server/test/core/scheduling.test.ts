import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, makeUser, signInHeaders, startTestWorker, eventually, type TestEnv } from '../support/harness.js';

let env: TestEnv;
let worker: { stop(): Promise<void> };
let anna: Record<string, string>;
let boris: Record<string, string>;
let annaCal: string;

beforeAll(async () => {
  env = await createTestEnv({ mailDomains: ['example.com'], dataDir: `/tmp/calendula-test-${process.pid}` });
  await makeUser(env.ctx, 'anna@example.com', { name: 'Anna' });
  await makeUser(env.ctx, 'boris@example.com', { name: 'Boris' });
  await makeUser(env.ctx, 'room1@example.com', { name: 'Room 1', kind: 'room' });
  worker = await startTestWorker(env);
  anna = await signInHeaders(env.app, 'anna@example.com');
  boris = await signInHeaders(env.app, 'boris@example.com');
  annaCal = (await env.app.inject({ method: 'GET', url: '/api/v1/calendars', headers: anna })).json().items[0].id;
});
afterAll(async () => {
  await worker.stop();
  await env.close();
});

describe('implicit scheduling', () => {
  it('delivers an invitation to an internal attendee and a room, and the answer back', async () => {
    const res = await env.app.inject({
      method: 'POST', url: '/api/v1/events', headers: anna,
      payload: { calendarId: annaCal, event: { summary: 'Planning', start: '2030-03-04T10:00:00', end: '2030-03-04T11:00:00', timezone: 'Europe/Moscow', attendees: [{ email: 'boris@example.com' }, { email: 'room1@example.com' }, { email: 'ext@partner.org' }] } },
    });
    expect(res.statusCode, res.body).toBe(201);
    const ev = res.json();
    expect(ev.isOrganizer).toBe(true);
    const invite = await eventually(async () => {
      const r = await env.app.inject({ method: 'GET', url: '/api/v1/invitations', headers: boris });
      return r.json().items.find((i: { uid: string }) => i.uid === ev.uid);
    }, 10_000, 'invitation for Boris');
    expect(invite.myPartstat).toBe('NEEDS-ACTION');
    // The room accepted by itself (it was free).
    await eventually(async () => {
      const r = await env.app.inject({ method: 'GET', url: `/api/v1/events/${ev.id}`, headers: anna });
      const room = r.json().event.attendees.find((a: { email: string }) => a.email === 'room1@example.com');
      return room.partstat === 'ACCEPTED';
    }, 10_000, 'room acceptance');
    const ans = await env.app.inject({ method: 'POST', url: `/api/v1/events/${invite.id}/respond`, headers: boris, payload: { partstat: 'ACCEPTED' } });
    expect(ans.statusCode, ans.body).toBe(200);
    await eventually(async () => {
      const r = await env.app.inject({ method: 'GET', url: `/api/v1/events/${ev.id}`, headers: anna });
      return r.json().event.attendees.find((a: { email: string }) => a.email === 'boris@example.com').partstat === 'ACCEPTED';
    }, 10_000, 'answer in the organizer copy');
  });

  it('lists occurrences in a range and refuses strangers', async () => {
    const r = await env.app.inject({ method: 'GET', url: '/api/v1/events?from=2030-03-01T00:00:00Z&to=2030-03-08T00:00:00Z', headers: anna });
    expect(r.statusCode).toBe(200);
    expect(r.json().items.length).toBeGreaterThan(0);
    const id = r.json().items[0].id;
    await makeUser(env.ctx, 'eve@example.com');
    const eve = await signInHeaders(env.app, 'eve@example.com');
    expect((await env.app.inject({ method: 'GET', url: `/api/v1/events/${id}`, headers: eve })).statusCode).toBe(404);
    expect((await env.app.inject({ method: 'PATCH', url: `/api/v1/events/${id}`, headers: eve, payload: { event: { summary: 'x' } } })).statusCode).toBe(404);
  });
});
