/**
 * Who may link an attachment into an event (app/attachments.ts syncAttachmentUses): an id alone in
 * an ATTACH;X-CALENDULA-ID=… must never grant access to someone else's file, over CalDAV or REST.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestWorker } from '../support/harness.js';
import { createDavEnv, dav, type DavTestEnv } from '../dav/support.js';
import { create, ev, user, type TestUser } from './_helpers.js';
import { createAppPassword } from '../../src/app/accounts.js';

let env: DavTestEnv;
let worker: { stop(): Promise<void> };
type U = TestUser & { auth: string; calPath: string };
let anna: U;
let boris: U;
let eve: U;

async function davCapable(email: string, name: string): Promise<U> {
  const u = await user(env, email, name);
  const ap = await createAppPassword(env.ctx, { userId: u.id, email, via: 'rest' }, 'test');
  return { ...u, auth: `Basic ${Buffer.from(`${email}:${ap.password}`).toString('base64')}`, calPath: `/dav/calendars/${email}/${u.cal}/` };
}

beforeAll(async () => {
  env = await createDavEnv({ mailDomains: ['example.com'], dataDir: `/tmp/calendula-test-attlinks-${process.pid}` });
  anna = await davCapable('anna@example.com', 'Anna');
  boris = await davCapable('boris@example.com', 'Boris');
  eve = await davCapable('eve@example.com', 'Eve');
  worker = await startTestWorker(env);
});
afterAll(async () => {
  await worker.stop();
  await env.close();
});

const upload = async (u: TestUser, name: string, body = 'secret minutes') => {
  const boundary = '----calendula' + Math.random().toString(16).slice(2);
  const payload = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: text/plain\r\n\r\n`),
    Buffer.from(body),
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const r = await env.app.inject({ method: 'POST', url: '/api/v1/attachments', headers: { ...u.h, 'content-type': `multipart/form-data; boundary=${boundary}` }, payload });
  expect(r.statusCode, r.body).toBe(201);
  return r.json() as { id: string };
};

const attachLine = (id: string) => `ATTACH;FMTTYPE=text/plain;FILENAME=minutes.txt;X-CALENDULA-ID=${id}:https://calendula.test/api/v1/attachments/${id}`;
const uses = (ownerId: string, id: string) => env.ctx.db.selectFrom('attachment_use').select('object_id').where('owner_id', '=', ownerId).where('attachment_id', '=', id).execute();
const vcal = (uid: string, extra: string[]) => ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//t//EN', 'BEGIN:VEVENT', `UID:${uid}`, 'DTSTAMP:20240101T000000Z',
  'DTSTART:20330401T100000Z', 'DTEND:20330401T110000Z', 'SUMMARY:x', ...extra, 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');

describe('attachment links', () => {
  it('an outsider who knows the id cannot link it: CalDAV PUT refused with ATTACHMENT_FORBIDDEN, REST refused, import links nothing', async () => {
    const att = await upload(anna, 'minutes.txt');
    const put = await dav(env, 'PUT', `${eve.calPath}steal.ics`, { auth: eve.auth, body: vcal('steal-1', [attachLine(att.id)]) });
    expect(put.status, put.text).toBe(403);
    expect(put.text).toMatch(/attachment-not-allowed/);
    expect(await uses(eve.id, att.id)).toEqual([]);
    expect((await eve.api.get(`/attachments/${att.id}`)).statusCode).toBe(404);
    // In Russian too (the DAV error text follows Accept-Language).
    const ru = await dav(env, 'PUT', `${eve.calPath}steal.ics`, { auth: eve.auth, body: vcal('steal-1', [attachLine(att.id)]), headers: { 'accept-language': 'ru' } });
    expect(ru.status).toBe(403);
    // REST: the attachments field.
    const r = await eve.api.post('/events', { calendarId: eve.cal, event: ev('steal', '2033-04-01T10:00:00', '2033-04-01T11:00:00', { attachments: [{ id: att.id }] }) });
    expect(r.statusCode).toBe(400);
    // REST: an .ics import carrying the id stores the event but links nothing.
    const imp = await env.app.inject({ method: 'POST', url: `/api/v1/calendars/${eve.cal}/import`, headers: { ...eve.h, 'content-type': 'text/calendar' }, payload: vcal('steal-2', [attachLine(att.id)]) });
    expect(imp.statusCode, imp.body).toBe(202);
    await eventually(async () => (await eve.api.get(`/imports/${imp.json().importId}`)).json().state === 'done', 10_000, 'import');
    expect(await env.ctx.db.selectFrom('calendar_object').select('id').where('owner_id', '=', eve.id).where('uid', '=', 'steal-2').executeTakeFirst()).toBeTruthy();
    expect(await uses(eve.id, att.id)).toEqual([]);
    expect((await eve.api.get(`/attachments/${att.id}`)).statusCode).toBe(404);
    // The file is still garbage once nothing legitimate references it.
    const refs = await env.ctx.db.selectFrom('attachment_use').select('owner_id').where('attachment_id', '=', att.id).execute();
    expect(refs).toEqual([]);
  });

  it('the owner links her upload over CalDAV; an attendee copy can download; the attendee may rewrite his copy; removed, he loses access and cannot re-link it', async () => {
    const att = await upload(anna, 'agenda.txt', 'agenda');
    const text = vcal('meet-1', ['ORGANIZER:mailto:anna@example.com', 'ATTENDEE;PARTSTAT=ACCEPTED:mailto:anna@example.com', 'ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:boris@example.com', attachLine(att.id)]);
    const put = await dav(env, 'PUT', `${anna.calPath}meet-1.ics`, { auth: anna.auth, body: text });
    expect(put.status, put.text).toBe(201);
    await eventually(async () => (await boris.api.get(`/attachments/${att.id}`)).statusCode === 200, 10_000, 'attendee copy download');
    expect((await boris.api.get(`/attachments/${att.id}`)).body).toBe('agenda');
    // Boris answers over CalDAV, keeping the ATTACH in his copy: allowed (his copy already had it).
    const copy = await env.ctx.db.selectFrom('calendar_object').select(['name', 'ical']).where('owner_id', '=', boris.id).where('uid', '=', 'meet-1').executeTakeFirstOrThrow();
    const answered = copy.ical.replace(/PARTSTAT=NEEDS-ACTION(;RSVP=TRUE)?(:mailto:boris)/i, 'PARTSTAT=ACCEPTED$2');
    const ans = await dav(env, 'PUT', `${boris.calPath}${copy.name}`, { auth: boris.auth, body: answered });
    expect(ans.status, ans.text).toBeLessThan(300);
    expect((await boris.api.get(`/attachments/${att.id}`)).statusCode).toBe(200);
    // Renaming his copy (CalDAV MOVE: the text stored under a new name) carries the link over.
    const mv = await dav(env, 'MOVE', `${boris.calPath}${copy.name}`, { auth: boris.auth, headers: { destination: `${env.base}${boris.calPath}renamed.ics` } });
    expect(mv.status, mv.text).toBeLessThan(300);
    const renamed = await env.ctx.db.selectFrom('calendar_object').select('id').where('owner_id', '=', boris.id).where('name', '=', 'renamed.ics').where('deleted_at', 'is', null).executeTakeFirstOrThrow();
    expect((await uses(boris.id, att.id)).map((u) => u.object_id)).toContain(renamed.id);
    // A REST create by Anna with the field; Boris's copy too.
    const e = await create(anna, ev('Second', '2033-04-02T10:00:00', '2033-04-02T11:00:00', { attendees: [{ email: boris.email }], attachments: [{ id: att.id }] }));
    await eventually(async () => (await uses(boris.id, att.id)).length === 2, 10_000, 'second copy linked');
    // Boris is removed from both events: his copies go, and so does his access.
    const removed = vcal('meet-1', ['ORGANIZER:mailto:anna@example.com', 'ATTENDEE;PARTSTAT=ACCEPTED:mailto:anna@example.com', 'SEQUENCE:1', attachLine(att.id)]);
    expect((await dav(env, 'PUT', `${anna.calPath}meet-1.ics`, { auth: anna.auth, body: removed })).status).toBeLessThan(300);
    expect((await anna.api.patch(`/events/${e.id}`, { event: { attendees: [] } })).statusCode).toBe(200);
    await eventually(async () => (await boris.api.get(`/attachments/${att.id}`)).statusCode === 404, 10_000, 'access gone');
    // He kept the old text and the id: putting it back into his calendar is refused.
    const again = await dav(env, 'PUT', `${boris.calPath}kept.ics`, { auth: boris.auth, body: vcal('kept-1', [attachLine(att.id)]) });
    expect(again.status, again.text).toBe(403);
    expect((await boris.api.get(`/attachments/${att.id}`)).statusCode).toBe(404);
  });

  it('a delivery links only what the organizer’s own object references', async () => {
    const annas = await upload(anna, 'annas.txt', 'annas');
    // Eve organizes a meeting with Boris and names Anna's attachment: her write is refused …
    const text = vcal('eve-meet', ['ORGANIZER:mailto:eve@example.com', 'ATTENDEE;PARTSTAT=ACCEPTED:mailto:eve@example.com', 'ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:boris@example.com', attachLine(annas.id)]);
    expect((await dav(env, 'PUT', `${eve.calPath}eve-meet.ics`, { auth: eve.auth, body: text })).status).toBe(403);
    // … and a delivery to Boris of a message naming it (as if the planner had sent it) links nothing.
    const { deliverMessage } = await import('../../src/app/events/deliver.js');
    const msg = text.replace('VERSION:2.0', 'VERSION:2.0\r\nMETHOD:REQUEST');
    await deliverMessage(env.ctx, { recipientId: boris.id, uid: 'eve-meet', method: 'REQUEST', sender: eve.email, significant: true, ical: msg });
    const copy = await env.ctx.db.selectFrom('calendar_object').select('id').where('owner_id', '=', boris.id).where('uid', '=', 'eve-meet').executeTakeFirst();
    expect(copy).toBeTruthy();
    expect(await uses(boris.id, annas.id)).toEqual([]);
    expect((await boris.api.get(`/attachments/${annas.id}`)).statusCode).toBe(404);
  });
});
