/** Free/busy, find-a-time (issue 3 §6) and attachments (§7). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, eventually, makeUser, startTestWorker, type TestEnv } from '../support/harness.js';
import { create, ev, user, type TestUser } from './_helpers.js';
import * as principals from '../../src/store/principals.js';
import { collectGarbage, signedAttachmentUrl } from '../../src/app/attachments.js';
import { signToken } from '../../src/domain/auth/secrets.js';

let env: TestEnv;
let worker: { stop(): Promise<void> };
let anna: TestUser;
let boris: TestUser;
let eve: TestUser;

beforeAll(async () => {
  env = await createTestEnv({ mailDomains: ['example.com'], dataDir: `/tmp/calendula-test-fba-${process.pid}`, attachmentMaxBytes: 64 * 1024, attachmentQuotaBytes: 150 * 1024 });
  anna = await user(env, 'anna@example.com', 'Anna');
  boris = await user(env, 'boris@example.com', 'Boris');
  eve = await user(env, 'eve@example.com', 'Eve');
  await makeUser(env.ctx, 'hall@example.com', { name: 'Hall', kind: 'room' });
  await principals.updatePrincipal(env.ctx.db, boris.id, { timezone: 'Europe/Moscow', working_hours: { days: [1, 2, 3, 4, 5], start: '09:00', end: '18:00' } });
  await principals.updatePrincipal(env.ctx.db, anna.id, { timezone: 'Europe/Berlin', working_hours: { days: [1, 2, 3, 4, 5], start: '09:00', end: '17:00' } });
  worker = await startTestWorker(env);
});
afterAll(async () => {
  await worker.stop();
  await env.close();
});

const busyOf = async (who: TestUser, email: string, from: string, to: string) => {
  const r = await who.api.post('/freebusy', { attendees: [email], from, to });
  expect(r.statusCode, r.body).toBe(200);
  return r.json().items[0];
};

describe('free/busy', () => {
  it('honours TRANSP, cancelled, declined, tentative, all-day, recurrences with exceptions, time zones', async () => {
    const D = '2033-01-10'; // a Monday
    await create(boris, ev('Opaque', `${D}T10:00:00`, `${D}T11:00:00`, { timezone: 'Europe/Moscow' })); // 07:00–08:00Z
    await create(boris, ev('Transparent', `${D}T12:00:00`, `${D}T13:00:00`, { transparency: 'TRANSPARENT' }));
    await create(boris, ev('Cancelled', `${D}T14:00:00`, `${D}T15:00:00`, { status: 'CANCELLED' }));
    await create(boris, ev('Tentative', `${D}T16:00:00`, `${D}T17:00:00`, { status: 'TENTATIVE' }));
    await create(boris, { summary: 'Offsite', start: '2033-01-11', end: '2033-01-12', allDay: true });
    const s = await create(boris, ev('Daily', '2033-01-12T09:00:00', '2033-01-12T09:30:00', { rrule: 'FREQ=DAILY;COUNT=3' }));
    // Exceptions: second occurrence moved, third removed.
    const occ = (await boris.api.get(`/events?from=2033-01-12T00:00:00Z&to=2033-01-15T00:00:00Z`)).json().items.filter((o: { id: string }) => o.id === s.id);
    expect((await boris.api.patch(`/events/${s.id}`, { event: { start: '2033-01-13T15:00:00', end: '2033-01-13T15:30:00' }, scope: 'this', recurrenceId: occ[1].recurrenceId })).statusCode).toBe(200);
    expect((await boris.api.del(`/events/${s.id}?scope=this&recurrenceId=${encodeURIComponent(occ[2].recurrenceId)}`)).statusCode).toBe(204);
    // Declined invitation.
    const inv = await create(anna, ev('Declined by Boris', `${D}T18:00:00`, `${D}T19:00:00`, { attendees: [{ email: boris.email }] }));
    const bc = await eventually(async () => (await boris.api.get('/invitations')).json().items.find((i: { uid: string }) => i.uid === inv.uid), 10_000, 'invite');
    await boris.api.post(`/events/${bc.id}/respond`, { partstat: 'DECLINED' });
    const item = await busyOf(anna, boris.email, '2033-01-10T00:00:00Z', '2033-01-15T00:00:00Z');
    expect(item).toMatchObject({ email: boris.email, timezone: 'Europe/Moscow', workingHours: { start: '09:00' } });
    const all = item.busy.map((b: { start: string; end: string; type: string }) => `${b.start}/${b.end}/${b.type}`);
    expect(all).toEqual([
      '2033-01-10T07:00:00.000Z/2033-01-10T08:00:00.000Z/BUSY',
      '2033-01-10T16:00:00.000Z/2033-01-10T17:00:00.000Z/BUSY-TENTATIVE',
      // The all-day 11 January is midnight to midnight in Boris's zone (Moscow, UTC+3).
      '2033-01-10T21:00:00.000Z/2033-01-11T21:00:00.000Z/BUSY',
      '2033-01-12T09:00:00.000Z/2033-01-12T09:30:00.000Z/BUSY',
      '2033-01-13T15:00:00.000Z/2033-01-13T15:30:00.000Z/BUSY',
    ]);
    expect(JSON.stringify(item)).not.toMatch(/Opaque|Daily|Offsite/);
    // Unknown and group addresses are flagged, not errors.
    const r = (await anna.api.post('/freebusy', { attendees: ['ghost@example.com', 'x@partner.org'], from: '2033-01-10T00:00:00Z', to: '2033-01-11T00:00:00Z' })).json().items;
    expect(r.map((x: { error?: string }) => x.error)).toEqual(['UNKNOWN', 'UNKNOWN']);
  });

  it('a series: an occurrence the attendee declined is free, the others busy; a later answer replaces the memoised busy time', async () => {
    // RFC 5546 §3.2.3: a DECLINED attendee does not block the time; answers per occurrence live in
    // RECURRENCE-ID overrides of the attendee's copy.
    const inv = await create(anna, ev('Weekly sync', '2033-03-07T10:00:00', '2033-03-07T11:00:00', { timezone: 'UTC', rrule: 'FREQ=WEEKLY;COUNT=3', attendees: [{ email: eve.email }] }));
    const copy = await eventually(async () => (await eve.api.get('/invitations')).json().items.find((i: { uid: string }) => i.uid === inv.uid), 10_000, 'invite');
    expect((await eve.api.post(`/events/${copy.id}/respond`, { partstat: 'ACCEPTED' })).statusCode).toBe(200);
    const range = ['2033-03-06T00:00:00Z', '2033-03-28T00:00:00Z'] as const;
    const times = async () => (await busyOf(anna, eve.email, ...range)).busy.map((b: { start: string; type: string }) => `${b.start.slice(0, 16)} ${b.type}`);
    expect(await times()).toEqual(['2033-03-07T10:00 BUSY', '2033-03-14T10:00 BUSY', '2033-03-21T10:00 BUSY']);
    const occ = (await eve.api.get(`/events?from=${range[0]}&to=${range[1]}`)).json().items.filter((o: { id: string }) => o.id === copy.id);
    expect(occ).toHaveLength(3);
    const r = await eve.api.post(`/events/${copy.id}/respond`, { partstat: 'DECLINED', recurrenceId: occ[1].recurrenceId });
    expect(r.statusCode, r.body).toBe(200);
    // Eve's copy may still be rewritten by the organizer's update that her first answer caused
    // (scheduling jobs run in the background), so wait for the state to settle.
    const declined = ['2033-03-07T10:00 BUSY', '2033-03-21T10:00 BUSY'];
    await eventually(async () => (await times()).join() === declined.join(), 10_000, 'the declined occurrence to be free');
    expect((await eve.api.post(`/events/${copy.id}/respond`, { partstat: 'TENTATIVE' })).statusCode).toBe(200);
    // The series answer changes the row (and its etag): the memoised busy time must not stay.
    const myFirst = async () => (await eve.api.get(`/events?from=${range[0]}&to=${range[1]}`)).json().items.find((o: { id: string }) => o.id === copy.id)?.myPartstat;
    await eventually(async () => (await myFirst()) === 'TENTATIVE' && (await times())[0] === '2033-03-07T10:00 BUSY-TENTATIVE', 10_000, 'the series answer to show in free/busy');
  });

  it('find-a-time: first free slots within everyone’s working hours and a free room', async () => {
    const D = '2033-02-07'; // Monday
    // Anna (Berlin 09–17 = 08–16Z), Boris (Moscow 09–18 = 06–15Z): common 08:00–15:00Z.
    await create(anna, ev('A busy', `${D}T09:00:00`, `${D}T11:00:00`, { timezone: 'Europe/Berlin' })); // 08–10Z
    await create(boris, ev('B busy', `${D}T13:00:00`, `${D}T14:00:00`, { timezone: 'Europe/Moscow' })); // 10–11Z
    const r = await anna.api.post('/find-time', { attendees: [boris.email], durationMinutes: 60, from: `${D}T00:00:00Z`, to: '2033-02-09T00:00:00Z', count: 3 });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json().slots.map((s: { start: string }) => s.start)).toEqual(['2033-02-07T11:00:00.000Z', '2033-02-07T12:00:00.000Z', '2033-02-07T13:00:00.000Z']);
    // The room is busy 11–13Z.
    await create(anna, ev('Hall booked', `${D}T11:00:00`, `${D}T13:00:00`, { attendees: [{ email: 'hall@example.com' }] }));
    await eventually(async () => (await env.ctx.db.selectFrom('calendar_object').select('id').where('owner_id', '=', (await principals.findPrincipalByEmail(env.ctx.db, 'hall@example.com'))!.id).executeTakeFirst()), 10_000, 'room copy');
    const withRoom = (await anna.api.post('/find-time', { attendees: [boris.email], rooms: ['hall@example.com'], durationMinutes: 60, from: `${D}T00:00:00Z`, to: '2033-02-09T00:00:00Z', count: 2 })).json().slots;
    // Anna's own "Hall booked" blocks 11–13 anyway; first free: 13:00Z, then 14:00Z.
    expect(withRoom.map((s: { start: string; room?: string }) => `${s.start} ${s.room}`)).toEqual(['2033-02-07T13:00:00.000Z hall@example.com', '2033-02-07T14:00:00.000Z hall@example.com']);
    // Weekends are outside working hours.
    const weekend = (await anna.api.post('/find-time', { attendees: [boris.email], durationMinutes: 30, from: '2033-02-12T00:00:00Z', to: '2033-02-14T00:00:00Z' })).json().slots;
    expect(weekend).toEqual([]);
    expect((await anna.api.post('/find-time', { attendees: [], durationMinutes: 1, from: `${D}T00:00:00Z`, to: '2033-02-09T00:00:00Z' })).statusCode).toBe(400);
  });

  it("find-a-time: the room's own bookings (by someone else) block it; a group counts as its members", async () => {
    const D = '2033-03-07'; // Monday; Anna 08–16Z, Boris 06–15Z
    await makeUser(env.ctx, 'attic@example.com', { name: 'Attic', kind: 'room' });
    // Eve (not asked) books the attic 08–12Z; nobody asked is busy then.
    await create(eve, ev('Eve in the attic', `${D}T08:00:00`, `${D}T12:00:00`, { attendees: [{ email: 'attic@example.com' }] }));
    const attic = (await principals.findPrincipalByEmail(env.ctx.db, 'attic@example.com'))!;
    await eventually(async () => env.ctx.db.selectFrom('calendar_object').select('id').where('owner_id', '=', attic.id).where('my_partstat', '=', 'ACCEPTED').executeTakeFirst(), 10_000, 'attic booked');
    const slots = (await anna.api.post('/find-time', { attendees: [boris.email], rooms: ['attic@example.com'], durationMinutes: 60, from: `${D}T00:00:00Z`, to: '2033-03-08T00:00:00Z', count: 2 })).json().slots;
    expect(slots.map((s: { start: string }) => s.start)).toEqual(['2033-03-07T12:00:00.000Z', '2033-03-07T13:00:00.000Z']);
    // Without the room the morning is free.
    const noRoom = (await anna.api.post('/find-time', { attendees: [boris.email], durationMinutes: 60, from: `${D}T00:00:00Z`, to: '2033-03-08T00:00:00Z', count: 1 })).json().slots;
    expect(noRoom[0].start).toBe('2033-03-07T08:00:00.000Z');
    // A group of Boris and Eve: Boris busy 08–10Z (Moscow 11–13), Eve 08–12Z (the attic) and 10–11Z.
    const team = await makeUser(env.ctx, 'fteam@example.com', { kind: 'group', name: 'F team' });
    await principals.setGroupMembers(env.ctx.db, team.id, [boris.id, eve.id]);
    await create(boris, ev('B', `${D}T11:00:00`, `${D}T13:00:00`, { timezone: 'Europe/Moscow' }));
    await create(eve, ev('E', `${D}T10:00:00`, `${D}T11:00:00`));
    const group = (await anna.api.post('/find-time', { attendees: ['fteam@example.com'], durationMinutes: 60, from: `${D}T00:00:00Z`, to: '2033-03-08T00:00:00Z', count: 1 })).json().slots;
    // Eve is also in the attic 08–12Z (her own booking): the first hour free for all is 12:00Z.
    expect(group[0].start).toBe('2033-03-07T12:00:00.000Z');
  });
});

describe('attachments', () => {
  const upload = (u: TestUser, name: string, size: number, type = 'application/pdf') => {
    const boundary = '----calendula' + Math.random().toString(16).slice(2);
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: ${type}\r\n\r\n`),
      Buffer.alloc(size, 0x61),
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    return env.app.inject({ method: 'POST', url: '/api/v1/attachments', headers: { ...u.h, 'content-type': `multipart/form-data; boundary=${boundary}` }, payload: body });
  };

  it('upload, link into an event, participants download, others 404, signed links, size limit, quota, GC', async () => {
    const up = await upload(anna, 'agenda.pdf', 10_000);
    expect(up.statusCode, up.body).toBe(201);
    const att = up.json();
    expect(att).toMatchObject({ filename: 'agenda.pdf', size: 10_000, contentType: 'application/pdf' });
    // Before linking: only the uploader.
    expect((await anna.api.get(`/attachments/${att.id}`)).statusCode).toBe(200);
    expect((await boris.api.get(`/attachments/${att.id}`)).statusCode).toBe(404);
    // Boris cannot link Anna's upload into his own event.
    expect((await boris.api.post('/events', { calendarId: boris.cal, event: ev('steal', '2033-03-01T10:00', '2033-03-01T11:00', { attachments: [{ id: att.id }] }) })).statusCode).toBe(400);
    const e = await create(anna, ev('With file', '2033-03-01T10:00:00', '2033-03-01T11:00:00', { attendees: [{ email: boris.email }], attachments: [{ id: att.id }] }));
    expect(e.event.attachments).toMatchObject([{ id: att.id, filename: 'agenda.pdf', size: 10_000 }]);
    const ics = (await anna.api.get(`/events/${e.id}`, { accept: 'text/calendar' })).body.replace(/\r?\n[ \t]/g, '');
    expect(ics).toMatch(/ATTACH;[^\n]*FMTTYPE=application\/pdf/);
    expect(ics).toMatch(/ATTACH;[^\n]*FILENAME=agenda\.pdf/);
    expect(ics).toMatch(/ATTACH;[^\n]*SIZE=10000/);
    // Boris, a participant, can download once his copy arrived; Eve cannot.
    await eventually(async () => (await boris.api.get(`/attachments/${att.id}`)).statusCode === 200, 10_000, 'participant download');
    const dl = await boris.api.get(`/attachments/${att.id}`);
    expect(dl.body.length).toBe(10_000);
    expect(dl.headers['content-disposition']).toMatch(/agenda\.pdf/);
    expect((await eve.api.get(`/attachments/${att.id}`)).statusCode).toBe(404);
    expect((await eve.api.del(`/attachments/${att.id}`)).statusCode).toBe(404);
    // Signed link for externals.
    const url = new URL(signedAttachmentUrl(env.ctx, att.id));
    const ok = await env.app.inject({ method: 'GET', url: `${url.pathname}${url.search}` });
    expect(ok.statusCode).toBe(200);
    expect(ok.body.length).toBe(10_000);
    const t = url.searchParams.get('t')!;
    const tampered = t.slice(0, -2) + (t.endsWith('A') ? 'BB' : 'AA');
    expect((await env.app.inject({ method: 'GET', url: `/files/${att.id}?t=${tampered}` })).statusCode).toBe(403);
    const expired = signToken(env.ctx.secret, 'attachment', { id: att.id }, 60, Date.now() - 3600_000);
    expect((await env.app.inject({ method: 'GET', url: `/files/${att.id}?t=${expired}` })).statusCode).toBe(403);
    const other = await upload(anna, 'other.txt', 10, 'text/plain');
    expect((await env.app.inject({ method: 'GET', url: `/files/${other.json().id}?t=${t}` })).statusCode).toBe(403);
    // In use: cannot delete; an unused one is deleted (blob and row); size limit; quota.
    expect((await anna.api.del(`/attachments/${att.id}`)).statusCode).toBe(409);
    const spare = (await upload(anna, 'spare.txt', 100, 'text/plain')).json();
    expect((await anna.api.get(`/attachments/${spare.id}`)).statusCode).toBe(200);
    expect((await boris.api.del(`/attachments/${spare.id}`)).statusCode).toBe(404);
    expect((await anna.api.del(`/attachments/${spare.id}`)).statusCode).toBe(204);
    expect((await anna.api.get(`/attachments/${spare.id}`)).statusCode).toBe(404);
    expect(await env.ctx.db.selectFrom('attachment').select('id').where('owner_id', '=', anna.id).where('id', '=', spare.id).executeTakeFirst()).toBeUndefined();
    expect((await anna.api.del(`/attachments/${spare.id}`)).statusCode).toBe(404);
    const big = await upload(anna, 'big.bin', 65 * 1024);
    expect(big.statusCode).toBe(413);
    expect(big.json().error).toBe('TOO_LARGE');
    expect((await upload(anna, 'q1.bin', 60 * 1024)).statusCode).toBe(201);
    expect((await upload(anna, 'q2.bin', 60 * 1024)).statusCode).toBe(201);
    const over = await upload(anna, 'q3.bin', 60 * 1024);
    expect(over.statusCode).toBe(413);
    expect(over.json().error).toBe('QUOTA_EXCEEDED');
    // GC: unreferenced attachments go after the grace period; referenced ones stay.
    expect((await anna.api.patch(`/events/${e.id}`, { event: { attachments: [] } })).statusCode).toBe(200);
    expect(await collectGarbage(env.ctx, 24 * 3600_000)).toBe(0);
    // Boris's copy still references it until his copy is updated.
    await eventually(async () => !(await env.ctx.db.selectFrom('attachment_use').select('object_id').where('attachment_id', '=', att.id).executeTakeFirst()), 10_000, 'no more uses');
    await env.ctx.db.updateTable('attachment').set({ created_at: new Date(Date.now() - 2 * 86400_000) }).where('owner_id', '=', anna.id).execute();
    expect(await collectGarbage(env.ctx)).toBeGreaterThanOrEqual(4);
    expect((await anna.api.get(`/attachments/${att.id}`)).statusCode).toBe(404);
    expect(await env.ctx.db.selectFrom('attachment').select('id').where('owner_id', '=', anna.id).execute()).toEqual([]);
  });
});
