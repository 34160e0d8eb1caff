// The fast member renderer (common.ts) must write exactly what the generic registry + serializer write.
import { describe, expect, it } from 'vitest';
import { buildMultistatus, NS_CALDAV, NS_DAV, type PropfindRequest } from '../../src/lib/dav/index.js';
import { fastObjectResponse, fastProps, fastStatusResponse, propsFor } from '../../src/http/dav/common.js';
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
  it('declines anything else', () => {
    expect(fastProps(sel([[NS_DAV, 'getetag'], [NS_DAV, 'displayname']]))).toBeNull();
    expect(fastProps(sel([[NS_CALDAV, 'schedule-tag']]))).toBeNull();
    expect(fastProps({ kind: 'allprop', include: [] } as unknown as PropfindRequest)).toBeNull();
  });
});
