import { sql, type Kysely } from 'kysely';

/**
 * Change notifications for the CalDAV read cache (http/dav/read-cache.ts, store/change-feed.ts).
 * Every committed change to what a cached CalDAV read depends on is announced on the channel
 * `calendula_dav` by a trigger, whichever process or code path made it: PostgreSQL delivers a
 * NOTIFY at commit (never for a rolled-back transaction), in commit order, and folds identical
 * payloads of one transaction into one. Payloads:
 *   c:<calendar id>   the calendar row, one of its objects, or one of its shares changed;
 *   o:<calendar id>/<name>  that object changed (besides c:, so a change to one object leaves the
 *                     calendar's other cached objects in place); for a name too long for a
 *                     payload (8000 bytes), C:<calendar id>: every object of that calendar;
 *   u:<principal id>  the principal row, one of its app passwords, or its group memberships;
 *   *                 a table was truncated: everything.
 * Row triggers (a bulk import of n objects runs n of them; each is a few µs).
 */
const TABLES: Array<{ table: string; payloads: (row: string) => string[] }> = [
  {
    table: 'calendar_object',
    payloads: (r) => [`'c:' || ${r}.calendar_id`, `case when octet_length(${r}.name) < 7000 then 'o:' || ${r}.calendar_id || '/' || ${r}.name else 'C:' || ${r}.calendar_id end`],
  },
  { table: 'calendar', payloads: (r) => [`'c:' || ${r}.id`] },
  { table: 'calendar_share', payloads: (r) => [`'c:' || ${r}.calendar_id`] },
  { table: 'principal', payloads: (r) => [`'u:' || ${r}.id`] },
  { table: 'app_password', payloads: (r) => [`'u:' || ${r}.owner_id`] },
  { table: 'group_member', payloads: (r) => [`'u:' || ${r}.member_id`] },
];
const notifyAll = (payloads: string[]) => payloads.map((p) => `perform pg_notify('calendula_dav', ${p});`).join(' ');

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const { table, payloads } of TABLES) {
    await sql.raw(`
      create function calendula_dav_notify_${table}() returns trigger language plpgsql as $$
      begin
        if tg_op <> 'INSERT' then ${notifyAll(payloads('old'))} end if;
        if tg_op <> 'DELETE' then ${notifyAll(payloads('new'))} end if;
        return null;
      end $$;
      create trigger calendula_dav_notify after insert or update or delete on ${table}
        for each row execute function calendula_dav_notify_${table}();
    `).execute(db);
  }
  await sql.raw(`
    create function calendula_dav_notify_all() returns trigger language plpgsql as $$
    begin
      perform pg_notify('calendula_dav', '*');
      return null;
    end $$;
    ${TABLES.map(({ table }) => `create trigger calendula_dav_notify_truncate after truncate on ${table} for each statement execute function calendula_dav_notify_all();`).join('\n')}
  `).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const { table } of TABLES) {
    await sql.raw(`drop trigger if exists calendula_dav_notify on ${table}; drop trigger if exists calendula_dav_notify_truncate on ${table}; drop function if exists calendula_dav_notify_${table}();`).execute(db);
  }
  await sql.raw('drop function if exists calendula_dav_notify_all()').execute(db);
}
