// PROPFIND Depth (RFC 4918 §9.1): infinity is refused with 403 DAV:propfind-finite-depth above
// the calendars, and means Depth 1 inside a calendar (which has no sub-collections).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NS_DAV, child } from '../../src/lib/dav/index.js';
import { createDavEnv, dav, davUser, responses, vevent, type DavTestEnv, type DavUser } from './support.js';

let env: DavTestEnv;
let anna: DavUser;
const BODY = '<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getetag/></D:prop></D:propfind>';

beforeAll(async () => {
  env = await createDavEnv();
  anna = await davUser(env, 'anna@example.com');
  expect((await dav(env, 'PUT', `${anna.defaultCalendar}a.ics`, { user: anna, body: vevent('a') })).status).toBe(201);
});
afterAll(async () => env?.close());

describe('PROPFIND Depth: infinity', () => {
  it.each([['root', '/dav/'], ['principals', '/dav/principals/'], ['principal', 'PRINCIPAL'], ['home', 'HOME']])('%s: 403 propfind-finite-depth', async (_, path) => {
    const url = path === 'PRINCIPAL' ? anna.principal : path === 'HOME' ? anna.home : path;
    const r = await dav(env, 'PROPFIND', url, { user: anna, headers: { depth: 'infinity' }, body: BODY });
    expect(r.status, r.text).toBe(403);
    expect(child(r.xml(), NS_DAV, 'propfind-finite-depth')).toBeTruthy();
  });

  it('the same collections still answer Depth 0 and 1', async () => {
    for (const depth of ['0', '1']) expect((await dav(env, 'PROPFIND', anna.home, { user: anna, headers: { depth }, body: BODY })).status).toBe(207);
  });

  it('a calendar answers Depth: infinity as Depth 1 (itself and its objects)', async () => {
    const inf = await dav(env, 'PROPFIND', anna.defaultCalendar, { user: anna, headers: { depth: 'infinity' }, body: BODY });
    const one = await dav(env, 'PROPFIND', anna.defaultCalendar, { user: anna, headers: { depth: '1' }, body: BODY });
    expect(inf.status).toBe(207);
    expect([...responses(inf.xml()).keys()].sort()).toEqual([...responses(one.xml()).keys()].sort());
    expect([...responses(inf.xml()).keys()]).toContain(`${anna.defaultCalendar}a.ics`);
  });

  it('the schedule inbox and an object accept it too', async () => {
    const inbox = [...responses((await dav(env, 'PROPFIND', anna.home, { user: anna, headers: { depth: '1' }, body: BODY })).xml()).keys()].find((k) => k.includes('inbox'))!;
    expect((await dav(env, 'PROPFIND', inbox, { user: anna, headers: { depth: 'infinity' }, body: BODY })).status).toBe(207);
    expect((await dav(env, 'PROPFIND', `${anna.defaultCalendar}a.ics`, { user: anna, headers: { depth: 'infinity' }, body: BODY })).status).toBe(207);
  });

  it('without a Depth header the home is listed as with Depth 1 (compatibility)', async () => {
    const r = await dav(env, 'PROPFIND', anna.home, { user: anna, body: BODY });
    expect(r.status).toBe(207);
    expect([...responses(r.xml()).keys()]).toContain(anna.defaultCalendar);
  });
});
