// Tasks without dates (RFC 5545 §3.6.2: a VTODO may have neither DTSTART nor DUE), as Thunderbird,
// Apple Reminders and DAVx5 / tasks.org create them: stored, listed, found by calendar-query, and
// matched by every time-range when nothing dates them (RFC 4791 §9.9).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listOccurrences } from '../../src/app/events/queries.js';
import { createDavEnv, dav, davUser, responses, vevent, type DavTestEnv, type DavUser } from './support.js';

let env: DavTestEnv;
let anna: DavUser;

const todo = (uid: string, extra: string[] = []) =>
  `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN\r\nBEGIN:VTODO\r\nUID:${uid}\r\nDTSTAMP:20240101T000000Z\r\nSUMMARY:${uid}\r\n${[...extra, ''].join('\r\n')}END:VTODO\r\nEND:VCALENDAR\r\n`;

const query = (inner: string, props = '<D:getetag/>') =>
  `<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop>${props}</D:prop><C:filter><C:comp-filter name="VCALENDAR">${inner}</C:comp-filter></C:filter></C:calendar-query>`;

async function report(body: string): Promise<string[]> {
  const r = await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, headers: { depth: '1' }, body });
  expect(r.status, r.text).toBe(207);
  return [...responses(r.xml()).keys()].map((h) => h.slice(anna.defaultCalendar.length)).sort();
}

beforeAll(async () => {
  env = await createDavEnv();
  anna = await davUser(env, 'anna@example.com');
  const put = async (name: string, body: string) => {
    const r = await dav(env, 'PUT', `${anna.defaultCalendar}${name}`, { user: anna, body, headers: { 'if-none-match': '*' } });
    expect(r.status, r.text).toBe(201);
  };
  await put('bare.ics', todo('bare', ['STATUS:NEEDS-ACTION']));
  await put('created.ics', todo('created', ['CREATED:20240301T000000Z']));
  await put('completed.ics', todo('completed', ['STATUS:COMPLETED', 'COMPLETED:20240105T120000Z', 'PERCENT-COMPLETE:100']));
  await put('due.ics', todo('due', ['DUE:20240120T000000Z']));
  await put('event.ics', vevent('event', { start: '20240110T100000Z', end: '20240110T110000Z' }));
});
afterAll(async () => env?.close());

describe('VTODO without DTSTART and DUE', () => {
  it('PUT stores it (201) and GET returns it unchanged', async () => {
    const r = await dav(env, 'GET', `${anna.defaultCalendar}bare.ics`, { user: anna });
    expect(r.status).toBe(200);
    expect(r.headers.get('etag')).toBeTruthy();
    expect(r.text).toContain('BEGIN:VTODO');
    expect(r.text).toContain('UID:bare');
    expect(r.text).not.toMatch(/DTSTART|DUE/);
    const row = await env.ctx.db.selectFrom('calendar_object').select(['component', 'first_start', 'last_end', 'recurring'])
      .where('owner_id', '=', anna.row.id).where('uid', '=', 'bare').executeTakeFirstOrThrow();
    expect(row).toEqual({ component: 'VTODO', first_start: null, last_end: null, recurring: false });
  });

  it('an update keeps it undated; a later DUE gives it a span', async () => {
    const url = `${anna.defaultCalendar}upd.ics`;
    let r = await dav(env, 'PUT', url, { user: anna, body: todo('upd') });
    expect(r.status).toBe(201);
    const etag = r.headers.get('etag') ?? (await dav(env, 'HEAD', url, { user: anna })).headers.get('etag')!;
    r = await dav(env, 'PUT', url, { user: anna, body: todo('upd', ['DUE:20240201T090000Z']), headers: { 'if-match': etag } });
    expect(r.status).toBe(204);
    const row = await env.ctx.db.selectFrom('calendar_object').select(['first_start']).where('owner_id', '=', anna.row.id).where('uid', '=', 'upd').executeTakeFirstOrThrow();
    expect(row.first_start?.toISOString()).toBe('2024-02-01T09:00:00.000Z');
    expect((await dav(env, 'DELETE', url, { user: anna })).status).toBe(204);
  });

  it('PROPFIND Depth 1 lists it with getetag and getcontenttype', async () => {
    const r = await dav(env, 'PROPFIND', anna.defaultCalendar, { user: anna, headers: { depth: '1' }, body: '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:getcontenttype/></D:prop></D:propfind>' });
    expect(r.status).toBe(207);
    const got = responses(r.xml()).get(`${anna.defaultCalendar}bare.ics`)!;
    expect(got.props.get('getetag')!.text).toBeTruthy();
    expect(got.props.get('getcontenttype')!.text).toMatch(/text\/calendar/);
  });

  it('calendar-query with a VTODO comp-filter returns it (with calendar-data)', async () => {
    expect(await report(query('<C:comp-filter name="VTODO"/>'))).toEqual(['bare.ics', 'completed.ics', 'created.ics', 'due.ics']);
    const r = await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, headers: { depth: '1' }, body: query('<C:comp-filter name="VTODO"><C:prop-filter name="UID"><C:text-match>bare</C:text-match></C:prop-filter></C:comp-filter>', '<D:getetag/><C:calendar-data/>') });
    const one = responses(r.xml());
    expect([...one.keys()]).toEqual([`${anna.defaultCalendar}bare.ics`]);
    expect(one.get(`${anna.defaultCalendar}bare.ics`)!.props.get('calendar-data')!.text).toContain('UID:bare');
  });

  it("Thunderbird's open-tasks query (COMPLETED is-not-defined, STATUS not COMPLETED) finds it", async () => {
    const body = query('<C:comp-filter name="VTODO"><C:prop-filter name="COMPLETED"><C:is-not-defined/></C:prop-filter><C:prop-filter name="STATUS"><C:text-match negate-condition="yes">COMPLETED</C:text-match></C:prop-filter></C:comp-filter>');
    // (A text-match needs the property to exist, RFC 4791 §9.7.2: the todos without STATUS do not match.)
    expect(await report(body)).toEqual(['bare.ics']);
    expect(await report(query('<C:comp-filter name="VTODO"><C:prop-filter name="COMPLETED"><C:is-not-defined/></C:prop-filter></C:comp-filter>'))).toEqual(['bare.ics', 'created.ics', 'due.ics']);
  });

  it('time-range on VTODO follows RFC 4791 §9.9: undated todos match every range; CREATED/COMPLETED narrow it', async () => {
    const tr = (s: string, e: string) => query(`<C:comp-filter name="VTODO"><C:time-range start="${s}" end="${e}"/></C:comp-filter>`);
    // January: bare (always), completed (COMPLETED inside), due (DUE inside); created (Mar 1) not yet.
    expect(await report(tr('20240101T000000Z', '20240201T000000Z'))).toEqual(['bare.ics', 'completed.ics', 'due.ics']);
    // April: bare, created (end > CREATED).
    expect(await report(tr('20240401T000000Z', '20240501T000000Z'))).toEqual(['bare.ics', 'created.ics']);
    // Far past and far future: the bare one still.
    expect(await report(tr('19700101T000000Z', '19700102T000000Z'))).toEqual(['bare.ics']);
    expect(await report(tr('29990101T000000Z', '29990102T000000Z'))).toEqual(['bare.ics', 'created.ics']);
  });

  it('a VEVENT time-range query, free-busy-query and the REST listing skip undated todos', async () => {
    expect(await report('<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20240101T000000Z" end="20240201T000000Z"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>'))
      .toEqual(['event.ics']);
    const fb = await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, body: '<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav"><C:time-range start="20240101T000000Z" end="20240201T000000Z"/></C:free-busy-query>' });
    expect(fb.status).toBe(200);
    const busy = fb.text.match(/^FREEBUSY[^\r\n]*/gm) ?? [];
    expect(busy.join('\n')).toContain('20240110T100000Z/');
    expect(busy).toHaveLength(1);
    const list = await listOccurrences(env.ctx, { userId: anna.row.id, email: anna.email, via: 'rest' }, { from: new Date('2024-01-01T00:00:00Z'), to: new Date('2024-02-01T00:00:00Z') }, 'UTC');
    expect(list.map((o) => o.uid).sort()).toEqual(['due', 'event']);
  });

  it('sync-collection reports it', async () => {
    const r = await dav(env, 'REPORT', anna.defaultCalendar, { user: anna, body: '<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>' });
    expect(r.status).toBe(207);
    expect([...responses(r.xml()).keys()]).toContain(`${anna.defaultCalendar}bare.ics`);
  });
});
