/** OIDC single sign-on (openid-client): authorization code flow with PKCE, state and nonce. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../../app/context.js';
import { DomainError } from '../../domain/errors.js';
import { signToken, verifyToken } from '../../domain/auth/secrets.js';
import { publicUrl } from '../../config/load.js';
import { ssoUser } from '../../app/sso.js';
import type { PrincipalRow } from '../../store/schema.js';

const STATE_COOKIE = 'calendula_sso';

export async function oidcRoutes(app: FastifyInstance, ctx: AppContext, signInAs: (reply: FastifyReply, user: PrincipalRow, req: FastifyRequest) => Promise<void>) {
  const enabled = !!(ctx.config.oidcIssuer && ctx.config.oidcClientId);
  let configPromise: Promise<any> | null = null;
  const oidc = async () => {
    const client = await import('openid-client');
    if (!configPromise) {
      const execute = ctx.config.oidcAllowInsecure ? [client.allowInsecureRequests] : [];
      configPromise = client.discovery(new URL(ctx.config.oidcIssuer!), ctx.config.oidcClientId!, ctx.config.oidcClientSecret, undefined, { execute }).catch((e) => {
        configPromise = null; // retry discovery next time
        throw new DomainError('SSO_FAILED', `The identity provider is unreachable: ${(e as Error).message}`);
      });
    }
    return { client, config: await configPromise };
  };
  const redirectUri = () => `${publicUrl(ctx.config)}/api/v1/auth/sso/callback`;

  app.get('/auth/sso', {
    config: { auth: 'none' },
    schema: { tags: ['session'], summary: 'Whether single sign-on is configured', response: { 200: Type.Object({ enabled: Type.Boolean(), startUrl: Type.Optional(Type.String()) }) } },
  }, async () => (enabled ? { enabled, startUrl: '/api/v1/auth/sso/start' } : { enabled }));

  app.get('/auth/sso/start', { config: { auth: 'none' }, schema: { tags: ['session'], summary: 'Start SSO: redirects to the identity provider' } }, async (req, reply) => {
    if (!enabled) throw new DomainError('SSO_NOT_CONFIGURED', 'Single sign-on is not configured on this server');
    const { client, config } = await oidc();
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri(), scope: 'openid email profile', state, nonce,
      code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    reply.setCookie(STATE_COOKIE, signToken(ctx.secret, 'sso-state', { verifier, state, nonce }, 600), { path: '/api/v1/auth/sso', httpOnly: true, sameSite: 'lax', secure: req.protocol === 'https', maxAge: 600 });
    return reply.redirect(url.href, 302);
  });

  app.get('/auth/sso/callback', { config: { auth: 'none' }, schema: { tags: ['session'], summary: 'SSO callback from the identity provider' } }, async (req, reply) => {
    if (!enabled) throw new DomainError('SSO_NOT_CONFIGURED', 'Single sign-on is not configured on this server');
    const saved = verifyToken<{ verifier: string; state: string; nonce: string }>(ctx.secret, 'sso-state', req.cookies[STATE_COOKIE] ?? '');
    if (!saved) throw new DomainError('SSO_FAILED', 'The sign-in attempt expired or did not start here; start again');
    const { client, config } = await oidc();
    const current = new URL(`${publicUrl(ctx.config)}${req.url}`);
    let claims: Record<string, unknown>;
    try {
      const tokens = await client.authorizationCodeGrant(config, current, { pkceCodeVerifier: saved.verifier, expectedState: saved.state, expectedNonce: saved.nonce });
      claims = { ...(tokens.claims() ?? {}) };
      if (!claims[ctx.config.oidcEmailClaim ?? 'email'] && tokens.access_token) {
        Object.assign(claims, await client.fetchUserInfo(config, tokens.access_token, String(claims.sub)));
      }
    } catch (e) {
      throw new DomainError('SSO_FAILED', `The identity provider did not confirm the sign-in: ${(e as Error).message}`);
    }
    const user = await ssoUser(ctx, {
      subject: `${ctx.config.oidcIssuer}|${String(claims.sub)}`,
      email: String(claims[ctx.config.oidcEmailClaim ?? 'email'] ?? ''),
      name: String(claims[ctx.config.oidcNameClaim ?? 'name'] ?? ''),
    });
    reply.clearCookie(STATE_COOKIE, { path: '/api/v1/auth/sso' });
    await signInAs(reply, user, req);
    return reply.redirect('/', 302);
  });
}
