// The fast member renderer (common.ts) must write exactly what the generic registry + serializer write.
import { describe, expect, it } from 'vitest';
import { buildMultistatus, escapeText, NS_CALDAV, NS_DAV, parseReport, parseXml, type CalendarMultigetReport, type PropfindRequest } from '../../src/lib/dav/index.js';
import { encodeParts, fastMemberListing, fastMemberResponse, fastObjectResponse, fastProps, fastStatusResponse, memberColumns, memberLayout, propsFor } from '../../src/http/dav/common.js';
import type { DavCalendar, ObjectMeta, Target } from '../../src/http/dav/types.js';

const obj: ObjectMeta = { id: 'x', name: 'a b&c.ics', etag: 'abc123', schedule_tag: 's', role: 'none', component: 'VEVENT', updated_at: new Date('2030-01-02T03:04:05Z'), class: null, size: 321 };
const cal = { id: 'c', owner_id: 'o', access: 'owner', ownerEmail: 'u@example.com' } as unknown as DavCalendar;
const target = { env: {} as Target['env'], res: { kind: 'object', path: '/dav/calendars/u@example.com/c/a b&c.ics', cal, obj } } as Target;
const text = 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:1\r\nSUMMARY:a < b & c\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n';

const inner = (xml: string) => xml.slice(xml.indexOf('<D:response>'), xml.lastIndexOf('</D:multistatus>'));
const sel = (names: Array<[string, string]>): PropfindRequest => ({ kind: 'prop', props: names.map(([ns, name]) => ({ ns, name })) }) as PropfindRequest;

describe('fast member responses', () => {
  it('match the generic path byte for byte', async () => {
    const href = '/dav/calendars/u@example.com/c/a%20b%26c.ics';
    for (const s of [
      sel([[NS_DAV, 'getetag'], [NS_DAV, 'getcontenttype'], [NS_DAV, 'resourcetype']]),
      sel([[NS_DAV, 'getetag'], [NS_CALDAV, 'calendar-data']]),
      sel([[NS_DAV, 'getlastmodified'], [NS_DAV, 'getcontentlength'], [NS_DAV, 'getetag']]),
    ]) {
      const fast = fastProps(s);
      expect(fast).not.toBeNull();
      const generic = inner(buildMultistatus([{ href, props: await propsFor(target, s, text) }]));
      expect(fastObjectResponse(href, obj, fast!, text)).toBe(generic);
    }
    expect(fastStatusResponse(href, 404)).toBe(inner(buildMultistatus([{ href, status: 404 }])));
  });
  it('the whole-calendar listing (from memberCells columns) matches the per-object renderer', () => {
    const base = '/dav/calendars/u@example.com/c/';
    const members: Array<{ obj: ObjectMeta; text: string }> = [
      { obj, text },
      { obj: { ...obj, name: 'plain-Name_1.ics', etag: 'e"<&>' , component: 'VTODO', size: 7 }, text: 'x' },
      { obj: { ...obj, name: 'Café \u0001 \u0002.ics', etag: 'f00', size: 0 }, text: '' },
    ];
    for (const s of [
      sel([[NS_DAV, 'getetag'], [NS_DAV, 'getcontenttype'], [NS_DAV, 'resourcetype']]),
      sel([[NS_DAV, 'getlastmodified'], [NS_DAV, 'getcontentlength'], [NS_DAV, 'getetag']]),
      sel([[NS_DAV, 'resourcetype'], [NS_CALDAV, 'calendar-data'], [NS_DAV, 'getcontenttype']]),
    ]) {
      const fast = fastProps(s)!;
      const cols = memberColumns(fast);
      const cells = members.flatMap(({ obj: o, text: t }) => [
        o.name, o.etag,
        ...(cols.component ? [o.component] : []),
        ...(cols.size ? [String(o.size)] : []),
        ...(cols.modified ? [new Date(o.updated_at).toUTCString()] : []),
        ...(cols.text ? [t] : []),
      ]);
      const want = members.map(({ obj: o, text: t }) => fastObjectResponse(base + o.name.split('/').map((x) => encodeURIComponent(x).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).replace(/%40/g, '@').replace(/%3A/g, ':')).join('/'), o, fast, cols.text ? t : undefined));
      expect(fastMemberListing(base, fast, cells)).toEqual(want);
    }
  });

  it("a multiget's member response (from its cells, with a calendar-data restriction) matches the per-object renderer", () => {
    const q = parseReport(parseXml(`<C:calendar-multiget xmlns:D="DAV:" xmlns:C="${NS_CALDAV}"><D:prop><D:getetag/><D:getlastmodified/><C:calendar-data><C:comp name="VCALENDAR"><C:comp name="VEVENT"><C:prop name="UID"/></C:comp></C:comp></C:calendar-data><D:getcontentlength/></D:prop><D:href>/x</D:href></C:calendar-multiget>`)) as CalendarMultigetReport;
    const fast = fastProps(q.props)!;
    const href = '/dav/calendars/u@example.com/c/a b&c.ics';
    for (const spec of [q.calendarData, null]) {
      const cells = [obj.name, obj.etag, String(obj.size), new Date(obj.updated_at).toUTCString(), text];
      expect(fastMemberResponse(escapeText(href), cells, 0, memberLayout(fast), spec)).toBe(fastObjectResponse(href, obj, fast, text, spec));
    }
    expect(q.calendarData).not.toBeNull();
  });

  it('encodes parts into buffers that concatenate to the UTF-8 text', () => {
    const parts = Array.from({ length: 3000 }, (_, i) => `<D:response><D:href>/x/${i}-é😀.ics</D:href></D:response>`);
    const chunks = encodeParts('<head>', parts, '</tail>');
    expect(chunks.length).toBeGreaterThan(1);
    expect(Buffer.concat(chunks).toString('utf8')).toBe(`<head>${parts.join('')}</tail>`);
    expect(Buffer.concat(encodeParts('a', [], 'b')).toString()).toBe('ab');
  });

  it('declines anything else', () => {
    expect(fastProps(sel([[NS_DAV, 'getetag'], [NS_DAV, 'displayname']]))).toBeNull();
    expect(fastProps(sel([[NS_CALDAV, 'schedule-tag']]))).toBeNull();
    expect(fastProps({ kind: 'allprop', include: [] } as unknown as PropfindRequest)).toBeNull();
  });
});
