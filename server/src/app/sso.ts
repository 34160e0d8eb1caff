import type { AppContext } from './context.js';
import { DomainError } from '../domain/errors.js';
import { isValidEmail } from '../domain/addresses.js';
import * as principals from '../store/principals.js';
import { ensureDefaultCalendar } from './calendars.js';
import { systemActor } from '../domain/actor.js';
import { audit } from './audit.js';

/**
 * Maps a confirmed SSO identity to an account: by subject first, then by e-mail (linking the
 * subject), else creates the account just in time.
 */
export async function ssoUser(ctx: AppContext, id: { subject: string; email: string; name: string }) {
  const bySub = await ctx.db.selectFrom('principal').selectAll().where('oidc_subject', '=', id.subject).executeTakeFirst();
  if (bySub) {
    if (bySub.disabled) throw new DomainError('ACCOUNT_DISABLED', 'This account is disabled; ask your administrator');
    return bySub;
  }
  if (!isValidEmail(id.email)) throw new DomainError('SSO_FAILED', `The identity provider sent no usable e-mail address in the "${ctx.config.oidcEmailClaim}" claim`);
  const byEmail = await principals.findPrincipalByEmail(ctx.db, id.email);
  if (byEmail) {
    if (byEmail.kind !== 'user') throw new DomainError('SSO_FAILED', `${id.email} belongs to a group or room`);
    if (byEmail.disabled) throw new DomainError('ACCOUNT_DISABLED', 'This account is disabled; ask your administrator');
    return (await principals.updatePrincipal(ctx.db, byEmail.id, { oidc_subject: id.subject }))!;
  }
  const row = await principals.insertPrincipal(ctx.db, { kind: 'user', email: id.email, name: id.name, oidcSubject: id.subject });
  await ensureDefaultCalendar(ctx, row);
  await audit(ctx, systemActor('web'), 'principal.create-sso', row.id, { email: id.email }, row.id);
  return row;
}
