// Implicit scheduling through CalDAV (RFC 6638): organizer PUT → attendee copy; attendee PARTSTAT PUT → REPLY.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestWorker } from '../support/harness.js';
import { createDavEnv, dav, davUser, responses, vevent, type DavTestEnv, type DavUser } from './support.js';

let env: DavTestEnv;
let anna: DavUser;
let boris: DavUser;
let worker: { stop(): Promise<void> } | undefined;

beforeAll(async () => {
  env = await createDavEnv({ mailDomains: ['example.com'] } as never);
  anna = await davUser(env, 'anna@example.com');
  boris = await davUser(env, 'boris@example.com');
  await davUser(env, 'room-blue@example.com', { kind: 'room', name: 'Blue room' });
  worker = (await startTestWorker(env)) as never;
}, 60_000);
afterAll(async () => {
  await worker?.stop();
  await env?.close();
});

async function borisCopy() {
  const r = await dav(env, 'REPORT', boris.defaultCalendar, { user: boris, headers: { depth: '1' }, body: '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:schedule-tag/><C:calendar-data/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:prop-filter name="UID"><C:text-match collation="i;octet">meeting-1</C:text-match></C:prop-filter></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>' });
  const [entry] = [...responses(r.xml()).entries()];
  return entry ? { href: entry[0], data: entry[1].props.get('calendar-data')!.text, etag: entry[1].props.get('getetag')!.text, stag: entry[1].props.get('schedule-tag')?.text } : null;
}

describe('scheduling through CalDAV', () => {
  it('organizer PUT delivers the attendee copy; it shows in the attendee\'s inbox; Schedule-Tag is sent', async () => {
    const r = await dav(env, 'PUT', `${anna.defaultCalendar}meeting-1.ics`, { user: anna, body: vevent('meeting-1', { summary: 'Planning', organizer: anna.email, attendees: [{ email: anna.email, partstat: 'ACCEPTED' }, { email: boris.email }] }) });
    expect(r.status).toBe(201);
    expect(r.headers.get('schedule-tag')).toMatch(/^"/);
    const copy = await eventually(borisCopy, 15_000, 'attendee copy');
    expect(copy.data).toContain('SUMMARY:Planning');
    expect(copy.stag).toBeTruthy();
    const inbox = await dav(env, 'PROPFIND', `${boris.home}inbox/`, { user: boris, headers: { depth: '1' }, body: '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>' });
    const items = [...responses(inbox.xml()).keys()].filter((h) => h !== `${boris.home}inbox/`);
    expect(items).toHaveLength(1);
    const item = await dav(env, 'GET', items[0]!, { user: boris });
    expect(item.text).toContain('METHOD:REQUEST');
    expect(item.text).toContain('UID:meeting-1');
  });

  it('attendee PUT of PARTSTAT=ACCEPTED becomes a REPLY that updates the organizer\'s copy', async () => {
    const copy = (await borisCopy())!;
    // If-Schedule-Tag-Match with a stale tag fails.
    let r = await dav(env, 'PUT', copy.href, { user: boris, body: copy.data, headers: { 'if-schedule-tag-match': '"stale"' } });
    expect(r.status).toBe(412);
    const accepted = copy.data.replace(/ATTENDEE;([^\r\n]*)PARTSTAT=NEEDS-ACTION([^\r\n]*):mailto:boris@example.com/i, 'ATTENDEE;$1PARTSTAT=ACCEPTED$2:mailto:boris@example.com');
    expect(accepted).not.toBe(copy.data);
    r = await dav(env, 'PUT', copy.href, { user: boris, body: accepted, headers: { 'if-schedule-tag-match': copy.stag!, 'content-type': 'text/calendar' } });
    expect(r.status).toBe(204);
    await eventually(async () => {
      const g = await dav(env, 'GET', `${anna.defaultCalendar}meeting-1.ics`, { user: anna });
      return /PARTSTAT=ACCEPTED[^\r\n]*:mailto:boris@example.com/i.test(g.text.replace(/\r\n[ \t]/g, ''));
    }, 15_000, 'organizer copy updated');
    // The invitation has been answered: the inbox is empty.
    const inbox = await dav(env, 'PROPFIND', `${boris.home}inbox/`, { user: boris, headers: { depth: '1' } });
    expect([...responses(inbox.xml()).keys()]).toEqual([`${boris.home}inbox/`]);
  });

  it('an attendee may not change the time (allowed-attendee-object-change)', async () => {
    const copy = (await borisCopy())!;
    const r = await dav(env, 'PUT', copy.href, { user: boris, body: copy.data.replace('DTSTART:20300110T100000Z', 'DTSTART:20300110T090000Z') });
    expect(r.status).toBe(403);
    expect(r.text).toContain('allowed-attendee-object-change');
  });

  it('POST to the outbox answers a VFREEBUSY request for a user and a room', async () => {
    const body = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Apple Inc.//Mac OS X//EN', 'METHOD:REQUEST', 'BEGIN:VFREEBUSY', 'UID:fb-1', 'DTSTAMP:20240101T000000Z',
      'DTSTART:20300110T000000Z', 'DTEND:20300111T000000Z', `ORGANIZER:mailto:${anna.email}`, `ATTENDEE:mailto:${boris.email}`, 'ATTENDEE:mailto:room-blue@example.com', 'ATTENDEE:mailto:nobody@example.com',
      'END:VFREEBUSY', 'END:VCALENDAR', ''].join('\r\n');
    const r = await dav(env, 'POST', `${anna.home}outbox/`, { user: anna, body, headers: { 'content-type': 'text/calendar' } });
    expect(r.status).toBe(200);
    const ms = r.xml();
    expect(ms.name).toBe('schedule-response');
    const byRecipient = new Map(ms.children.map((resp) => [resp.children[0]!.children[0]!.text, resp]));
    const b = byRecipient.get(`mailto:${boris.email}`)!;
    expect(b.children.find((c) => c.name === 'request-status')!.text).toMatch(/^2\.0/);
    expect(b.children.find((c) => c.name === 'calendar-data')!.text).toContain('FREEBUSY;FBTYPE=BUSY:20300110T100000Z/20300110T110000Z');
    expect(byRecipient.get('mailto:room-blue@example.com')!.children.find((c) => c.name === 'request-status')!.text).toMatch(/^2\.0/);
    expect(byRecipient.get('mailto:nobody@example.com')!.children.find((c) => c.name === 'request-status')!.text).toMatch(/^3\.7/);
  });
});
