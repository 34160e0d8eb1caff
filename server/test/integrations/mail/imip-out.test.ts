// Outgoing composers: subjects, escaping, localisation, threading, and a full round trip
// composeImip → SMTP (real sink on loopback) → extractCalendarParts.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ICAL from 'ical.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeImip, composeNotification, composeReminder, type ImipParams } from '../../../src/integrations/mail/imip-out.js';
import { extractCalendarParts } from '../../../src/integrations/mail/mime-in.js';
import { createMailTransport, type MailTransport } from '../../../src/integrations/mail/transport.js';
import { startSmtpSink, type SmtpSink } from '../../support/mail/smtp-sink.js';

function calendar(method: string, summary: string, opts: { sequence?: number; partstat?: string; uid?: string } = {}): string {
  return [
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    'PRODID:-//Calendula//EN',
    `METHOD:${method}`,
    'BEGIN:VEVENT',
    `UID:${opts.uid ?? 'evt-42@calendula.test'}`,
    'DTSTAMP:20250301T090000Z',
    'DTSTART:20250303T070000Z',
    'DTEND:20250303T080000Z',
    `SEQUENCE:${opts.sequence ?? 0}`,
    `SUMMARY:${summary.replace(/[\\;,]/g, (c) => '\\' + c)}`,
    'ORGANIZER;CN=Иван Петров:mailto:ivan@corp.test',
    `ATTENDEE;PARTSTAT=${opts.partstat ?? 'NEEDS-ACTION'};RSVP=TRUE:mailto:guest@ext.test`,
    'END:VEVENT',
    'END:VCALENDAR',
    '',
  ].join('\r\n');
}

const base = (method: ImipParams['method'], summary: string, extra: Partial<ImipParams> = {}): ImipParams => ({
  method,
  ical: calendar(method, summary),
  from: { email: 'ivan@corp.test', name: 'Иван Петров' },
  to: [{ email: 'guest@ext.test', name: 'Guest' }],
  lang: 'ru',
  timezone: 'Europe/Moscow',
  messageId: 'delivery-7f3a',
  threadId: 'evt-42@calendula.test',
  summary,
  start: new Date('2025-03-03T07:00:00Z'),
  end: new Date('2025-03-03T08:00:00Z'),
  location: 'Переговорная «Нева»',
  eventUrl: 'https://cal.corp.test/e/42',
  ...extra,
});

describe('composeImip', () => {
  it('localised subjects per method and update detection', () => {
    expect(composeImip(base('REQUEST', 'Планёрка')).subject).toBe('Приглашение: Планёрка');
    expect(composeImip(base('REQUEST', 'Sync', { lang: 'en' })).subject).toBe('Invitation: Sync');
    const upd = base('REQUEST', 'Sync', { lang: 'en', ical: calendar('REQUEST', 'Sync', { sequence: 2 }) });
    expect(composeImip(upd).subject).toBe('Updated invitation: Sync');
    expect(composeImip(base('CANCEL', 'Планёрка')).subject).toBe('Отменено: Планёрка');
    const reply = base('REPLY', 'Sync', { lang: 'en', ical: calendar('REPLY', 'Sync', { partstat: 'ACCEPTED' }) });
    expect(composeImip(reply).subject).toBe('Accepted: Sync');
    const declined = base('REPLY', 'Sync', { ical: calendar('REPLY', 'Sync', { partstat: 'DECLINED' }) });
    expect(composeImip(declined).subject).toBe('Отклонено: Sync');
    expect(composeImip(base('COUNTER', 'Sync', { lang: 'en' })).subject).toBe('New time proposed: Sync');
  });

  it('refuses a calendar whose METHOD differs from the method asked for', () => {
    expect(() => composeImip(base('CANCEL', 'x', { ical: calendar('REQUEST', 'x') }))).toThrow(/differs/);
    expect(() => composeImip(base('REQUEST', 'x', { ical: 'garbage' }))).toThrow(/does not parse/);
  });

  it('escapes HTML and keeps unsafe links out', () => {
    const evil = '<script>alert("x")</script> & <img src=x onerror=alert(1)>';
    const mail = composeImip(base('REQUEST', evil, { location: '<b>loc</b>', eventUrl: 'javascript:alert(1)' }));
    const html = String(mail.html);
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp;');
    expect(html).toContain('&lt;b&gt;loc&lt;/b&gt;');
    expect(html).not.toContain('javascript:');
    expect(String(mail.text)).toContain(evil);
  });

  it('threads by event: stable Message-ID, In-Reply-To/References from threadId', () => {
    const a = composeImip(base('REQUEST', 'x'));
    const b = composeImip(base('REQUEST', 'x'));
    const c = composeImip(base('CANCEL', 'x', { messageId: 'delivery-8' }));
    expect(a.messageId).toBe(b.messageId);
    expect(a.messageId).toMatch(/^<calendula-[0-9a-f]{32}@corp\.test>$/);
    expect(c.messageId).not.toBe(a.messageId);
    expect(c.inReplyTo).toBe(a.inReplyTo);
    expect(a.references).toEqual([a.inReplyTo]);
    expect(composeImip(base('REQUEST', 'x', { messageId: '<given@corp.test>' })).messageId).toBe('<given@corp.test>');
  });

  it('formats the time in the recipient zone and language', () => {
    const ru = String(composeImip(base('REQUEST', 'x')).text);
    expect(ru).toMatch(/10:00.*11:00/);
    expect(ru).toContain('Europe/Moscow');
    expect(ru).toMatch(/понедельник|марта/);
    const en = String(composeImip(base('REQUEST', 'x', { lang: 'en', timezone: 'America/New_York' })).text);
    expect(en).toMatch(/Monday.*02:00.*03:00/);
  });
});

describe('round trip through a real SMTP server', () => {
  let sink: SmtpSink;
  let transport: MailTransport;
  beforeAll(async () => {
    sink = await startSmtpSink();
    transport = createMailTransport({ smtpUrl: sink.url, outboxDir: mkdtempSync(join(tmpdir(), 'outbox-')), pool: false });
  });
  afterAll(async () => {
    transport.close();
    await sink.close();
  });

  for (const method of ['REQUEST', 'CANCEL', 'REPLY'] as const) {
    it(`${method}: same METHOD/UID/SUMMARY back, one invite.ics, Cyrillic intact`, async () => {
      sink.clear();
      const summary = `Стратегическая сессия «Q3» — ${method}`;
      const uid = `rt-${method}@calendula.test`;
      const mail = composeImip(base(method, summary, { ical: calendar(method, summary, { uid, partstat: 'ACCEPTED' }), messageId: `rt-${method}` }));
      const res = await transport.send(mail);
      expect(res.accepted).toEqual(['guest@ext.test']);
      const [got] = await sink.waitForCount(1);

      expect(got.parsed.subject).toBe(mail.subject);
      expect(got.parsed.messageId).toBe(mail.messageId);
      expect(got.parsed.inReplyTo).toBe(mail.inReplyTo);
      const icsFiles = got.parsed.attachments.filter((a) => a.filename?.endsWith('.ics'));
      expect(icsFiles.map((a) => a.filename)).toEqual(['invite.ics']);
      const inline = got.parsed.attachments.filter((a) => a.contentType === 'text/calendar');
      expect(inline).toHaveLength(1);
      expect((inline[0].headers.get('content-type') as { params: Record<string, string> }).params.method).toBe(method);
      expect(got.parsed.html).toContain('Стратегическая сессия');

      const back = await extractCalendarParts(got.raw);
      expect(back.errors).toEqual([]);
      expect(back.parts).toHaveLength(1);
      expect(back.parts[0]).toMatchObject({ method, methodParam: method, uid });
      const vevent = new ICAL.Component(ICAL.parse(back.parts[0].ical) as unknown[]).getFirstSubcomponent('vevent')!;
      expect(vevent.getFirstPropertyValue('summary')).toBe(summary);
      expect(back.subject).toBe(mail.subject);
    });
  }
});

describe('composeNotification and composeReminder', () => {
  const common = {
    from: { email: 'noreply@corp.test', name: 'Calendula' },
    to: [{ email: 'anna@corp.test' }],
    timezone: 'Europe/Moscow',
    messageId: 'n-1',
    threadId: 'evt-42@calendula.test',
    summary: 'Ретро <sprint>',
    start: '2025-03-03T07:00:00Z',
    end: '2025-03-03T08:00:00Z',
    organizerName: 'Иван',
    eventUrl: 'https://cal.corp.test/e/42',
  };

  it('update: old → new, participants, answer links, escaped', () => {
    const mail = composeNotification({
      ...common,
      lang: 'ru',
      kind: 'updated',
      changes: [
        { field: 'start', old: new Date('2025-03-03T07:00:00Z'), new: new Date('2025-03-04T09:30:00Z') },
        { field: 'location', old: null, new: 'Зал <1>' },
      ],
      addedAttendees: ['Пётр'],
      removedAttendees: ['Ольга'],
      actionUrls: { accept: 'https://cal.corp.test/a?t=1&x=2', tentative: 'https://cal.corp.test/m', decline: 'data:text/html,x' },
    });
    expect(mail.subject).toBe('Обновлённое приглашение: Ретро <sprint>');
    const text = String(mail.text);
    expect(text).toMatch(/Начало: 3 мар\. 2025 г\., 10:00 → 4 мар\. 2025 г\., 12:30/);
    expect(text).toContain('Место: (нет) → Зал <1>');
    expect(text).toContain('Добавлены участники: Пётр');
    expect(text).toContain('Удалены участники: Ольга');
    const html = String(mail.html);
    expect(html).toContain('href="https://cal.corp.test/a?t=1&amp;x=2"');
    expect(html).toContain('Возможно');
    expect(html).not.toContain('data:text/html');
    expect(html).not.toContain('<sprint>');
    expect(mail.headers).toMatchObject({ 'Auto-Submitted': 'auto-generated' });
    expect(mail.icalEvent).toBeUndefined();
  });

  it('reply notification for the organizer, in English', () => {
    const mail = composeNotification({ ...common, lang: 'en', kind: 'reply', reply: { name: 'Anna', partstat: 'TENTATIVE' } });
    expect(mail.subject).toBe('Tentative: Retro <sprint>'.replace('Retro', 'Ретро'));
    expect(String(mail.text)).toContain('Anna has answered your invitation: maybe.');
  });

  it('reminder with the time in the user zone', () => {
    expect(composeReminder({ ...common, lang: 'ru', minutesBefore: 15 }).subject).toBe('Напоминание: Ретро <sprint> в 10:00');
    const en = composeReminder({ ...common, lang: 'en', timezone: 'Asia/Tokyo' });
    expect(en.subject).toBe('Reminder: Ретро <sprint> at 16:00');
    expect(composeReminder({ ...common, lang: 'en', timezone: 'Not/AZone' }).subject).toContain('07:00');
  });
});
