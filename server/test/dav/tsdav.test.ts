// tsdav 2.3.4 as a real client against a listening server: discovery, calendars, CRUD, sync, time range.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAVClient, type DAVCalendar } from 'tsdav';
import { createDavEnv, davUser, vevent, type DavTestEnv, type DavUser } from './support.js';

let env: DavTestEnv;
let anna: DavUser;
let client: DAVClient;

beforeAll(async () => {
  env = await createDavEnv();
  anna = await davUser(env, 'anna@example.com');
  client = new DAVClient({ serverUrl: env.base, credentials: { username: anna.email, password: anna.password }, authMethod: 'Basic', defaultAccountType: 'caldav' });
  await client.login();
});
afterAll(async () => env?.close());

describe('tsdav', () => {
  let cal: DAVCalendar;

  it('login discovers principal and home through /.well-known/caldav', () => {
    expect(client.account?.principalUrl).toBe(`${env.base}${anna.principal}`);
    expect(client.account?.homeUrl).toBe(`${env.base}${anna.home}`);
  });

  it('makeCalendar and fetchCalendars', async () => {
    const url = `${env.base}${anna.home}7c1d8a52-5a0e-4d57-9d1c-1f2e3a4b5c6d/`;
    const made = await client.makeCalendar({ url, props: { 'd:displayname': 'Team', 'c:calendar-description': 'tsdav made me', 'ca:calendar-color': '#FF8800FF' } as never });
    expect(made[0]?.status ?? 201).toBe(201);
    const cals = await client.fetchCalendars();
    expect(cals.map((c) => c.displayName)).toEqual(expect.arrayContaining(['Calendar', 'Team']));
    cal = cals.find((c) => c.displayName === 'Team')!;
    expect(cal.url).toBe(url);
    expect(cal.components).toContain('VEVENT');
    expect(cal.syncToken).toBeTruthy();
    expect(cal.ctag).toBeTruthy();
  });

  it('create, update with etag, fetch with timeRange, multiget, delete', async () => {
    let r = await client.createCalendarObject({ calendar: cal, filename: 'standup.ics', iCalString: vevent('standup', { start: '20300301T090000Z', end: '20300301T091500Z', rrule: 'FREQ=DAILY;COUNT=10' }) });
    expect(r.status).toBe(201);
    r = await client.createCalendarObject({ calendar: cal, filename: 'later.ics', iCalString: vevent('later', { start: '20300601T090000Z', end: '20300601T100000Z' }) });
    expect(r.status).toBe(201);
    let objs = await client.fetchCalendarObjects({ calendar: cal });
    expect(objs.map((o) => o.url.split('/').pop()).sort()).toEqual(['later.ics', 'standup.ics']);
    const standup = objs.find((o) => o.url.endsWith('standup.ics'))!;
    expect(standup.data).toContain('UID:standup');
    expect(standup.etag).toBeTruthy();

    const upd = await client.updateCalendarObject({ calendarObject: { ...standup, data: standup.data.replace('SUMMARY:Test event', 'SUMMARY:Stand-up') } });
    expect(upd.status).toBe(204);
    const stale = await client.updateCalendarObject({ calendarObject: { ...standup, data: standup.data.replace('SUMMARY:Test event', 'SUMMARY:Stale') } });
    expect(stale.status).toBe(412);

    // March only: the daily series (recurring) matches, June's event does not.
    objs = await client.fetchCalendarObjects({ calendar: cal, timeRange: { start: '2030-03-05T00:00:00Z', end: '2030-03-06T00:00:00Z' } });
    expect(objs.map((o) => o.url.split('/').pop())).toEqual(['standup.ics']);
    expect(objs[0]!.data).toContain('SUMMARY:Stand-up');
    objs = await client.fetchCalendarObjects({ calendar: cal, timeRange: { start: '2030-03-20T00:00:00Z', end: '2030-03-21T00:00:00Z' } });
    expect(objs).toHaveLength(0);

    const multi = await client.calendarMultiGet({ url: cal.url, props: { 'd:getetag': {}, 'c:calendar-data': {} } as never, objectUrls: [`${cal.url}later.ics`, `${cal.url}standup.ics`], depth: '1' });
    // (tsdav throws on a 404 inside a multistatus, so unknown hrefs are covered by the protocol tests.)
    expect(multi.map((m) => m.href?.split('/').pop())).toEqual(['later.ics', 'standup.ics']);
    expect(multi.every((m) => m.ok && JSON.stringify(m.props).includes('BEGIN:VCALENDAR'))).toBe(true);

    const del = await client.deleteCalendarObject({ calendarObject: { url: `${cal.url}later.ics`, etag: objs[0]?.etag ?? '' } });
    expect([204, 412]).toContain(del.status);
    const del2 = await client.deleteCalendarObject({ calendarObject: { url: `${cal.url}later.ics` } });
    expect([204, 404]).toContain(del2.status);
    objs = await client.fetchCalendarObjects({ calendar: cal });
    expect(objs.map((o) => o.url.split('/').pop())).toEqual(['standup.ics']);
  });

  it('syncCalendars and smartCollectionSync pick up created, changed and deleted objects', async () => {
    const [before] = (await client.fetchCalendars()).filter((c) => c.displayName === 'Team');
    const token0 = before!.syncToken;
    const local = await client.fetchCalendarObjects({ calendar: before! });
    await client.createCalendarObject({ calendar: cal, filename: 'new.ics', iCalString: vevent('new-one') });
    await client.deleteCalendarObject({ calendarObject: { url: `${cal.url}standup.ics` } });
    const synced = await client.smartCollectionSync({ collection: { ...before!, objects: local, objectMultiGet: (p: never) => client.calendarMultiGet(p) } as never, method: 'webdav', detailedResult: true });
    const objects = synced.objects as unknown as { created: { url: string }[]; updated: { url: string }[]; deleted: { url: string }[] };
    expect(objects.created.map((o) => o.url.split('/').pop())).toEqual(['new.ics']);
    expect(objects.deleted.map((o) => o.url.split('/').pop())).toEqual(['standup.ics']);
    expect(synced.syncToken).not.toBe(token0);

    const res = await client.syncCalendars({ oldCalendars: [{ ...before!, syncToken: token0, ctag: '"0"' }], detailedResult: true });
    expect((res as unknown as { updated: { url: string }[] }).updated.map((c) => c.url)).toContain(cal.url);
  });
});
