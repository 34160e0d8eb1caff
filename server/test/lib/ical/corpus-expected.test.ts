import { describe, expect, it } from 'vitest';
import { compileResource, expand, indexResource, parseCalendar, resolveTzid, splitResources } from '../../../src/lib/ical/index.js';
import { readCorpus } from './helpers.js';

const Y = (a: string, b: string) => [new Date(a), new Date(b)] as const;
function occurrences(rel: string, from = '2000-01-01T00:00:00Z', to = '2030-01-01T00:00:00Z', uid?: string) {
  const { resources } = splitResources(readCorpus(rel));
  const r = uid ? resources.find((x) => x.uid === uid)! : resources[0];
  const [a, b] = Y(from, to);
  return expand(r.text, a, b);
}
const iso = (d: Date) => d.toISOString().replace('.000', '');

describe('corpus expected values', () => {
  it('daily-count-exdate-recurid: COUNT=10 minus 2 EXDATEs, 7 Jul moved to 9 Jul 15:00 PDT', () => {
    const occ = occurrences('ics/daily-count-exdate-recurid.ics');
    expect(occ.map((o) => o.recurrenceId)).toEqual([
      '20150706T190000Z', '20150709T190000Z', '20150707T190000Z', '20150711T190000Z',
      '20150712T190000Z', '20150713T190000Z', '20150714T190000Z', '20150715T190000Z',
    ]);
    const moved = occ.find((o) => o.override)!;
    expect(moved.recurrenceId).toBe('20150707T190000Z');
    expect(iso(moved.start)).toBe('2015-07-09T22:00:00Z');
    expect(moved.summary).toBe('More Treasure Hunting');
    expect(occ.some((o) => o.recurrenceId === '20150708T190000Z' || o.recurrenceId === '20150710T190000Z')).toBe(false);
  });

  it('russian-standard-time: Windows id wins over the embedded VTIMEZONE', () => {
    const cal = parseCalendar(readCorpus('ics/russian-standard-time-vtimezone.ics'));
    const r = resolveTzid('Russian Standard Time', cal.getAllSubcomponents('vtimezone'));
    expect(r.iana).toBe('Europe/Moscow');
    expect(r.source).toBe('windows');
  });

  it('evolution Arabian Standard Time → Asia/Dubai (+04)', () => {
    const o = occurrences('ics/evolution-arabian-standard-time.ics')[0];
    expect(iso(o.start)).toBe('2021-03-31T10:00:00Z');
    expect(iso(o.end)).toBe('2021-03-31T11:00:00Z');
  });

  it('khal New Zealand Standard Time → Pacific/Auckland (NZDT +13 in November)', () => {
    const o = occurrences('ics/khal-windows-nz-standard-time.ics')[0];
    expect(iso(o.start)).toBe('2019-11-20T00:00:00Z');
  });

  it('Outlook 2007 W. Australia Standard Time UTC event stays UTC', () => {
    const i = indexResource(splitResources(readCorpus('ics/outlook2007-w-australia-standard-time.ics')).resources[0].text);
    expect(iso(i.firstStart!)).toBe('2008-01-17T23:30:00Z');
    expect(iso(i.lastEnd!)).toBe('2008-01-18T02:30:00Z');
    expect(i.transp).toBe('OPAQUE');
    expect(i.recurring).toBe(false);
  });

  it('Exchange "Customized Time Zone" uses the embedded definition (US eastern rules)', () => {
    const occ = occurrences('ics/exchange-customized-time-zone.ics', '2020-08-01T00:00:00Z', '2021-01-01T00:00:00Z');
    expect(iso(occ[0].start)).toBe('2020-08-25T14:35:00Z'); // EDT −4
    const dec = occ.find((o) => o.start.toISOString().startsWith('2020-12-17'))!;
    expect(iso(dec.start)).toBe('2020-12-17T15:35:00Z'); // EST −5, UNTIL inclusive
    expect(occ.at(-1)!.start.toISOString().startsWith('2020-12-17')).toBe(true);
    const idx = indexResource(splitResources(readCorpus('ics/exchange-customized-time-zone.ics')).resources[0].text);
    expect(iso(idx.lastEnd!)).toBe('2020-12-17T16:50:00Z');
  });

  it('windows-quoted-tz: "(UTC-05:00) Eastern Time (US and Canada)" → America/New_York', () => {
    const occ = occurrences('ics/windows-quoted-tz-rrule.ics');
    expect(iso(occ[0].start)).toBe('2015-07-06T16:00:00Z');
    expect(occ.length).toBe(10); // the EXDATEs are in Los Angeles time and match no instance
  });

  it('google-until-allday: all-day overrides replace instances', () => {
    const occ = occurrences('ics/google-until-allday.ics');
    expect(occ.every((o) => o.allDay)).toBe(true);
    const keys = occ.map((o) => o.recurrenceId);
    expect(keys).toContain('20210324');
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('google-recurrence-order: override before master, moved 30 min', () => {
    const occ = occurrences('ics/google-recurrence-order.ics');
    expect(occ.map((o) => [o.recurrenceId, iso(o.start), o.override])).toEqual([
      ['20260210T170000Z', '2026-02-10T17:00:00Z', false],
      ['20260211T170000Z', '2026-02-11T17:30:00Z', true],
      ['20260212T170000Z', '2026-02-12T17:00:00Z', false],
    ]);
  });

  it('google-biweekly: date-only and floating EXDATEs against a UTC series', () => {
    const occ = occurrences('ics/google-biweekly-exdate-until.ics', '2017-12-01T00:00:00Z', '2020-02-01T00:00:00Z', '1234567-ABCD-ABCD-ABCD-123456789012');
    const days = occ.map((o) => o.start.toISOString().slice(0, 10));
    expect(days).not.toContain('2020-01-16');
    expect(days).toContain('2017-12-18'); // EXDATE 20171218T060000 (floating, 06:00) does not match the 14:00Z instance
    expect(days).not.toContain('2017-12-25'); // off-week of INTERVAL=2
  });

  it('exchange2010 blank TZID honours the all-zero VTIMEZONE', () => {
    const o = occurrences('ics/exchange2010-blank-tzid.ics')[0];
    expect(iso(o.start)).toBe('2015-08-26T09:00:00Z');
  });

  it('bare Brasília VTIMEZONE label resolves to America/Sao_Paulo', () => {
    const cal = parseCalendar(readCorpus('ics/windows-e-south-america-standard-time.ics'));
    expect(resolveTzid('(UTC-03:00) Brasília', cal.getAllSubcomponents('vtimezone')).iana).toBe('America/Sao_Paulo');
  });

  it('exchange-no-uid gives a per-item NO_UID error, or a generated UID on import', () => {
    const text = readCorpus('malformed/ics/exchange-no-uid.ics');
    const a = splitResources(text);
    expect(a.resources).toHaveLength(0);
    expect(a.errors[0].code).toBe('NO_UID');
    const b = splitResources(text, { generateUid: () => 'gen-1' });
    expect(b.resources[0].uid).toBe('gen-1');
    expect(b.resources[0].generatedUid).toBe(true);
  });

  it('stored calendar with METHOD: stripMethod removes it', () => {
    const r = splitResources(readCorpus('malformed/ics/stored-calendar-with-method.ics'), { stripMethod: true });
    for (const x of r.resources) expect(x.text).not.toMatch(/^METHOD:/m);
  });

  it('outlook2003 PRODID+VERSION on one line is repaired', () => {
    const cal = parseCalendar(readCorpus('malformed/ics/outlook2003-prodid-version-same-line.ics'));
    expect(cal.getFirstPropertyValue('version')).toBe('2.0');
  });

  it('compiled resources are reusable', () => {
    const c = compileResource(splitResources(readCorpus('ics/daily-count-exdate-recurid.ics')).resources[0].text);
    const a = expand(c, new Date('2015-07-01'), new Date('2015-08-01'));
    const b = expand(c, new Date('2015-07-01'), new Date('2015-08-01'));
    expect(a).toEqual(b);
  });
});
