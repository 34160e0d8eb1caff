/**
 * Editing leases cover the organizer's side only, force is the organizer's own, every write takes
 * If-Match with the same conflict details, and "this and following" keeps answers when the times
 * sent are the series' own (audit of the lease / concurrency feature).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, eventually, startTestWorker, type TestEnv } from '../support/harness.js';
import { create, ev, occurrences, user, type TestUser } from './_helpers.js';
import { signToken } from '../../src/domain/auth/secrets.js';
import { respond } from '../../src/app/events/commands.js';
import { saveObject } from '../../src/app/events/write.js';
import { setPartstat } from '../../src/app/events/ical-edits.js';

let env: TestEnv;
let worker: { stop(): Promise<void> };
let anna: TestUser;
let boris: TestUser;
let carl: TestUser;

beforeAll(async () => {
  env = await createTestEnv({ mailDomains: ['example.com'], dataDir: `/tmp/calendula-test-lease-scope-${process.pid}` });
  anna = await user(env, 'anna@example.com', 'Anna');
  boris = await user(env, 'boris@example.com', 'Boris');
  carl = await user(env, 'carl@example.com', 'Carl');
  // Boris may edit Anna's calendar (a delegate).
  await anna.api.put(`/calendars/${anna.cal}/shares`, { email: boris.email, access: 'read-write' });
  worker = await startTestWorker(env, 4);
});
afterAll(async () => {
  await worker.stop();
  await env.close();
});

const invitation = (u: TestUser, uid: string) =>
  eventually(async () => (await u.api.get('/invitations')).json().items.find((i: { uid: string }) => i.uid === uid), 10_000, 'invitation');
const partstatOf = (detail: any, email: string) => detail.event.attendees.find((a: { email: string }) => a.email === email)?.partstat;
const answerLink = (userId: string, objectId: string, p: string) =>
  env.app.inject({ method: 'GET', url: `/api/v1/answer?t=${encodeURIComponent(signToken(env.ctx.secret, 'answer', { u: userId, o: objectId, p }, 3600))}` });

describe('leases cover the organizer side only', () => {
  it('while the organizer holds the lease, the attendee answers by REST, the e-mail link, the bot and a CalDAV PARTSTAT PUT', async () => {
    const m = await create(anna, ev('Leased meeting', '2033-01-10T10:00:00', '2033-01-10T11:00:00', { attendees: [{ email: 'carl@example.com' }] }));
    const copy = await invitation(carl, m.uid);
    expect((await anna.api.post(`/events/${m.id}/lease`)).statusCode).toBe(200);
    // REST respond.
    const r = await carl.api.post(`/events/${copy.id}/respond`, { partstat: 'TENTATIVE' });
    expect(r.statusCode, r.body).toBe(200);
    // The one-click e-mail link says what happened (not "no longer exists").
    const link = await answerLink(carl.id, copy.id, 'ACCEPTED');
    expect(link.statusCode, link.body).toBe(200);
    expect(link.body).toContain('You accepted');
    // The bot.
    const viaBot = await respond(env.ctx, { userId: carl.id, email: carl.email, via: 'bot' }, copy.id, { partstat: 'DECLINED' });
    expect(viaBot.my_partstat).toBe('DECLINED');
    // A CalDAV client changing only PARTSTAT on the attendee's copy.
    const row = await env.ctx.db.selectFrom('calendar_object').selectAll().where('id', '=', copy.id).executeTakeFirstOrThrow();
    const put = await saveObject(env.ctx, { userId: carl.id, email: carl.email, via: 'caldav' }, { ownerId: carl.id, calendarId: row.calendar_id, existingId: row.id, ical: setPartstat(row.ical, carl.email, 'ACCEPTED'), enforceAttendeeRules: true });
    expect(put.row.my_partstat).toBe('ACCEPTED');
    // The answer reached the organizer's copy, and Anna's lease is still hers.
    await eventually(async () => partstatOf((await anna.api.get(`/events/${m.id}`)).json(), 'carl@example.com') === 'ACCEPTED', 10_000, 'reply');
    expect((await anna.api.get(`/events/${m.id}`)).json().lease).toMatchObject({ holderName: 'Anna' });
    // Meanwhile someone else's save of the meeting is still refused.
    expect((await boris.api.patch(`/events/${m.id}`, { event: { summary: 'Boris edit' } })).statusCode).toBe(423);
  });

  it('even when the lease holder may also write the attendee\'s calendar, the answer goes through', async () => {
    const dina = await user(env, 'dina@example.com', 'Dina');
    await dina.api.put(`/calendars/${dina.cal}/shares`, { email: anna.email, access: 'read-write' });
    const m = await create(anna, ev('Assistant', '2033-01-12T10:00:00', '2033-01-12T11:00:00', { attendees: [{ email: 'dina@example.com' }] }));
    const copy = await invitation(dina, m.uid);
    expect((await anna.api.post(`/events/${m.id}/lease`)).statusCode).toBe(200);
    const r = await dina.api.post(`/events/${copy.id}/respond`, { partstat: 'ACCEPTED' });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json().lease).toBeNull();
    const link = await answerLink(dina.id, copy.id, 'DECLINED');
    expect(link.statusCode, link.body).toBe(200);
    // Her own reminders, too.
    expect((await dina.api.patch(`/events/${copy.id}`, { event: { alarms: [{ action: 'DISPLAY', trigger: '-PT10M' }] } })).statusCode).toBe(200);
  });

  it('an attendee cannot take a lease on their copy, so they never block the organizer; their own reminders need none', async () => {
    const m = await create(anna, ev('Not blocked', '2033-01-11T10:00:00', '2033-01-11T11:00:00', { attendees: [{ email: 'carl@example.com' }] }));
    const copy = await invitation(carl, m.uid);
    const l = await carl.api.post(`/events/${copy.id}/lease`);
    expect(l.statusCode).toBe(403);
    expect(l.json()).toMatchObject({ error: 'FORBIDDEN', details: { reason: 'attendee-copy' } });
    const ru = await carl.api.post(`/events/${copy.id}/lease`, {}, { 'accept-language': 'ru' });
    expect(ru.json().message).toMatch(/организатора/);
    // Even a lease row naming the attendee (taken before this rule) does not stop the organizer.
    await env.ctx.db.insertInto('edit_lease').values({ uid: m.uid, holder_id: carl.id, holder_name: 'Carl', expires_at: new Date(Date.now() + 60_000) }).execute();
    expect((await anna.api.patch(`/events/${m.id}`, { event: { summary: 'Organizer saves' } })).statusCode).toBe(200);
    await env.ctx.db.deleteFrom('edit_lease').where('uid', '=', m.uid).execute();
    // The organizer (and a delegate) editing does not stop the attendee's personal edits.
    expect((await boris.api.post(`/events/${m.id}/lease`)).statusCode).toBe(200);
    const own = await carl.api.patch(`/events/${copy.id}`, { event: { alarms: [{ action: 'DISPLAY', trigger: '-PT5M' }] } });
    expect(own.statusCode, own.body).toBe(200);
    // Deleting one's own copy (declining) is not blocked either.
    expect((await carl.api.del(`/events/${copy.id}`)).statusCode).toBe(204);
  });
});

describe('force is the organizer\'s own', () => {
  it('attendee and delegate force refused on PATCH and DELETE with FORCE_NOT_ALLOWED; the organizer forces', async () => {
    const m = await create(anna, ev('Force', '2033-02-01T10:00:00', '2033-02-01T11:00:00', { attendees: [{ email: 'carl@example.com' }] }));
    const copy = await invitation(carl, m.uid);
    // Attendee, on their copy.
    const ap = await carl.api.patch(`/events/${copy.id}`, { event: { alarms: [] }, force: true });
    expect(ap.statusCode).toBe(403);
    expect(ap.json().error).toBe('FORCE_NOT_ALLOWED');
    const ad = await carl.api.del(`/events/${copy.id}?force=true`);
    expect(ad.statusCode).toBe(403);
    expect(ad.json().error).toBe('FORCE_NOT_ALLOWED');
    expect((await carl.api.get(`/events/${copy.id}`)).statusCode).toBe(200);
    // Delegate, on the organizer's copy while the organizer holds the lease.
    expect((await anna.api.post(`/events/${m.id}/lease`)).statusCode).toBe(200);
    const dp = await boris.api.patch(`/events/${m.id}`, { event: { summary: 'Delegate forced' }, force: true });
    expect(dp.statusCode).toBe(403);
    expect(dp.json().error).toBe('FORCE_NOT_ALLOWED');
    const dd = await boris.api.del(`/events/${m.id}?force=true`);
    expect(dd.statusCode).toBe(403);
    expect(dd.json().error).toBe('FORCE_NOT_ALLOWED');
    const ru = await boris.api.del(`/events/${m.id}?force=true`, { 'accept-language': 'ru' });
    expect(ru.json().message).toMatch(/только организатор/);
    const still = (await anna.api.get(`/events/${m.id}`)).json();
    expect(still.event.summary).toBe('Force');
    expect(still.deletedAt).toBeNull();
    // Without force the delegate is told who edits.
    expect((await boris.api.del(`/events/${m.id}`)).statusCode).toBe(423);
    // The organizer forces past the delegate's lease, on update and delete.
    await anna.api.del(`/events/${m.id}/lease`);
    expect((await boris.api.post(`/events/${m.id}/lease`)).statusCode).toBe(200);
    expect((await anna.api.patch(`/events/${m.id}`, { event: { summary: 'Forced' }, force: true })).statusCode).toBe(200);
    expect((await boris.api.post(`/events/${m.id}/lease`)).statusCode).toBe(200);
    expect((await anna.api.del(`/events/${m.id}`)).statusCode).toBe(423);
    expect((await anna.api.del(`/events/${m.id}?force=true`)).statusCode).toBe(204);
  });
});

describe('If-Match on every write', () => {
  const stale = (r: { statusCode: number; json(): any; body: string }, who: string) => {
    expect(r.statusCode, r.body).toBe(412);
    expect(r.json().error).toBe('ETAG_MISMATCH');
    expect(r.json().details.changedBy).toBe(who);
    expect(Date.parse(r.json().details.changedAt)).toBeGreaterThan(0);
    expect(typeof r.json().details.etag).toBe('string');
  };

  it('respond', async () => {
    const m = await create(anna, ev('Respond etag', '2033-03-01T10:00:00', '2033-03-01T11:00:00', { attendees: [{ email: 'carl@example.com' }] }));
    const copy = await invitation(carl, m.uid);
    const read = (await carl.api.get(`/events/${copy.id}`)).json().etag;
    expect((await carl.api.post(`/events/${copy.id}/respond`, { partstat: 'ACCEPTED' }, { 'if-match': `"${read}"` })).statusCode).toBe(200);
    stale(await carl.api.post(`/events/${copy.id}/respond`, { partstat: 'DECLINED' }, { 'if-match': `"${read}"` }), 'Carl');
    expect((await carl.api.get(`/events/${copy.id}`)).json().myPartstat).toBe('ACCEPTED');
  });

  it('move', async () => {
    const other = (await anna.api.post('/calendars', { name: 'Second' })).json().id as string;
    const e = await create(anna, ev('Move etag', '2033-03-02T10:00:00', '2033-03-02T11:00:00'));
    expect((await anna.api.patch(`/events/${e.id}`, { event: { summary: 'Changed' } })).statusCode).toBe(200);
    stale(await anna.api.post(`/events/${e.id}/move`, { calendarId: other }, { 'if-match': `"${e.etag}"` }), 'Anna');
    expect((await anna.api.get(`/events/${e.id}`)).json().calendarId).toBe(anna.cal);
    const fresh = (await anna.api.get(`/events/${e.id}`)).json().etag;
    const ok = await anna.api.post(`/events/${e.id}/move`, { calendarId: other }, { 'if-match': `"${fresh}"` });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json().calendarId).toBe(other);
  });

  it('restore', async () => {
    const e = await create(anna, ev('Restore etag', '2033-03-03T10:00:00', '2033-03-03T11:00:00'));
    const changed = await boris.api.patch(`/events/${e.id}`, { event: { summary: 'Boris changed' } });
    expect(changed.statusCode).toBe(200);
    expect((await anna.api.del(`/events/${e.id}`)).statusCode).toBe(204);
    stale(await anna.api.post(`/events/${e.id}/restore`, {}, { 'if-match': `"${e.etag}"` }), 'Boris');
    const ok = await anna.api.post(`/events/${e.id}/restore`, {}, { 'if-match': `"${changed.json().etag}"` });
    expect(ok.statusCode, ok.body).toBe(200);
  });

  it('DELETE of the whole event', async () => {
    const e = await create(anna, ev('Delete etag', '2033-03-04T10:00:00', '2033-03-04T11:00:00'));
    expect((await boris.api.patch(`/events/${e.id}`, { event: { summary: 'Boris changed' } })).statusCode).toBe(200);
    stale(await anna.api.del(`/events/${e.id}`, { 'if-match': `"${e.etag}"` }), 'Boris');
    expect((await anna.api.get(`/events/${e.id}`)).json().deletedAt).toBeNull();
  });

  it('the OpenAPI document declares If-Match on every event write', async () => {
    const doc = (await env.app.inject({ method: 'GET', url: '/api/openapi.json' }));
    expect(doc.statusCode).toBe(200);
    const paths = doc.json().paths as Record<string, Record<string, { parameters?: { in: string; name: string }[] }>>;
    const has = (p: string, m: string) => !!paths[p]?.[m]?.parameters?.some((x) => x.in === 'header' && x.name.toLowerCase() === 'if-match');
    for (const [p, m] of [['/api/v1/events/{id}', 'patch'], ['/api/v1/events/{id}', 'delete'], ['/api/v1/events/{id}/respond', 'post'], ['/api/v1/events/{id}/move', 'post'], ['/api/v1/events/{id}/restore', 'post']]) {
      expect(has(p, m), `${m} ${p}`).toBe(true);
    }
  });
});

describe('"this and following" with unchanged times', () => {
  it('a rename sending the occurrence\'s own start and end (as the web editor does) keeps every answer', async () => {
    const s = await create(anna, ev('Weekly', '2033-04-04T10:00:00', '2033-04-04T11:00:00', { rrule: 'FREQ=WEEKLY;COUNT=6', attendees: [{ email: 'carl@example.com' }] }));
    const copy = await invitation(carl, s.uid);
    expect((await carl.api.post(`/events/${copy.id}/respond`, { partstat: 'ACCEPTED' })).statusCode).toBe(200);
    await eventually(async () => partstatOf((await anna.api.get(`/events/${s.id}`)).json(), 'carl@example.com') === 'ACCEPTED', 10_000, 'reply');
    const occ = (await occurrences(anna, '2033-04-01T00:00:00Z', '2033-06-01T00:00:00Z')).filter((o) => o.id === s.id);
    expect(occ).toHaveLength(6);
    const sp = await anna.api.patch(`/events/${s.id}`, {
      event: { summary: 'Weekly renamed', start: '2033-04-18T10:00', end: '2033-04-18T11:00:00', timezone: 'UTC', allDay: false, rrule: 'FREQ=WEEKLY;COUNT=6' },
      scope: 'following', recurrenceId: occ[2].recurrenceId,
    });
    expect(sp.statusCode, sp.body).toBe(200);
    const ns = sp.json();
    expect(ns.id).not.toBe(s.id);
    expect(partstatOf(ns, 'carl@example.com')).toBe('ACCEPTED');
    // The rule sent equal to the series' one keeps the split's own count (4 left, not 6 more).
    const after = await occurrences(anna, '2033-04-01T00:00:00Z', '2033-07-01T00:00:00Z');
    expect(after.filter((o) => o.id === s.id)).toHaveLength(2);
    expect(after.filter((o) => o.id === ns.id)).toHaveLength(4);
    // Carl's copy of the new series keeps his answer: not a fresh invitation waiting for one.
    await eventually(async () => {
      const c = await env.ctx.db.selectFrom('calendar_object').select(['my_partstat', 'summary']).where('owner_id', '=', carl.id).where('uid', '=', ns.uid).executeTakeFirst();
      return c?.summary === 'Weekly renamed' && c.my_partstat === 'ACCEPTED';
    }, 10_000, "Carl's copy of the new series");
    expect((await carl.api.get('/invitations')).json().items.some((i: { uid: string }) => i.uid === ns.uid)).toBe(false);
    // Times that do differ still reset the answers.
    const occ2 = after.filter((o) => o.id === ns.id);
    const moved = await anna.api.patch(`/events/${ns.id}`, { event: { summary: 'Weekly renamed', start: '2033-04-25T12:00:00', end: '2033-04-25T13:00:00' }, scope: 'following', recurrenceId: occ2[1].recurrenceId });
    expect(moved.statusCode, moved.body).toBe(200);
    expect(partstatOf(moved.json(), 'carl@example.com')).toBe('NEEDS-ACTION');
  });
});

describe('the e-mail answer link says what went wrong', () => {
  it('cancelled, deleted, organizer, not invited', async () => {
    const m = await create(anna, ev('Link cases', '2033-05-01T10:00:00', '2033-05-01T11:00:00', { attendees: [{ email: 'carl@example.com' }] }));
    const copy = await invitation(carl, m.uid);
    // The organizer's own copy.
    const own = await answerLink(anna.id, m.id, 'ACCEPTED');
    expect(own.statusCode).toBe(409);
    expect(own.body).toContain('You organise this event');
    // Cancelled by the organizer: Carl's copy stays, cancelled.
    expect((await anna.api.del(`/events/${m.id}`)).statusCode).toBe(204);
    await eventually(async () => (await env.ctx.db.selectFrom('calendar_object').select('status').where('id', '=', copy.id).executeTakeFirst())?.status === 'CANCELLED', 10_000, 'cancel');
    const cancelled = await answerLink(carl.id, copy.id, 'ACCEPTED');
    expect(cancelled.statusCode).toBe(409);
    expect(cancelled.body).toContain('This event was cancelled.');
    // Deleted copy.
    expect((await carl.api.del(`/events/${copy.id}`)).statusCode).toBe(204);
    const gone = await answerLink(carl.id, copy.id, 'ACCEPTED');
    expect(gone.statusCode).toBe(404);
    expect(gone.body).toContain('This event no longer exists.');
    // Removed from the attendees: the copy stays as a private event.
    const p = await create(anna, ev('Uninvited', '2033-05-02T10:00:00', '2033-05-02T11:00:00', { attendees: [{ email: 'carl@example.com' }] }));
    const pc = await invitation(carl, p.uid);
    await env.ctx.db.updateTable('calendar_object').set({ role: 'none' }).where('id', '=', pc.id).execute();
    const notInvited = await answerLink(carl.id, pc.id, 'ACCEPTED');
    expect(notInvited.statusCode).toBe(409);
    expect(notInvited.body).toContain('no longer invited');
    // Russian for a Russian-speaking user.
    await env.ctx.db.updateTable('principal').set({ language: 'ru' }).where('id', '=', carl.id).execute();
    const ru = await answerLink(carl.id, pc.id, 'ACCEPTED');
    expect(ru.body).toContain('больше не приглашены');
  });
});
