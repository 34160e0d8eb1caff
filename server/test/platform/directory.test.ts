/** Directory search for participant autocomplete: prefixes of name words and addresses. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, makeUser, signInHeaders, type TestEnv } from '../support/harness.js';
import { searchTerms } from '../../src/store/principals.js';

let env: TestEnv;
let h: Record<string, string>;

async function search(q: string, extra = ''): Promise<string[]> {
  const res = await env.app.inject({ method: 'GET', url: `/api/v1/directory?q=${encodeURIComponent(q)}${extra}`, headers: h });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().items.map((i: { email: string }) => i.email);
}

beforeAll(async () => {
  env = await createTestEnv();
  await makeUser(env.ctx, 'searcher@example.com', { name: 'Searcher' });
  await makeUser(env.ctx, 'anna.petrova@example.com', { name: 'Anna Petrova' });
  await makeUser(env.ctx, 'ivan@example.com', { name: 'Иван Сидоров' });
  await makeUser(env.ctx, 'oleg@example.com', { name: 'Олег Ёлкин' });
  await makeUser(env.ctx, 'pct@example.com', { name: '100% Sure' });
  await makeUser(env.ctx, 'under_score@example.com', { name: 'Under Score' });
  await makeUser(env.ctx, 'underxscore@example.com', { name: 'Underxscore' });
  await makeUser(env.ctx, 'jean-luc@example.com', { name: 'Jean-Luc Picard' });
  const gone = await makeUser(env.ctx, 'gone@example.com', { name: 'Anna Gone' });
  await env.ctx.db.updateTable('principal').set({ disabled: true }).where('id', '=', gone.id).execute();
  await makeUser(env.ctx, 'room.anna@example.com', { name: 'Anna Room', kind: 'room' });
  h = await signInHeaders(env.app, 'searcher@example.com');
});
afterAll(() => env.close());

describe('directory search', () => {
  it('finds by the prefix of any name word', async () => {
    expect(await search('petr')).toEqual(['anna.petrova@example.com']);
    expect(await search('anna')).toContain('anna.petrova@example.com');
    expect(await search('anna petrova')).toEqual(['anna.petrova@example.com']);
  });

  it('finds by the prefix of the address and its local part', async () => {
    expect(await search('anna.pe')).toEqual(['anna.petrova@example.com']);
    expect(await search('ivan@exa')).toEqual(['ivan@example.com']);
  });

  it('is case-insensitive', async () => {
    expect(await search('PETROVA')).toEqual(['anna.petrova@example.com']);
    expect(await search('IVAN@EXAMPLE.COM')).toEqual(['ivan@example.com']);
  });

  it('handles Cyrillic names, in any case', async () => {
    expect(await search('сид')).toEqual(['ivan@example.com']);
    expect(await search('ИВА')).toEqual(['ivan@example.com']);
    expect(await search('Ёлк')).toEqual(['oleg@example.com']);
    expect(await search('ёлкин')).toEqual(['oleg@example.com']);
  });

  it('splits hyphenated names into words', async () => {
    expect(await search('luc')).toEqual(['jean-luc@example.com']);
  });

  it('treats LIKE metacharacters literally', async () => {
    expect(await search('%')).toEqual([]);
    expect(await search('100%')).toEqual(['pct@example.com']);
    expect(await search('under_')).toEqual(['under_score@example.com']);
    expect(await search('_')).toEqual([]);
    expect(await search('\\')).toEqual([]);
  });

  it('hides disabled users', async () => {
    const r = await search('anna');
    expect(r).not.toContain('gone@example.com');
    expect(await search('gone')).toEqual([]);
  });

  it('filters by kind and limits', async () => {
    expect(await search('anna', '&kind=room')).toEqual(['room.anna@example.com']);
    expect(await search('anna', '&kind=user')).toEqual(['anna.petrova@example.com']);
    expect((await search('e', '&limit=1')).length).toBeLessThanOrEqual(1);
    const tooMany = await env.app.inject({ method: 'GET', url: '/api/v1/directory?q=a&limit=51', headers: h });
    expect(tooMany.statusCode).toBe(400);
  });

  it('many matching users or disabled users do not crowd out the wanted kind', async () => {
    for (let i = 0; i < 60; i++) await makeUser(env.ctx, `crowd${i}@example.com`, { name: `Crowd Person${i}` });
    await makeUser(env.ctx, 'crowd.room@example.com', { name: 'Crowd Room', kind: 'room' });
    expect(await search('crowd', '&kind=room')).toEqual(['crowd.room@example.com']);
    expect((await search('crowd')).length).toBe(10);
    await env.ctx.db.updateTable('principal').set({ disabled: true }).where('email', 'like', 'crowd%@example.com').where('kind', '=', 'user').execute();
    expect(await search('crowd')).toEqual(['crowd.room@example.com']);
  });

  it('follows renames', async () => {
    const u = await makeUser(env.ctx, 'renamed@example.com', { name: 'Old Name' });
    const admin = await makeUser(env.ctx, 'diradmin@example.com', { admin: true });
    void admin;
    const ha = await signInHeaders(env.app, 'diradmin@example.com');
    await env.app.inject({ method: 'PATCH', url: `/api/v1/users/${u.id}`, headers: ha, payload: { name: 'Fresh Person' } });
    expect(await search('fresh')).toEqual(['renamed@example.com']);
    expect(await search('old')).toEqual([]);
  });

  it('refuses an empty query and a blank one finds nothing', async () => {
    expect((await env.app.inject({ method: 'GET', url: '/api/v1/directory?q=', headers: h })).statusCode).toBe(400);
    expect(await search('   ')).toEqual([]);
  });

  it('searchTerms covers address, local part, full name and words', () => {
    expect(searchTerms('Anna.Petrova@Example.com', 'Anna Petrova').sort()).toEqual(['anna', 'anna petrova', 'anna.petrova', 'anna.petrova@example.com', 'petrova'].sort());
  });
});
