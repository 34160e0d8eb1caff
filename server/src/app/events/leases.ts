/**
 * Editing leases (the reference's calendar-zubr + locker): opening an event for editing takes a
 * lease of about two minutes, renewable; others see who is editing and their saves are refused
 * (LEASE_HELD) unless the organizer forces it. Released on save, cancel or expiry.
 *
 * A lease covers the organizer's side of the event (the meeting itself: the organizer's copy, or
 * an event without attendees), keyed by UID. Attendees cannot take one on their copy
 * (FORBIDDEN, details.reason 'attendee-copy'): what they change there — their answer, their own
 * reminders — concerns only them, so it needs no lease and is never refused because of one
 * (write.ts checkLease), and an attendee can never block the organizer's saves. Forcing past a
 * lease is for the organizer themself only (write.ts forceAllowed).
 */
import { sql } from 'kysely';
import type { AppContext } from '../context.js';
import type { Actor } from '../../domain/actor.js';
import { DomainError } from '../../domain/errors.js';
import * as principals from '../../store/principals.js';
import { objectFor, requireWrite } from './access.js';

export const LEASE_SECONDS = 120;

export async function acquireLease(ctx: AppContext, actor: Actor, id: string) {
  const acc = await objectFor(ctx, actor, id);
  requireWrite(acc);
  if (acc.row.role === 'attendee') throw new DomainError('FORBIDDEN', 'An invitation is answered without an editing lease; only the organizer side of an event can be leased', { reason: 'attendee-copy' });
  const me = await principals.findPrincipalById(ctx.db, actor.userId!);
  const name = me?.name || me?.email || 'someone';
  const expires = new Date(Date.now() + LEASE_SECONDS * 1000);
  // Take the lease if it is free, expired or already ours — in one statement, so two people can't both win.
  const r = await sql<{ holder_id: string; holder_name: string; expires_at: Date }>`
    insert into edit_lease (uid, holder_id, holder_name, expires_at) values (${acc.row.uid}, ${actor.userId}, ${name}, ${expires})
    on conflict (uid) do update set holder_id = excluded.holder_id, holder_name = excluded.holder_name, expires_at = excluded.expires_at
      where edit_lease.expires_at < now() or edit_lease.holder_id = excluded.holder_id
    returning holder_id, holder_name, expires_at`.execute(ctx.db);
  if (!r.rows.length) {
    const cur = await ctx.db.selectFrom('edit_lease').selectAll().where('uid', '=', acc.row.uid).executeTakeFirstOrThrow();
    throw new DomainError('LEASE_HELD', `${cur.holder_name} is editing this event right now`, { holderId: cur.holder_id, holderName: cur.holder_name, expiresAt: cur.expires_at.toISOString() });
  }
  return { holderId: r.rows[0].holder_id, holderName: r.rows[0].holder_name, expiresAt: new Date(r.rows[0].expires_at).toISOString() };
}

export async function releaseLease(ctx: AppContext, actor: Actor, id: string) {
  const acc = await objectFor(ctx, actor, id);
  await ctx.db.deleteFrom('edit_lease').where('uid', '=', acc.row.uid).where('holder_id', '=', actor.userId!).execute();
}
