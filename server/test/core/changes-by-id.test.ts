// REST incremental sync reports changes per event id: a CalDAV client that deletes a resource and
// writes the same href again makes a new event; the REST feed must report the old id deleted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signInHeaders } from '../support/harness.js';
import { createDavEnv, dav, davUser, vevent, type DavTestEnv, type DavUser } from '../dav/support.js';
import { api, type Api } from './_helpers.js';

let env: DavTestEnv;
let anna: DavUser;
let rest: Api;
let cal: string;

beforeAll(async () => {
  env = await createDavEnv({ mailDomains: ['example.com'] });
  anna = await davUser(env, 'anna@example.com');
  rest = api(env, await signInHeaders(env.app, 'anna@example.com'));
  cal = (await rest.get('/calendars')).json().items.find((c: { isDefault: boolean }) => c.isDefault).id;
}, 60_000);
afterAll(() => env?.close());

describe('REST changes since a token', () => {
  it('a CalDAV delete and re-PUT of one href: the old id deleted, the new id put', async () => {
    const href = `${anna.defaultCalendar}same-name.ics`;
    expect((await dav(env, 'PUT', href, { user: anna, body: vevent('same-1', { summary: 'First' }) })).status).toBe(201);
    const first = (await rest.get(`/calendars/${cal}/changes`)).json();
    const oldId = first.changes.find((c: { uid: string }) => c.uid === 'same-1').id;
    expect((await dav(env, 'DELETE', href, { user: anna })).status).toBe(204);
    expect((await dav(env, 'PUT', href, { user: anna, body: vevent('same-2', { summary: 'Second' }) })).status).toBe(201);
    const next = (await rest.get(`/calendars/${cal}/changes?since=${first.syncToken}`)).json();
    const byId = new Map(next.changes.map((c: { id: string; kind: string; uid: string }) => [c.id, c]));
    expect(byId.get(oldId)).toMatchObject({ kind: 'delete', uid: 'same-1' });
    const added = next.changes.filter((c: { kind: string }) => c.kind === 'put');
    expect(added).toHaveLength(1);
    expect(added[0].uid).toBe('same-2');
    expect(added[0].id).not.toBe(oldId);
    // A later sync from the new token reports nothing.
    expect((await rest.get(`/calendars/${cal}/changes?since=${next.syncToken}`)).json().changes).toEqual([]);
  });

  it('a move reports a delete in the source calendar and a put in the target; a restore from the trash is a put', async () => {
    const other = (await rest.post('/calendars', { name: 'Other' })).json().id;
    const created = await rest.post('/events', { calendarId: cal, event: { summary: 'Moving', start: '2033-04-01T10:00', end: '2033-04-01T11:00', timezone: 'UTC' } });
    expect(created.statusCode).toBe(201);
    const id = created.json().id;
    const t1 = (await rest.get(`/calendars/${cal}/changes`)).json().syncToken;
    const t2 = (await rest.get(`/calendars/${other}/changes`)).json().syncToken;
    expect((await rest.post(`/events/${id}/move`, { calendarId: other })).statusCode).toBe(200);
    expect((await rest.get(`/calendars/${cal}/changes?since=${t1}`)).json().changes).toEqual([expect.objectContaining({ id, kind: 'delete' })]);
    const inOther = (await rest.get(`/calendars/${other}/changes?since=${t2}`)).json();
    expect(inOther.changes).toEqual([expect.objectContaining({ id, kind: 'put' })]);
    expect((await rest.del(`/events/${id}`)).statusCode).toBe(204);
    const afterDelete = (await rest.get(`/calendars/${other}/changes?since=${inOther.syncToken}`)).json();
    expect(afterDelete.changes).toEqual([expect.objectContaining({ id, kind: 'delete' })]);
    expect((await rest.post(`/events/${id}/restore`)).statusCode).toBe(200);
    expect((await rest.get(`/calendars/${other}/changes?since=${afterDelete.syncToken}`)).json().changes).toEqual([expect.objectContaining({ id, kind: 'put' })]);
  });
});
