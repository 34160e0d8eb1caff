/**
 * "Propose a new time" (iTIP COUNTER, RFC 5546 §3.2.7) and the organizer's decision
 * (accept → the event moves; decline → DECLINECOUNTER §3.2.8 or a notification), end to end
 * with real PostgreSQL and the worker: internal and external organizers, one occurrence of a
 * series, outdated proposals (§2.1.5), and who may do what.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, eventually, startTestWorker, type TestEnv } from '../support/harness.js';
import { create, ev, occurrences, user, type TestUser } from './_helpers.js';
import { saveObject } from '../../src/app/events/write.js';
import { receiveMail } from '../../src/app/intake/receive.js';
import { processInbound } from '../../src/app/intake/process.js';
import { listDecisions } from '../../src/store/mail.js';
import { renderEmail } from '../../src/app/notify/email-channel.js';
import * as principals from '../../src/store/principals.js';

const dataDir = `/tmp/calendula-test-proposals-${process.pid}`;
let env: TestEnv;
let worker: { stop(): Promise<void> };
let anna: TestUser;
let boris: TestUser;
let carl: TestUser;
let dave: TestUser;

const copyOf = (u: TestUser, uid: string) => env.ctx.db.selectFrom('calendar_object').selectAll().where('owner_id', '=', u.id).where('uid', '=', uid).where('deleted_at', 'is', null).executeTakeFirst();
const unfold = (s: string) => s.replace(/=\r?\n/g, '').replace(/\r?\n[ \t]/g, '');

/** The first outbox mail (as written, soft line breaks and folding undone) matching every pattern. */
async function outboxMail(...patterns: RegExp[]): Promise<string> {
  const dir = join(dataDir, 'outbox');
  return eventually(async () => {
    for (const n of await readdir(dir).catch(() => [] as string[])) {
      const t = unfold(await readFile(join(dir, n), 'utf8'));
      if (patterns.every((p) => p.test(t))) return t;
    }
    return null;
  }, 10_000, `outbox mail ${patterns.join(' ')}`);
}

const notified = (u: TestUser, kind: string, uid: string) => eventually(() => env.ctx.db.selectFrom('delivery_log').selectAll()
  .where('owner_id', '=', u.id).where('kind', '=', kind).where('uid', '=', uid).where('status', '=', 'sent').executeTakeFirst(), 10_000, `${kind} notification to ${u.email}`);

/** An event by Anna with the given attendees, and every attendee's copy delivered. */
async function meeting(summary: string, attendees: TestUser[], extra: Record<string, unknown> = {}) {
  const e = await create(anna, ev(summary, '2032-06-01T10:00:00', '2032-06-01T11:00:00', { attendees: attendees.map((a) => ({ email: a.email })), ...extra }));
  const copies = [];
  for (const a of attendees) copies.push(await eventually(() => copyOf(a, e.uid), 10_000, `${a.email} copy`));
  return { e, copies };
}

beforeAll(async () => {
  env = await createTestEnv({ mailDomains: ['example.com'], mailFrom: 'calendar@example.com', dataDir });
  anna = await user(env, 'anna@example.com', 'Anna');
  boris = await user(env, 'boris@example.com', 'Boris');
  carl = await user(env, 'carl@example.com', 'Carl');
  dave = await user(env, 'dave@example.com', 'Dave');
  worker = await startTestWorker(env);
});
afterAll(async () => {
  await worker.stop();
  await env.close();
});

describe('an internal attendee proposes a new time to an internal organizer', () => {
  it('the organizer lists it, is notified, accepts: the event moves and the attendees\' copies follow', async () => {
    const { e, copies: [b] } = await meeting('Planning', [boris, carl]);
    const r = await boris.api.post(`/events/${b.id}/propose`, { start: '2032-06-01T16:00', end: '2032-06-01T17:30', timezone: 'Europe/Moscow', comment: 'Afternoon please' });
    expect(r.statusCode, r.body).toBe(202);
    expect(r.json()).toMatchObject({ delivery: 'internal', organizer: 'anna@example.com' });
    const pid = r.json().proposalId as string;
    // Boris's own copy does not move: only the organizer can (RFC 6638 §3.2.2.1).
    expect((await copyOf(boris, e.uid))!.first_start!.toISOString()).toBe('2032-06-01T10:00:00.000Z');

    const list = (await anna.api.get('/proposals')).json().items;
    const p = list.find((x: { id: string }) => x.id === pid);
    expect(p).toMatchObject({ sender: 'boris@example.com', method: 'COUNTER', outcome: 'counter', objectId: e.id, uid: e.uid });
    expect(p.details).toMatchObject({ from: 'boris@example.com', comment: 'Afternoon please' });
    // One place for all proposals: the held list (COUNTERs by mail) shows it too.
    expect((await anna.api.get('/intake/held')).json().items.some((x: { id: string }) => x.id === pid)).toBe(true);
    // Nobody else sees it.
    expect((await boris.api.get('/proposals')).json().items.some((x: { id: string }) => x.id === pid)).toBe(false);
    await notified(anna, 'counter', e.uid);

    const acc = await anna.api.post(`/proposals/${pid}/accept`, {});
    expect(acc.statusCode, acc.body).toBe(200);
    const after = (await anna.api.get(`/events/${e.id}`)).json();
    // 16:00 Moscow = 13:00 UTC.
    expect((await copyOf(anna, e.uid))!.first_start!.toISOString()).toBe('2032-06-01T13:00:00.000Z');
    expect(after.sequence).toBeGreaterThan(e.sequence);
    for (const u of [boris, carl]) {
      await eventually(async () => (await copyOf(u, e.uid))?.first_start?.toISOString() === '2032-06-01T13:00:00.000Z', 10_000, `${u.email} copy moved`);
      expect((await copyOf(u, e.uid))!.last_end!.toISOString()).toBe('2032-06-01T14:30:00.000Z');
    }
    expect((await anna.api.get('/proposals')).json().items.some((x: { id: string }) => x.id === pid)).toBe(false);
    // Decided once.
    expect((await anna.api.post(`/proposals/${pid}/accept`, {})).statusCode).toBe(409);
  });

  it('a newer proposal from the same attendee replaces the pending one; another attendee\'s stays', async () => {
    const { copies: [b, c] } = await meeting('Planning poker', [boris, carl]);
    const first = await boris.api.post(`/events/${b.id}/propose`, { start: '2032-06-03T09:00', end: '2032-06-03T10:00', timezone: 'UTC' });
    const other = await carl.api.post(`/events/${c.id}/propose`, { start: '2032-06-03T12:00', end: '2032-06-03T13:00', timezone: 'UTC' });
    const second = await boris.api.post(`/events/${b.id}/propose`, { start: '2032-06-04T09:00', end: '2032-06-04T10:00', timezone: 'UTC', comment: 'Thursday works better' });
    for (const r of [first, other, second]) expect(r.statusCode, r.body).toBe(202);
    const pending = (await anna.api.get('/proposals')).json().items.map((x: { id: string }) => x.id);
    expect(pending).toEqual(expect.arrayContaining([other.json().proposalId, second.json().proposalId]));
    expect(pending).not.toContain(first.json().proposalId);
    const replaced = (await listDecisions(env.ctx.db, { ownerId: anna.id, limit: 50 })).find((x) => x.id === first.json().proposalId);
    expect(replaced).toMatchObject({ outcome: 'discarded', reason: expect.stringMatching(/newer proposal/) });
    expect((await anna.api.post(`/proposals/${first.json().proposalId}/accept`)).statusCode).toBe(409);
  });

  it('declining tells the proposer and leaves the event as it was', async () => {
    const { e, copies: [, c] } = await meeting('Retro', [boris, carl]);
    const r = await carl.api.post(`/events/${c.id}/propose`, { start: '2032-06-02T09:00', end: '2032-06-02T10:00', timezone: 'UTC' });
    expect(r.statusCode, r.body).toBe(202);
    const before = await copyOf(anna, e.uid);
    const d = await anna.api.post(`/proposals/${r.json().proposalId}/decline`, { comment: 'Tuesday is full' });
    expect(d.statusCode, d.body).toBe(200);
    await notified(carl, 'counter-declined', e.uid);
    const mail = await outboxMail(/^To: .*carl@example\.com/mi, /declined the time you proposed/);
    expect(mail).toMatch(/Tuesday is full/);
    const now = await copyOf(anna, e.uid);
    expect(now!.etag).toBe(before!.etag);
    expect(now!.first_start!.toISOString()).toBe('2032-06-01T10:00:00.000Z');
    expect((await copyOf(carl, e.uid))!.first_start!.toISOString()).toBe('2032-06-01T10:00:00.000Z');
    const closed = (await listDecisions(env.ctx.db, { ownerId: anna.id, limit: 50 })).find((x) => x.id === r.json().proposalId);
    expect(closed?.outcome).toBe('discarded');
    // No DECLINECOUNTER is mailed to an internal proposer: they were notified instead.
    expect(await readdir(join(dataDir, 'outbox')).then(async (ns) => {
      for (const n of ns) if (/METHOD:DECLINECOUNTER/.test(await readFile(join(dataDir, 'outbox', n), 'utf8')) && /carl@example\.com/.test(await readFile(join(dataDir, 'outbox', n), 'utf8'))) return true;
      return false;
    })).toBe(false);
  });

  it('a proposal for one occurrence moves only that occurrence (an override is created)', async () => {
    const { e, copies: [b] } = await meeting('Daily', [boris], { rrule: 'FREQ=DAILY;COUNT=5' });
    const r = await boris.api.post(`/events/${b.id}/propose`, { start: '2032-06-03T15:00', end: '2032-06-03T16:00', timezone: 'UTC', recurrenceId: '20320603T100000Z' });
    expect(r.statusCode, r.body).toBe(202);
    const p = (await anna.api.get('/proposals')).json().items.find((x: { id: string }) => x.id === r.json().proposalId);
    expect(p.details.recurrenceId).toBeTruthy();
    expect((await anna.api.post(`/proposals/${r.json().proposalId}/accept`)).statusCode).toBe(200);
    const occ = (await occurrences(anna, '2032-06-01T00:00:00Z', '2032-06-06T00:00:00Z')).filter((o) => o.uid === e.uid).map((o) => o.start).sort();
    expect(occ).toHaveLength(5);
    expect(occ.map((s: string) => new Date(s).toISOString())).toEqual([
      '2032-06-01T10:00:00.000Z', '2032-06-02T10:00:00.000Z', '2032-06-03T15:00:00.000Z', '2032-06-04T10:00:00.000Z', '2032-06-05T10:00:00.000Z',
    ]);
    const text = unfold((await copyOf(anna, e.uid))!.ical);
    expect(text).toMatch(/RECURRENCE-ID[^\r\n]*:20320603T100000Z/);
    // Boris's copy gets the moved occurrence only.
    await eventually(async () => /RECURRENCE-ID[^\r\n]*:20320603T100000Z/.test(unfold((await copyOf(boris, e.uid))!.ical)), 10_000, 'override on the attendee copy');
    expect((await copyOf(boris, e.uid))!.first_start!.toISOString()).toBe('2032-06-01T10:00:00.000Z');
  });

  it('a proposal made against an older version is refused (STALE_PROPOSAL) and stays open', async () => {
    const { e, copies: [b] } = await meeting('Sync', [boris]);
    const r = await boris.api.post(`/events/${b.id}/propose`, { start: '2032-06-01T12:00', end: '2032-06-01T13:00', timezone: 'UTC' });
    expect(r.statusCode, r.body).toBe(202);
    const pid = r.json().proposalId;
    // The organizer moves the event meanwhile: SEQUENCE goes up (RFC 5546 §2.1.4).
    const moved = await anna.api.patch(`/events/${e.id}`, { event: { start: '2032-06-01T08:00:00', end: '2032-06-01T09:00:00' } });
    expect(moved.statusCode, moved.body).toBe(200);
    const acc = await anna.api.post(`/proposals/${pid}/accept`, {});
    expect(acc.statusCode, acc.body).toBe(409);
    expect(acc.json().error).toBe('STALE_PROPOSAL');
    const ru = await anna.api.post(`/proposals/${pid}/accept`, {}, { 'accept-language': 'ru' });
    expect(ru.json().error).toBe('STALE_PROPOSAL');
    expect(ru.json().message).toMatch(/устарело/);
    expect((await copyOf(anna, e.uid))!.first_start!.toISOString()).toBe('2032-06-01T08:00:00.000Z');
    // Still waiting: the organizer can decline it, or change the event by hand.
    expect((await anna.api.get('/proposals')).json().items.some((x: { id: string }) => x.id === pid)).toBe(true);
    expect((await anna.api.post(`/proposals/${pid}/decline`, {})).statusCode).toBe(200);
  });
});

describe('accepting is one transaction', () => {
  it('when the save fails the proposal stays open (the decision is not closed alone)', async () => {
    const { e, copies: [b] } = await meeting('Locked', [boris]);
    const r = await boris.api.post(`/events/${b.id}/propose`, { start: '2032-06-01T12:00', end: '2032-06-01T13:00', timezone: 'UTC' });
    expect(r.statusCode, r.body).toBe(202);
    // Dave, who may edit Anna's calendar, is editing the event: the organizer's save is refused.
    expect((await anna.api.put(`/calendars/${anna.cal}/shares`, { email: dave.email, access: 'read-write' })).statusCode).toBe(200);
    expect((await dave.api.post(`/events/${e.id}/lease`)).statusCode).toBe(200);
    const acc = await anna.api.post(`/proposals/${r.json().proposalId}/accept`, {});
    expect(acc.statusCode, acc.body).toBe(423);
    expect((await anna.api.get('/proposals')).json().items.some((x: { id: string }) => x.id === r.json().proposalId)).toBe(true);
    expect((await copyOf(anna, e.uid))!.first_start!.toISOString()).toBe('2032-06-01T10:00:00.000Z');
    expect((await dave.api.del(`/events/${e.id}/lease`)).statusCode).toBe(204);
    expect((await anna.api.post(`/proposals/${r.json().proposalId}/accept`, {})).statusCode).toBe(200);
    expect((await copyOf(anna, e.uid))!.first_start!.toISOString()).toBe('2032-06-01T12:00:00.000Z');
    expect((await anna.api.del(`/calendars/${anna.cal}/shares/${dave.id}`)).statusCode).toBeLessThan(300);
  });
});

describe('external parties', () => {
  it('to an external organizer the COUNTER goes out by iMIP (METHOD:COUNTER in the outbox)', async () => {
    const uid = `ext-org-${Date.now()}`;
    const text = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Test//EN', 'BEGIN:VEVENT', `UID:${uid}`, 'DTSTAMP:20300101T000000Z', 'DTSTART:20320801T100000Z', 'DTEND:20320801T110000Z',
      'SUMMARY:Vendor call', 'SEQUENCE:3', 'ORGANIZER;CN=Olga:mailto:olga@partner.org', 'ATTENDEE;PARTSTAT=ACCEPTED:mailto:olga@partner.org',
      'ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:boris@example.com', 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
    const { row } = await saveObject(env.ctx, { userId: boris.id, email: boris.email, via: 'mail' }, { ownerId: boris.id, calendarId: boris.cal, ical: text, schedule: false });
    expect(row.role).toBe('attendee');
    const r = await boris.api.post(`/events/${row.id}/propose`, { start: '2032-08-01T14:00', end: '2032-08-01T15:00', timezone: 'UTC', comment: 'Later?' });
    expect(r.statusCode, r.body).toBe(202);
    expect(r.json()).toMatchObject({ delivery: 'imip', organizer: 'olga@partner.org' });
    const mail = await outboxMail(/METHOD:COUNTER/, new RegExp(`UID:${uid}`));
    expect(mail).toMatch(/^To: .*olga@partner\.org/mi);
    expect(mail).toMatch(/DTSTART[^\r\n]*:20320801T140000Z/);
    expect(mail).toMatch(/SEQUENCE:3/);
    expect(mail).toMatch(/ATTENDEE[^\r\n]*mailto:boris@example\.com/i);
    expect(mail).not.toMatch(/ATTENDEE[^\r\n]*mailto:olga@partner\.org/i);
    expect(mail).toMatch(/COMMENT:Later\?/);
    // The attendee's copy is unchanged.
    expect((await copyOf(boris, uid))!.etag).toBe(row.etag);
  });

  it('declining a COUNTER received by mail sends DECLINECOUNTER to the external proposer', async () => {
    const e = await create(anna, ev('Supplier review', '2032-09-01T10:00:00', '2032-09-01T11:00:00', { attendees: [{ email: 'pavel@partner.org' }] }));
    const seq = (await copyOf(anna, e.uid))!.sequence;
    const counter = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Test//EN', 'METHOD:COUNTER', 'BEGIN:VEVENT', `UID:${e.uid}`, 'DTSTAMP:20300106T000000Z', `SEQUENCE:${seq}`,
      'DTSTART:20320901T140000Z', 'DTEND:20320901T150000Z', 'SUMMARY:Supplier review', 'ORGANIZER:mailto:anna@example.com', 'ATTENDEE;PARTSTAT=TENTATIVE:mailto:pavel@partner.org',
      'COMMENT:Afternoon?', 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
    const raw = Buffer.from(['From: pavel@partner.org', 'To: anna@example.com', 'Subject: COUNTER', `Message-ID: <${Date.now()}@partner.org>`, 'MIME-Version: 1.0',
      'Content-Type: text/calendar; method=COUNTER; charset=utf-8', '', counter].join('\r\n'));
    const id = await receiveMail(env.ctx, raw, { from: 'pavel@partner.org', to: ['anna@example.com'] }, 'http');
    await processInbound(env.ctx, id);
    const [d] = await listDecisions(env.ctx.db, { inboundId: id, limit: 5 });
    expect(d).toMatchObject({ code: 'COUNTER_PROPOSAL', outcome: 'counter' });
    expect((await anna.api.get('/proposals')).json().items.some((x: { id: string }) => x.id === d.id)).toBe(true);
    const before = await copyOf(anna, e.uid);
    const r = await anna.api.post(`/proposals/${d.id}/decline`, { comment: 'Mornings only' });
    expect(r.statusCode, r.body).toBe(200);
    const mail = await outboxMail(/METHOD:DECLINECOUNTER/, new RegExp(`UID:${e.uid}`));
    expect(mail).toMatch(/^To: .*pavel@partner\.org/mi);
    expect(mail).toMatch(/COMMENT:Mornings only/);
    expect(mail).toMatch(/ATTENDEE[^\r\n]*mailto:pavel@partner\.org/i);
    expect((await copyOf(anna, e.uid))!.etag).toBe(before!.etag);
  });
});

describe('who may propose and decide', () => {
  it('a non-attendee cannot propose; only the organizer can decide', async () => {
    const { e, copies: [b] } = await meeting('Private', [boris]);
    const body = { start: '2032-06-01T12:00', end: '2032-06-01T13:00', timezone: 'UTC' };
    // Dave cannot even see Anna's event or Boris's copy.
    expect((await dave.api.post(`/events/${e.id}/propose`, body)).statusCode).toBe(404);
    expect((await dave.api.post(`/events/${b.id}/propose`, body)).statusCode).toBe(404);
    // Even write access to the attendee's calendar does not make Dave the attendee.
    expect((await boris.api.put(`/calendars/${boris.cal}/shares`, { email: dave.email, access: 'read-write' })).statusCode).toBe(200);
    const shared = await dave.api.post(`/events/${b.id}/propose`, body);
    expect(shared.statusCode, shared.body).toBe(403);
    // The organizer changes the event directly.
    const own = await anna.api.post(`/events/${e.id}/propose`, body);
    expect(own.statusCode).toBe(409);
    // An event of one's own without attendees: nobody to propose to.
    const mine = await create(dave, ev('Solo', '2032-06-01T10:00:00', '2032-06-01T11:00:00'));
    const solo = await dave.api.post(`/events/${mine.id}/propose`, body);
    expect(solo.statusCode, solo.body).toBe(403);
    // Bad input.
    expect((await boris.api.post(`/events/${b.id}/propose`, { ...body, end: '2032-06-01T11:00' })).statusCode).toBe(400);
    expect((await boris.api.post(`/events/${b.id}/propose`, { ...body, recurrenceId: '20320602T100000Z' })).statusCode).toBe(400);

    const r = await boris.api.post(`/events/${b.id}/propose`, body);
    expect(r.statusCode, r.body).toBe(202);
    const pid = r.json().proposalId;
    for (const u of [boris, dave]) {
      expect((await u.api.post(`/proposals/${pid}/accept`, {})).statusCode).toBe(404);
      expect((await u.api.post(`/proposals/${pid}/decline`, {})).statusCode).toBe(404);
      expect((await u.api.post(`/intake/held/${pid}/accept`)).statusCode).toBe(404);
    }
    expect((await copyOf(anna, e.uid))!.first_start!.toISOString()).toBe('2032-06-01T10:00:00.000Z');
    expect((await anna.api.post(`/proposals/${pid}/accept`, {})).statusCode).toBe(200);
  });
});

describe('texts', () => {
  it('the counter-declined notification exists in Russian and English', async () => {
    const row = (await principals.findPrincipalById(env.ctx.db, carl.id))!;
    const n = (language: 'ru' | 'en') => ({
      kind: 'counter-declined' as const, recipient: { ...row, language }, key: `k.${language}`, from: { email: 'anna@example.com', name: 'Anna' },
      event: { objectId: '00000000-0000-0000-0000-000000000000', uid: 'u', summary: 'Retro', start: new Date('2032-06-01T10:00:00Z'), allDay: false, url: 'https://x/' },
      declined: { by: 'Anna', start: '2032-06-02T09:00:00Z', comment: 'No' },
    });
    const en = renderEmail(env.ctx, n('en'));
    const ru = renderEmail(env.ctx, n('ru'));
    expect(en.subject).toBe('Proposal declined: Retro');
    expect(String(en.text)).toMatch(/Anna declined the time you proposed/);
    expect(ru.subject).toBe('Предложение отклонено: Retro');
    expect(String(ru.text)).toMatch(/Anna отклонил\(а\) предложенное вами время/);
  });
});
