// Pluggable checks of external attendee addresses (issue 3 §8): the optional mail-domain (MX)
// check against a real DNS server on loopback, a check registered by an integration, and what
// each entry point answers — REST 422 with a stable code naming the address (English and
// Russian), CalDAV 403 with the valid-calendar-user-address precondition — with nothing stored.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signInHeaders } from '../support/harness.js';
import { startDnsServer, type TestDnsServer } from '../support/dns-server.js';
import { createDavEnv, dav, davUser, vevent, type DavTestEnv, type DavUser } from '../dav/support.js';
import { api, ev, jobs, type Api } from './_helpers.js';
import { saveObject } from '../../src/app/events/write.js';
import { registerAddressCheck } from '../../src/app/events/address-checks.js';
import { createTestEnv } from '../support/harness.js';

let dnsServer: TestDnsServer;
let env: DavTestEnv;
let anna: DavUser;
let rest: Api;
let cal: string;

const objects = (ownerId: string) => env.ctx.db.selectFrom('calendar_object').select(['id', 'uid']).where('owner_id', '=', ownerId).execute();
const invite = (emails: string[], summary = 'Check') => ({ calendarId: cal, event: ev(summary, '2033-02-01T10:00', '2033-02-01T11:00', { attendees: emails.map((email) => ({ email })) }) });

beforeAll(async () => {
  dnsServer = await startDnsServer({
    'partner.test': { MX: [{ preference: 10, exchange: 'mx.partner.test' }] },
    'plain-host.test': { A: ['192.0.2.7'] },
    'parked.test': { MX: [{ preference: 0, exchange: '.' }] },
    'flaky.test': 'servfail',
  });
  env = await createDavEnv({ mailDomains: ['example.com'], addressMxCheck: true, dnsServers: [dnsServer.server], addressCheckTimeoutMs: 300 });
  anna = await davUser(env, 'anna@example.com');
  await davUser(env, 'boris@example.com');
  rest = api(env, await signInHeaders(env.app, 'anna@example.com'));
  cal = (await rest.get('/calendars')).json().items.find((c: { isDefault: boolean }) => c.isDefault).id;
}, 60_000);
afterAll(async () => {
  await env?.close();
  await dnsServer?.close();
});

describe('mail-domain check (CALENDULA_ADDRESS_MX_CHECK)', () => {
  it('REST: a domain that does not exist or accepts no mail is refused, naming the address; nothing is stored', async () => {
    const before = (await objects(anna.row.id)).length;
    const nx = await rest.post('/events', invite(['boris@example.com', 'someone@no-such-domain.test']));
    expect(nx.statusCode, nx.body).toBe(422);
    expect(nx.json()).toMatchObject({ error: 'UNDELIVERABLE_ADDRESS', details: { email: 'someone@no-such-domain.test', reason: 'the domain does not exist' } });
    expect(nx.json().message).toContain('someone@no-such-domain.test');
    const ru = await rest.post('/events', invite(['info@parked.test']), { 'accept-language': 'ru' });
    expect(ru.statusCode).toBe(422);
    expect(ru.json().message).toBe('Письмо на адрес info@parked.test не может быть доставлено: домен не принимает почту');
    expect((await objects(anna.row.id)).length).toBe(before);
  });

  it('REST: an MX, an address record alone, and a DNS failure all pass; internal addresses are not looked up', async () => {
    const queried = dnsServer.queries.length;
    const ok = await rest.post('/events', invite(['boris@example.com', 'a@partner.test', 'b@plain-host.test', 'c@flaky.test']));
    expect(ok.statusCode, ok.body).toBe(201);
    expect(dnsServer.queries.slice(queried).map((q) => q.name)).not.toContain('example.com');
  });

  it('on update only new attendees are checked (an attendee already invited stays)', async () => {
    const created = await rest.post('/events', invite(['a@partner.test'], 'Update check'));
    expect(created.statusCode).toBe(201);
    const bad = await rest.patch(`/events/${created.json().id}`, { event: { attendees: [{ email: 'a@partner.test' }, { email: 'x@nowhere-at-all.test' }] } });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().details.email).toBe('x@nowhere-at-all.test');
    const good = await rest.patch(`/events/${created.json().id}`, { event: { summary: 'Renamed', attendees: [{ email: 'a@partner.test' }, { email: 'b@plain-host.test' }] } });
    expect(good.statusCode, good.body).toBe(200);
  });

  it('CalDAV: the PUT is refused with 403 and the valid-calendar-user-address precondition', async () => {
    const body = vevent('mx-dav-1', { summary: 'Via DAV', organizer: anna.email, attendees: [{ email: anna.email, partstat: 'ACCEPTED' }, { email: 'guest@no-such-domain.test' }] });
    const r = await dav(env, 'PUT', `${anna.defaultCalendar}mx-dav-1.ics`, { user: anna, body });
    expect(r.status).toBe(403);
    expect(r.text).toContain('valid-calendar-user-address');
    expect(r.text).toContain('guest@no-such-domain.test');
    expect((await objects(anna.row.id)).some((o) => o.uid === 'mx-dav-1')).toBe(false);
    const fine = await dav(env, 'PUT', `${anna.defaultCalendar}mx-dav-2.ics`, { user: anna, body: vevent('mx-dav-2', { summary: 'Via DAV', organizer: anna.email, attendees: [{ email: anna.email, partstat: 'ACCEPTED' }, { email: 'guest@partner.test' }] }) });
    expect(fine.status).toBe(201);
  });
});

describe('answers', () => {
  it('an invitation from a domain that accepts no mail can still be answered (the REPLY is queued)', async () => {
    const ical = vevent('mx-answer-1', { summary: 'From outside', organizer: 'org@parked.test', attendees: [{ email: 'org@parked.test', partstat: 'ACCEPTED' }, { email: anna.email }] });
    const saved = await saveObject(env.ctx, { userId: null, email: 'org@parked.test', via: 'mail' } as never, { ownerId: anna.row.id, calendarId: cal, ical });
    const r = await rest.post(`/events/${saved.row.id}/respond`, { partstat: 'ACCEPTED' });
    expect(r.statusCode, r.body).toBe(200);
    const replies = (await jobs(env, 'imip-send')).filter((j) => j.payload.method === 'REPLY' && j.payload.uid === 'mx-answer-1');
    expect(replies.map((j) => j.payload.recipient)).toEqual(['org@parked.test']);
  });
});

describe('a check registered by an integration', () => {
  it('refuses what it refuses; a check that throws refuses nothing', async () => {
    const seen: string[][] = [];
    const off = registerAddressCheck(env.ctx, { name: 'deny-list', async refused(emails) { seen.push(emails); return new Map(emails.filter((e) => e.startsWith('blocked@')).map((e) => [e, 'the address is on the deny list'])); } });
    const offBroken = registerAddressCheck(env.ctx, { name: 'broken', async refused() { throw new Error('directory down'); } });
    try {
      const r = await rest.post('/events', invite(['blocked@partner.test']));
      expect(r.statusCode).toBe(422);
      expect(r.json()).toMatchObject({ error: 'UNDELIVERABLE_ADDRESS', details: { email: 'blocked@partner.test', check: 'deny-list', reason: 'the address is on the deny list' } });
      const ru = await rest.post('/events', invite(['blocked@partner.test']), { 'accept-language': 'ru' });
      expect(ru.json().message).toBe('Письмо на адрес blocked@partner.test не может быть доставлено: адрес отклонён проверкой адресов');
      const ok = await rest.post('/events', invite(['fine@partner.test', 'boris@example.com']));
      expect(ok.statusCode, ok.body).toBe(201);
      // Only external addresses reach a check.
      expect(seen.flat()).not.toContain('boris@example.com');
    } finally {
      off();
      offBroken();
    }
    expect((await rest.post('/events', invite(['blocked@partner.test']))).statusCode).toBe(201);
  });
});

describe('off by default', () => {
  it('without CALENDULA_ADDRESS_MX_CHECK no lookup is made and any well-formed external address is accepted', async () => {
    const plain = await createTestEnv({ mailDomains: ['example.com'], dnsServers: [dnsServer.server] });
    try {
      await davUser(plain, 'olga@example.com');
      const o = api(plain, await signInHeaders(plain.app, 'olga@example.com'));
      const ocal = (await o.get('/calendars')).json().items.find((c: { isDefault: boolean }) => c.isDefault).id;
      const asked = dnsServer.queries.length;
      const r = await o.post('/events', { calendarId: ocal, event: ev('No check', '2033-03-01T10:00', '2033-03-01T11:00', { attendees: [{ email: 'x@no-such-domain.test' }] }) });
      expect(r.statusCode, r.body).toBe(201);
      expect(dnsServer.queries.length).toBe(asked);
    } finally {
      await plain.close();
    }
  });
});
