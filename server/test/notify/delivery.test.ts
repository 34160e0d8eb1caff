// Notifications and iMIP delivered through a real SMTP server on loopback (smtp-sink).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ICAL from 'ical.js';
import { createTestEnv, makeUser, signInHeaders, startTestWorker, eventually, type TestEnv } from '../support/harness.js';
import { startSmtpSink, type SmtpSink, type SinkMessage } from '../support/mail/smtp-sink.js';
import * as objects from '../../src/store/objects.js';
import * as principals from '../../src/store/principals.js';
import { sendImip } from '../../src/app/notify/imip.js';
import { fireReminder } from '../../src/app/notify/reminders.js';
import { planReminders, type ReminderPayload } from '../../src/app/events/reminders.js';
import { compiledFor } from '../../src/app/events/compiled-cache.js';
import { checkImip } from './imip-checker.js';

let env: TestEnv;
let sink: SmtpSink;
let worker: { stop(): Promise<void> };
let anna: Record<string, string>;
let boris: Record<string, string>;
let annaCal: string;
let annaId: string;
let borisId: string;

const calOf = (m: SinkMessage) => {
  const att = m.parsed.attachments.find((a) => a.contentType === 'text/calendar' || a.contentType === 'application/ics');
  return att ? att.content.toString('utf8') : null;
};
const methodOf = (m: SinkMessage) => /^METHOD:(\w+)/m.exec(calOf(m) ?? '')?.[1] ?? null;
const toOf = (m: SinkMessage) => m.envelope.to.map((x) => x.toLowerCase());
const mailsTo = (addr: string) => sink.messages.filter((m) => toOf(m).includes(addr));
const day = (n: number) => new Date(Date.now() + n * 86400_000).toISOString().slice(0, 10);
const [D1, D2, D3] = [day(30), day(31), day(32)];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function createEvent(headers: Record<string, string>, calendarId: string, event: Record<string, unknown>) {
  const utc = (v: unknown) => (typeof v === 'string' ? v.replace(/(\.\d+)?Z$/, '') : v);
  if (typeof event.start === 'string' && event.start.endsWith('Z')) event = { timezone: 'UTC', ...event, start: utc(event.start), end: utc(event.end) };
  const res = await env.app.inject({ method: 'POST', url: '/api/v1/events', headers, payload: { calendarId, event } });
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { id: string; uid: string };
}

beforeAll(async () => {
  sink = await startSmtpSink({
    rejectRecipient: (a) => (a.startsWith('bad@') ? { code: 550, message: '5.1.1 no such user' } : null),
  });
  env = await createTestEnv({ mailDomains: ['example.com'], smtpUrl: sink.url, mailFrom: 'calendar@example.com', notifyCoalesceSeconds: 2, dataDir: `/tmp/calendula-notify-${process.pid}` });
  annaId = (await makeUser(env.ctx, 'anna@example.com', { name: 'Anna', admin: true })).id;
  borisId = (await makeUser(env.ctx, 'boris@example.com', { name: 'Boris' })).id;
  await principals.updatePrincipal(env.ctx.db, borisId, { language: 'ru', timezone: 'Europe/Moscow' });
  worker = await startTestWorker(env);
  anna = await signInHeaders(env.app, 'anna@example.com');
  boris = await signInHeaders(env.app, 'boris@example.com');
  annaCal = (await env.app.inject({ method: 'GET', url: '/api/v1/calendars', headers: anna })).json().items[0].id;
}, 60_000);
afterAll(async () => {
  await worker?.stop();
  await env?.close();
  (await import('../../src/app/notify/mailer.js')).closeMailers();
  await sink?.close();
});

describe('invitations', () => {
  let ev: { id: string; uid: string };
  it('an external attendee gets real iMIP (REQUEST, UID, ATTENDEE, VTIMEZONE, stable Message-ID); SCHEDULE-STATUS 1.1', async () => {
    ev = await createEvent(anna, annaCal, { summary: 'Planning <script>alert(1)</script>', start: '2031-03-04T10:00:00', end: '2031-03-04T11:00:00', timezone: 'Europe/Moscow', location: 'Room 1',
      attendees: [{ email: 'boris@example.com' }, { email: 'ext@partner.org', name: 'Ext Person' }] });
    const [m] = await sink.waitFor(() => mailsTo('ext@partner.org').length >= 1).then(() => mailsTo('ext@partner.org'));
    expect(methodOf(m)).toBe('REQUEST');
    const ical = calOf(m)!;
    expect(ical).toContain(`UID:${ev.uid}`);
    expect(ical.replace(/\r\n[ \t]/g, '')).toMatch(/^ATTENDEE[^\n]*mailto:ext@partner\.org/im);
    expect(ical).toMatch(/BEGIN:VTIMEZONE\r?\nTZID:Europe\/Moscow/);
    expect(m.parsed.messageId).toMatch(/^<imip\..+@example\.com>$/);
    expect(m.parsed.inReplyTo).toBeTruthy();
    expect(String(m.raw)).toMatch(/text\/calendar; charset=utf-8; method=REQUEST/i);
    expect(m.parsed.html).not.toContain('<script>');
    expect(m.parsed.html).toContain('&lt;script&gt;');
    expect(checkImip(ical)).toEqual([]);
    await eventually(async () => {
      const row = await objects.findObject(env.ctx.db, annaId, ev.id);
      return /SCHEDULE-STATUS=1\.1[^\n]*ext@partner\.org|ext@partner\.org[^\n]*SCHEDULE-STATUS=1\.1/i.test(row!.ical.replace(/\r\n[ \t]/g, ''));
    }, 10_000, 'SCHEDULE-STATUS 1.1');
    await eventually(async () => {
      const log = await env.app.inject({ method: 'GET', url: `/api/v1/deliveries?uid=${encodeURIComponent(ev.uid)}`, headers: anna });
      return log.json().items.some((d: { channel: string; status: string; recipient: string }) => d.channel === 'imip' && d.status === 'sent' && d.recipient === 'ext@partner.org');
    }, 5000, 'imip delivery logged');
  });

  it('an internal attendee gets a notification in Russian with answer links that work without sign-in; tampered links are refused', async () => {
    const [m] = await sink.waitFor(() => mailsTo('boris@example.com').length >= 1).then(() => mailsTo('boris@example.com'));
    expect(calOf(m)).toBeNull();
    expect(m.parsed.subject).toMatch(/Приглашение/);
    const links = [...String(m.parsed.text).matchAll(/https?:\/\/\S+\/api\/v1\/answer\?t=\S+/g)].map((x) => x[0]);
    expect(links.length).toBe(3);
    const accept = new URL(links[0]);
    const tampered = accept.pathname + '?t=' + encodeURIComponent(decodeURIComponent(accept.searchParams.get('t')!).replace(/^./, (c) => (c === 'e' ? 'f' : 'e')));
    expect((await env.app.inject({ method: 'GET', url: tampered })).statusCode).toBe(400);
    const ok = await env.app.inject({ method: 'GET', url: accept.pathname + accept.search });
    expect(ok.statusCode, ok.body).toBe(200);
    await eventually(async () => {
      const r = await env.app.inject({ method: 'GET', url: `/api/v1/events/${ev.id}`, headers: anna });
      return r.json().event.attendees.find((a: { email: string }) => a.email === 'boris@example.com').partstat === 'ACCEPTED';
    }, 10_000, 'answer in the organizer copy');
    // The organizer hears about the answer.
    await sink.waitFor(() => mailsTo('anna@example.com').some((x) => /Accepted/.test(x.parsed.subject ?? '')));
  });

  it('several quick updates become one update mail showing old → new; externals get REQUEST with a higher SEQUENCE', async () => {
    const before = mailsTo('boris@example.com').length;
    const extBefore = mailsTo('ext@partner.org').length;
    for (const [s, e] of [['12:00', '13:00'], ['14:00', '15:00'], ['16:00', '17:00']]) {
      const r = await env.app.inject({ method: 'PATCH', url: `/api/v1/events/${ev.id}`, headers: anna, payload: { event: { start: `2031-03-04T${s}:00`, end: `2031-03-04T${e}:00`, timezone: 'Europe/Moscow' } } });
      expect(r.statusCode, r.body).toBe(200);
    }
    await sink.waitFor(() => mailsTo('boris@example.com').length > before, 15_000);
    await sleep(3500);
    const updates = mailsTo('boris@example.com').slice(before);
    expect(updates.length).toBe(1);
    const text = String(updates[0].parsed.text);
    expect(text).toMatch(/10:00/); // the original time …
    expect(text).toMatch(/16:00/); // … to the newest
    await sink.waitFor(() => mailsTo('ext@partner.org').length > extBefore);
    await sleep(1000);
    // Externals too get one REQUEST for the window, carrying the newest state.
    const extUpdates = mailsTo('ext@partner.org').slice(extBefore);
    expect(extUpdates.length).toBe(1);
    const last = extUpdates[0];
    expect(methodOf(last)).toBe('REQUEST');
    expect(checkImip(calOf(last)!)).toEqual([]);
    expect(Number(/^SEQUENCE:(\d+)/m.exec(calOf(last)!)?.[1])).toBeGreaterThan(0);
    expect(calOf(last)).toMatch(/DTSTART;TZID=Europe\/Moscow:20310304T160000/);
  });

  it('an update followed by a cancellation within the window: the external attendee gets only the CANCEL', async () => {
    const created = await env.app.inject({ method: 'POST', url: '/api/v1/events', headers: anna, payload: { calendarId: annaCal, event: { summary: 'Short-lived', start: '2031-05-06T10:00:00', end: '2031-05-06T11:00:00', timezone: 'Europe/Moscow', attendees: [{ email: 'late@partner.org' }] } } });
    expect(created.statusCode, created.body).toBe(201);
    const id = created.json().id;
    await sink.waitFor(() => mailsTo('late@partner.org').length === 1);
    expect((await env.app.inject({ method: 'PATCH', url: `/api/v1/events/${id}`, headers: anna, payload: { event: { start: '2031-05-06T12:00:00', end: '2031-05-06T13:00:00', timezone: 'Europe/Moscow' } } })).statusCode).toBe(200);
    expect((await env.app.inject({ method: 'DELETE', url: `/api/v1/events/${id}`, headers: anna })).statusCode).toBeLessThan(300);
    await sink.waitFor(() => mailsTo('late@partner.org').length >= 2);
    await sleep(3500); // past the 2 s window: the pending update must not follow the CANCEL
    expect(mailsTo('late@partner.org').map(methodOf)).toEqual(['REQUEST', 'CANCEL']);
  });

  it('own changes that concern nobody else send nothing', async () => {
    await sleep(1500);
    const count = sink.messages.length;
    const r = await env.app.inject({ method: 'PATCH', url: `/api/v1/events/${ev.id}`, headers: anna, payload: { event: { alarms: [{ action: 'DISPLAY', trigger: '-PT10M' }] } } });
    expect(r.statusCode, r.body).toBe(200);
    await sleep(3500);
    expect(sink.messages.length).toBe(count);
  });

  it('cancellation: CANCEL to externals, a cancellation mail to internal attendees', async () => {
    const extBefore = mailsTo('ext@partner.org').length;
    const bBefore = mailsTo('boris@example.com').length;
    expect((await env.app.inject({ method: 'DELETE', url: `/api/v1/events/${ev.id}`, headers: anna })).statusCode).toBeLessThan(300);
    await sink.waitFor(() => mailsTo('ext@partner.org').length > extBefore && mailsTo('boris@example.com').length > bBefore);
    const c = mailsTo('ext@partner.org').at(-1)!;
    expect(methodOf(c)).toBe('CANCEL');
    expect(checkImip(calOf(c)!)).toEqual([]);
    expect(mailsTo('boris@example.com').at(-1)!.parsed.subject).toMatch(/Отмен/);
  });

  it('preferences: a kind switched off for e-mail sends no e-mail (the invitation still arrives)', async () => {
    const r = await env.app.inject({ method: 'PATCH', url: '/api/v1/settings', headers: boris, payload: { notifications: { invitation: [] } } });
    expect(r.statusCode, r.body).toBe(200);
    const before = mailsTo('boris@example.com').length;
    const e2 = await createEvent(anna, annaCal, { summary: 'Quiet', start: '2031-05-01T10:00:00Z', end: '2031-05-01T11:00:00Z', attendees: [{ email: 'boris@example.com' }] });
    await eventually(async () => (await objects.findByUid(env.ctx.db, borisId, e2.uid)) ?? null, 10_000, 'copy');
    await sleep(1500);
    expect(mailsTo('boris@example.com').length).toBe(before);
    await env.app.inject({ method: 'PATCH', url: '/api/v1/settings', headers: boris, payload: { notifications: { invitation: ['email'] } } });
  });
});

describe('delivery', () => {
  it('a permanent 5xx marks SCHEDULE-STATUS 5.1 and tells the organizer', async () => {
    const ev = await createEvent(anna, annaCal, { summary: 'Bounce me', start: '2031-06-01T10:00:00Z', end: '2031-06-01T11:00:00Z', attendees: [{ email: 'bad@partner.org' }] });
    await eventually(async () => {
      const row = await objects.findObject(env.ctx.db, annaId, ev.id);
      return /SCHEDULE-STATUS=5\.1/.test(row!.ical.replace(/\r\n[ \t]/g, ''));
    }, 15_000, 'SCHEDULE-STATUS 5.1');
    await sink.waitFor(() => mailsTo('anna@example.com').some((m) => /Not delivered/.test(m.parsed.subject ?? '')), 15_000);
    await eventually(async () => {
      const log = (await env.app.inject({ method: 'GET', url: '/api/v1/admin/deliveries?status=failed', headers: anna })).json().items;
      return log.some((d: { recipient: string }) => d.recipient === 'bad@partner.org');
    }, 5000, 'failed delivery logged');
  });

  it('a temporary failure is retried with back-off, then delivered once', async () => {
    let refusals = 0;
    sink.setOptions({ rejectRecipient: (a) => (a.startsWith('bad@') ? { code: 550, message: '5.1.1 no such user' } : a.startsWith('flaky@') && refusals++ < 1 ? { code: 451, message: '4.3.0 try later' } : null) });
    const ev = await createEvent(anna, annaCal, { summary: 'Flaky', start: '2031-06-02T10:00:00Z', end: '2031-06-02T11:00:00Z', attendees: [{ email: 'flaky@partner.org' }] });
    await sink.waitFor(() => mailsTo('flaky@partner.org').length >= 1, 30_000);
    expect(refusals).toBeGreaterThanOrEqual(1);
    const d = await eventually(async () => {
      const log = (await env.app.inject({ method: 'GET', url: `/api/v1/deliveries?uid=${encodeURIComponent(ev.uid)}`, headers: anna })).json().items;
      return log.find((x: { recipient: string; status: string }) => x.recipient === 'flaky@partner.org' && x.status === 'sent');
    }, 5000, 'delivery log says sent');
    expect(d.attempts).toBeGreaterThanOrEqual(2);
    await sleep(500);
    expect(mailsTo('flaky@partner.org').length).toBe(1);
  }, 40_000);

  it('a retried delivery never sends twice (same deliveryId)', async () => {
    const uid = `once-${Date.now()}`;
    const text = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//T//EN', 'METHOD:REQUEST', 'BEGIN:VEVENT', `UID:${uid}`, 'DTSTAMP:20300101T000000Z', 'DTSTART:20310101T100000Z', 'DTEND:20310101T110000Z', 'SUMMARY:Once',
      'ORGANIZER:mailto:anna@example.com', 'ATTENDEE;RSVP=TRUE:mailto:twice@partner.org', 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
    const row = { uid };
    const p = { ownerId: annaId, uid: row!.uid, method: 'REQUEST' as const, sender: 'anna@example.com', recipient: 'twice@partner.org', ical: text, significant: true, deliveryId: 'fixed-delivery-1' };
    expect(await sendImip(env.ctx, p)).toBe('sent');
    expect(await sendImip(env.ctx, p)).toBe('already-sent');
    await sleep(300);
    expect(mailsTo('twice@partner.org').length).toBe(1);
  });
});

describe('replies', () => {
  it('an internal user answering an external organizer sends iMIP REPLY to the organizer', async () => {
    const { receiveMail } = await import('../../src/app/intake/receive.js');
    const uid = `ext-org-${Date.now()}@partner.org`;
    const ical = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Partner//EN', 'METHOD:REQUEST', 'BEGIN:VEVENT', `UID:${uid}`, 'DTSTAMP:20300101T000000Z', 'DTSTART:20310701T100000Z', 'DTEND:20310701T110000Z',
      'SUMMARY:Partner call', 'SEQUENCE:0', 'ORGANIZER;CN=Olga:mailto:olga@partner.org', 'ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:boris@example.com', 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
    const raw = Buffer.from(['From: Olga <olga@partner.org>', 'To: boris@example.com', 'Subject: Invitation', 'Message-ID: <inv-1@partner.org>', 'MIME-Version: 1.0',
      'Content-Type: text/calendar; method=REQUEST; charset=utf-8', '', ical].join('\r\n'));
    await receiveMail(env.ctx, raw, { from: 'olga@partner.org', to: ['boris@example.com'] }, 'http');
    const copy = await eventually(async () => objects.findByUid(env.ctx.db, borisId, uid), 10_000, 'copy from intake');
    const r = await env.app.inject({ method: 'POST', url: `/api/v1/events/${copy.id}/respond`, headers: boris, payload: { partstat: 'ACCEPTED' } });
    expect(r.statusCode, r.body).toBe(200);
    const [m] = await sink.waitFor(() => mailsTo('olga@partner.org').length >= 1).then(() => mailsTo('olga@partner.org'));
    expect(methodOf(m)).toBe('REPLY');
    expect(calOf(m)!.replace(/\r\n[ \t]/g, '')).toMatch(/ATTENDEE[^\n]*PARTSTAT=ACCEPTED[^\n]*mailto:boris@example\.com/i);
    expect(checkImip(calOf(m)!)).toEqual([]);
  });
});

describe('reminders', () => {
  async function reminderFor(objectId: string): Promise<ReminderPayload> {
    const row = (await objects.findObject(env.ctx.db, annaId, objectId))!;
    const owner = (await principals.findPrincipalById(env.ctx.db, annaId))!;
    return (await planReminders(env.ctx, env.ctx.db, row, compiledFor(row.etag, row.ical), owner))!;
  }

  it('fires once at the right time through the real queue', async () => {
    const start = new Date(Math.ceil((Date.now() + 70_000) / 1000) * 1000);
    const lead = Math.round((start.getTime() - Date.now() - 3000) / 1000);
    const ev = await createEvent(anna, annaCal, { summary: 'Soon', start: start.toISOString(), end: new Date(start.getTime() + 3600_000).toISOString(), alarms: [{ action: 'EMAIL', trigger: `-PT${lead}S` }] });
    const p = await reminderFor(ev.id);
    const m = await sink.waitFor(() => mailsTo('anna@example.com').some((x) => /Reminder: Soon/.test(x.parsed.subject ?? '')), 15_000)
      .then(() => mailsTo('anna@example.com').find((x) => /Reminder: Soon/.test(x.parsed.subject ?? ''))!);
    expect(m.receivedAt.getTime()).toBeGreaterThanOrEqual(new Date(p.fireAt!).getTime() - 50);
    expect(m.receivedAt.getTime() - new Date(p.fireAt!).getTime()).toBeLessThan(3000);
    // Firing the same reminder again (a retried job) sends nothing new.
    await eventually(async () => (await env.ctx.db.selectFrom('delivery_log').select('status').where('kind', '=', 'reminder').where('object_id', '=', ev.id).executeTakeFirst())?.status === 'sent', 5000, 'logged');
    await fireReminder(env.ctx, p);
    await sleep(300);
    expect(mailsTo('anna@example.com').filter((x) => /Reminder: Soon/.test(x.parsed.subject ?? '')).length).toBe(1);
  }, 30_000);

  it('a moved event re-plans and sends nothing; cancelled, deleted or declined drops', async () => {
    const ev = await createEvent(anna, annaCal, { summary: 'Moves', start: `${D1}T10:00:00Z`, end: `${D1}T11:00:00Z`, alarms: [{ action: 'DISPLAY', trigger: '-PT15M' }] });
    const p = await reminderFor(ev.id);
    expect(p.fireAt).toBe(`${D1}T09:45:00.000Z`);
    await env.app.inject({ method: 'PATCH', url: `/api/v1/events/${ev.id}`, headers: anna, payload: { event: { start: `${D2}T10:00:00`, end: `${D2}T11:00:00`, timezone: 'UTC' } } });
    const count = sink.messages.length;
    expect(await fireReminder(env.ctx, p)).toBe('replanned');
    expect((await reminderFor(ev.id)).fireAt).toBe(`${D2}T09:45:00.000Z`);
    await env.app.inject({ method: 'DELETE', url: `/api/v1/events/${ev.id}`, headers: anna });
    expect(await fireReminder(env.ctx, await Promise.resolve({ ...p, fireAt: `${D2}T09:45:00.000Z`, occurrenceStart: `${D2}T10:00:00.000Z` }))).toBe('dropped');
    // Declined: Boris declines an invitation with a default reminder.
    const inv = await createEvent(anna, annaCal, { summary: 'Declined one', start: `${D3}T10:00:00Z`, end: `${D3}T11:00:00Z`, attendees: [{ email: 'boris@example.com' }] });
    const copy = await eventually(async () => objects.findByUid(env.ctx.db, borisId, inv.uid), 10_000, 'copy');
    await env.app.inject({ method: 'POST', url: `/api/v1/events/${copy.id}/respond`, headers: boris, payload: { partstat: 'DECLINED' } });
    expect(await fireReminder(env.ctx, { ownerId: borisId, objectId: copy.id, fireAt: `${D3}T09:45:00.000Z`, occurrenceStart: `${D3}T10:00:00.000Z` })).toBe('dropped');
    await sleep(300);
    expect(sink.messages.slice(count).some((m) => /Reminder/.test(m.parsed.subject ?? ''))).toBe(false);
  });

  it('every ACTION: a recurring event plans the next occurrence after firing', async () => {
    const start = new Date(Date.now() + 3600_000);
    start.setUTCSeconds(0, 0);
    const ev = await createEvent(anna, annaCal, { summary: 'Daily', start: start.toISOString(), end: new Date(start.getTime() + 1800_000).toISOString(), rrule: 'FREQ=DAILY;COUNT=3', alarms: [{ action: 'EMAIL', trigger: '-PT5M' }] });
    const p = await reminderFor(ev.id);
    expect(await fireReminder(env.ctx, p)).toBe('sent');
    const { sql } = await import('kysely');
    const next = (await sql<{ fire_at: Date }>`select fire_at from reminder where owner_id = ${annaId} and object_id = ${ev.id}`.execute(env.ctx.db)).rows[0];
    expect(next!.fire_at.getTime()).toBe(new Date(p.fireAt!).getTime() + 86400_000);
  });
});

describe('no SMTP configured', () => {
  it('mail goes to the local outbox, readable by admins over REST', async () => {
    const dir = `/tmp/calendula-outbox-${process.pid}`;
    const env2 = await createTestEnv({ mailDomains: ['example.com'], dataDir: dir, mailFrom: 'calendar@example.com' });
    try {
      const a = await makeUser(env2.ctx, 'admin@example.com', { admin: true });
      const ical = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//T//EN', 'METHOD:REQUEST', 'BEGIN:VEVENT', 'UID:outbox-1', 'DTSTAMP:20300101T000000Z', 'DTSTART:20310101T100000Z', 'DTEND:20310101T110000Z', 'SUMMARY:Outbox',
        'ORGANIZER:mailto:admin@example.com', 'ATTENDEE;RSVP=TRUE:mailto:x@partner.org', 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
      expect(await sendImip(env2.ctx, { ownerId: a.id, uid: 'outbox-1', method: 'REQUEST', sender: 'admin@example.com', recipient: 'x@partner.org', ical, significant: true, deliveryId: 'ob-1' })).toBe('sent');
      const h = await signInHeaders(env2.app, 'admin@example.com');
      const list = (await env2.app.inject({ method: 'GET', url: '/api/v1/admin/outbox', headers: h })).json().items;
      const item = list.find((i: { name: string }) => i.name.startsWith('imip.ob-1'));
      expect(item).toBeTruthy();
      const one = await env2.app.inject({ method: 'GET', url: `/api/v1/admin/outbox/${item.name}`, headers: h });
      expect(one.statusCode).toBe(200);
      expect(one.body).toMatch(/METHOD:REQUEST/);
    } finally {
      await env2.close();
    }
  });
});
