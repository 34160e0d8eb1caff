/** Cross-user access (issue 3 §9 and Tests): A never reads or changes B's events except through a grant. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, type TestEnv } from '../support/harness.js';
import { create, ev, occurrences, user, type TestUser } from './_helpers.js';

let env: TestEnv;
let owner: TestUser;
let reader: TestUser;
let writer: TestUser;
let fb: TestUser;
let stranger: TestUser;
let pub: any;
let priv: any;

const RANGE = 'from=2032-01-01T00:00:00Z&to=2032-02-01T00:00:00Z';

beforeAll(async () => {
  env = await createTestEnv({ mailDomains: ['example.com'], dataDir: `/tmp/calendula-test-acc-${process.pid}` });
  owner = await user(env, 'olga@example.com', 'Olga');
  reader = await user(env, 'rita@example.com', 'Rita');
  writer = await user(env, 'walt@example.com', 'Walt');
  fb = await user(env, 'fred@example.com', 'Fred');
  stranger = await user(env, 'sam@example.com', 'Sam');
  for (const [u, access] of [[reader, 'read'], [writer, 'read-write'], [fb, 'freebusy']] as const) {
    const r = await owner.api.put(`/calendars/${owner.cal}/shares`, { email: u.email, access });
    expect(r.statusCode, r.body).toBe(200);
  }
  pub = await create(owner, ev('Secret merger talk', '2032-01-05T10:00:00', '2032-01-05T11:00:00', { location: 'Board room', description: 'confidential numbers', rrule: 'FREQ=DAILY;COUNT=3' }));
  priv = await create(owner, ev('Doctor', '2032-01-06T15:00:00', '2032-01-06T16:00:00', { visibility: 'PRIVATE', location: 'Clinic' }));
});
afterAll(async () => {
  await env.close();
});

describe('a stranger', () => {
  it('gets 404 on every event endpoint and sees nothing in listings', async () => {
    const a = stranger.api;
    const id = pub.id;
    expect((await a.get(`/events/${id}`)).statusCode).toBe(404);
    expect((await a.get(`/events/${id}`, { accept: 'text/calendar' })).statusCode).toBe(404);
    expect((await a.patch(`/events/${id}`, { event: { summary: 'hacked' } })).statusCode).toBe(404);
    expect((await a.del(`/events/${id}`)).statusCode).toBe(404);
    expect((await a.post(`/events/${id}/restore`)).statusCode).toBe(404);
    expect((await a.post(`/events/${id}/respond`, { partstat: 'ACCEPTED' })).statusCode).toBe(404);
    expect((await a.post(`/events/${id}/move`, { calendarId: stranger.cal })).statusCode).toBe(404);
    expect((await a.post(`/events/${id}/duplicate`, { calendarId: stranger.cal })).statusCode).toBe(404);
    expect((await a.post(`/events/${id}/lease`)).statusCode).toBe(404);
    expect((await a.del(`/events/${id}/lease`)).statusCode).toBe(404);
    expect((await a.get(`/events?${RANGE}&calendars=${owner.cal}`)).statusCode).toBe(404);
    expect((await a.get(`/events?${RANGE}`)).json().items).toHaveLength(0);
    expect((await a.get('/events/search?q=merger')).json().items).toHaveLength(0);
    expect((await a.get(`/calendars/${owner.cal}/export`)).statusCode).toBe(404);
    expect((await a.get(`/calendars/${owner.cal}/changes`)).statusCode).toBe(404);
    const imp = await env.app.inject({ method: 'POST', url: `/api/v1/calendars/${owner.cal}/import`, headers: { ...stranger.h, 'content-type': 'text/calendar' }, payload: 'BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n' });
    expect(imp.statusCode).toBe(404);
    expect((await a.post('/events', { calendarId: owner.cal, event: ev('x', '2032-01-01T10:00', '2032-01-01T11:00') })).statusCode).toBe(404);
    // Unchanged.
    expect((await owner.api.get(`/events/${id}`)).json().event.summary).toBe('Secret merger talk');
  });
});

describe('a read-only grantee', () => {
  it('reads (not private details) but cannot write: 403', async () => {
    const a = reader.api;
    const d = await a.get(`/events/${pub.id}`);
    expect(d.statusCode).toBe(200);
    expect(d.json().event.summary).toBe('Secret merger talk');
    expect(d.json().editable).toBe(false);
    const list = await occurrences(reader, '2032-01-01T00:00:00Z', '2032-02-01T00:00:00Z', owner.cal);
    expect(list.filter((o) => o.id === pub.id)).toHaveLength(3);
    const p = list.find((o) => o.id === priv.id);
    expect(p).toMatchObject({ summary: '', location: '', busyOnly: true });
    expect((await a.get(`/events/${priv.id}`)).json().event.summary).toBe('');
    const privIcs = await a.get(`/events/${priv.id}`, { accept: 'text/calendar' });
    expect(privIcs.statusCode).toBe(403);
    expect(privIcs.json()).toMatchObject({ error: 'FORBIDDEN' });
    expect(privIcs.body).not.toContain('BEGIN:VCALENDAR');
    expect((await a.get('/events/search?q=doctor')).json().items).toHaveLength(0);
    expect((await a.get(`/calendars/${owner.cal}/export`)).body).not.toMatch(/Doctor|Clinic/);
    expect((await a.patch(`/events/${pub.id}`, { event: { summary: 'x' } })).statusCode).toBe(403);
    expect((await a.del(`/events/${pub.id}`)).statusCode).toBe(403);
    expect((await a.post(`/events/${pub.id}/lease`)).statusCode).toBe(403);
    expect((await a.post(`/events/${pub.id}/move`, { calendarId: reader.cal })).statusCode).toBe(403);
    expect((await a.post('/events', { calendarId: owner.cal, event: ev('x', '2032-01-01T10:00', '2032-01-01T11:00') })).statusCode).toBe(403);
    // With attendees the calendar is read together with their principals: the same refusal.
    expect((await a.post('/events', { calendarId: owner.cal, event: ev('x', '2032-01-01T10:00', '2032-01-01T11:00', { attendees: [{ email: writer.email }] }) })).statusCode).toBe(403);
    const imp = await env.app.inject({ method: 'POST', url: `/api/v1/calendars/${owner.cal}/import`, headers: { ...reader.h, 'content-type': 'text/calendar' }, payload: 'BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n' });
    expect(imp.statusCode).toBe(403);
    // Duplicating into one's own calendar is reading: allowed.
    expect((await a.post(`/events/${pub.id}/duplicate`, { calendarId: reader.cal })).statusCode).toBe(201);
    expect((await a.get(`/calendars/${owner.cal}/changes`)).statusCode).toBe(200);
  });
});

describe('a read-write grantee', () => {
  it('creates, changes and deletes in the shared calendar; cannot restore (owner only)', async () => {
    const a = writer.api;
    const c = await a.post('/events', { calendarId: owner.cal, event: ev('Added by Walt', '2032-01-10T10:00:00', '2032-01-10T11:00:00') });
    expect(c.statusCode, c.body).toBe(201);
    const m = await a.post('/events', { calendarId: owner.cal, event: ev('Meeting added by Walt', '2032-01-11T10:00:00', '2032-01-11T11:00:00', { attendees: [{ email: reader.email }] }) });
    expect(m.statusCode, m.body).toBe(201);
    expect(m.json().calendarId).toBe(owner.cal);
    expect(m.json().event.organizer.email).toBe(owner.email);
    expect(c.json().calendarId).toBe(owner.cal);
    const u = await a.patch(`/events/${c.json().id}`, { event: { summary: 'Changed by Walt' } }, { 'if-match': `"${c.json().etag}"` });
    expect(u.statusCode, u.body).toBe(200);
    expect((await owner.api.get(`/events/${c.json().id}`)).json()).toMatchObject({ updatedBy: 'Walt', event: { summary: 'Changed by Walt' } });
    expect((await a.del(`/events/${c.json().id}`)).statusCode).toBe(204);
    expect((await owner.api.get('/trash')).json().items.map((t: { id: string }) => t.id)).toContain(c.json().id);
    expect((await a.get('/trash')).json().items.map((t: { id: string }) => t.id)).not.toContain(c.json().id);
    expect((await a.post(`/events/${c.json().id}/restore`)).statusCode).toBe(404);
    // Moving into the grantee's own calendar crosses owners: refused.
    expect((await a.post(`/events/${pub.id}/move`, { calendarId: writer.cal })).statusCode).toBe(415);
  });
});

describe('a free/busy-only grantee', () => {
  it('never sees titles: listing, detail, iCalendar, export, search, changes', async () => {
    const a = fb.api;
    const list = await occurrences(fb, '2032-01-01T00:00:00Z', '2032-02-01T00:00:00Z', owner.cal);
    expect(list.length).toBeGreaterThanOrEqual(4);
    for (const o of list) {
      expect(o).toMatchObject({ summary: '', location: '', busyOnly: true, hasAttachments: false, editable: false });
    }
    const all = await occurrences(fb, '2032-01-01T00:00:00Z', '2032-02-01T00:00:00Z');
    expect(JSON.stringify(all)).not.toMatch(/merger|Board|Doctor|Clinic/);
    const d = await a.get(`/events/${pub.id}`);
    expect(d.statusCode).toBe(200);
    expect(JSON.stringify(d.json())).not.toMatch(/merger|Board|confidential/);
    const fbIcs = await a.get(`/events/${pub.id}`, { accept: 'text/calendar' });
    expect(fbIcs.statusCode).toBe(403);
    expect(fbIcs.json().error).toBe('FORBIDDEN');
    expect(fbIcs.body).not.toContain(pub.summary ?? 'BEGIN:VCALENDAR');
    const exp = await a.get(`/calendars/${owner.cal}/export`);
    expect(exp.statusCode).toBe(403);
    expect(exp.body).not.toMatch(/merger/);
    expect((await a.get('/events/search?q=merger')).json().items).toHaveLength(0);
    expect((await a.get('/events/search?q=board')).json().items).toHaveLength(0);
    expect((await a.get(`/calendars/${owner.cal}/changes`)).statusCode).toBe(403);
    expect((await a.patch(`/events/${pub.id}`, { event: { summary: 'x' } })).statusCode).toBe(403);
    expect((await a.post(`/events/${pub.id}/duplicate`, { calendarId: fb.cal })).statusCode).toBe(403);
    const fbq = await a.post('/freebusy', { attendees: [owner.email], from: '2032-01-01T00:00:00Z', to: '2032-02-01T00:00:00Z' });
    expect(fbq.statusCode).toBe(200);
    expect(fbq.json().items[0].busy.length).toBeGreaterThan(0);
    expect(JSON.stringify(fbq.json())).not.toMatch(/merger|Doctor/);
  });
});
