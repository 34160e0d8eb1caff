/**
 * Issue 3 §9: every query on a per-user table filters by its owner key, so the tables can be
 * distributed by owner_id (docs/scaling.md). Two checks:
 *  1. statically, every Kysely chain / raw SQL on a per-user table in server/src (store, app, http,
 *     jobs, integrations, roles, cli) has owner_id in a predicate (where / on / a row match);
 *  2. at run time, every SELECT/UPDATE/DELETE the app sends while a representative workload runs
 *     (all event commands, scheduling deliveries, import/export, sync, search, free/busy,
 *     attachments, leases, trash purge) has an owner_id predicate.
 * The few intentional global lookups are allow-listed below, each with the reason.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, eventually, makeUser, startTestWorker, type TestEnv } from '../support/harness.js';
import { create, ev, user, type TestUser } from './_helpers.js';

/** Per-user tables: each carries owner_id (or principal_id / grantee) as its distribution key. */
const PER_USER = ['calendar_object', 'calendar_change', 'calendar', 'calendar_share', 'attachment', 'attachment_use', 'import_run', 'session', 'app_password', 'api_token', 'audit_log', 'dead_property', 'reminder',
  'itip_message', 'itip_fanout', 'delivery_log', 'mail_decision', 'bot_callback', 'bot_chat', 'bot_message'];
/** The column that is the owner key, when it is not owner_id. */
const KEY: Record<string, RegExp> = {
  // Sessions and API tokens are found by the hash of the secret the client presents, before the
  // owner is known: their id (the hash) is their distribution key (docs/scaling.md).
  session: /\b(principal_id|owner_id|user_id)\b|'id'/,
  app_password: /\b(principal_id|owner_id|user_id)\b/,
  api_token: /\b(principal_id|owner_id|user_id)\b|'id'/,
};

/**
 * Intentional global lookups (static: file → why). Each becomes a multi-shard (or id-routed)
 * query on Citus; docs/scaling.md lists them.
 */
const STATIC_ALLOW: { file: RegExp; table: string; why: string }[] = [
  { file: /store\/objects\.ts$/, table: 'calendar_object', why: 'ownerOfObject: resolves a global REST id to its owner before the owner-scoped read' },
  { file: /app\/attachments\.ts$/, table: 'attachment', why: 'attachment ids are global: the uploader (owner) differs from participants who read it; GC scans all owners in a job' },
  { file: /app\/attachments\.ts$/, table: 'attachment_use', why: 'deleteAttachment/GC: is the file used by any owner’s copy' },
  { file: /app\/events\/commands\.ts$/, table: 'attachment', why: 'attachmentRefs: looks the upload up by id, then checks owner_id in code' },
  { file: /jobs\/handlers\.ts$/, table: 'calendar_object', why: 'purge-trash job: finds expired trash across owners, deletes per owner' },
  { file: /jobs\/handlers\.ts$/, table: 'session', why: 'purge-sessions job: expired sessions of every owner (a multi-shard delete, once an hour)' },
  { file: /store\/calendars\.ts$/, table: 'calendar', why: 'findCalendarAnyOwner: a calendar id from a URL resolved to its owner before the access check' },
  { file: /store\/principals\.ts$/, table: 'calendar', why: 'calendarAndAddresses: the create\'s calendar by id (as findCalendarAnyOwner), its owner and the actor\'s access checked next' },
  { file: /store\/calendars\.ts$/, table: 'calendar_share', why: 'sharedCalendars: the shares a grantee received, found by grantee across owners (multi-shard)' },
  { file: /store\/itip-messages\.ts$/, table: 'itip_message', why: 'purgeMessages: the daily clean-up across owners (multi-shard delete)' },
  { file: /store\/itip-messages\.ts$/, table: 'itip_fanout', why: 'purgeMessages: the daily clean-up across owners (multi-shard delete)' },
  { file: /store\/mail\.ts$/, table: 'delivery_log', why: 'alreadySent*: the owner is added on the next statement (every caller passes it); admin delivery listing; a bounce (DSN) is matched by Message-ID or UID + recipient, which name no owner' },
  { file: /store\/mail\.ts$/, table: 'mail_decision', why: 'the admin listing of held messages across owners' },
  { file: /http\/dav\/props\.ts$/, table: 'calendar_object', why: 'usedBytes: the owner filter is added on the next lines, per target kind' },
];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('static scan', () => {
  it('every Kysely chain or raw SQL on a per-user table names its owner key', () => {
    const root = join(process.cwd(), 'server/src');
    const targets = [...files(join(root, 'store')).filter((f) => !f.includes('/migrations/')), ...['app', 'http', 'jobs', 'integrations', 'roles', 'cli'].flatMap((d) => files(join(root, d)))];
    const offenders: string[] = [];
    for (const f of targets) {
      const text = readFileSync(f, 'utf8');
      const re = /\b(selectFrom|updateTable|deleteFrom)\(\s*'([a-z_]+)'|\b(from|update|delete from|join)\s+([a-z_]+)\b/g;
      for (const m of text.matchAll(re)) {
        const table = m[2] ?? m[4];
        if (!PER_USER.includes(table)) continue;
        if (m[3] && !/`[^`]*$/.test(text.slice(Math.max(0, m.index! - 400), m.index!))) continue; // raw SQL only inside template literals
        // The statement: up to its execute / end of the template literal.
        const rest = text.slice(m.index!);
        const end = m[1] ? rest.search(/\.execute(TakeFirst(OrThrow)?)?\(|\.stream\(|;\s*$/m) : rest.indexOf('`');
        const stmt = rest.slice(0, end < 0 ? 600 : end);
        // The owner key in a predicate (where / on / a row-value match), not merely selected.
        const key = KEY[table] ?? /where\(\s*'(?:[a-z_]+\.)?owner_id'|where\(\s*\[\s*'owner_id'|\bowner_id\s*(?:=|\bin\b|\bis\b)|\(\s*(?:[a-z_]+\.)?owner_id\s*,|\bon\b[^;]{0,200}\bowner_id\b|owner_id:\s/;
        if (key.test(stmt)) continue;
        if (STATIC_ALLOW.some((a) => a.file.test(f) && a.table === table)) continue;
        const line = text.slice(0, m.index!).split('\n').length;
        offenders.push(`${relative(process.cwd(), f)}:${line} ${table}: ${stmt.replace(/\s+/g, ' ').slice(0, 160)}`);
      }
    }
    expect(offenders).toEqual([]);
  });
});

describe('run-time query log', () => {
  const log: string[] = [];
  const original = pg.Client.prototype.query;
  let env: TestEnv;
  let worker: { stop(): Promise<void> };

  /** Intentional global statements (SQL text → why). */
  const RUNTIME_ALLOW: { re: RegExp; why: string }[] = [
    { re: /^select owner_id from calendar_object where id = \$1$/, why: 'ownerOfObject (REST ids are global)' },
    { re: /^select .* from "calendar" where "id" = \$1/, why: 'findCalendarAnyOwner: a calendar id from a URL, resolved to its owner before access checks' },
    { re: /^select .* from "attachment" where "id" (=|in) /, why: 'attachment ids are global (uploader ≠ participant)' },
    { re: /from "attachment_use" where "attachment_id" = \$1/, why: 'is the file used by anyone' },
    { re: /from "attachment" where "created_at" < \$1 and not exists/, why: 'GC job across owners' },
    { re: /^select "id", "owner_id" from "calendar_object" where "deleted_at" < \$1/, why: 'purge-trash job across owners' },
    { re: /from "calendar_share" .*"grantee_id"/, why: 'shares are found by grantee (stored with the owner’s calendar; a reference-style lookup)' },
    { re: /from "session"|from "api_token"|from "app_password"|update "session"|update "api_token"|update "app_password"|delete from "session"/, why: 'platform auth tables: keyed by token hash / principal, checked by the platform tests' },
    { re: /from "audit_log"/, why: 'admin audit listing (platform)' },
    { re: /^delete from itip_(message|fanout) where created_at < \$1$/, why: 'purgeMessages: the daily clean-up across owners' },
  ];

  beforeAll(async () => {
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      const q = args[0] as string | { text?: string };
      const text = typeof q === 'string' ? q : q?.text;
      if (text) log.push(text);
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof original;
    env = await createTestEnv({ mailDomains: ['example.com'], dataDir: `/tmp/calendula-test-own-${process.pid}` });
    worker = await startTestWorker(env);
  });
  afterAll(async () => {
    pg.Client.prototype.query = original;
    await worker.stop();
    await env.close();
  });

  it('every SELECT/UPDATE/DELETE on a per-user table carries an owner_id predicate', async () => {
    const a: TestUser = await user(env, 'anna@example.com', 'Anna');
    const b: TestUser = await user(env, 'boris@example.com', 'Boris');
    await makeUser(env.ctx, 'room@example.com', { kind: 'room' });
    await a.api.put(`/calendars/${a.cal}/shares`, { email: b.email, access: 'read-write' });
    log.length = 0;
    // Workload: every command once.
    const e = await create(a, ev('Owner filter', '2033-05-02T10:00:00', '2033-05-02T11:00:00', { rrule: 'FREQ=DAILY;COUNT=3', attendees: [{ email: b.email }, { email: 'room@example.com' }, { email: 'ext@partner.org' }], alarms: [{ action: 'DISPLAY', trigger: '-PT5M' }] }));
    const copy = await eventually(async () => (await b.api.get('/invitations')).json().items.find((i: { uid: string }) => i.uid === e.uid), 10_000, 'invite');
    await b.api.post(`/events/${copy.id}/respond`, { partstat: 'ACCEPTED', comment: 'ok' });
    await a.api.get(`/events?from=2033-05-01T00:00:00Z&to=2033-05-08T00:00:00Z`);
    await b.api.get(`/events?from=2033-05-01T00:00:00Z&to=2033-05-08T00:00:00Z&calendars=${a.cal}`);
    await a.api.get(`/events/${e.id}`);
    await a.api.get(`/events/${e.id}`, { accept: 'text/calendar' });
    await a.api.post(`/events/${e.id}/lease`);
    await a.api.patch(`/events/${e.id}`, { event: { summary: 'Owner filter 2', start: '2033-05-02T12:00:00', end: '2033-05-02T13:00:00' } });
    await a.api.del(`/events/${e.id}/lease`);
    await a.api.get('/events/search?q=owner');
    await a.api.get('/invitations');
    await a.api.post('/freebusy', { attendees: [b.email, 'room@example.com'], from: '2033-05-01T00:00:00Z', to: '2033-06-01T00:00:00Z' });
    await a.api.post('/find-time', { attendees: [b.email], durationMinutes: 30, from: '2033-05-02T00:00:00Z', to: '2033-05-09T00:00:00Z' });
    const sync = (await a.api.get(`/calendars/${a.cal}/changes`)).json();
    const d = await create(a, ev('Dup me', '2033-05-03T10:00:00', '2033-05-03T11:00:00'));
    const c2 = (await a.api.post('/calendars', { name: 'Other' })).json().id;
    await a.api.post(`/events/${d.id}/move`, { calendarId: c2 });
    await a.api.post(`/events/${d.id}/duplicate`, { calendarId: a.cal });
    await a.api.del(`/events/${d.id}`);
    await a.api.get('/trash');
    await a.api.post(`/events/${d.id}/restore`);
    await a.api.get(`/calendars/${a.cal}/changes?since=${sync.syncToken}`);
    const exp = (await a.api.get(`/calendars/${a.cal}/export`)).body;
    const imp = await env.app.inject({ method: 'POST', url: `/api/v1/calendars/${c2}/import`, headers: { ...a.h, 'content-type': 'text/calendar' }, payload: exp });
    await eventually(async () => (await a.api.get(`/imports/${imp.json().importId}`)).json().state === 'done', 20_000, 'import');
    await a.api.del(`/events/${e.id}`);
    await eventually(async () => !(await env.ctx.db.selectFrom('calendar_object').select('id').where('owner_id', '=', b.id).where('uid', '=', e.uid).where('status', '!=', 'CANCELLED').executeTakeFirst()), 10_000, 'cancel delivered');
    const { jobHandlers } = await import('../../src/jobs/handlers.js');
    await jobHandlers(env.ctx)['purge-trash']({}, { jobId: '0', attempts: 1, log: env.ctx.log });

    const statements = [...new Set(log.map((s) => s.replace(/\s+/g, ' ').trim()))];
    const touching = statements.filter((s) => /^(select|update|delete|with)\b/i.test(s) && !/graphile_worker\./.test(s))
      .filter((s) => PER_USER.some((t) => new RegExp(`(from|join|update)\\s+"?${t}"?(\\s|$)`, 'i').test(s)));
    expect(touching.length).toBeGreaterThan(30);
    const offenders = touching.filter((s) => !/owner_id"?\s*(=|in\b|= any)/i.test(s) && !RUNTIME_ALLOW.some((x) => x.re.test(s)));
    expect(offenders).toEqual([]);
  }, 60_000);
});
