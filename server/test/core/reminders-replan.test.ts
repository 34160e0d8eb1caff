/**
 * Reminders move with the settings they were planned from: a floating event (RFC 5545 §3.3.5) and
 * an all-day event (§3.3.4) happen at their wall time in the owner's zone, so changing one's zone
 * (PATCH /settings, or an admin's PATCH of the user) re-plans their reminders at once, and new
 * default reminders of a calendar (PATCH /calendars/:id) re-plan its events without own VALARMs —
 * also when the new reminder is earlier than the planned one, which a check at firing time alone
 * would miss. Events in a named zone and events with their own VALARMs keep their plan; a plan
 * made from an older version of an event never overwrites a newer write's.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, makeUser, signInHeaders, type TestEnv } from '../support/harness.js';
import { create, jobs, user, type TestUser } from './_helpers.js';
import { saveObject } from '../../src/app/events/write.js';
import { findReminder, replaceRemindersIfCurrent } from '../../src/store/reminders.js';
import { replanReminders } from '../../src/app/events/reminders-replan.js';

let env: TestEnv;
let ira: TestUser;
const DAY = 86_400_000;
const D = Math.floor(Date.now() / DAY) * DAY + 10 * DAY; // ten days ahead, UTC midnight
const basic = new Date(D).toISOString().slice(0, 10).replace(/-/g, '');
const H = 3_600_000;

async function put(uid: string, body: string, existingId?: string) {
  const ics = `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:${uid}\r\nDTSTAMP:20260101T000000Z\r\n${body}SUMMARY:${uid}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n`;
  const { row } = await saveObject(env.ctx, { userId: ira.id, email: ira.email, via: 'rest' }, { ownerId: ira.id, calendarId: ira.cal, ical: ics, schedule: false, existingId });
  return row;
}
const fireAt = async (id: string) => (await findReminder(env.ctx.db, ira.id, id))?.fire_at.getTime();
/** Runs the queued re-plan jobs the way the worker would, and removes them. */
async function runReplans() {
  const queued = await jobs(env, 'reminders-replan');
  for (const j of queued) await replanReminders(env.ctx, j.payload);
  await sql`delete from graphile_worker._private_jobs where task_id = (select id from graphile_worker._private_tasks where identifier = 'reminders-replan')`.execute(env.ctx.db);
  return queued.length;
}

beforeAll(async () => {
  env = await createTestEnv({ mailDomains: ['example.com'], dataDir: `/tmp/calendula-test-rr-${process.pid}` });
  ira = await user(env, 'ira@example.com', 'Ira');
  await sql`update principal set timezone = 'UTC' where id = ${ira.id}`.execute(env.ctx.db);
  const r = await ira.api.patch(`/calendars/${ira.cal}`, { defaultReminders: [{ minutesBefore: 10, action: 'DISPLAY' }] });
  expect(r.statusCode, r.body).toBe(200);
  await runReplans();
});
afterAll(async () => { await env.close(); });

describe('re-planning reminders', () => {
  it('a zone change moves floating and all-day reminders, not zoned ones nor other users\'', async () => {
    const floating = await put('rr-floating', `DTSTART:${basic}T100000\r\nDTEND:${basic}T110000\r\n`);
    const allDay = await put('rr-allday', `DTSTART;VALUE=DATE:${basic}\r\nDTEND;VALUE=DATE:${basic.slice(0, 6)}${String(Number(basic.slice(6)) + 1).padStart(2, '0')}\r\n`.replace(/DTEND;VALUE=DATE:\d+/, `DTEND;VALUE=DATE:${new Date(D + DAY).toISOString().slice(0, 10).replace(/-/g, '')}`));
    const zoned = await create(ira, { summary: 'Zoned', start: `${new Date(D).toISOString().slice(0, 10)}T10:00:00`, end: `${new Date(D).toISOString().slice(0, 10)}T11:00:00`, timezone: 'Europe/Berlin' });
    expect(await fireAt(floating.id)).toBe(D + 10 * H - 10 * 60_000);
    expect(await fireAt(allDay.id)).toBe(D - 10 * 60_000);
    const zonedBefore = await fireAt(zoned.id);

    const r = await ira.api.patch('/settings', { timezone: 'Asia/Vladivostok' }); // UTC+10 all year
    expect(r.statusCode, r.body).toBe(200);
    expect(await runReplans()).toBe(1);
    expect(await fireAt(floating.id)).toBe(D - 10 * 60_000); // 10:00 in Vladivostok is 00:00 UTC
    expect(await fireAt(allDay.id)).toBe(D - 10 * H - 10 * 60_000);
    expect(await fireAt(zoned.id)).toBe(zonedBefore);

    // The same zone again queues nothing.
    expect((await ira.api.patch('/settings', { timezone: 'Asia/Vladivostok' })).statusCode).toBe(200);
    expect(await runReplans()).toBe(0);
  });

  it('an admin changing the user\'s zone re-plans too', async () => {
    const floating = await put('rr-floating-admin', `DTSTART:${basic}T120000\r\nDTEND:${basic}T130000\r\n`);
    await makeUser(env.ctx, 'root@example.com', { admin: true });
    const r = await env.app.inject({ method: 'PATCH', url: `/api/v1/users/${ira.id}`, headers: await signInHeaders(env.app, 'root@example.com'), payload: { timezone: 'America/New_York' } });
    expect(r.statusCode, r.body).toBe(200);
    await runReplans();
    const ny = Date.parse(`${new Date(D).toISOString().slice(0, 10)}T12:00:00-05:00`);
    expect(await fireAt(floating.id)).toBe(ny - 10 * 60_000);
    await ira.api.patch('/settings', { timezone: 'UTC' });
    await runReplans();
  });

  it('earlier default reminders re-plan events without VALARMs; events with VALARMs keep theirs', async () => {
    const plain = await create(ira, { summary: 'Plain', start: `${new Date(D + DAY).toISOString().slice(0, 10)}T09:00:00`, end: `${new Date(D + DAY).toISOString().slice(0, 10)}T10:00:00`, timezone: 'UTC' });
    const own = await create(ira, { summary: 'Own', start: `${new Date(D + DAY).toISOString().slice(0, 10)}T09:00:00`, end: `${new Date(D + DAY).toISOString().slice(0, 10)}T10:00:00`, timezone: 'UTC', alarms: [{ action: 'DISPLAY', trigger: '-PT5M' }] });
    const start = D + DAY + 9 * H;
    expect(await fireAt(plain.id)).toBe(start - 10 * 60_000);
    expect(await fireAt(own.id)).toBe(start - 5 * 60_000);
    const r = await ira.api.patch(`/calendars/${ira.cal}`, { defaultReminders: [{ minutesBefore: 60, action: 'DISPLAY' }] });
    expect(r.statusCode, r.body).toBe(200);
    expect(await runReplans()).toBe(1);
    expect(await fireAt(plain.id)).toBe(start - 60 * 60_000);
    expect(await fireAt(own.id)).toBe(start - 5 * 60_000);
    // No defaults left: the plain event's reminder goes.
    await ira.api.patch(`/calendars/${ira.cal}`, { defaultReminders: [] });
    await runReplans();
    expect(await fireAt(plain.id)).toBeUndefined();
    // Renaming the calendar queues nothing.
    await ira.api.patch(`/calendars/${ira.cal}`, { name: 'Renamed' });
    expect(await runReplans()).toBe(0);
    await ira.api.patch(`/calendars/${ira.cal}`, { defaultReminders: [{ minutesBefore: 10, action: 'DISPLAY' }] });
    await runReplans();
  });

  it('a plan from an older version of the event is not written over a newer one', async () => {
    const ev = await put('rr-stale', `DTSTART:${basic}T150000\r\nDTEND:${basic}T160000\r\n`);
    const newer = await put('rr-stale', `DTSTART:${basic}T170000\r\nDTEND:${basic}T180000\r\n`, ev.id);
    const planned = await fireAt(ev.id);
    const stale = { ownerId: ira.id, objectId: ev.id, fireAt: new Date(0), occurrenceStart: new Date(0), recurrenceId: '', action: 'DISPLAY', etag: ev.etag, basis: 'x', single: true };
    expect(await replaceRemindersIfCurrent(env.ctx.db, ira.id, [stale], [{ objectId: ev.id, etag: ev.etag }])).toEqual({ planned: 0, removed: 0 });
    expect(newer.etag).not.toBe(ev.etag);
    expect(await fireAt(ev.id)).toBe(planned);
  });
});
