// Mail intake: the shared corpus, spoofing, held invitations, LMTP/SMTP sessions (nodemailer as
// the client), HTTP intake with a service token, DSN bounces, and a round trip of our own iMIP.
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, makeUser, signInHeaders, startTestWorker, eventually, type TestEnv } from '../support/harness.js';
import { receiveMail } from '../../src/app/intake/receive.js';
import { processInbound } from '../../src/app/intake/process.js';
import { saveObject } from '../../src/app/events/write.js';
import { ensureDefaultCalendar } from '../../src/app/calendars.js';
import { extractCalendarParts } from '../../src/integrations/mail/index.js';
import { listDecisions, recordDelivery } from '../../src/store/mail.js';
import * as objects from '../../src/store/objects.js';
import type { PrincipalRow } from '../../src/store/schema.js';
import { startSmtpSink } from '../support/mail/smtp-sink.js';

const CORPUS = '../shared/corpus';
let env: TestEnv;
const users: Record<string, PrincipalRow> = {};

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)); });
  });
}

async function ingest(raw: Buffer | string, to?: string[], e: TestEnv = env) {
  const buf = Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
  const m = await extractCalendarParts(buf);
  const id = await receiveMail(e.ctx, buf, { from: m.from?.address ?? '', to: to ?? m.to.map((a) => a.address) }, 'http');
  await processInbound(e.ctx, id);
  return listDecisions(e.ctx.db, { inboundId: id, limit: 20 });
}

function vcal(method: string, lines: string[]) {
  return ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Test//EN', `METHOD:${method}`, 'BEGIN:VEVENT', ...lines, 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
}
function mail(from: string, to: string, method: string, ical: string, extraHeaders: string[] = []) {
  return [`From: ${from}`, `To: ${to}`, `Subject: ${method}`, `Message-ID: <${Math.random().toString(36).slice(2)}@test>`, 'MIME-Version: 1.0', ...extraHeaders,
    `Content-Type: text/calendar; method=${method}; charset=utf-8`, '', ical].join('\r\n');
}
const invite = (uid: string, organizer: string, attendee: string, extra: string[] = []) => vcal('REQUEST', [`UID:${uid}`, 'DTSTAMP:20300101T000000Z', 'DTSTART:20310201T100000Z', 'DTEND:20310201T110000Z',
  'SUMMARY:Hello', 'SEQUENCE:0', `ORGANIZER:mailto:${organizer}`, `ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:${attendee}`, ...extra]);

async function seedOrganizerCopy(owner: PrincipalRow, uid: string, attendees: string[], organizer = owner.email) {
  const cal = await ensureDefaultCalendar(env.ctx, owner);
  const text = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Test//EN', 'BEGIN:VEVENT', `UID:${uid}`, 'DTSTAMP:20300101T000000Z', 'DTSTART:20310301T100000Z', 'DTEND:20310301T110000Z', 'SUMMARY:Seeded', 'SEQUENCE:2',
    `ORGANIZER:mailto:${organizer}`, `ATTENDEE;PARTSTAT=ACCEPTED:mailto:${organizer}`, ...attendees.map((a) => `ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:${a}`), 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
  const { row } = await saveObject(env.ctx, { userId: owner.id, email: owner.email, via: 'rest' }, { ownerId: owner.id, calendarId: cal.id, ical: text, schedule: false });
  return row;
}

beforeAll(async () => {
  env = await createTestEnv({ mailDomains: ['example.com'], mailFrom: 'calendar@example.com', dataDir: `/tmp/calendula-intake-${process.pid}` });
  for (const u of ['robertburrelldonkin@blueyonder.co.uk', 'ical-living-on@example.com', 'xyzzy@example.com', 'ddolcimascolo@linagora.com', 'touser@linagora.com', 'ipopov@yandex.ru', 'test2@linagora.com', 'bob@linagora.com',
    'anna@example.com', 'boris@example.com']) users[u] = await makeUser(env.ctx, u, { admin: u === 'anna@example.com' });
  await env.ctx.db.insertInto('principal_alias').values({ email: 'b.petrov@example.com', principal_id: users['boris@example.com'].id }).execute();
}, 60_000);
afterAll(async () => env.close());

describe('shared corpus', () => {
  const expected: Record<string, { code: string; outcome: string; check?: () => Promise<void> }> = {
    'imip/apple-mail-ical3-reply-qp.eml': {
      code: 'APPLIED_REPLY', outcome: 'applied',
      check: async () => {
        const row = await objects.findByUid(env.ctx.db, users['ical-living-on@example.com'].id, '1E71F9C8-AEDA-48EB-98D0-76E898F6BB5C');
        expect(row!.ical.replace(/\r\n[ \t]/g, '')).toMatch(/ATTENDEE[^\n]*PARTSTAT=ACCEPTED[^\n]*mailto:xyzzy@example\.com/i);
      },
    },
    'imip/dsn-bounce-no-original.eml': { code: 'BOUNCE_UNMATCHED', outcome: 'ignored' },
    'imip/dsn-bounce-with-original-invite.eml': {
      code: 'BOUNCE_APPLIED', outcome: 'bounce',
      check: async () => {
        const row = await objects.findByUid(env.ctx.db, users['ical-living-on@example.com'].id, '1E71F9C8-AEDA-48EB-98D0-76E898F6BB5C');
        expect(row!.ical.replace(/\r\n[ \t]/g, '')).toMatch(/SCHEDULE-STATUS=5\.1[^\n]*nonexistant@example\.com/i);
      },
    },
    'imip/google-calendar-invite-2008-with-banner.eml': {
      code: 'APPLIED_NEW', outcome: 'applied',
      check: async () => {
        const row = await objects.findByUid(env.ctx.db, users['robertburrelldonkin@blueyonder.co.uk'].id, 'i12ksc4hr5uud1gs9dsos1ipj8@google.com');
        expect(row).toMatchObject({ role: 'attendee', my_partstat: 'NEEDS-ACTION', organizer: 'robertburrelldonkin@gmail.com' });
      },
    },
    'imip/google-calendar-invite-forwarded.eml': { code: 'UNKNOWN_RECIPIENT', outcome: 'rejected' },
    'imip/openpaas-invite-nodemailer-crlf.eml': {
      code: 'APPLIED_NEW', outcome: 'applied',
      check: async () => {
        const rows = await env.ctx.db.selectFrom('calendar_object').selectAll().where('owner_id', '=', users['ddolcimascolo@linagora.com'].id).execute();
        expect(rows.length).toBe(1);
        expect(rows[0].my_partstat).toBe('NEEDS-ACTION');
      },
    },
    'imip/thunderbird-lightning-reply.eml': { code: 'UNKNOWN_UID', outcome: 'ignored' },
    'imip/yandex-calendar-invite-no-method-param.eml': {
      // Yandex mails from info@calendar.yandex.ru on behalf of the organizer, without SENT-BY: held.
      code: 'NOT_ORGANIZER', outcome: 'held',
      check: async () => expect(await objects.findByUid(env.ctx.db, users['ipopov@yandex.ru'].id, '141zhi60x8914s7bzxzq27i0syandex.ru')).toBeUndefined(),
    },
    'malformed/imip/exchange-counter-garbage-body.eml': { code: 'NO_CALENDAR', outcome: 'rejected' },
    'malformed/imip/imip-reply-missing-attachment.eml': { code: 'NO_CALENDAR', outcome: 'rejected' },
    'malformed/imip/imip-reply-missing-attendee.eml': { code: 'SENDER_NOT_ATTENDEE', outcome: 'rejected' },
    'malformed/imip/thunderbird-reply-ics-in-headers.eml': { code: 'NO_CALENDAR', outcome: 'rejected' },
  };

  it('covers every corpus file', () => {
    const files = ['imip', 'malformed/imip'].flatMap((d) => readdirSync(join(CORPUS, d)).map((f) => `${d}/${f}`));
    expect(files.sort()).toEqual(Object.keys(expected).sort());
  });

  it('processes every file without a crash and records the expected decision and calendar state', async () => {
    // The Apple reply and the DSN are about an invitation this server sent: seed that organizer copy and its delivery.
    const org = users['ical-living-on@example.com'];
    const row = await seedOrganizerCopy(org, '1E71F9C8-AEDA-48EB-98D0-76E898F6BB5C', ['xyzzy@example.com', 'nonexistant@example.com']);
    await recordDelivery(env.ctx.db, { ownerId: org.id, channel: 'imip', kind: 'imip-request', deliveryKey: 'seed-1', messageId: '<20080812191939.51369.1538816694.0@plugh.example.com>',
      recipient: 'nonexistant@example.com', uid: row.uid, objectId: row.id, method: 'REQUEST', status: 'sent' });
    for (const [file, exp] of Object.entries(expected)) {
      const started = Date.now();
      const ds = await ingest(readFileSync(join(CORPUS, file)));
      expect(Date.now() - started, file).toBeLessThan(5000);
      expect(ds.length, file).toBeGreaterThan(0);
      expect({ file, code: ds[0].code, outcome: ds[0].outcome }).toEqual({ file, code: exp.code, outcome: exp.outcome });
      expect(ds[0].reason.length).toBeGreaterThan(10);
      await exp.check?.();
    }
  });
});

describe('realistic senders', () => {
  it('an Outlook invitation (Windows TZID, base64, windows-1251) lands with its time zone resolved', async () => {
    const ical = ['BEGIN:VCALENDAR', 'METHOD:REQUEST', 'PRODID:Microsoft Exchange Server 2010', 'VERSION:2.0', 'BEGIN:VTIMEZONE', 'TZID:Russian Standard Time', 'BEGIN:STANDARD', 'DTSTART:16010101T000000',
      'TZOFFSETFROM:+0300', 'TZOFFSETTO:+0300', 'END:STANDARD', 'END:VTIMEZONE', 'BEGIN:VEVENT', 'ORGANIZER;CN=Иван Петров:mailto:ivan@contoso.com',
      'ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=Boris:mailto:boris@example.com', 'DESCRIPTION;LANGUAGE=ru-RU:Обсуждение', 'UID:040000008200E00074C5B7101A82E00800000000', 'SUMMARY;LANGUAGE=ru-RU:Совещание',
      'DTSTART;TZID=Russian Standard Time:20310410T100000', 'DTEND;TZID=Russian Standard Time:20310410T110000', 'CLASS:PUBLIC', 'PRIORITY:5', 'DTSTAMP:20300301T080000Z', 'TRANSP:OPAQUE', 'STATUS:CONFIRMED', 'SEQUENCE:0',
      'LOCATION;LANGUAGE=ru-RU:Переговорная', 'X-MICROSOFT-CDO-BUSYSTATUS:TENTATIVE', 'X-MICROSOFT-CDO-IMPORTANCE:1', 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
    const body = Buffer.from(new TextEncoder().encode('')).length === 0 ? encode1251(ical) : Buffer.alloc(0);
    const raw = ['From: =?koi8-r?B?6dfBzg==?= <ivan@contoso.com>', 'To: Boris <b.petrov@example.com>', 'Subject: Meeting', 'Message-ID: <outlook-1@contoso.com>', 'MIME-Version: 1.0',
      'Content-Type: multipart/alternative; boundary="b1"', '', '--b1', 'Content-Type: text/plain; charset="utf-8"', '', 'Meeting', '--b1',
      'Content-Type: text/calendar; charset="windows-1251"; method=REQUEST', 'Content-Transfer-Encoding: base64', '', body.toString('base64').replace(/.{76}/g, '$&\r\n'), '--b1--', ''].join('\r\n');
    const ds = await ingest(raw);
    expect(ds[0]).toMatchObject({ code: 'APPLIED_NEW', outcome: 'applied', recipient: 'boris@example.com' });
    const row = await objects.findByUid(env.ctx.db, users['boris@example.com'].id, '040000008200E00074C5B7101A82E00800000000');
    expect(row).toMatchObject({ summary: 'Совещание', location: 'Переговорная', my_partstat: 'NEEDS-ACTION' });
    expect(row!.first_start!.toISOString()).toBe('2031-04-10T07:00:00.000Z');
  });

  it('a Google Calendar invitation with plus-addressing reaches the user', async () => {
    const ical = invite('google-plus-1@google.com', 'someone@gmail.com', 'boris+work@example.com');
    const ds = await ingest(mail('Someone <someone@gmail.com>', 'boris+work@example.com', 'REQUEST', ical), ['boris+work@example.com']);
    expect(ds[0]).toMatchObject({ code: 'APPLIED_NEW', outcome: 'applied' });
  });
});

describe('spoofing', () => {
  it('a REQUEST whose sender is not the organizer changes nothing (held for the user)', async () => {
    const ds = await ingest(mail('mallory@evil.org', 'boris@example.com', 'REQUEST', invite('spoof-1', 'ceo@partner.org', 'boris@example.com')));
    expect(ds[0]).toMatchObject({ code: 'NOT_ORGANIZER', outcome: 'held' });
    expect(await objects.findByUid(env.ctx.db, users['boris@example.com'].id, 'spoof-1')).toBeUndefined();
  });

  it('a CANCEL from a non-organizer does not cancel', async () => {
    await ingest(mail('ceo@partner.org', 'boris@example.com', 'REQUEST', invite('spoof-2', 'ceo@partner.org', 'boris@example.com')));
    const before = await objects.findByUid(env.ctx.db, users['boris@example.com'].id, 'spoof-2');
    expect(before).toBeTruthy();
    const cancel = vcal('CANCEL', ['UID:spoof-2', 'DTSTAMP:20300102T000000Z', 'SEQUENCE:1', 'ORGANIZER:mailto:ceo@partner.org', 'ATTENDEE:mailto:boris@example.com', 'STATUS:CANCELLED']);
    const ds = await ingest(mail('mallory@evil.org', 'boris@example.com', 'CANCEL', cancel));
    expect(ds[0].outcome).toBe('held');
    const after = await objects.findByUid(env.ctx.db, users['boris@example.com'].id, 'spoof-2');
    expect(after!.etag).toBe(before!.etag);
    expect(after!.status).not.toBe('CANCELLED');
    // The real organizer can cancel.
    const ok = await ingest(mail('ceo@partner.org', 'boris@example.com', 'CANCEL', cancel));
    expect(ok[0]).toMatchObject({ outcome: 'applied' });
  });

  it('a REPLY from a third party changes nothing', async () => {
    const row = await seedOrganizerCopy(users['anna@example.com'], 'reply-spoof-1', ['ext@partner.org']);
    const reply = vcal('REPLY', ['UID:reply-spoof-1', 'DTSTAMP:20300105T000000Z', 'SEQUENCE:2', 'ORGANIZER:mailto:anna@example.com', 'ATTENDEE;PARTSTAT=DECLINED:mailto:ext@partner.org']);
    const ds = await ingest(mail('mallory@evil.org', 'anna@example.com', 'REPLY', reply));
    expect(ds[0]).toMatchObject({ code: 'SENDER_NOT_ATTENDEE', outcome: 'rejected' });
    expect((await objects.findObject(env.ctx.db, row.owner_id, row.id))!.etag).toBe(row.etag);
    const real = await ingest(mail('ext@partner.org', 'anna@example.com', 'REPLY', reply));
    expect(real[0]).toMatchObject({ code: 'APPLIED_REPLY', outcome: 'applied' });
  });

  it('guessing the UID of another organizer\'s event changes nothing, and cannot be accepted either', async () => {
    // Boris holds an attendee copy of Anna's internal meeting; an outsider reuses its UID.
    const annaRow = await seedOrganizerCopy(users['anna@example.com'], 'internal-uid-1', ['boris@example.com']);
    void annaRow;
    await ingest(mail('ceo@partner.org', 'boris@example.com', 'REQUEST', invite('internal-uid-2', 'ceo@partner.org', 'boris@example.com')));
    const victim = (await objects.findByUid(env.ctx.db, users['boris@example.com'].id, 'internal-uid-2'))!;
    const hijack = invite('internal-uid-2', 'mallory@evil.org', 'boris@example.com', ['LOCATION:Evil']).replace('SEQUENCE:0', 'SEQUENCE:9');
    const ds = await ingest(mail('mallory@evil.org', 'boris@example.com', 'REQUEST', hijack));
    expect(ds[0]).toMatchObject({ code: 'ORGANIZER_MISMATCH', outcome: 'rejected' });
    expect((await objects.findObject(env.ctx.db, victim.owner_id, victim.id))!.etag).toBe(victim.etag);
    // Anna's own event cannot be answered for by a stranger either.
    const fake = vcal('REPLY', ['UID:internal-uid-1', 'DTSTAMP:20300105T000000Z', 'SEQUENCE:2', 'ORGANIZER:mailto:anna@example.com', 'ATTENDEE;PARTSTAT=ACCEPTED:mailto:mallory@evil.org']);
    const r2 = await ingest(mail('mallory@evil.org', 'anna@example.com', 'REPLY', fake));
    expect(r2[0]).toMatchObject({ code: 'PARTY_CRASHER', outcome: 'rejected' });
  });

  it('an authentication failure reported by a trusted relay holds the invitation; an untrusted relay is ignored', async () => {
    (env.ctx.config as Record<string, unknown>).intakeTrustedAuthserv = ['mx.example.com'];
    try {
      const failing = mail('ceo@partner.org', 'boris@example.com', 'REQUEST', invite('auth-1', 'ceo@partner.org', 'boris@example.com'), ['Authentication-Results: mx.example.com; dmarc=fail header.from=partner.org; spf=fail']);
      expect((await ingest(failing))[0]).toMatchObject({ code: 'AUTH_FAILED', outcome: 'held' });
      const forged = mail('ceo@partner.org', 'boris@example.com', 'REQUEST', invite('auth-2', 'ceo@partner.org', 'boris@example.com'), ['Authentication-Results: mx.evil.org; dmarc=fail']);
      expect((await ingest(forged))[0]).toMatchObject({ outcome: 'applied' });
      (env.ctx.config as Record<string, unknown>).intakeTrust = 'authenticated';
      const unauth = mail('ceo@partner.org', 'boris@example.com', 'REQUEST', invite('auth-3', 'ceo@partner.org', 'boris@example.com'));
      expect((await ingest(unauth))[0]).toMatchObject({ code: 'NOT_AUTHENTICATED', outcome: 'held' });
      const passing = mail('ceo@partner.org', 'boris@example.com', 'REQUEST', invite('auth-4', 'ceo@partner.org', 'boris@example.com'), ['Authentication-Results: mx.example.com; dkim=pass; dmarc=pass']);
      expect((await ingest(passing))[0]).toMatchObject({ outcome: 'applied' });
    } finally {
      (env.ctx.config as Record<string, unknown>).intakeTrustedAuthserv = [];
      (env.ctx.config as Record<string, unknown>).intakeTrust = 'default';
    }
  });
});

describe('held invitations and the decision log over REST', () => {
  it('the user sees held invitations and can accept or discard them; admins see everything', async () => {
    const boris = await signInHeaders(env.app, 'boris@example.com');
    await ingest(mail('assistant@partner.org', 'boris@example.com', 'REQUEST', invite('held-1', 'ceo@partner.org', 'boris@example.com')));
    await ingest(mail('assistant@partner.org', 'boris@example.com', 'REQUEST', invite('held-2', 'ceo@partner.org', 'boris@example.com')));
    const held = (await env.app.inject({ method: 'GET', url: '/api/v1/intake/held', headers: boris })).json().items;
    const h1 = held.find((d: { uid: string }) => d.uid === 'held-1');
    const h2 = held.find((d: { uid: string }) => d.uid === 'held-2');
    expect(h1.reason).toMatch(/not the organizer/);
    const acc = await env.app.inject({ method: 'POST', url: `/api/v1/intake/held/${h1.id}/accept`, headers: boris });
    expect(acc.statusCode, acc.body).toBe(200);
    expect(acc.json().decision).toMatchObject({ code: 'APPLIED_NEW', outcome: 'applied' });
    expect(await objects.findByUid(env.ctx.db, users['boris@example.com'].id, 'held-1')).toBeTruthy();
    expect((await env.app.inject({ method: 'POST', url: `/api/v1/intake/held/${h1.id}/accept`, headers: boris })).statusCode).toBe(409);
    expect((await env.app.inject({ method: 'POST', url: `/api/v1/intake/held/${h2.id}/discard`, headers: boris })).statusCode).toBe(200);
    expect(await objects.findByUid(env.ctx.db, users['boris@example.com'].id, 'held-2')).toBeUndefined();
    // Another user cannot see or decide Boris's messages.
    const anna = await signInHeaders(env.app, 'anna@example.com');
    expect((await env.app.inject({ method: 'POST', url: `/api/v1/intake/held/${h2.id}/accept`, headers: anna })).statusCode).toBe(404);
    const mine = (await env.app.inject({ method: 'GET', url: '/api/v1/intake/decisions', headers: boris })).json().items;
    expect(mine.every((d: { ownerId: string }) => d.ownerId === users['boris@example.com'].id)).toBe(true);
    const all = (await env.app.inject({ method: 'GET', url: '/api/v1/admin/intake/decisions?limit=500', headers: anna })).json().items;
    expect(all.some((d: { ownerId: string | null }) => d.ownerId === null)).toBe(true);
    expect((await env.app.inject({ method: 'GET', url: '/api/v1/admin/intake/decisions', headers: boris })).statusCode).toBe(403);
  });

  it('a COUNTER is shown to the organizer, who can accept it (the event moves)', async () => {
    const row = await seedOrganizerCopy(users['anna@example.com'], 'counter-1', ['ext2@partner.org']);
    const counter = vcal('COUNTER', ['UID:counter-1', 'DTSTAMP:20300106T000000Z', 'SEQUENCE:2', 'DTSTART:20310301T140000Z', 'DTEND:20310301T150000Z', 'SUMMARY:Seeded', 'ORGANIZER:mailto:anna@example.com',
      'ATTENDEE;PARTSTAT=TENTATIVE:mailto:ext2@partner.org', 'COMMENT:Afternoon please']);
    const ds = await ingest(mail('ext2@partner.org', 'anna@example.com', 'COUNTER', counter));
    expect(ds[0]).toMatchObject({ code: 'COUNTER_PROPOSAL', outcome: 'counter' });
    const anna = await signInHeaders(env.app, 'anna@example.com');
    const r = await env.app.inject({ method: 'POST', url: `/api/v1/intake/held/${ds[0].id}/accept`, headers: anna });
    expect(r.statusCode, r.body).toBe(200);
    expect((await objects.findObject(env.ctx.db, row.owner_id, row.id))!.first_start!.toISOString()).toBe('2031-03-01T14:00:00.000Z');
  });
});

describe('listeners and HTTP intake', () => {
  let worker: { stop(): Promise<void> };
  let role: { stop(): Promise<void> };
  let lmtpPort: number;
  let smtpPort: number;
  beforeAll(async () => {
    lmtpPort = await freePort();
    smtpPort = await freePort();
    (env.ctx.config as Record<string, unknown>).lmtpPort = lmtpPort;
    (env.ctx.config as Record<string, unknown>).smtpInPort = smtpPort;
    (env.ctx.config as Record<string, unknown>).intakeMaxBytes = 200_000;
    worker = await startTestWorker(env);
    role = await (await import('../../src/roles/mail-in.js')).start(env.ctx);
  });
  afterAll(async () => {
    await role?.stop();
    await worker?.stop();
  });

  it('LMTP: per-recipient answers (550 for unknown users), stored then processed', async () => {
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: lmtpPort, lmtp: true, secure: false, ignoreTLS: true } as never);
    const info = await t.sendMail({ envelope: { from: 'ceo@partner.org', to: ['boris@example.com', 'nobody@example.com'] }, raw: mail('ceo@partner.org', 'boris@example.com', 'REQUEST', invite('lmtp-1', 'ceo@partner.org', 'boris@example.com')) });
    t.close();
    expect(info.accepted).toEqual(['boris@example.com']);
    expect(info.rejected).toEqual(['nobody@example.com']);
    expect(String((info as unknown as { rejectedErrors: { response: string }[] }).rejectedErrors[0].response)).toMatch(/^550 5\.1\.1/);
    await eventually(() => objects.findByUid(env.ctx.db, users['boris@example.com'].id, 'lmtp-1'), 10_000, 'LMTP invitation visible');
  });

  it('SMTP: accepted after storing; too big → 552', async () => {
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: smtpPort, secure: false, ignoreTLS: true });
    await t.sendMail({ envelope: { from: 'ceo@partner.org', to: ['b.petrov@example.com'] }, raw: mail('ceo@partner.org', 'b.petrov@example.com', 'REQUEST', invite('smtp-1', 'ceo@partner.org', 'b.petrov@example.com')) });
    await eventually(() => objects.findByUid(env.ctx.db, users['boris@example.com'].id, 'smtp-1'), 10_000, 'SMTP invitation visible');
    await expect(t.sendMail({ envelope: { from: 'ceo@partner.org', to: ['boris@example.com'] }, raw: mail('ceo@partner.org', 'boris@example.com', 'REQUEST', invite('smtp-2', 'ceo@partner.org', 'boris@example.com', ['DESCRIPTION:' + 'x'.repeat(300_000)])) }))
      .rejects.toMatchObject({ responseCode: 552 });
    t.close();
  });

  it('HTTP intake needs an admin service token and answers 202 once stored', async () => {
    const anna = await signInHeaders(env.app, 'anna@example.com');
    const tok = await env.app.inject({ method: 'POST', url: '/api/v1/tokens', headers: anna, payload: { name: 'mta', scopes: ['admin'] } });
    expect(tok.statusCode, tok.body).toBe(201);
    const raw = mail('ceo@partner.org', 'boris@example.com', 'REQUEST', invite('http-1', 'ceo@partner.org', 'boris@example.com'));
    const r = await env.app.inject({ method: 'POST', url: '/api/v1/intake/mail', headers: { authorization: `Bearer ${tok.json().token}`, 'content-type': 'message/rfc822' }, payload: raw });
    expect(r.statusCode, r.body).toBe(202);
    await eventually(() => objects.findByUid(env.ctx.db, users['boris@example.com'].id, 'http-1'), 10_000, 'HTTP invitation visible');
    const boris = await signInHeaders(env.app, 'boris@example.com');
    expect((await env.app.inject({ method: 'POST', url: '/api/v1/intake/mail', headers: { ...boris, 'content-type': 'message/rfc822' }, payload: raw })).statusCode).toBe(403);
    expect((await env.app.inject({ method: 'POST', url: '/api/v1/intake/mail', headers: { 'content-type': 'message/rfc822' }, payload: raw })).statusCode).toBe(401);
  });
});

describe('round trip', () => {
  it('our own outgoing iMIP, fed back through intake of another Calendula, reproduces the event', async () => {
    const sink = await startSmtpSink();
    const a = await createTestEnv({ mailDomains: ['example.com'], smtpUrl: sink.url, mailFrom: 'calendar@example.com', dataDir: `/tmp/calendula-rt-a-${process.pid}` });
    const b = await createTestEnv({ mailDomains: ['partner.org'], mailFrom: 'calendar@partner.org', dataDir: `/tmp/calendula-rt-b-${process.pid}` });
    const w = await startTestWorker(a);
    try {
      await makeUser(a.ctx, 'anna@example.com', { name: 'Anna' });
      const olga = await makeUser(b.ctx, 'olga@partner.org', { name: 'Olga' });
      const h = await signInHeaders(a.app, 'anna@example.com');
      const cal = (await a.app.inject({ method: 'GET', url: '/api/v1/calendars', headers: h })).json().items[0].id;
      const evr = (await a.app.inject({ method: 'POST', url: '/api/v1/events', headers: h, payload: { calendarId: cal, event: { summary: 'Round trip «ёж»', start: '2031-09-01T10:00:00', end: '2031-09-01T11:30:00', timezone: 'Europe/Moscow', location: 'Офис', rrule: 'FREQ=WEEKLY;COUNT=4', attendees: [{ email: 'olga@partner.org' }] } } }));
      expect(evr.statusCode, evr.body).toBe(201);
      const ev = evr.json();
      const [m] = await sink.waitForCount(1);
      const ds = await ingest(m.raw, m.envelope.to, b);
      expect(ds[0]).toMatchObject({ code: 'APPLIED_NEW', outcome: 'applied' });
      const copy = (await objects.findByUid(b.ctx.db, olga.id, ev.uid))!;
      expect(copy).toMatchObject({ summary: 'Round trip «ёж»', location: 'Офис', role: 'attendee', my_partstat: 'NEEDS-ACTION', organizer: 'anna@example.com', recurring: true });
      expect(copy.first_start!.toISOString()).toBe('2031-09-01T07:00:00.000Z');
    } finally {
      await w.stop();
      await a.close();
      await b.close();
      (await import('../../src/app/notify/mailer.js')).closeMailers();
      await sink.close();
    }
  }, 30_000);
});

function encode1251(s: string): Buffer {
  const out: number[] = [];
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c < 0x80) out.push(c);
    else if (c >= 0x410 && c <= 0x44f) out.push(c - 0x410 + 0xc0);
    else if (c === 0x401) out.push(0xa8);
    else if (c === 0x451) out.push(0xb8);
    else out.push(0x3f);
  }
  return Buffer.from(out);
}

describe('the decision record commits with the calendar change', () => {
  it('if the record cannot be written, no event appears and the message stays queued; the retry applies it once, with its record', async () => {
    const anna = users['anna@example.com'];
    const uid = `atomic-${Date.now()}@partner.org`;
    const raw = Buffer.from(mail('org@partner.org', anna.email, 'REQUEST', invite(uid, 'org@partner.org', anna.email)));
    const id = await receiveMail(env.ctx, raw, { from: 'org@partner.org', to: [anna.email] }, 'http');
    // The decision log refuses writes for a moment (a trigger in this test's own database).
    await sql`create function test_refuse_decision() returns trigger language plpgsql as $$ begin raise exception 'decision log unavailable'; end $$`.execute(env.ctx.db);
    await sql`create trigger test_refuse_decision before insert on mail_decision for each statement execute function test_refuse_decision()`.execute(env.ctx.db);
    try {
      await expect(processInbound(env.ctx, id)).rejects.toThrow(/decision log unavailable/);
    } finally {
      await sql`drop trigger test_refuse_decision on mail_decision`.execute(env.ctx.db);
      await sql`drop function test_refuse_decision()`.execute(env.ctx.db);
    }
    expect(await objects.findByUid(env.ctx.db, anna.id, uid)).toBeUndefined();
    const before = await env.ctx.db.selectFrom('inbound_message').select('state').where('id', '=', id).executeTakeFirstOrThrow();
    expect(before.state).toBe('queued');
    // The job's retry.
    await processInbound(env.ctx, id);
    const copy = await objects.findByUid(env.ctx.db, anna.id, uid);
    expect(copy?.my_partstat).toBe('NEEDS-ACTION');
    const decisions = await listDecisions(env.ctx.db, { inboundId: id, limit: 20 });
    expect(decisions.map((d) => [d.outcome, d.object_id])).toEqual([['applied', copy!.id]]);
    const after = await env.ctx.db.selectFrom('inbound_message').select('state').where('id', '=', id).executeTakeFirstOrThrow();
    expect(after.state).toBe('processed');
  });
});
