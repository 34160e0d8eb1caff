/** Every event command and endpoint over REST (issue 3 §3, REST section). */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, eventually, startTestWorker, type TestEnv } from '../support/harness.js';
import { create, ev, occurrences, user, type TestUser } from './_helpers.js';

const CORPUS = resolve(process.cwd(), '../shared/corpus');
const corpus = (p: string) => readFileSync(resolve(CORPUS, p));

let env: TestEnv;
let worker: { stop(): Promise<void> };
let anna: TestUser;
let boris: TestUser;

beforeAll(async () => {
  env = await createTestEnv({ mailDomains: ['example.com'], dataDir: `/tmp/calendula-test-cmd-${process.pid}` });
  anna = await user(env, 'anna@example.com', 'Anna');
  boris = await user(env, 'boris@example.com', 'Boris');
  worker = await startTestWorker(env);
});
afterAll(async () => {
  await worker.stop();
  await env.close();
});

describe('single events', () => {
  it('create, get (JSON and iCalendar), update with If-Match, delete to trash, restore', async () => {
    const e = await create(anna, ev('Standup', '2031-01-06T09:00:00', '2031-01-06T09:15:00', { location: 'Room A', description: 'daily' }));
    expect(e.event.summary).toBe('Standup');
    expect(e.isOrganizer).toBe(false);
    expect(e.editable).toBe(true);
    const g = await anna.api.get(`/events/${e.id}`);
    expect(g.statusCode).toBe(200);
    expect(g.headers.etag).toBe(`"${e.etag}"`);
    const ics = await anna.api.get(`/events/${e.id}`, { accept: 'text/calendar' });
    expect(ics.statusCode).toBe(200);
    expect(ics.body).toMatch(/SUMMARY:Standup/);
    // Stale etag refused.
    const u1 = await anna.api.patch(`/events/${e.id}`, { event: { summary: 'Standup 2' } }, { 'if-match': `"${e.etag}"` });
    expect(u1.statusCode, u1.body).toBe(200);
    expect(u1.json().event.summary).toBe('Standup 2');
    const stale = await anna.api.patch(`/events/${e.id}`, { event: { summary: 'Lost' } }, { 'if-match': `"${e.etag}"` });
    expect(stale.statusCode).toBe(412);
    expect(stale.json().error).toBe('ETAG_MISMATCH');
    expect(stale.json().details.changedBy).toBe('Anna');
    expect(stale.json().details.changedAt).toBeTruthy();
    // Delete → trash → restore.
    expect((await anna.api.del(`/events/${e.id}`)).statusCode).toBe(204);
    expect((await anna.api.get(`/events/${e.id}`)).statusCode).toBe(404);
    const trash = (await anna.api.get('/trash')).json().items;
    expect(trash.map((t: { id: string }) => t.id)).toContain(e.id);
    const r = await anna.api.post(`/events/${e.id}/restore`);
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json().event.summary).toBe('Standup 2');
    expect((await anna.api.get('/trash')).json().items.map((t: { id: string }) => t.id)).not.toContain(e.id);
    expect((await anna.api.post(`/events/${e.id}/restore`)).statusCode).toBe(409);
  });

  it('validates input with stable codes', async () => {
    const bad = await anna.api.post('/events', { calendarId: anna.cal, event: ev('x', '2031-01-06T10:00', '2031-01-06T09:00') });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toBe('VALIDATION_FAILED');
    const tz = await anna.api.post('/events', { calendarId: anna.cal, event: ev('x', '2031-01-06T09:00', '2031-01-06T10:00', { timezone: 'Mars/Olympus' }) });
    expect(tz.statusCode).toBe(400);
    const rr = await anna.api.post('/events', { calendarId: anna.cal, event: ev('x', '2031-01-06T09:00', '2031-01-06T10:00', { rrule: 'BYDAY=MO' }) });
    expect(rr.statusCode).toBe(400);
    const missing = await anna.api.post('/events', { calendarId: '00000000-0000-4000-8000-000000000000', event: ev('x', '2031-01-06T09:00', '2031-01-06T10:00') });
    expect(missing.statusCode).toBe(404);
  });

  it('all-day events and Windows / IANA zones list at the right instants', async () => {
    const a = await create(anna, { summary: 'Holiday', start: '2031-02-10', end: '2031-02-11', allDay: true });
    const m = await create(anna, ev('Moscow', '2031-02-10T12:00:00', '2031-02-10T13:00:00', { timezone: 'Europe/Moscow' }));
    const items = await occurrences(anna, '2031-02-10T00:00:00Z', '2031-02-11T00:00:00Z');
    const hol = items.find((i) => i.id === a.id);
    expect(hol).toMatchObject({ allDay: true, start: '2031-02-10', end: '2031-02-11' });
    expect(items.find((i) => i.id === m.id).start).toBe('2031-02-10T09:00:00.000Z');
  });

  it('move between own calendars and duplicate', async () => {
    const c2 = (await anna.api.post('/calendars', { name: 'Second' })).json();
    expect(c2.id).toBeTruthy();
    const e = await create(anna, ev('Movable', '2031-03-03T10:00:00', '2031-03-03T11:00:00'));
    const mv = await anna.api.post(`/events/${e.id}/move`, { calendarId: c2.id });
    expect(mv.statusCode, mv.body).toBe(200);
    expect(mv.json().calendarId).toBe(c2.id);
    const inC2 = await occurrences(anna, '2031-03-03T00:00:00Z', '2031-03-04T00:00:00Z', c2.id);
    expect(inC2.map((i) => i.id)).toContain(e.id);
    const inC1 = await occurrences(anna, '2031-03-03T00:00:00Z', '2031-03-04T00:00:00Z', anna.cal);
    expect(inC1.map((i) => i.id)).not.toContain(e.id);
    const d = await anna.api.post(`/events/${e.id}/duplicate`, { calendarId: anna.cal });
    expect(d.statusCode, d.body).toBe(201);
    expect(d.json().uid).not.toBe(e.uid);
    expect(d.json().event.summary).toBe('Movable');
    // Boris can't move into Anna's calendar.
    const bm = await boris.api.post(`/events/${e.id}/move`, { calendarId: boris.cal });
    expect(bm.statusCode).toBe(404);
  });
});

describe('recurrence edits', () => {
  const weekly = (extra: Record<string, unknown> = {}) => ev('Weekly sync', '2031-04-07T10:00:00', '2031-04-07T11:00:00', { rrule: 'FREQ=WEEKLY;COUNT=6', ...extra });

  it('scope=this changes one occurrence; scope=all changes the series; delete one occurrence', async () => {
    const s = await create(anna, weekly());
    let occ = (await occurrences(anna, '2031-04-01T00:00:00Z', '2031-06-01T00:00:00Z')).filter((o) => o.id === s.id);
    expect(occ).toHaveLength(6);
    const third = occ[2];
    const u = await anna.api.patch(`/events/${s.id}`, { event: { summary: 'Moved one', start: '2031-04-21T14:00:00', end: '2031-04-21T15:00:00' }, scope: 'this', recurrenceId: third.recurrenceId });
    expect(u.statusCode, u.body).toBe(200);
    occ = (await occurrences(anna, '2031-04-01T00:00:00Z', '2031-06-01T00:00:00Z')).filter((o) => o.id === s.id);
    expect(occ).toHaveLength(6);
    expect(occ[2]).toMatchObject({ summary: 'Moved one', start: '2031-04-21T14:00:00.000Z' });
    expect(occ[1].summary).toBe('Weekly sync');
    const all = await anna.api.patch(`/events/${s.id}`, { event: { location: 'Hall' }, scope: 'all' });
    expect(all.statusCode, all.body).toBe(200);
    occ = (await occurrences(anna, '2031-04-01T00:00:00Z', '2031-06-01T00:00:00Z')).filter((o) => o.id === s.id);
    expect(occ[0].location).toBe('Hall');
    const del = await anna.api.del(`/events/${s.id}?scope=this&recurrenceId=${encodeURIComponent(occ[3].recurrenceId)}`);
    expect(del.statusCode, del.body).toBe(204);
    occ = (await occurrences(anna, '2031-04-01T00:00:00Z', '2031-06-01T00:00:00Z')).filter((o) => o.id === s.id);
    expect(occ).toHaveLength(5);
    // scope without recurrenceId is refused.
    expect((await anna.api.patch(`/events/${s.id}`, { event: { summary: 'x' }, scope: 'this' })).statusCode).toBe(400);
  });

  it('scope=following splits: answers kept when times unchanged, reset when times change', async () => {
    const s = await create(anna, weekly({ summary: 'Split me', attendees: [{ email: 'boris@example.com' }] }));
    const bcopy = await eventually(async () => (await boris.api.get('/invitations')).json().items.find((i: { uid: string }) => i.uid === s.uid), 10_000, 'invite');
    expect((await boris.api.post(`/events/${bcopy.id}/respond`, { partstat: 'ACCEPTED' })).statusCode).toBe(200);
    await eventually(async () => (await anna.api.get(`/events/${s.id}`)).json().event.attendees.find((a: { email: string }) => a.email === 'boris@example.com').partstat === 'ACCEPTED', 10_000, 'reply');
    const occ = (await occurrences(anna, '2031-04-01T00:00:00Z', '2031-06-01T00:00:00Z')).filter((o) => o.id === s.id);
    // Title change from the 3rd occurrence: the new series keeps Boris's ACCEPTED.
    const sp = await anna.api.patch(`/events/${s.id}`, { event: { summary: 'Split part 2' }, scope: 'following', recurrenceId: occ[2].recurrenceId });
    expect(sp.statusCode, sp.body).toBe(200);
    const newSeries = sp.json();
    expect(newSeries.id).not.toBe(s.id);
    expect(newSeries.uid).not.toBe(s.uid);
    expect(newSeries.event.attendees.find((a: { email: string }) => a.email === 'boris@example.com').partstat).toBe('ACCEPTED');
    const after = (await occurrences(anna, '2031-04-01T00:00:00Z', '2031-06-01T00:00:00Z'));
    expect(after.filter((o) => o.id === s.id)).toHaveLength(2);
    expect(after.filter((o) => o.id === newSeries.id)).toHaveLength(4);
    // Time change from the new series' 2nd occurrence: answers reset.
    const occ2 = after.filter((o) => o.id === newSeries.id);
    const sp2 = await anna.api.patch(`/events/${newSeries.id}`, { event: { start: '2031-04-28T12:00:00', end: '2031-04-28T13:00:00' }, scope: 'following', recurrenceId: occ2[1].recurrenceId });
    expect(sp2.statusCode, sp2.body).toBe(200);
    expect(sp2.json().event.attendees.find((a: { email: string }) => a.email === 'boris@example.com').partstat).toBe('NEEDS-ACTION');
    // Boris's calendar follows: the third series arrives as a new invitation.
    await eventually(async () => (await boris.api.get('/invitations')).json().items.find((i: { uid: string }) => i.uid === sp2.json().uid), 10_000, 'split invitation');
  });

  it('respond to one occurrence with a comment; the organizer sees it on that instance only', async () => {
    const s = await create(anna, weekly({ summary: 'Answer one', attendees: [{ email: 'boris@example.com' }] }));
    const bcopy = await eventually(async () => (await boris.api.get('/invitations')).json().items.find((i: { uid: string }) => i.uid === s.uid), 10_000, 'invite');
    const bocc = (await occurrences(boris, '2031-04-01T00:00:00Z', '2031-06-01T00:00:00Z')).filter((o) => o.id === bcopy.id);
    expect((await boris.api.post(`/events/${bcopy.id}/respond`, { partstat: 'ACCEPTED' })).statusCode).toBe(200);
    const r = await boris.api.post(`/events/${bcopy.id}/respond`, { partstat: 'DECLINED', comment: 'On holiday', recurrenceId: bocc[1].recurrenceId });
    expect(r.statusCode, r.body).toBe(200);
    // The comment is on Boris's answer for that instance (it travels in the REPLY; the organizer's
    // later refresh of the instance may replace his copy's override, so check right away).
    const bics = (await boris.api.get(`/events/${bcopy.id}`, { accept: 'text/calendar' })).body.replace(/\r?\n[ \t]/g, '');
    expect(bics.split('BEGIN:VEVENT').slice(2).join('')).toMatch(/COMMENT:On holiday/);
    const ics = await eventually(async () => {
      const t = (await anna.api.get(`/events/${s.id}`, { accept: 'text/calendar' })).body.replace(/\r?\n[ \t]/g, '');
      return /RECURRENCE-ID/.test(t) && /PARTSTAT=DECLINED[^\n]*boris@example\.com/i.test(t) ? t : null;
    }, 10_000, 'declined instance in organizer copy');
    // The series keeps ACCEPTED, only the override carries DECLINED.
    const master = ics.split('BEGIN:VEVENT')[1];
    expect(master).not.toMatch(/RECURRENCE-ID/);
    expect(master).toMatch(/PARTSTAT=ACCEPTED[^\n]*boris@example\.com/i);
    const aocc = (await occurrences(anna, '2031-04-01T00:00:00Z', '2031-06-01T00:00:00Z')).filter((o) => o.id === s.id);
    expect(aocc).toHaveLength(6);
    // Boris's own listing shows that instance declined and the others accepted; so does the detail.
    const d = await boris.api.get(`/events/${bcopy.id}?recurrenceId=${encodeURIComponent(bocc[1].recurrenceId)}`);
    expect(d.json().event.attendees.find((a: { email: string }) => a.email === 'boris@example.com').partstat).toBe('DECLINED');
    const listed = async () => (await occurrences(boris, '2031-04-01T00:00:00Z', '2031-06-01T00:00:00Z')).filter((o) => o.id === bcopy.id).map((o) => `${o.recurrenceId} ${o.myPartstat}`);
    const expected = bocc.map((o: { recurrenceId: string }, i: number) => `${o.recurrenceId} ${i === 1 ? 'DECLINED' : 'ACCEPTED'}`);
    expect(await listed()).toEqual(expected);
    // The same from the listing memo (built in the background after the first listing), and for a week.
    expect(await eventually(async () => JSON.stringify(await listed()) === JSON.stringify(expected) && (await listed()), 5_000, 'memo listing')).toEqual(expected);
    const week = (await occurrences(boris, bocc[1].start.slice(0, 10) + 'T00:00:00Z', new Date(Date.parse(bocc[1].start) + 86_400_000).toISOString())).find((o) => o.id === bcopy.id);
    expect(week.myPartstat).toBe('DECLINED');
  });
});

describe('trash purge job', () => {
  it("purges events deleted more than 30 days ago ('purge-trash'), keeps newer ones", async () => {
    const old = await create(anna, ev('Old', '2031-05-05T10:00:00', '2031-05-05T11:00:00'));
    const recent = await create(anna, ev('Recent', '2031-05-05T12:00:00', '2031-05-05T13:00:00'));
    await anna.api.del(`/events/${old.id}`);
    await anna.api.del(`/events/${recent.id}`);
    await env.ctx.db.updateTable('calendar_object').set({ deleted_at: new Date(Date.now() - 31 * 86400_000) }).where('owner_id', '=', anna.id).where('id', '=', old.id).execute();
    // Past the trash period it cannot be restored, even before the purge job has run.
    const late = await anna.api.post(`/events/${old.id}/restore`);
    expect(late.statusCode).toBe(404);
    expect(late.json().message).toMatch(/more than 30 days ago/);
    expect((await anna.api.get('/trash')).json().items.map((t: { id: string }) => t.id)).not.toContain(old.id);
    const { jobHandlers } = await import('../../src/jobs/handlers.js');
    await jobHandlers(env.ctx)['purge-trash']({}, { jobId: '0', attempts: 1, log: env.ctx.log });
    const left = await env.ctx.db.selectFrom('calendar_object').select('id').where('owner_id', '=', anna.id).where('id', 'in', [old.id, recent.id]).execute();
    expect(left.map((r) => r.id)).toEqual([recent.id]);
    expect((await anna.api.post(`/events/${old.id}/restore`)).statusCode).toBe(404);
    expect((await anna.api.get('/trash')).json().items.map((t: { id: string }) => t.id)).toContain(recent.id);
  });
});

describe('search and invitations', () => {
  it('finds by summary, location, description and attendee; ranges apply', async () => {
    await create(anna, ev('Quarterly zebra review', '2031-06-02T10:00:00', '2031-06-02T11:00:00'));
    await create(anna, ev('Lunch', '2031-06-03T10:00:00', '2031-06-03T11:00:00', { location: 'Zebra café' }));
    await create(anna, ev('Call', '2031-06-04T10:00:00', '2031-06-04T11:00:00', { description: 'about the ZEBRA project' }));
    await create(anna, ev('Sync', '2031-06-05T10:00:00', '2031-06-05T11:00:00', { attendees: [{ email: 'boris@example.com' }] }));
    const z = (await anna.api.get('/events/search?q=zebra&from=2031-06-01T00:00:00Z&to=2031-07-01T00:00:00Z')).json().items;
    expect(z.map((i: { summary: string }) => i.summary).sort()).toEqual(['Call', 'Lunch', 'Quarterly zebra review']);
    const b = (await anna.api.get('/events/search?q=boris@example&from=2031-06-01T00:00:00Z&to=2031-07-01T00:00:00Z')).json().items;
    expect(b.map((i: { summary: string }) => i.summary)).toContain('Sync');
    // By a participant's name (CN), also when the line is folded; not by other text that happens to match.
    await create(anna, ev('Folded', '2031-06-06T10:00:00', '2031-06-06T11:00:00', { attendees: [{ email: 'ext1@elsewhere.org', name: 'Фёдор Достоевский-Рублёв из Отдела Очень Длинных Названий' }], description: 'nothing here' }));
    await create(anna, ev('Mentions', '2031-06-07T10:00:00', '2031-06-07T11:00:00', { description: 'CN=Boris is not a participant here' }));
    const byName = (await anna.api.get('/events/search?q=Boris&from=2031-06-01T00:00:00Z&to=2031-07-01T00:00:00Z')).json().items.map((i: { summary: string }) => i.summary).sort();
    expect(byName).toEqual(['Mentions', 'Sync']); // 'Mentions' by its description, 'Sync' by Boris's address
    const ru = (await anna.api.get(`/events/search?q=${encodeURIComponent('очень длинных')}&from=2031-06-01T00:00:00Z&to=2031-07-01T00:00:00Z`)).json().items;
    expect(ru.map((i: { summary: string }) => i.summary)).toEqual(['Folded']);
    const none = (await anna.api.get('/events/search?q=zebra&from=2032-01-01T00:00:00Z&to=2032-02-01T00:00:00Z')).json().items;
    expect(none).toHaveLength(0);
    // Wildcards are literal.
    expect((await anna.api.get('/events/search?q=%25%25')).json().items).toHaveLength(0);
    // Boris never finds Anna's events.
    expect((await boris.api.get('/events/search?q=zebra&from=2031-06-01T00:00:00Z&to=2031-07-01T00:00:00Z')).json().items).toHaveLength(0);
  });
});

describe('incremental sync', () => {
  it('initial, incremental with tombstones, bad token → 410', async () => {
    const cal = (await anna.api.post('/calendars', { name: 'Sync' })).json().id;
    const e1 = await create(anna, ev('S1', '2031-07-01T10:00:00', '2031-07-01T11:00:00'), cal);
    const init = (await anna.api.get(`/calendars/${cal}/changes`)).json();
    expect(init.changes.map((c: { id: string }) => c.id)).toEqual([e1.id]);
    const e2 = await create(anna, ev('S2', '2031-07-02T10:00:00', '2031-07-02T11:00:00'), cal);
    await anna.api.patch(`/events/${e1.id}`, { event: { summary: 'S1b' } });
    await anna.api.del(`/events/${e1.id}`);
    const inc = (await anna.api.get(`/calendars/${cal}/changes?since=${init.syncToken}`)).json();
    const byId = Object.fromEntries(inc.changes.map((c: { id: string; kind: string }) => [c.id, c.kind]));
    expect(byId).toEqual({ [e1.id]: 'delete', [e2.id]: 'put' });
    const again = (await anna.api.get(`/calendars/${cal}/changes?since=${inc.syncToken}`)).json();
    expect(again.changes).toEqual([]);
    for (const bad of ['999999999', 'abc', '-1']) {
      const r = await anna.api.get(`/calendars/${cal}/changes?since=${bad}`);
      expect(r.statusCode, bad).toBe(410);
      expect(r.json().error).toBe('INVALID_SYNC_TOKEN');
    }
    // The sync token the calendar listing hands out works too.
    const listed = (await anna.api.get('/calendars')).json().items.find((c: { id: string }) => c.id === cal).syncToken;
    const viaListed = await anna.api.get(`/calendars/${cal}/changes?since=${encodeURIComponent(listed)}`);
    expect(viaListed.statusCode, viaListed.body).toBe(200);
    expect(viaListed.json().changes).toEqual([]);
    expect((await boris.api.get(`/calendars/${cal}/changes`)).statusCode).toBe(404);
  });
});

describe('import and export', () => {
  async function importInto(u: TestUser, cal: string, body: Buffer | string) {
    const r = await env.app.inject({ method: 'POST', url: `/api/v1/calendars/${cal}/import`, headers: { ...u.h, 'content-type': 'text/calendar' }, payload: body });
    expect(r.statusCode, r.body).toBe(202);
    const id = r.json().importId;
    return eventually(async () => {
      const s = (await u.api.get(`/imports/${id}`)).json();
      return s.state === 'done' ? s : null;
    }, 60_000, 'import done');
  }

  it('imports corpus feeds with progress and per-item results', async () => {
    const cal = (await anna.api.post('/calendars', { name: 'Feeds' })).json().id;
    const g = await importInto(anna, cal, corpus('ics/google-calendar-feed-38k.ics'));
    expect(g.total).toBeGreaterThan(50);
    expect(g.imported + g.failed).toBe(g.total);
    expect(g.imported).toBeGreaterThan(50);
    const m = await importInto(anna, cal, corpus('ics/mathbirthdays-399k.ics'));
    expect(m.imported).toBeGreaterThan(1000);
    expect(m.done).toBe(m.total);
    const n = await env.ctx.db.selectFrom('calendar_object').select((eb) => eb.fn.countAll<string>().as('n')).where('owner_id', '=', anna.id).where('calendar_id', '=', cal).where('deleted_at', 'is', null).executeTakeFirstOrThrow();
    expect(Number(n.n)).toBe(g.imported + m.imported);
  }, 120_000);

  it('reports invalid items and imports the valid ones', async () => {
    const cal = (await anna.api.post('/calendars', { name: 'Mixed' })).json().id;
    const text = [
      'BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//t//t//EN',
      'BEGIN:VEVENT', 'UID:good-1', 'DTSTAMP:20310101T000000Z', 'DTSTART:20310801T100000Z', 'DTEND:20310801T110000Z', 'SUMMARY:Good one', 'END:VEVENT',
      'BEGIN:VEVENT', 'UID:bad-1', 'DTSTAMP:20310101T000000Z', 'DTSTART:notadate', 'SUMMARY:Bad one', 'END:VEVENT',
      'BEGIN:VEVENT', 'UID:bad-2', 'DTSTAMP:20310101T000000Z', 'DTSTART:20310801T100000Z', 'RRULE:FREQ=NOPE', 'SUMMARY:Bad rule', 'END:VEVENT',
      'BEGIN:VEVENT', 'UID:good-2', 'DTSTAMP:20310101T000000Z', 'DTSTART;VALUE=DATE:20310802', 'SUMMARY:Good two', 'X-CUSTOM-THING:kept', 'END:VEVENT',
      'END:VCALENDAR', '',
    ].join('\r\n');
    const s = await importInto(anna, cal, text);
    expect(s.imported).toBe(2);
    expect(s.failed).toBe(2);
    expect(s.errors.map((e: { uid?: string }) => e.uid).sort()).toEqual(['bad-1', 'bad-2']);
    for (const e of s.errors) expect(e.message).toBeTruthy();
    // Unknown properties round-trip.
    const exp = (await anna.api.get(`/calendars/${cal}/export`)).body;
    expect(exp).toMatch(/X-CUSTOM-THING:kept/);
    // Per item: the event each valid item became, the reason for each invalid one.
    expect(s).toMatchObject({ created: 2, updated: 0 });
    const items = (await anna.api.get(`/imports/${s.id}/items`)).json();
    expect(items.total).toBe(4);
    const byUid = new Map(items.items.map((i: { uid: string }) => [i.uid, i]));
    for (const uid of ['good-1', 'good-2']) {
      const it = byUid.get(uid) as { status: string; id: string };
      expect(it.status).toBe('created');
      expect((await anna.api.get(`/events/${it.id}`)).json().uid).toBe(uid);
    }
    for (const uid of ['bad-1', 'bad-2']) expect(byUid.get(uid)).toMatchObject({ status: 'failed', message: expect.any(String) });
    // Importing the same file again updates the good ones; a page of one status at a time.
    const again = await importInto(anna, cal, text);
    expect(again).toMatchObject({ created: 0, updated: 2, failed: 2 });
    const updated = (await anna.api.get(`/imports/${again.id}/items?status=updated&limit=1`)).json();
    expect(updated).toMatchObject({ total: 2, offset: 0 });
    expect(updated.items).toHaveLength(1);
    expect(updated.items[0].id).toBe((byUid.get(updated.items[0].uid) as { id: string }).id);
    // Someone else's import is not found.
    expect((await boris.api.get(`/imports/${s.id}/items`)).statusCode).toBe(404);
  });

  it('malformed corpus files are reported, never crash the job', async () => {
    const cal = (await anna.api.post('/calendars', { name: 'Malformed' })).json().id;
    for (const f of ['broken-ical.ics', 'google-bad-rrule.ics', 'exchange-no-uid.ics', 'bad-tzid.ics', 'invalid-tzoffset.ics', 'bom-only-calendar.ics', 'large-file-late-error.ics']) {
      const body = corpus(`malformed/ics/${f}`);
      const r = await env.app.inject({ method: 'POST', url: `/api/v1/calendars/${cal}/import`, headers: { ...anna.h, 'content-type': 'text/calendar' }, payload: body });
      if (r.statusCode === 400) continue; // empty file refused up front
      expect(r.statusCode, `${f}: ${r.body}`).toBe(202);
      const s = await eventually(async () => {
        const x = (await anna.api.get(`/imports/${r.json().importId}`)).json();
        return x.state === 'done' ? x : null;
      }, 30_000, `import of ${f}`);
      expect(s.imported + s.failed, f).toBeGreaterThanOrEqual(s.failed);
      if (s.failed) expect(s.errors.length, f).toBeGreaterThan(0);
    }
  }, 120_000);

  it('export keeps apart two different zones that share a TZID (Outlook\'s "Customized Time Zone")', async () => {
    const zone = (offset: string) => ['BEGIN:VTIMEZONE', 'TZID:Customized Time Zone', 'BEGIN:STANDARD', 'DTSTART:16010101T000000', `TZOFFSETFROM:${offset}`, `TZOFFSETTO:${offset}`, 'END:STANDARD', 'END:VTIMEZONE'];
    const event = (uid: string, offset: string) => ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//T//EN', ...zone(offset), 'BEGIN:VEVENT', `UID:${uid}`, 'DTSTAMP:20300101T000000Z',
      'DTSTART;TZID=Customized Time Zone:20311101T090000', 'DTEND;TZID=Customized Time Zone:20311101T100000', `SUMMARY:${uid}`, 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
    const src = (await anna.api.post('/calendars', { name: 'Zones' })).json().id;
    for (const [uid, off] of [['plus-three', '+0300'], ['minus-five', '-0500']]) expect((await importInto(anna, src, event(uid, off))).imported).toBe(1);
    const a = await occurrences(anna, '2031-10-31T00:00:00Z', '2031-11-03T00:00:00Z', src);
    expect(a.map((o: { summary: string; start: string }) => `${o.summary} ${o.start}`).sort()).toEqual(['minus-five 2031-11-01T14:00:00.000Z', 'plus-three 2031-11-01T06:00:00.000Z']);
    const exported = (await anna.api.get(`/calendars/${src}/export`)).body;
    expect(exported.match(/BEGIN:VTIMEZONE/g)).toHaveLength(2);
    const dst = (await boris.api.post('/calendars', { name: 'Zones copy' })).json().id;
    expect((await importInto(boris, dst, exported)).imported).toBe(2);
    const b = await occurrences(boris, '2031-10-31T00:00:00Z', '2031-11-03T00:00:00Z', dst);
    expect(b.map((o: { summary: string; start: string }) => `${o.summary} ${o.start}`).sort()).toEqual(a.map((o: { summary: string; start: string }) => `${o.summary} ${o.start}`).sort());
  });

  it('export → import into another calendar gives the same events', async () => {
    const src = (await anna.api.post('/calendars', { name: 'Source' })).json().id;
    await create(anna, ev('One', '2031-09-01T10:00:00', '2031-09-01T11:00:00', { timezone: 'Europe/Berlin', description: 'd1' }), src);
    await create(anna, ev('Two', '2031-09-02T10:00:00', '2031-09-02T11:00:00', { rrule: 'FREQ=DAILY;COUNT=3' }), src);
    await create(anna, { summary: 'Three', start: '2031-09-03', end: '2031-09-04', allDay: true }, src);
    const exp = await anna.api.get(`/calendars/${src}/export`);
    expect(exp.statusCode).toBe(200);
    expect(exp.headers['content-type']).toMatch(/text\/calendar/);
    const dst = (await boris.api.post('/calendars', { name: 'Copy' })).json().id;
    const s = await importInto(boris, dst, exp.body);
    expect(s.imported, JSON.stringify(s.errors) + exp.body).toBe(3);
    const shape = (xs: any[]) => xs.map((o) => `${o.summary}|${o.start}|${o.end}|${o.allDay}`).sort();
    const a = await occurrences(anna, '2031-08-30T00:00:00Z', '2031-09-10T00:00:00Z', src);
    const b = await occurrences(boris, '2031-08-30T00:00:00Z', '2031-09-10T00:00:00Z', dst);
    expect(shape(b)).toEqual(shape(a));
    expect(a).toHaveLength(5);
    // A range export holds only the overlapping events.
    const ranged = (await anna.api.get(`/calendars/${src}/export?from=2031-09-03T00:00:00Z&to=2031-09-04T00:00:00Z`)).body;
    expect(ranged).toMatch(/SUMMARY:Three/);
    expect(ranged).toMatch(/SUMMARY:Two/);
    expect(ranged).not.toMatch(/SUMMARY:One/);
    // A weekly series whose span covers the range but none of whose occurrences fall in it is left out.
    await create(anna, ev('Weekly', '2031-10-06T10:00:00', '2031-10-06T11:00:00', { rrule: 'FREQ=WEEKLY;COUNT=4' }), src);
    const between = (await anna.api.get(`/calendars/${src}/export?from=2031-10-07T00:00:00Z&to=2031-10-12T00:00:00Z`)).body;
    expect(between).not.toMatch(/SUMMARY:Weekly/);
    expect((await anna.api.get(`/calendars/${src}/export?from=2031-10-12T00:00:00Z&to=2031-10-14T00:00:00Z`)).body).toMatch(/SUMMARY:Weekly/);
    // One end open: from alone exports from then on, to alone up to then.
    const fromOnly = (await anna.api.get(`/calendars/${src}/export?from=2031-09-05T00:00:00Z`)).body;
    expect(fromOnly).toMatch(/SUMMARY:Weekly/);
    expect(fromOnly).not.toMatch(/SUMMARY:One|SUMMARY:Two|SUMMARY:Three/);
    const toOnly = (await anna.api.get(`/calendars/${src}/export?to=2031-09-02T00:00:00Z`)).body;
    expect(toOnly).toMatch(/SUMMARY:One/);
    expect(toOnly).not.toMatch(/SUMMARY:Two|SUMMARY:Weekly/);
    const bad = await anna.api.get(`/calendars/${src}/export?from=yesterday`);
    expect(bad.statusCode).toBe(400);
    expect(bad.json().details.field).toBe('from');
  });
});
