/**
 * Trust policy for inbound iMIP (issue 6). Pure: takes the facts, returns a verdict with a
 * reason for the decision log.
 *
 * - Identity: a REQUEST/CANCEL/ADD/DECLINECOUNTER counts only if the mail's From (or Sender) is
 *   the ORGANIZER or its SENT-BY; a REPLY/COUNTER/REFRESH only if it is that ATTENDEE.
 * - Authentication-Results (RFC 8601) are read only from relays trusted by configuration
 *   (CALENDULA_INTAKE_TRUSTED_AUTHSERV, matched against the topmost header's authserv-id, the
 *   one our own MTA added); anything else could be forged by the sender.
 * - Policies: default (identity matches and no failure reported), authenticated (identity and
 *   a pass), known (identity, no failure, and an earlier event from that organizer), never
 *   (invitations always held; replies to our own events still follow 'default').
 */
import type { AuthResults } from '../../integrations/mail/index.js';

export type TrustPolicy = 'default' | 'authenticated' | 'known' | 'never';
export type AuthVerdict = 'pass' | 'fail' | 'none';

export const ORGANIZER_SIDE = new Set(['REQUEST', 'CANCEL', 'ADD', 'DECLINECOUNTER']);
export const ATTENDEE_SIDE = new Set(['REPLY', 'COUNTER', 'REFRESH']);

export function authVerdict(auth: AuthResults | undefined, trustedIds: string[]): { verdict: AuthVerdict; why: string } {
  if (!auth || !auth.authservIds.length) return { verdict: 'none', why: 'no Authentication-Results' };
  const top = auth.authservIds[0]?.toLowerCase();
  if (!trustedIds.map((x) => x.toLowerCase()).includes(top)) return { verdict: 'none', why: `Authentication-Results from ${top} is not a trusted relay` };
  if (auth.dmarc === 'fail') return { verdict: 'fail', why: `DMARC fail reported by ${top}` };
  if (auth.dmarc === 'pass') return { verdict: 'pass', why: `DMARC pass reported by ${top}` };
  if (auth.dkim === 'pass') return { verdict: 'pass', why: `DKIM pass reported by ${top}` };
  if (auth.spf === 'fail' && auth.dkim !== 'pass') return { verdict: 'fail', why: `SPF fail (no DKIM pass) reported by ${top}` };
  if (auth.spf === 'pass') return { verdict: 'pass', why: `SPF pass reported by ${top}` };
  return { verdict: 'none', why: `no verdict from ${top}` };
}

export interface TrustInput {
  policy: TrustPolicy;
  method: string;
  /** From/Sender matched the ORGANIZER (organizer side) or the answering ATTENDEE (attendee side). */
  identityMatches: boolean;
  identityWhy: string;
  auth: { verdict: AuthVerdict; why: string };
  /** The recipient already has an event from this organizer (policy 'known'). */
  knownCorrespondent: boolean;
}

export interface TrustVerdict { apply: boolean; code: string; reason: string }

export function decideTrust(i: TrustInput): TrustVerdict {
  const side = ORGANIZER_SIDE.has(i.method) ? 'organizer' : 'attendee';
  if (!i.identityMatches) return { apply: false, code: side === 'organizer' ? 'NOT_ORGANIZER' : 'SENDER_NOT_ATTENDEE', reason: i.identityWhy };
  if (i.auth.verdict === 'fail') return { apply: false, code: 'AUTH_FAILED', reason: i.auth.why };
  const policy = side === 'attendee' && (i.policy === 'never' || i.policy === 'known') ? 'default' : i.policy;
  switch (policy) {
    case 'never':
      return { apply: false, code: 'POLICY_NEVER', reason: 'Policy "never": invitations by e-mail wait for the user' };
    case 'authenticated':
      if (i.auth.verdict !== 'pass') return { apply: false, code: 'NOT_AUTHENTICATED', reason: `Policy "authenticated": ${i.auth.why}` };
      break;
    case 'known':
      if (!i.knownCorrespondent) return { apply: false, code: 'UNKNOWN_CORRESPONDENT', reason: 'Policy "known": no earlier event from this organizer' };
      break;
  }
  return { apply: true, code: 'TRUSTED', reason: `${i.identityWhy}; ${i.auth.why}` };
}
