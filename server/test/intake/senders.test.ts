// Mail intake, realistic senders (issue 6): Microsoft Teams, Zoom, Google Calendar single-instance
// update and cancellation, an Outlook/Exchange REPLY with a COMMENT — built from the formats these
// products document and send — plus aliases in ATTENDEE, notification preferences and the
// per-recipient job queues of the intake worker.
import nodemailer from 'nodemailer';
import { createServer } from 'node:net';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, makeUser, startTestWorker, eventually, type TestEnv } from '../support/harness.js';
import { receiveMail } from '../../src/app/intake/receive.js';
import { processInbound } from '../../src/app/intake/process.js';
import { saveObject } from '../../src/app/events/write.js';
import { ensureDefaultCalendar } from '../../src/app/calendars.js';
import { extractCalendarParts } from '../../src/integrations/mail/index.js';
import { listDecisions } from '../../src/store/mail.js';
import * as objects from '../../src/store/objects.js';
import * as principals from '../../src/store/principals.js';
import { compileResource } from '../../src/lib/ical/index.js';
import { expandCompiled } from '../../src/lib/ical/expand.js';
import type { PrincipalRow } from '../../src/store/schema.js';

let env: TestEnv;
const users: Record<string, PrincipalRow> = {};

const CRLF = '\r\n';
const unfold = (s: string) => s.replace(/\r\n[ \t]/g, '');
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64').replace(/.{76}/g, `$&${CRLF}`);

async function ingest(raw: string, to?: string[]) {
  const buf = Buffer.from(raw);
  const m = await extractCalendarParts(buf);
  const id = await receiveMail(env.ctx, buf, { from: m.from?.address ?? '', to: to ?? m.to.map((a) => a.address) }, 'http');
  await processInbound(env.ctx, id);
  return listDecisions(env.ctx.db, { inboundId: id, limit: 20 });
}

async function pendingJobs(task: string) {
  const r = await sql<{ payload: Record<string, unknown>; queue_name: string | null; priority: number }>`
    select j.payload, q.queue_name, j.priority from graphile_worker._private_jobs j
    join graphile_worker._private_tasks t on t.id = j.task_id
    left join graphile_worker._private_job_queues q on q.id = j.job_queue_id
    where t.identifier = ${task} order by j.id`.execute(env.ctx.db);
  return r.rows;
}

beforeAll(async () => {
  env = await createTestEnv({ mailDomains: ['example.com'], mailFrom: 'calendar@example.com', dataDir: `/tmp/calendula-intake-senders-${process.pid}` });
  for (const u of ['anna@example.com', 'boris@example.com', 'vera@example.com', 'gleb@example.com', 'dina@example.com']) users[u] = await makeUser(env.ctx, u);
  await env.ctx.db.insertInto('principal_alias').values({ email: 'b.petrov@example.com', principal_id: users['boris@example.com'].id }).execute();
}, 60_000);
afterAll(async () => env.close());

// ---------------------------------------------------------------------------------------------
// Microsoft Teams (Exchange Online): an Outlook meeting request whose VEVENT carries the Teams
// join data in X-MICROSOFT-SKYPETEAMSMEETINGURL / X-MICROSOFT-ONLINEMEETINGCONFLINK, base64 UTF-8.
// ---------------------------------------------------------------------------------------------
const WEST_EUROPE_TZ = ['BEGIN:VTIMEZONE', 'TZID:W. Europe Standard Time', 'BEGIN:STANDARD', 'DTSTART:16010101T030000', 'TZOFFSETFROM:+0200', 'TZOFFSETTO:+0100',
  'RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10', 'END:STANDARD', 'BEGIN:DAYLIGHT', 'DTSTART:16010101T020000', 'TZOFFSETFROM:+0100', 'TZOFFSETTO:+0200',
  'RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3', 'END:DAYLIGHT', 'END:VTIMEZONE'];
const TEAMS_URL = 'https://teams.microsoft.com/l/meetup-join/19%3ameeting_NjQ1ZTk0YjAtZDYxMy00ZGI1LWE0ZjAtOGY0OTk5ZjM4NWJh%40thread.v2/0?context=%7b%22Tid%22%3a%2272f988bf-86f1-41af-91ab-2d7cd011db47%22%2c%22Oid%22%3a%22a1b2c3d4%22%7d';
const TEAMS_UID = '040000008200E00074C5B7101A82E008000000004B1D7E3E2A5BDA01000000000000000010000000D2F1C2E3A4B5C6D7E8F9A0B1C2D3E4F5';

function teamsInvite(o: { sequence: number; start: string; end: string; dtstamp: string; attendee: string }) {
  const ical = ['BEGIN:VCALENDAR', 'METHOD:REQUEST', 'PRODID:Microsoft Exchange Server 2010', 'VERSION:2.0', ...WEST_EUROPE_TZ, 'BEGIN:VEVENT',
    'ORGANIZER;CN=Lena Fischer:mailto:lena.fischer@contoso.com',
    `ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=Boris Petrov:mailto:${o.attendee}`,
    'ATTENDEE;ROLE=OPT-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=Max Weber:mailto:max.weber@contoso.com',
    'DESCRIPTION;LANGUAGE=en-US:Quarterly review\\n\\n_______________________________________________________________________________\\nMicrosoft Teams meeting\\nJoin on your computer\\, mobile app or room device\\nClick here to join the meeting<' + TEAMS_URL + '>\\nMeeting ID: 345 678 912 345\\nPasscode: a1B2c3\\n',
    'UID:' + TEAMS_UID, 'SUMMARY;LANGUAGE=en-US:Quarterly review', `DTSTART;TZID=W. Europe Standard Time:${o.start}`, `DTEND;TZID=W. Europe Standard Time:${o.end}`,
    'CLASS:PUBLIC', 'PRIORITY:5', `DTSTAMP:${o.dtstamp}`, 'TRANSP:OPAQUE', 'STATUS:CONFIRMED', `SEQUENCE:${o.sequence}`, 'LOCATION;LANGUAGE=en-US:Microsoft Teams Meeting',
    `X-MICROSOFT-CDO-APPT-SEQUENCE:${o.sequence}`, 'X-MICROSOFT-CDO-OWNERAPPTID:2121357610', 'X-MICROSOFT-CDO-BUSYSTATUS:TENTATIVE', 'X-MICROSOFT-CDO-INTENDEDSTATUS:BUSY',
    'X-MICROSOFT-CDO-ALLDAYEVENT:FALSE', 'X-MICROSOFT-CDO-IMPORTANCE:1', 'X-MICROSOFT-CDO-INSTTYPE:0', 'X-MICROSOFT-ONLINEMEETINGINFORMATION:{"OnlineMeetingChannelId":null\\,"OnlineMeetingProvider":3}',
    'X-MICROSOFT-SKYPETEAMSMEETINGURL:' + TEAMS_URL, 'X-MICROSOFT-SCHEDULINGSERVICEUPDATEURL:https://api.scheduler.teams.microsoft.com/teams/72f988bf-86f1-41af-91ab-2d7cd011db47/a1b2c3d4/19_meeting_NjQ1ZTk0YjAtZDYxMy00ZGI1LWE0ZjAtOGY0OTk5ZjM4NWJh@thread.v2/0',
    'X-MICROSOFT-SKYPETEAMSPROPERTIES:{"cid":"19:meeting_NjQ1ZTk0YjAtZDYxMy00ZGI1LWE0ZjAtOGY0OTk5ZjM4NWJh@thread.v2"\\,"private":true\\,"type":0\\,"mid":0\\,"rid":0\\,"uid":null}',
    'X-MICROSOFT-ONLINEMEETINGCONFLINK:conf:sip:lena.fischer@contoso.com\\;gruu\\;opaque=app:conf:focus:id:teams:2:0!19:meeting_NjQ1ZTk0YjAtZDYxMy00ZGI1LWE0ZjAtOGY0OTk5ZjM4NWJh-thread.v2!a1b2c3d4!72f988bf-86f1-41af-91ab-2d7cd011db47',
    'X-MICROSOFT-DONOTFORWARDMEETING:FALSE', 'X-MICROSOFT-DISALLOW-COUNTER:FALSE', 'X-MICROSOFT-REQUESTEDATTENDANCEMODE:DEFAULT', 'X-MICROSOFT-ISRESPONSEREQUESTED:TRUE',
    'X-MICROSOFT-LOCATIONS:[{"DisplayName":"Microsoft Teams Meeting"\\,"LocationAnnotation":""\\,"LocationSource":0\\,"Unresolved":false\\,"LocationUri":""}]',
    'BEGIN:VALARM', 'DESCRIPTION:REMINDER', 'TRIGGER;RELATED=START:-PT15M', 'ACTION:DISPLAY', 'END:VALARM', 'END:VEVENT', 'END:VCALENDAR', ''].join(CRLF);
  return ['From: Lena Fischer <lena.fischer@contoso.com>', `To: Boris Petrov <${o.attendee}>`, 'CC: Max Weber <max.weber@contoso.com>', 'Subject: Quarterly review',
    'Thread-Topic: Quarterly review', 'Thread-Index: AdmJ3v0dXq7L1Q2zT0aQ5p8s9kq1Aw==', `Date: Tue, 1 Apr 2031 08:${String(10 + o.sequence)}:00 +0000`,
    `Message-ID: <AM6PR08MB4321${o.sequence}@AM6PR08MB4321.eurprd08.prod.outlook.com>`, 'Accept-Language: en-US', 'Content-Language: en-US',
    'X-MS-Has-Attach:', 'X-MS-TNEF-Correlator:', 'MIME-Version: 1.0', 'Content-Type: multipart/alternative; boundary="_000_AM6PR08MB4321_"', '',
    '--_000_AM6PR08MB4321_', 'Content-Type: text/plain; charset="utf-8"', 'Content-Transfer-Encoding: base64', '', b64('Quarterly review\r\nMicrosoft Teams meeting\r\n'),
    '--_000_AM6PR08MB4321_', 'Content-Type: text/html; charset="utf-8"', 'Content-Transfer-Encoding: base64', '', b64('<html><body><p>Quarterly review</p><a href="' + TEAMS_URL + '">Click here to join the meeting</a></body></html>'),
    '--_000_AM6PR08MB4321_', 'Content-Type: text/calendar; charset="utf-8"; method=REQUEST', 'Content-Transfer-Encoding: base64', '', b64(ical),
    '--_000_AM6PR08MB4321_--', ''].join(CRLF);
}

describe('Microsoft Teams', () => {
  it('a Teams meeting request lands with its join data kept, and an update moves it', async () => {
    const ds = await ingest(teamsInvite({ sequence: 0, start: '20310514T110000', end: '20310514T120000', dtstamp: '20310401T081000Z', attendee: 'boris@example.com' }));
    expect(ds[0]).toMatchObject({ code: 'APPLIED_NEW', outcome: 'applied', recipient: 'boris@example.com' });
    const row = (await objects.findByUid(env.ctx.db, users['boris@example.com'].id, TEAMS_UID))!;
    expect(row).toMatchObject({ summary: 'Quarterly review', location: 'Microsoft Teams Meeting', role: 'attendee', my_partstat: 'NEEDS-ACTION', organizer: 'lena.fischer@contoso.com', sequence: 0 });
    // W. Europe Standard Time in May is UTC+2 (the VTIMEZONE's DAYLIGHT rule).
    expect(row.first_start!.toISOString()).toBe('2031-05-14T09:00:00.000Z');
    const text = unfold(row.ical);
    expect(text).toContain(`X-MICROSOFT-SKYPETEAMSMEETINGURL:${TEAMS_URL}`);
    expect(text).toMatch(/X-MICROSOFT-ONLINEMEETINGCONFLINK:conf:sip:lena\.fischer@contoso\.com/);
    expect(row.description).toContain(TEAMS_URL);
    expect(row.attendees).toEqual(expect.arrayContaining(['boris@example.com', 'max.weber@contoso.com']));

    // The organizer moves the meeting: SEQUENCE 1 wins; the old request delivered late changes nothing.
    const upd = await ingest(teamsInvite({ sequence: 1, start: '20310514T150000', end: '20310514T160000', dtstamp: '20310401T091100Z', attendee: 'boris@example.com' }));
    expect(upd[0]).toMatchObject({ outcome: 'applied', object_id: row.id });
    const moved = (await objects.findObject(env.ctx.db, row.owner_id, row.id))!;
    expect(moved.first_start!.toISOString()).toBe('2031-05-14T13:00:00.000Z');
    expect(moved.sequence).toBe(1);
    const late = await ingest(teamsInvite({ sequence: 0, start: '20310514T110000', end: '20310514T120000', dtstamp: '20310401T081000Z', attendee: 'boris@example.com' }));
    expect(late[0].outcome).toBe('ignored');
    expect((await objects.findObject(env.ctx.db, row.owner_id, row.id))!.etag).toBe(moved.etag);
  });
});

// ---------------------------------------------------------------------------------------------
// Zoom: the invitation comes from no-reply@zoom.us; the join URL is in LOCATION and DESCRIPTION.
// With ORGANIZER;SENT-BY="mailto:no-reply@zoom.us" the sender is the organizer's SENT-BY (trusted);
// without it, a Reply-To naming the organizer proves nothing (anyone can write one): held.
// ---------------------------------------------------------------------------------------------
const ZOOM_URL = 'https://us02web.zoom.us/j/85512345678?pwd=dGhpc2lzbm90YXJlYWxwYXNzd29yZA';

function zoomInvite(o: { uid: string; attendee: string; sentBy: boolean }) {
  const ical = ['BEGIN:VCALENDAR', 'PRODID:-//zoom.us//iCalendar Event//EN', 'VERSION:2.0', 'CALSCALE:GREGORIAN', 'METHOD:REQUEST', 'BEGIN:VTIMEZONE', 'TZID:America/New_York',
    'LAST-MODIFIED:20201011T015911Z', 'TZURL:http://tzurl.org/zoneinfo-outlook/America/New_York', 'X-LIC-LOCATION:America/New_York', 'BEGIN:DAYLIGHT', 'TZNAME:EDT', 'TZOFFSETFROM:-0500',
    'TZOFFSETTO:-0400', 'DTSTART:19700308T020000', 'RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU', 'END:DAYLIGHT', 'BEGIN:STANDARD', 'TZNAME:EST', 'TZOFFSETFROM:-0400', 'TZOFFSETTO:-0500',
    'DTSTART:19701101T020000', 'RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU', 'END:STANDARD', 'END:VTIMEZONE', 'BEGIN:VEVENT', 'DTSTAMP:20310401T120000Z',
    'DTSTART;TZID=America/New_York:20310610T090000', 'DTEND;TZID=America/New_York:20310610T094500', 'SUMMARY:Partner sync',
    o.sentBy ? 'ORGANIZER;CN=Olga Ivanova;SENT-BY="mailto:no-reply@zoom.us":mailto:olga@partner.org' : 'ORGANIZER;CN=Olga Ivanova:mailto:olga@partner.org',
    `ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:${o.attendee}`, `UID:${o.uid}`, 'TZID:America/New_York', 'SEQUENCE:0',
    `DESCRIPTION:Olga Ivanova is inviting you to a scheduled Zoom meeting.\\n\\nJoin Zoom Meeting\\n${ZOOM_URL}\\n\\nMeeting ID: 855 1234 5678\\nPasscode: 481516\\n\\n---\\n\\nOne tap mobile\\n+13017158592\\,\\,85512345678#\\,\\,\\,\\,*481516# US (Washington DC)\\n`,
    `LOCATION:${ZOOM_URL}`, 'BEGIN:VALARM', 'TRIGGER:-PT10M', 'ACTION:DISPLAY', 'DESCRIPTION:Reminder', 'END:VALARM', 'END:VEVENT', 'END:VCALENDAR', ''].join(CRLF);
  return ['From: Zoom <no-reply@zoom.us>', 'Reply-To: Olga Ivanova <olga@partner.org>', `To: ${o.attendee}`, 'Subject: Invitation: Partner sync @ Tue Jun 10, 2031 9am - 9:45am (EDT)',
    `Message-ID: <zoom-${o.uid}@zoom.us>`, 'Date: Tue, 1 Apr 2031 12:00:00 +0000', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="----=_Part_4711_zoom"', '',
    '------=_Part_4711_zoom', 'Content-Type: multipart/alternative; boundary="----=_Part_4712_zoom"', '',
    '------=_Part_4712_zoom', 'Content-Type: text/plain; charset=UTF-8', 'Content-Transfer-Encoding: 7bit', '', `Join Zoom Meeting ${ZOOM_URL}`,
    '------=_Part_4712_zoom', 'Content-Type: text/calendar; charset=UTF-8; method=REQUEST', 'Content-Transfer-Encoding: 7bit', '', ical,
    '------=_Part_4712_zoom--', '', '------=_Part_4711_zoom', 'Content-Type: application/ics; name=invite.ics', 'Content-Disposition: attachment; filename=invite.ics',
    'Content-Transfer-Encoding: base64', '', b64(ical), '------=_Part_4711_zoom--', ''].join(CRLF);
}

describe('Zoom', () => {
  it('sent from no-reply@zoom.us with ORGANIZER;SENT-BY: applied, join URL in LOCATION', async () => {
    const ds = await ingest(zoomInvite({ uid: 'zoom-85512345678-1@zoom.us', attendee: 'vera@example.com', sentBy: true }));
    expect(ds).toHaveLength(1); // text/calendar and the identical invite.ics are one part
    expect(ds[0]).toMatchObject({ code: 'APPLIED_NEW', outcome: 'applied', sender: 'no-reply@zoom.us' });
    const row = (await objects.findByUid(env.ctx.db, users['vera@example.com'].id, 'zoom-85512345678-1@zoom.us'))!;
    expect(row).toMatchObject({ summary: 'Partner sync', location: ZOOM_URL, organizer: 'olga@partner.org', role: 'attendee', my_partstat: 'NEEDS-ACTION' });
    expect(row.description).toContain('Meeting ID: 855 1234 5678');
    expect(row.first_start!.toISOString()).toBe('2031-06-10T13:00:00.000Z');
  });

  it("without SENT-BY the Reply-To does not make no-reply@zoom.us the organizer: held, then accepted by the user", async () => {
    const ds = await ingest(zoomInvite({ uid: 'zoom-85512345678-2@zoom.us', attendee: 'vera@example.com', sentBy: false }));
    expect(ds[0]).toMatchObject({ code: 'NOT_ORGANIZER', outcome: 'held' });
    expect(ds[0].reason).toMatch(/no-reply@zoom\.us is not the organizer olga@partner\.org/);
    expect(await objects.findByUid(env.ctx.db, users['vera@example.com'].id, 'zoom-85512345678-2@zoom.us')).toBeUndefined();
    const { acceptHeld } = await import('../../src/app/intake/held.js');
    const vera = users['vera@example.com'];
    const d = await acceptHeld(env.ctx, { userId: vera.id, email: vera.email, via: 'rest' }, ds[0].id);
    expect(d).toMatchObject({ code: 'APPLIED_NEW', outcome: 'applied' });
    expect(await objects.findByUid(env.ctx.db, vera.id, 'zoom-85512345678-2@zoom.us')).toMatchObject({ location: ZOOM_URL });
  });
});

// ---------------------------------------------------------------------------------------------
// Google Calendar: a weekly series, then one instance moved (a REQUEST with only the RECURRENCE-ID
// VEVENT) and another cancelled (a CANCEL with the RECURRENCE-ID), as Google sends them: From is
// the organizer, Sender calendar-notification@google.com, text/calendar + invite.ics.
// ---------------------------------------------------------------------------------------------
const GOOGLE_UID = '7kukuqrfedlm2f9t0vbrq5gb7o@google.com';
const BERLIN_TZ = ['BEGIN:VTIMEZONE', 'TZID:Europe/Berlin', 'X-LIC-LOCATION:Europe/Berlin', 'BEGIN:DAYLIGHT', 'TZOFFSETFROM:+0100', 'TZOFFSETTO:+0200', 'TZNAME:GMT+2', 'DTSTART:19700329T020000',
  'RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU', 'END:DAYLIGHT', 'BEGIN:STANDARD', 'TZOFFSETFROM:+0200', 'TZOFFSETTO:+0100', 'TZNAME:GMT+1', 'DTSTART:19701025T030000',
  'RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU', 'END:STANDARD', 'END:VTIMEZONE'];

function googleMail(method: 'REQUEST' | 'CANCEL', vevent: string[], subject: string) {
  const ical = ['BEGIN:VCALENDAR', 'PRODID:-//Google Inc//Google Calendar 70.9054//EN', 'VERSION:2.0', 'CALSCALE:GREGORIAN', `METHOD:${method}`, ...BERLIN_TZ, 'BEGIN:VEVENT', ...vevent, 'END:VEVENT', 'END:VCALENDAR', ''].join(CRLF);
  return ['From: Jonas Becker <jonas.becker@gmail.com>', 'Sender: Google Calendar <calendar-notification@google.com>', 'Reply-To: Jonas Becker <jonas.becker@gmail.com>',
    'To: gleb@example.com', `Subject: ${subject}`, `Message-ID: <${Math.random().toString(36).slice(2)}@google.com>`, 'Date: Tue, 1 Apr 2031 10:00:00 +0000', 'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="000000000000a1b2c3"', '', '--000000000000a1b2c3', 'Content-Type: multipart/alternative; boundary="000000000000a1b2c4"', '',
    '--000000000000a1b2c4', 'Content-Type: text/plain; charset="UTF-8"; format=flowed; delsp=yes', 'Content-Transfer-Encoding: base64', '', b64(subject),
    '--000000000000a1b2c4', `Content-Type: text/calendar; charset="UTF-8"; method=${method}`, 'Content-Transfer-Encoding: 7bit', '', ical,
    '--000000000000a1b2c4--', '--000000000000a1b2c3', 'Content-Type: application/ics; name="invite.ics"', 'Content-Disposition: attachment; filename="invite.ics"',
    'Content-Transfer-Encoding: base64', '', b64(ical), '--000000000000a1b2c3--', ''].join(CRLF);
}
const googleAttendees = ['ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;RSVP=TRUE;CN=Jonas Becker;X-NUM-GUESTS=0:mailto:jonas.becker@gmail.com',
  'ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=gleb@example.com;X-NUM-GUESTS=0:mailto:gleb@example.com'];

describe('Google Calendar', () => {
  it('a weekly series, one instance moved, another cancelled', async () => {
    const series = googleMail('REQUEST', ['DTSTART;TZID=Europe/Berlin:20310505T100000', 'DTEND;TZID=Europe/Berlin:20310505T103000', 'RRULE:FREQ=WEEKLY;COUNT=5;BYDAY=MO', 'DTSTAMP:20310401T100000Z',
      'ORGANIZER;CN=Jonas Becker:mailto:jonas.becker@gmail.com', `UID:${GOOGLE_UID}`, ...googleAttendees, 'X-GOOGLE-CONFERENCE:https://meet.google.com/abc-defg-hij', 'CREATED:20310401T095900Z',
      'DESCRIPTION:Weekly sync\\n\\nJoin with Google Meet: https://meet.google.com/abc-defg-hij', 'LAST-MODIFIED:20310401T100000Z', 'LOCATION:', 'SEQUENCE:0', 'STATUS:CONFIRMED',
      'SUMMARY:Weekly sync', 'TRANSP:OPAQUE', 'BEGIN:VALARM', 'ACTION:DISPLAY', 'DESCRIPTION:This is an event reminder', 'TRIGGER:-P0DT0H10M0S', 'END:VALARM'], 'Invitation: Weekly sync');
    const ds = await ingest(series);
    expect(ds).toHaveLength(1);
    expect(ds[0]).toMatchObject({ code: 'APPLIED_NEW', outcome: 'applied' });
    const gleb = users['gleb@example.com'];
    const occ = async () => {
      const row = (await objects.findByUid(env.ctx.db, gleb.id, GOOGLE_UID))!;
      return { row, list: expandCompiled(compileResource(row.ical), new Date('2031-05-01T00:00:00Z'), new Date('2031-07-01T00:00:00Z')) };
    };
    const first = await occ();
    expect(first.row).toMatchObject({ recurring: true, role: 'attendee', my_partstat: 'NEEDS-ACTION' });
    expect(first.list.map((o) => o.start.toISOString())).toEqual(['2031-05-05T08:00:00.000Z', '2031-05-12T08:00:00.000Z', '2031-05-19T08:00:00.000Z', '2031-05-26T08:00:00.000Z', '2031-06-02T08:00:00.000Z']);

    // Instance of 12 May moved to 14:00 (Google sends the exception alone, with its own SEQUENCE).
    const moved = googleMail('REQUEST', ['DTSTART;TZID=Europe/Berlin:20310512T140000', 'DTEND;TZID=Europe/Berlin:20310512T143000', 'DTSTAMP:20310402T100000Z',
      'ORGANIZER;CN=Jonas Becker:mailto:jonas.becker@gmail.com', `UID:${GOOGLE_UID}`, 'RECURRENCE-ID;TZID=Europe/Berlin:20310512T100000', ...googleAttendees,
      'CREATED:20310401T095900Z', 'LAST-MODIFIED:20310402T100000Z', 'LOCATION:', 'SEQUENCE:1', 'STATUS:CONFIRMED', 'SUMMARY:Weekly sync (moved)', 'TRANSP:OPAQUE'], 'Updated invitation: Weekly sync (moved)');
    const d2 = await ingest(moved);
    expect(d2[0]).toMatchObject({ outcome: 'applied', object_id: first.row.id });
    const second = await occ();
    expect(second.list.map((o) => o.start.toISOString())).toEqual(['2031-05-05T08:00:00.000Z', '2031-05-12T12:00:00.000Z', '2031-05-19T08:00:00.000Z', '2031-05-26T08:00:00.000Z', '2031-06-02T08:00:00.000Z']);
    expect(second.list[1]).toMatchObject({ override: true, summary: 'Weekly sync (moved)' });
    expect(second.list[0].summary).toBe('Weekly sync');

    // Instance of 19 May cancelled.
    const cancel = googleMail('CANCEL', ['DTSTART;TZID=Europe/Berlin:20310519T100000', 'DTEND;TZID=Europe/Berlin:20310519T103000', 'DTSTAMP:20310403T100000Z',
      'ORGANIZER;CN=Jonas Becker:mailto:jonas.becker@gmail.com', `UID:${GOOGLE_UID}`, 'RECURRENCE-ID;TZID=Europe/Berlin:20310519T100000', ...googleAttendees,
      'CREATED:20310401T095900Z', 'LAST-MODIFIED:20310403T100000Z', 'LOCATION:', 'SEQUENCE:1', 'STATUS:CANCELLED', 'SUMMARY:Weekly sync', 'TRANSP:OPAQUE'], 'Canceled event: Weekly sync @ Mon May 19, 2031');
    const d3 = await ingest(cancel);
    expect(d3[0]).toMatchObject({ code: 'CANCELLED_INSTANCES', outcome: 'applied', object_id: first.row.id });
    const third = await occ();
    const live = third.list.filter((o) => o.status !== 'CANCELLED').map((o) => o.start.toISOString());
    expect(live).toEqual(['2031-05-05T08:00:00.000Z', '2031-05-12T12:00:00.000Z', '2031-05-26T08:00:00.000Z', '2031-06-02T08:00:00.000Z']);
    // The series itself stays; the moved instance keeps its new time.
    expect(third.row.status).not.toBe('CANCELLED');
    expect(unfold(third.row.ical)).toMatch(/RRULE:FREQ=WEEKLY;COUNT=5;BYDAY=MO/);
  });
});

// ---------------------------------------------------------------------------------------------
// Outlook / Exchange REPLY with a COMMENT ("Decline" with a note): the organizer's copy shows the
// answer and the organizer's reply notification carries the comment.
// ---------------------------------------------------------------------------------------------
describe('Outlook / Exchange reply', () => {
  it('a DECLINED reply with a COMMENT updates the organizer copy and the notification carries the comment', async () => {
    const anna = users['anna@example.com'];
    const cal = await ensureDefaultCalendar(env.ctx, anna);
    const uid = 'anna-planning-2031@example.com';
    const text = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Calendula//EN', 'BEGIN:VEVENT', `UID:${uid}`, 'DTSTAMP:20310401T080000Z', 'DTSTART:20310520T090000Z', 'DTEND:20310520T100000Z',
      'SUMMARY:Planning', 'SEQUENCE:1', 'ORGANIZER;CN=Anna:mailto:anna@example.com', 'ATTENDEE;PARTSTAT=ACCEPTED:mailto:anna@example.com',
      'ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=Tom Baker:mailto:tom.baker@fabrikam.com', 'ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:dina@example.com', 'END:VEVENT', 'END:VCALENDAR', ''].join(CRLF);
    const { row } = await saveObject(env.ctx, { userId: anna.id, email: anna.email, via: 'rest' }, { ownerId: anna.id, calendarId: cal.id, ical: text, schedule: false });
    const reply = ['BEGIN:VCALENDAR', 'METHOD:REPLY', 'PRODID:Microsoft Exchange Server 2010', 'VERSION:2.0', 'BEGIN:VTIMEZONE', 'TZID:GMT Standard Time', 'BEGIN:STANDARD',
      'DTSTART:16010101T020000', 'TZOFFSETFROM:+0100', 'TZOFFSETTO:+0000', 'RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10', 'END:STANDARD', 'BEGIN:DAYLIGHT',
      'DTSTART:16010101T010000', 'TZOFFSETFROM:+0000', 'TZOFFSETTO:+0100', 'RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3', 'END:DAYLIGHT', 'END:VTIMEZONE', 'BEGIN:VEVENT',
      'ATTENDEE;PARTSTAT=DECLINED;CN=Tom Baker:mailto:tom.baker@fabrikam.com', 'COMMENT;LANGUAGE=en-GB:Sorry\\, I am travelling that week. Could Dina cover?',
      'SUMMARY;LANGUAGE=en-GB:Declined: Planning', 'DTSTART;TZID=GMT Standard Time:20310520T100000', 'DTEND;TZID=GMT Standard Time:20310520T110000', `UID:${uid}`,
      'CLASS:PUBLIC', 'PRIORITY:5', 'DTSTAMP:20310402T071500Z', 'TRANSP:OPAQUE', 'SEQUENCE:1', 'ORGANIZER;CN=Anna:mailto:anna@example.com', 'X-MICROSOFT-CDO-APPT-SEQUENCE:1',
      'X-MICROSOFT-CDO-OWNERAPPTID:-1', 'X-MICROSOFT-CDO-BUSYSTATUS:BUSY', 'X-MICROSOFT-CDO-INTENDEDSTATUS:FREE', 'X-MICROSOFT-CDO-ALLDAYEVENT:FALSE', 'X-MICROSOFT-CDO-IMPORTANCE:1',
      'X-MICROSOFT-CDO-INSTTYPE:0', 'X-MICROSOFT-DONOTFORWARDMEETING:FALSE', 'X-MICROSOFT-DISALLOW-COUNTER:FALSE', 'END:VEVENT', 'END:VCALENDAR', ''].join(CRLF);
    const raw = ['From: Tom Baker <tom.baker@fabrikam.com>', 'To: Anna <anna@example.com>', 'Subject: Declined: Planning', 'Thread-Topic: Planning', 'Date: Wed, 2 Apr 2031 07:15:00 +0000',
      'Message-ID: <DB9PR10MB5555.eurprd10.prod.outlook.com>', 'Content-Language: en-GB', 'MIME-Version: 1.0', 'Content-Type: multipart/alternative; boundary="_000_DB9PR10MB5555_"', '',
      '--_000_DB9PR10MB5555_', 'Content-Type: text/plain; charset="us-ascii"', 'Content-Transfer-Encoding: quoted-printable', '', 'Sorry, I am travelling that week. Could Dina cover=3F', '',
      '--_000_DB9PR10MB5555_', 'Content-Type: text/calendar; charset="utf-8"; method=REPLY', 'Content-Transfer-Encoding: base64', '', b64(reply), '--_000_DB9PR10MB5555_--', ''].join(CRLF);
    const ds = await ingest(raw);
    expect(ds[0]).toMatchObject({ code: 'APPLIED_REPLY', outcome: 'applied', object_id: row.id, recipient: 'anna@example.com' });
    const after = (await objects.findObject(env.ctx.db, anna.id, row.id))!;
    expect(unfold(after.ical)).toMatch(/ATTENDEE[^\r\n]*PARTSTAT=DECLINED[^\r\n]*:mailto:tom\.baker@fabrikam\.com/i);
    // The organizer's own copy and the other attendee are unchanged.
    expect(after).toMatchObject({ role: 'organizer', summary: 'Planning' });
    expect(after.first_start!.toISOString()).toBe('2031-05-20T09:00:00.000Z');
    const notes = (await pendingJobs('notify')).map((j) => j.payload).filter((p) => p.kind === 'reply' && p.objectId === row.id);
    expect(notes).toEqual([expect.objectContaining({ from: 'tom.baker@fabrikam.com', partstat: 'DECLINED', comment: 'Sorry, I am travelling that week. Could Dina cover?' })]);
    // The answer is passed on to the internal attendee's copy (implicit scheduling of the REPLY).
    expect((await pendingJobs('schedule-deliver')).some((j) => j.payload.recipientId === users['dina@example.com'].id && j.payload.uid === uid)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// Aliases: an invitation addressed (ATTENDEE) to an alias is the owner's own — role and
// my_partstat are set, and stay set when the owner edits the event later.
// ---------------------------------------------------------------------------------------------
describe('aliases in ATTENDEE', () => {
  it('ATTENDEE = an alias: role attendee and my_partstat set, also after a later edit through the write path', async () => {
    const boris = users['boris@example.com'];
    const uid = 'alias-attendee-1@partner.org';
    const ical = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Test//EN', 'METHOD:REQUEST', 'BEGIN:VEVENT', `UID:${uid}`, 'DTSTAMP:20310101T000000Z', 'DTSTART:20310601T100000Z',
      'DTEND:20310601T110000Z', 'SUMMARY:Alias', 'SEQUENCE:0', 'ORGANIZER:mailto:ceo@partner.org', 'ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:b.petrov@example.com', 'END:VEVENT', 'END:VCALENDAR', ''].join(CRLF);
    const raw = ['From: ceo@partner.org', 'To: b.petrov@example.com', 'Subject: Alias', 'Message-ID: <alias-1@partner.org>', 'MIME-Version: 1.0', 'Content-Type: text/calendar; method=REQUEST; charset=utf-8', '', ical].join(CRLF);
    const ds = await ingest(raw, ['b.petrov@example.com']);
    expect(ds[0]).toMatchObject({ code: 'APPLIED_NEW', outcome: 'applied', recipient: 'b.petrov@example.com' });
    const row = (await objects.findByUid(env.ctx.db, boris.id, uid))!;
    expect(row).toMatchObject({ role: 'attendee', my_partstat: 'NEEDS-ACTION' });
    // A later save without the aliases at hand (REST, CalDAV) looks them up: still the owner's.
    const accepted = row.ical.replace('PARTSTAT=NEEDS-ACTION', 'PARTSTAT=ACCEPTED');
    const { row: again } = await saveObject(env.ctx, { userId: boris.id, email: boris.email, via: 'rest' }, { ownerId: boris.id, calendarId: row.calendar_id, existingId: row.id, ical: accepted, schedule: false });
    expect(again).toMatchObject({ role: 'attendee', my_partstat: 'ACCEPTED' });
    // The envelope names the main address, the calendar the alias: found through the alias table.
    const ds2 = await ingest(raw.replace(/alias-attendee-1/g, 'alias-attendee-2').replace('alias-1@', 'alias-2@'), ['boris@example.com']);
    expect(ds2[0]).toMatchObject({ code: 'APPLIED_NEW', recipient: 'b.petrov@example.com' });
    expect(await objects.findByUid(env.ctx.db, boris.id, 'alias-attendee-2@partner.org')).toMatchObject({ role: 'attendee', my_partstat: 'NEEDS-ACTION' });
  });

  it('a +tag address in ATTENDEE is the owner too', async () => {
    const uid = 'plus-attendee-1@partner.org';
    const ical = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Test//EN', 'METHOD:REQUEST', 'BEGIN:VEVENT', `UID:${uid}`, 'DTSTAMP:20310101T000000Z', 'DTSTART:20310602T100000Z',
      'DTEND:20310602T110000Z', 'SUMMARY:Plus', 'SEQUENCE:0', 'ORGANIZER:mailto:ceo@partner.org', 'ATTENDEE;PARTSTAT=TENTATIVE;RSVP=TRUE:mailto:vera+projects@example.com', 'END:VEVENT', 'END:VCALENDAR', ''].join(CRLF);
    const raw = ['From: ceo@partner.org', 'To: vera+projects@example.com', 'Subject: Plus', 'Message-ID: <plus-1@partner.org>', 'MIME-Version: 1.0', 'Content-Type: text/calendar; method=REQUEST; charset=utf-8', '', ical].join(CRLF);
    const ds = await ingest(raw, ['vera+projects@example.com']);
    expect(ds[0]).toMatchObject({ code: 'APPLIED_NEW', outcome: 'applied' });
    expect(await objects.findByUid(env.ctx.db, users['vera@example.com'].id, uid)).toMatchObject({ role: 'attendee', my_partstat: 'TENTATIVE' });
  });
});

describe('notification preferences', () => {
  it('no notification job is queued for a user who wants no invitation messages', async () => {
    const gleb = users['gleb@example.com'];
    await principals.updatePrincipal(env.ctx.db, gleb.id, { notify: { invitation: [] } });
    try {
      const uid = 'no-notify-1@partner.org';
      const ical = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Test//EN', 'METHOD:REQUEST', 'BEGIN:VEVENT', `UID:${uid}`, 'DTSTAMP:20310101T000000Z', 'DTSTART:20310603T100000Z',
        'DTEND:20310603T110000Z', 'SUMMARY:Quiet', 'SEQUENCE:0', 'ORGANIZER:mailto:ceo@partner.org', 'ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:gleb@example.com', 'END:VEVENT', 'END:VCALENDAR', ''].join(CRLF);
      const raw = ['From: ceo@partner.org', 'To: gleb@example.com', 'Subject: Quiet', 'Message-ID: <quiet-1@partner.org>', 'MIME-Version: 1.0', 'Content-Type: text/calendar; method=REQUEST; charset=utf-8', '', ical].join(CRLF);
      expect((await ingest(raw))[0]).toMatchObject({ code: 'APPLIED_NEW', outcome: 'applied' });
      const row = (await objects.findByUid(env.ctx.db, gleb.id, uid))!;
      expect((await pendingJobs('notify')).filter((j) => j.payload.objectId === row.id)).toEqual([]);
      // Someone with default settings gets one.
      const ds = await ingest(raw.replace(/gleb@/g, 'dina@').replace(/no-notify-1/g, 'notify-2').replace('quiet-1@', 'quiet-2@'));
      expect(ds[0].outcome).toBe('applied');
      const row2 = (await objects.findByUid(env.ctx.db, users['dina@example.com'].id, 'notify-2@partner.org'))!;
      expect((await pendingJobs('notify')).filter((j) => j.payload.objectId === row2.id)).toHaveLength(1);
    } finally {
      await principals.updatePrincipal(env.ctx.db, gleb.id, { notify: {} });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Jobs: one per recipient, in that recipient's queue (ordered per recipient, parallel across).
// ---------------------------------------------------------------------------------------------
async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)); });
  });
}

describe('intake jobs', () => {
  it('a message for two users is split into one job per user, each in that user\'s queue', async () => {
    const raw = ['From: ceo@partner.org', 'To: anna@example.com, b.petrov@example.com', 'Subject: Two', 'Message-ID: <two-1@partner.org>', 'MIME-Version: 1.0',
      'Content-Type: text/calendar; method=REQUEST; charset=utf-8', '', ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Test//EN', 'METHOD:REQUEST', 'BEGIN:VEVENT', 'UID:two-1@partner.org',
        'DTSTAMP:20310101T000000Z', 'DTSTART:20310604T100000Z', 'DTEND:20310604T110000Z', 'SUMMARY:Two', 'SEQUENCE:0', 'ORGANIZER:mailto:ceo@partner.org',
        'ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:anna@example.com', 'ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:b.petrov@example.com', 'END:VEVENT', 'END:VCALENDAR', ''].join(CRLF)].join(CRLF);
    const id = await receiveMail(env.ctx, Buffer.from(raw), { from: 'ceo@partner.org', to: ['anna@example.com', 'b.petrov@example.com'] }, 'lmtp');
    const jobs = (await pendingJobs('mail-intake')).filter((j) => j.payload.id === id);
    expect(jobs.map((j) => ({ queue: j.queue_name, to: j.payload.to, priority: j.priority })).sort((a, b) => String(a.queue).localeCompare(String(b.queue)))).toEqual([
      { queue: `intake:${users['anna@example.com'].id}`, to: ['anna@example.com'], priority: -5 },
      { queue: `intake:${users['boris@example.com'].id}`, to: ['b.petrov@example.com'], priority: -5 },
    ].sort((a, b) => a.queue.localeCompare(b.queue)));
    // Each job handles its recipient; a retried job does not apply twice.
    await processInbound(env.ctx, id, { to: ['anna@example.com'] });
    await processInbound(env.ctx, id, { to: ['b.petrov@example.com'] });
    await processInbound(env.ctx, id, { to: ['b.petrov@example.com'] });
    const ds = await listDecisions(env.ctx.db, { inboundId: id, limit: 10 });
    expect(ds.map((d) => d.owner_id).sort()).toEqual([users['anna@example.com'].id, users['boris@example.com'].id].sort());
    expect(await objects.findByUid(env.ctx.db, users['boris@example.com'].id, 'two-1@partner.org')).toMatchObject({ my_partstat: 'NEEDS-ACTION' });
  });

  it('over LMTP, an invitation, its update and its cancellation queued back to back are applied in order', async () => {
    const lmtpPort = await freePort();
    (env.ctx.config as Record<string, unknown>).lmtpPort = lmtpPort;
    const role = await (await import('../../src/roles/mail-in.js')).start(env.ctx);
    let worker: { stop(): Promise<void> } | undefined;
    try {
      const t = nodemailer.createTransport({ host: '127.0.0.1', port: lmtpPort, lmtp: true, secure: false, ignoreTLS: true } as never);
      const uids = ['order-a@partner.org', 'order-b@partner.org', 'order-c@partner.org'];
      const msg = (uid: string, method: string, seq: number, extra: string[]) => ['From: ceo@partner.org', 'To: dina@example.com', `Subject: ${method}`, `Message-ID: <${uid}.${seq}@partner.org>`, 'MIME-Version: 1.0',
        `Content-Type: text/calendar; method=${method}; charset=utf-8`, '', ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Test//EN', `METHOD:${method}`, 'BEGIN:VEVENT', `UID:${uid}`,
          `DTSTAMP:2031010${seq + 1}T000000Z`, 'DTSTART:20310605T100000Z', 'DTEND:20310605T110000Z', 'SUMMARY:Order', `SEQUENCE:${seq}`, 'ORGANIZER:mailto:ceo@partner.org',
          'ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:dina@example.com', ...extra, 'END:VEVENT', 'END:VCALENDAR', ''].join(CRLF)].join(CRLF);
      for (const uid of uids) {
        await t.sendMail({ envelope: { from: 'ceo@partner.org', to: ['dina@example.com'] }, raw: msg(uid, 'REQUEST', 0, []) });
        await t.sendMail({ envelope: { from: 'ceo@partner.org', to: ['dina@example.com'] }, raw: msg(uid, 'REQUEST', 1, ['LOCATION:Room 2']) });
        await t.sendMail({ envelope: { from: 'ceo@partner.org', to: ['dina@example.com'] }, raw: msg(uid, 'CANCEL', 2, ['STATUS:CANCELLED']) });
      }
      t.close();
      // The worker starts on a backlog: it fetches several jobs of Dina's queue in one batch.
      worker = await startTestWorker(env, 8);
      const dina = users['dina@example.com'];
      for (const uid of uids) {
        const row = await eventually(async () => { const r = await objects.findByUid(env.ctx.db, dina.id, uid); return r?.status === 'CANCELLED' ? r : undefined; }, 15_000, `${uid} cancelled`);
        expect(row).toMatchObject({ location: 'Room 2', sequence: 2 });
      }
      // Every message was applied in arrival order: nothing was stale or refused.
      // (The decision record is written just after the calendar change commits: wait for all nine.)
      const ds = await eventually(async () => {
        const r = await env.ctx.db.selectFrom('mail_decision').select(['uid', 'code', 'outcome']).where('owner_id', '=', dina.id).where('uid', 'in', uids).orderBy('created_at').execute();
        return r.length >= 9 ? r : undefined;
      }, 10_000, 'nine decisions');
      expect(ds).toHaveLength(9);
      expect(ds.every((d) => d.outcome === 'applied')).toBe(true);
    } finally {
      await role.stop();
      await worker?.stop();
    }
  }, 30_000);
});
