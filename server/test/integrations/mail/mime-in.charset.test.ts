// Hand-built messages: legacy charsets, transfer encodings, line ends, odd attachment types,
// and garbage that must never throw.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { extractCalendarParts } from '../../../src/integrations/mail/mime-in.js';

/** Encode with a single-byte charset by inverting Node's TextDecoder table. */
function encodeSingleByte(text: string, charset: string): Buffer {
  const dec = new TextDecoder(charset);
  const table = new Map<string, number>();
  for (let b = 0; b < 256; b++) table.set(dec.decode(Uint8Array.of(b)), b);
  return Buffer.from(
    [...text].map((ch) => {
      const b = table.get(ch);
      if (b === undefined) throw new Error(`${ch} not in ${charset}`);
      return b;
    }),
  );
}

function qp(buf: Buffer): string {
  let out = '';
  let line = 0;
  for (const b of buf) {
    const s = b === 0x0d || b === 0x0a ? `=${b.toString(16).toUpperCase().padStart(2, '0')}` : b >= 33 && b <= 126 && b !== 61 ? String.fromCharCode(b) : `=${b.toString(16).toUpperCase().padStart(2, '0')}`;
    if (line + s.length > 73) {
      out += '=\r\n';
      line = 0;
    }
    out += s;
    line += s.length;
  }
  return out;
}

const ics = (summary: string, method = 'REQUEST', uid = 'charset-test-1@example.org', cn = 'Организатор') =>
  [
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    'PRODID:-//test//EN',
    `METHOD:${method}`,
    'BEGIN:VEVENT',
    `UID:${uid}`,
    'DTSTAMP:20250301T090000Z',
    'DTSTART:20250303T070000Z',
    'DTEND:20250303T080000Z',
    `SUMMARY:${summary}`,
    `ORGANIZER;CN=${cn}:mailto:boss@example.org`,
    'ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:anna@example.org',
    'END:VEVENT',
    'END:VCALENDAR',
    '',
  ].join('\r\n');

function message(partHeaders: string[], body: string, nl = '\r\n'): Buffer {
  const text = [
    'From: Boss <boss@example.org>',
    'To: anna@example.org',
    'Subject: =?UTF-8?B?' + Buffer.from('Приглашение: планёрка').toString('base64') + '?=',
    'Message-ID: <m1@example.org>',
    'Date: Sat, 01 Mar 2025 09:00:00 +0000',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b1"',
    '',
    '--b1',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Hello',
    '--b1',
    ...partHeaders,
    '',
    body,
    '--b1--',
    '',
  ].join('\r\n');
  return Buffer.from(text.replace(/\r\n/g, nl), 'latin1');
}

const b64 = (buf: Buffer) => buf.toString('base64').replace(/.{76}/g, '$&\r\n');
const latin1 = (buf: Buffer) => buf.toString('latin1');

describe('extractCalendarParts: charsets and encodings', () => {
  const cases: [string, string, string, (b: Buffer) => string, string][] = [
    ['windows-1251 base64', 'windows-1251', 'Планёрка отдела продаж', b64, 'base64'],
    ['windows-1251 quoted-printable', 'windows-1251', 'Съешь же ещё этих мягких французских булок', qp, 'quoted-printable'],
    ['KOI8-R quoted-printable', 'koi8-r', 'Совещание по бюджету', qp, 'quoted-printable'],
    ['KOI8-R 8bit', 'koi8-r', 'Обед с командой', latin1, '8bit'],
    ['windows-1256 base64', 'windows-1256', 'اجتماع الفريق الأسبوعي', b64, 'base64'],
  ];
  for (const [name, charset, summary, encode, cte] of cases) {
    it(`decodes ${name}`, async () => {
      const cn = charset === 'windows-1256' ? 'المنظم' : 'Организатор';
      const body = encode(encodeSingleByte(ics(summary, 'REQUEST', 'charset-test-1@example.org', cn), charset));
      const raw = message([`Content-Type: text/calendar; charset="${charset}"; method=REQUEST`, `Content-Transfer-Encoding: ${cte}`], body);
      const m = await extractCalendarParts(raw);
      expect(m.errors).toEqual([]);
      expect(m.parts).toHaveLength(1);
      expect(m.parts[0].ical).toContain(`SUMMARY:${summary}\r\n`);
      expect(m.parts[0].ical).toContain(`ORGANIZER;CN=${cn}:`);
      expect(m.parts[0]).toMatchObject({ method: 'REQUEST', uid: 'charset-test-1@example.org', charset });
      expect(m.subject).toBe('Приглашение: планёрка');
    });
  }

  it('reads UTF-8 without a charset parameter, and strips a BOM', async () => {
    const body = '\uFEFF' + ics('Ретро спринта');
    const raw = message(['Content-Type: text/calendar', 'Content-Transfer-Encoding: base64'], b64(Buffer.from(body, 'utf8')));
    const m = await extractCalendarParts(raw);
    expect(m.parts[0].ical.startsWith('BEGIN:VCALENDAR')).toBe(true);
    expect(m.parts[0].ical).toContain('SUMMARY:Ретро спринта');
    expect(m.parts[0].methodParam).toBeNull();
    expect(m.parts[0].method).toBe('REQUEST');
  });

  it('finds .ics sent as application/octet-stream and application/ics', async () => {
    const raw = message(
      ['Content-Type: application/octet-stream; name="meeting.ics"', 'Content-Disposition: attachment; filename="meeting.ics"', 'Content-Transfer-Encoding: base64'],
      b64(Buffer.from(ics('Octet', 'CANCEL'), 'utf8')),
    );
    const m = await extractCalendarParts(raw);
    expect(m.parts).toHaveLength(1);
    expect(m.parts[0]).toMatchObject({ method: 'CANCEL', source: 'attachment', filename: 'meeting.ics' });
  });

  it('ignores an octet-stream that is not an .ics', async () => {
    const raw = message(['Content-Type: application/octet-stream; name="x.bin"', 'Content-Transfer-Encoding: base64'], b64(Buffer.from(ics('x'))));
    expect((await extractCalendarParts(raw)).parts).toEqual([]);
  });

  it('copes with LF-only, CR-only and mixed line ends', async () => {
    for (const nl of ['\n', '\r']) {
      const raw = message(['Content-Type: text/calendar; charset=utf-8; method=REPLY', 'Content-Transfer-Encoding: 8bit'], latin1(Buffer.from(ics('Линия', 'REPLY'))), nl);
      const m = await extractCalendarParts(raw);
      expect(m.parts[0]).toMatchObject({ method: 'REPLY', uid: 'charset-test-1@example.org' });
      expect(m.parts[0].ical).toContain('SUMMARY:Линия\r\n');
    }
    const mixed = latin1(message(['Content-Type: text/calendar; method=REQUEST; charset=utf-8'], latin1(Buffer.from(ics('Смесь')))))
      .split('\r\n')
      .map((l, i) => l + ['\r\n', '\n', '\r'][i % 3])
      .join('');
    const m = await extractCalendarParts(Buffer.from(mixed, 'latin1'));
    expect(m.parts[0].ical).toContain('SUMMARY:Смесь');
  });

  it('reports a method parameter that contradicts METHOD', async () => {
    const raw = message(['Content-Type: text/calendar; method=CANCEL; charset=utf-8'], ics('X', 'REQUEST'));
    const m = await extractCalendarParts(raw);
    expect(m.parts[0].method).toBe('CANCEL');
    expect(m.errors.join()).toMatch(/differs from METHOD:REQUEST/);
  });

  it('parses Authentication-Results (RFC 8601)', async () => {
    const raw = Buffer.concat([
      Buffer.from(
        'Authentication-Results: mx.example.net; dkim=pass (2048-bit key) header.d=example.org;\r\n spf=softfail smtp.mailfrom=example.org; dmarc=fail (p=reject) header.from=example.org\r\n' +
          'Authentication-Results: other.example.net; spf=pass smtp.mailfrom=x\r\n',
      ),
      message(['Content-Type: text/calendar; method=REQUEST'], ics('A')),
    ]);
    const m = await extractCalendarParts(raw);
    expect(m.authResults).toEqual({ dkim: 'pass', spf: 'softfail', dmarc: 'fail', authservIds: ['mx.example.net', 'other.example.net'] });
  });
});

describe('extractCalendarParts: garbage never throws', () => {
  it('empty, oversized and binary input', async () => {
    expect((await extractCalendarParts(Buffer.alloc(0))).errors).toEqual(['empty message']);
    const big = message(['Content-Type: text/calendar'], ics('x'));
    expect((await extractCalendarParts(big, { maxBytes: 100 })).errors[0]).toMatch(/too large/);
    const bin = await extractCalendarParts(Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) % 256)));
    expect(bin.parts).toEqual([]);
  });

  it('a calendar part with junk instead of iCalendar yields an error, not a part', async () => {
    const m = await extractCalendarParts(message(['Content-Type: text/calendar; method=REQUEST'], 'BEGIN:VCALENDAR\r\nDAR\r\n'));
    expect(m.parts).toEqual([]);
    expect(m.errors.length).toBeGreaterThan(0);
  });

  it('random bytes and mangled messages', async () => {
    const base = latin1(message(['Content-Type: text/calendar; method=REQUEST; charset=windows-1251', 'Content-Transfer-Encoding: base64'], b64(Buffer.from(ics('x')))));
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2000 }), fc.nat(base.length), fc.nat(base.length), async (noise, cut, at) => {
        const mangled = base.slice(0, at) + Buffer.from(noise).toString('latin1') + base.slice(Math.min(at + cut, base.length));
        for (const input of [Buffer.from(noise), Buffer.from(mangled, 'latin1')]) {
          const m = await extractCalendarParts(input);
          expect(Array.isArray(m.errors)).toBe(true);
          expect(Array.isArray(m.parts)).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });
});
