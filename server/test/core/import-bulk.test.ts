/**
 * The bulk import path (issue 3 §3, benchmark "import a 10,000-event .ics < 20 s"): items are
 * written a chunk at a time with set-based statements. Checked against the general write path
 * (saveObject): same index columns; one 'put' per object in the change log with increasing sync
 * tokens; reminders queued for alarmed items; invalid items reported; existing UIDs updated (also
 * on re-import); a database error in a chunk loses no valid item.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, type TestEnv } from '../support/harness.js';
import { jobs, user, type TestUser } from './_helpers.js';
import { runImport, startImport, importStatus, IMPORT_CHUNK } from '../../src/app/events/transfer.js';
import { saveObject } from '../../src/app/events/write.js';
import type { Actor } from '../../src/domain/actor.js';

let env: TestEnv;
let anna: TestUser;
let actor: Actor;

beforeAll(async () => {
  env = await createTestEnv({ mailDomains: ['example.com'], dataDir: `/tmp/calendula-test-import-${process.pid}` });
  anna = await user(env, 'anna@example.com', 'Anna');
  actor = { userId: anna.id, via: 'import' };
});
afterAll(async () => {
  await env.close();
});

const N = 3_000;
const stamp = (d: Date) => d.toISOString().replace(/[-:]/g, '').slice(0, 15) + 'Z';
const BASE = Date.UTC(2031, 0, 5, 8);
const INVALID = new Set([17, 777, 1500, 2222, 2999]);

/** Item i as VEVENT lines: every 10th recurring with a moved occurrence, every 7th with a VALARM, a few invalid. */
function item(i: number, summaryPrefix = 'Item'): string[] {
  const uid = i < 10 ? `dup-${i}@test` : `bulk-${i}@test`;
  const st = new Date(BASE + (i % 300) * 86_400_000 + (i % 9) * 3_600_000);
  const en = new Date(st.getTime() + 45 * 60_000);
  if (INVALID.has(i)) {
    return i % 2 ? ['BEGIN:VEVENT', `UID:${uid}`, 'DTSTAMP:20300101T000000Z', 'DTSTART:notadate', `SUMMARY:Broken ${i}`, 'END:VEVENT']
      : ['BEGIN:VEVENT', `UID:${uid}`, 'DTSTAMP:20300101T000000Z', `DTSTART:${stamp(st)}`, 'RRULE:FREQ=NOPE', `SUMMARY:Broken ${i}`, 'END:VEVENT'];
  }
  const alarm = i % 7 === 0 ? ['BEGIN:VALARM', 'ACTION:DISPLAY', 'DESCRIPTION:Soon', 'TRIGGER:-PT15M', 'END:VALARM'] : [];
  const allDay = i % 50 === 3;
  const lines = ['BEGIN:VEVENT', `UID:${uid}`, 'DTSTAMP:20300101T000000Z',
    ...(allDay ? [`DTSTART;VALUE=DATE:${stamp(st).slice(0, 8)}`] : i % 3 === 0 ? [`DTSTART;TZID=Europe/Berlin:${stamp(st).slice(0, 15)}`, `DTEND;TZID=Europe/Berlin:${stamp(en).slice(0, 15)}`] : [`DTSTART:${stamp(st)}`, `DTEND:${stamp(en)}`]),
    `SUMMARY:${summaryPrefix} ${i}`, `LOCATION:Room ${i % 13}`, 'X-CUSTOM:kept'];
  if (i % 10 === 0 && !allDay) {
    const moved = new Date(st.getTime() + 7 * 86_400_000);
    lines.push('RRULE:FREQ=WEEKLY;COUNT=10', ...alarm, 'END:VEVENT',
      'BEGIN:VEVENT', `UID:${uid}`, 'DTSTAMP:20300101T000000Z',
      ...(i % 3 === 0 ? [`RECURRENCE-ID;TZID=Europe/Berlin:${stamp(moved).slice(0, 15)}`] : [`RECURRENCE-ID:${stamp(moved)}`]),
      `DTSTART:${stamp(new Date(moved.getTime() + 2 * 3_600_000))}`, `DTEND:${stamp(new Date(moved.getTime() + 3 * 3_600_000))}`, `SUMMARY:Moved ${i}`, 'END:VEVENT');
  } else {
    lines.push(...alarm, 'END:VEVENT');
  }
  return lines;
}

const calendarText = (items: string[][]) => ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//test//bulk//EN', ...items.flat(), 'END:VCALENDAR', ''].join('\r\n');
const one = (lines: string[]) => calendarText([lines]);

async function importFile(calendarId: string, text: string) {
  const id = await startImport(env.ctx, { userId: anna.id, via: 'rest' }, calendarId, text);
  await runImport(env.ctx, { ownerId: anna.id, importId: id, actorId: anna.id, via: 'rest' });
  return importStatus(env.ctx, { userId: anna.id, via: 'rest' }, id);
}

async function newCalendar(name: string): Promise<string> {
  const r = await anna.api.post('/calendars', { name });
  expect(r.statusCode, r.body).toBe(201);
  return r.json().id;
}

const rowsOf = (cal: string) => env.ctx.db.selectFrom('calendar_object').selectAll().where('owner_id', '=', anna.id).where('calendar_id', '=', cal).where('deleted_at', 'is', null).execute();
const changesOf = (cal: string, after = '0') => env.ctx.db.selectFrom('calendar_change').selectAll().where('owner_id', '=', anna.id).where('calendar_id', '=', cal).where('seq', '>', after).orderBy('seq').execute();
const syncSeq = async (cal: string) => (await env.ctx.db.selectFrom('calendar').select('sync_seq').where('owner_id', '=', anna.id).where('id', '=', cal).executeTakeFirstOrThrow()).sync_seq;

describe('bulk import', () => {
  it(`imports ${N} items: same index columns as saveObject, one put each, reminders, invalid reported, existing UIDs updated`, async () => {
    expect(N).toBeGreaterThan(IMPORT_CHUNK * 2); // several chunks
    const cal = await newCalendar('Bulk');
    // Ten UIDs exist already (written through the general path): the import updates them.
    const before = new Map<string, string>();
    for (let i = 0; i < 10; i++) {
      const r = await saveObject(env.ctx, actor, { ownerId: anna.id, calendarId: cal, ical: one(item(i, 'Old')), schedule: false });
      before.set(r.row.uid, r.row.id);
    }
    const seq0 = await syncSeq(cal);
    const text = calendarText(Array.from({ length: N }, (_, i) => item(i)));
    const t0 = performance.now();
    const s = await importFile(cal, text);
    const ms = performance.now() - t0;
    expect(s.state).toBe('done');
    expect(s.failed, JSON.stringify(s.errors)).toBe(INVALID.size);
    expect(s.imported).toBe(N - INVALID.size);
    expect(s.total).toBe(N);
    expect(s.done).toBe(N);
    expect(s.errors.map((e: { uid?: string }) => e.uid).sort()).toEqual([...INVALID].map((i) => `bulk-${i}@test`).sort());
    for (const e of s.errors) expect(e.message).toBeTruthy();
    console.log(`bulk import of ${N} items: ${Math.round(ms)} ms`);

    const rows = await rowsOf(cal);
    expect(rows.length).toBe(N - INVALID.size);
    const byUid = new Map(rows.map((r) => [r.uid, r]));
    // Existing UIDs: updated in place (same id), not duplicated.
    for (const [uid, id] of before) {
      expect(byUid.get(uid)?.id).toBe(id);
      expect(byUid.get(uid)?.summary).toMatch(/^Item /);
    }

    // The same items through saveObject into another calendar: identical index columns.
    const ref = await newCalendar('Reference');
    const sample = Array.from({ length: N }, (_, i) => i).filter((i) => !INVALID.has(i) && (i % 10 === 0 || i % 7 === 0 || i % 50 === 3 || i % 97 === 1));
    for (const i of sample) await saveObject(env.ctx, actor, { ownerId: anna.id, calendarId: ref, ical: one(item(i)), schedule: false });
    const refRows = new Map((await rowsOf(ref)).map((r) => [r.uid, r]));
    const cols = ['name', 'component', 'ical', 'etag', 'schedule_tag', 'first_start', 'last_end', 'recurring', 'all_day', 'organizer', 'role', 'my_partstat', 'status', 'transp', 'class',
      'summary', 'location', 'description', 'attendees', 'sequence', 'has_alarms', 'has_attachments', 'origin', 'updated_by'] as const;
    for (const i of sample) {
      const uid = i < 10 ? `dup-${i}@test` : `bulk-${i}@test`;
      const a = byUid.get(uid)!;
      const b = refRows.get(uid)!;
      expect(a, uid).toBeTruthy();
      for (const c of cols) expect(a[c], `${uid} ${c}`).toEqual(b[c]);
    }
    expect(byUid.get('bulk-20@test')!.recurring).toBe(true);
    expect(byUid.get('bulk-20@test')!.ical).toMatch(/RECURRENCE-ID/);
    expect(byUid.get('bulk-21@test')!.recurring).toBe(false);
    expect(byUid.get('bulk-11@test')!.ical).toMatch(/X-CUSTOM:kept/);

    // Change log: one 'put' per written object, consecutive increasing sequence numbers, sync_seq at the end.
    const ch = await changesOf(cal, seq0);
    expect(ch.length).toBe(N - INVALID.size);
    expect(ch.every((c) => c.kind === 'put')).toBe(true);
    expect(new Set(ch.map((c) => c.object_id)).size).toBe(ch.length);
    expect(new Set(ch.map((c) => c.object_id))).toEqual(new Set(rows.map((r) => r.id)));
    for (let k = 0; k < ch.length; k++) expect(BigInt(ch[k].seq)).toBe(BigInt(seq0) + BigInt(k + 1));
    expect(await syncSeq(cal)).toBe(ch.at(-1)!.seq);
    for (const c of ch) expect(c.name).toBe(rows.find((r) => r.id === c.object_id)!.name);

    // Incremental sync from the token before the import sees every object.
    const inc = await anna.api.get(`/calendars/${cal}/changes?since=${seq0}&limit=10000`);
    if (inc.statusCode === 200) expect(new Set(inc.json().changes.map((c: { uid: string }) => c.uid)).size).toBe(N - INVALID.size);

    // Reminders: one planned reminder row per alarmed object, none for the others.
    const rem = await env.ctx.db.selectFrom('reminder').selectAll().where('owner_id', '=', anna.id).execute();
    const keyed = new Set(rem.map((j) => j.object_id));
    const alarmed = rows.filter((r) => r.has_alarms);
    expect(alarmed.length).toBeGreaterThan(300);
    for (const r of alarmed) expect(keyed.has(r.id), r.uid).toBe(true);
    for (const r of rows.filter((x) => !x.has_alarms)) expect(keyed.has(r.id), r.uid).toBe(false);
    const j20 = rem.find((j) => j.object_id === byUid.get('bulk-140@test')!.id)!;
    expect(j20.etag).toBe(byUid.get('bulk-140@test')!.etag);
    expect(j20.fire_at.getTime()).toBe(j20.occurrence_start.getTime() - 15 * 60_000);
  }, 180_000);

  it('re-import updates instead of duplicating, keeps ids, logs one put per object again', async () => {
    const cal = await newCalendar('Again');
    const text = calendarText(Array.from({ length: 1200 }, (_, i) => item(i + 100)));
    const first = await importFile(cal, text);
    const valid = 1200 - [...INVALID].filter((i) => i >= 100 && i < 1300).length;
    expect(first.imported).toBe(valid);
    const ids = new Map((await rowsOf(cal)).map((r) => [r.uid, r.id]));
    const seq1 = await syncSeq(cal);
    // Second time, with changed summaries and an alarm removed from every 7th.
    const second = await importFile(cal, calendarText(Array.from({ length: 1200 }, (_, i) => item(i + 100, 'Changed').filter((l) => !/VALARM|ACTION:|TRIGGER:|DESCRIPTION:Soon/.test(l)))));
    expect(second.imported).toBe(valid);
    const rows = await rowsOf(cal);
    expect(rows.length).toBe(valid);
    for (const r of rows) {
      expect(r.id).toBe(ids.get(r.uid));
      expect(r.summary).toMatch(/^Changed /);
      expect(r.has_alarms).toBe(false);
    }
    const ch = await changesOf(cal, seq1);
    expect(ch.length).toBe(valid);
    expect(new Set(ch.map((c) => c.object_id)).size).toBe(valid);
    // The reminder jobs of the formerly alarmed objects are gone.
    const keys = new Set((await jobs(env, 'reminder')).map((j) => j.key));
    for (const r of rows) expect(keys.has(`rem:${r.id}`)).toBe(false);
  }, 120_000);

  it('a database error in a chunk loses no valid item (retried in pieces, then one by one)', async () => {
    const cal = await newCalendar('Fallback');
    // A UID too big for the btree index: its INSERT fails in the database, not in validation.
    const huge = `huge-${randomBytes(4000).toString('hex')}`;
    const items = Array.from({ length: 120 }, (_, i) => item(i + 3000));
    items.splice(60, 0, ['BEGIN:VEVENT', `UID:${huge}`, 'DTSTAMP:20300101T000000Z', 'DTSTART:20310301T100000Z', 'DTEND:20310301T110000Z', 'SUMMARY:Huge', 'END:VEVENT']);
    const s = await importFile(cal, calendarText(items));
    expect(s.imported).toBe(120);
    expect(s.failed).toBe(1);
    expect(s.errors[0].uid).toBe(huge);
    const rows = await rowsOf(cal);
    expect(rows.length).toBe(120);
    const ch = await changesOf(cal);
    expect(ch.length).toBe(120);
  }, 60_000);

  it('a UID whose generated name is taken by another object, and someone else’s editing lease, are handled per item', async () => {
    const cal = await newCalendar('Clash');
    // An object named like the import would name bulk-5000@test, but with another UID.
    await saveObject(env.ctx, actor, { ownerId: anna.id, calendarId: cal, name: `${encodeURIComponent('bulk-5000@test')}.ics`, ical: one(item(5001)), schedule: false });
    const boris = await user(env, 'boris@example.com', 'Boris');
    // Boris may write the calendar (a read-write share): his lease on 5002 counts. Carl cannot:
    // his lease on 5003 (left from anywhere) does not block the import (write.ts checkLease).
    await sql`insert into calendar_share (owner_id, calendar_id, grantee_id, access) values (${anna.id}, ${cal}, ${boris.id}, 'read-write')`.execute(env.ctx.db);
    const carl = await user(env, 'carl@example.com', 'Carl');
    await sql`insert into edit_lease (uid, holder_id, holder_name, expires_at) values ('bulk-5002@test', ${boris.id}, 'Boris', now() + interval '2 minutes')`.execute(env.ctx.db);
    await sql`insert into edit_lease (uid, holder_id, holder_name, expires_at) values ('bulk-5003@test', ${carl.id}, 'Carl', now() + interval '2 minutes')`.execute(env.ctx.db);
    const s = await importFile(cal, calendarText([item(5000), item(5002), item(5003)]));
    // 5000 goes through saveObject (which refuses the name clash, as before); 5002 is reported as being edited.
    expect(s.imported + s.failed).toBe(3);
    expect(s.errors.some((e: { uid?: string; message: string }) => e.uid === 'bulk-5002@test' && /Boris is editing/.test(e.message))).toBe(true);
    expect(s.errors.some((e: { uid?: string }) => e.uid === 'bulk-5003@test')).toBe(false);
    expect((await rowsOf(cal)).some((r) => r.uid === 'bulk-5003@test')).toBe(true);
  }, 60_000);
});
