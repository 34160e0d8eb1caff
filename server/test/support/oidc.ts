/**
 * A real OpenID Connect provider (oidc-provider) on a loopback port, with its development login
 * and consent pages, and a tiny browser (fetch + a cookie jar per origin) that walks the
 * authorization-code flow through them.
 */
import http from 'node:http';
import net from 'node:net';
import Provider from 'oidc-provider';

/** The login name (the key in `accounts`) is the subject: oidc-provider uses the account id as `sub`. */
export interface OidcAccount { sub: string; email?: string; name?: string }

export interface TestIdp {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Accounts by login name; edit freely between sign-ins. */
  accounts: Map<string, OidcAccount>;
  close(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = net.createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const p = (srv.address() as net.AddressInfo).port;
      srv.close(() => res(p));
    });
  });
}

export async function startTestIdp(redirectUri: string): Promise<TestIdp> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const accounts = new Map<string, OidcAccount>();
  const clientId = 'calendula-test';
  const clientSecret = 'calendula-test-secret-0123456789abcdef';
  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId, client_secret: clientSecret, redirect_uris: [redirectUri],
      grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_post',
    }],
    pkce: { required: () => true },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ['test-cookie-key-0123456789'] },
    async findAccount(_ctx: unknown, id: string) {
      const a = accounts.get(id);
      if (!a) return undefined;
      return {
        accountId: id,
        async claims() {
          return { sub: id, ...(a.email !== undefined ? { email: a.email, email_verified: true } : {}), ...(a.name ? { name: a.name } : {}) };
        },
      };
    },
  });
  // Keep the development-feature warnings out of the test output.
  provider.on('server_error', () => undefined);
  const server = http.createServer(provider.callback());
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    issuer, clientId, clientSecret, accounts,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

/** Cookies per origin (host:port), good enough for two loopback servers. */
export class CookieJar {
  private jar = new Map<string, Map<string, string>>();
  store(url: string, res: Response) {
    const origin = new URL(url).host;
    const m = this.jar.get(origin) ?? new Map<string, string>();
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a) || (/^\s*expires=/i.test(a) && Date.parse(a.split('=')[1]) < Date.now()));
      if (expired || value === '') m.delete(name);
      else m.set(name, value);
    }
    this.jar.set(origin, m);
  }
  header(url: string): string {
    const m = this.jar.get(new URL(url).host);
    return m ? [...m].map(([k, v]) => `${k}=${v}`).join('; ') : '';
  }
  get(url: string, name: string) {
    return this.jar.get(new URL(url).host)?.get(name);
  }
  set(url: string, name: string, value: string) {
    const origin = new URL(url).host;
    const m = this.jar.get(origin) ?? new Map<string, string>();
    m.set(name, value);
    this.jar.set(origin, m);
  }
}

export interface FlowResult {
  /** The last response (from Calendula's callback unless the flow stopped earlier). */
  final: Response;
  finalBody: string;
  jar: CookieJar;
  /** The callback URL the provider redirected to. */
  callbackUrl?: string;
}

/**
 * Starts at Calendula's /auth/sso/start and follows redirects like a browser, filling in the
 * provider's login form (as `login`) and consent form. `tamper` may rewrite the callback URL.
 */
export async function runCodeFlow(serverUrl: string, login: string, opts: { jar?: CookieJar; tamper?: (callback: URL) => URL } = {}): Promise<FlowResult> {
  const jar = opts.jar ?? new CookieJar();
  let url = `${serverUrl}/api/v1/auth/sso/start`;
  let method = 'GET';
  let body: string | undefined;
  let callbackUrl: string | undefined;
  for (let hop = 0; hop < 20; hop++) {
    if (url.startsWith(`${serverUrl}/api/v1/auth/sso/callback`) && !callbackUrl) {
      callbackUrl = url;
      if (opts.tamper) url = opts.tamper(new URL(url)).href;
    }
    const res = await fetch(url, {
      method, redirect: 'manual', body,
      headers: { cookie: jar.header(url), ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
    });
    jar.store(url, res);
    if (url.startsWith(`${serverUrl}/api/v1/auth/sso/callback`)) return { final: res, finalBody: await res.text(), jar, callbackUrl };
    if (res.status >= 300 && res.status < 400) {
      url = new URL(res.headers.get('location')!, url).href;
      method = 'GET';
      body = undefined;
      continue;
    }
    const text = await res.text();
    if (res.status === 200 && /name="prompt" value="login"/.test(text)) {
      method = 'POST';
      body = new URLSearchParams({ prompt: 'login', login, password: 'irrelevant' }).toString();
      continue; // same URL: /interaction/:uid
    }
    if (res.status === 200 && /name="prompt" value="consent"/.test(text)) {
      method = 'POST';
      body = new URLSearchParams({ prompt: 'consent' }).toString();
      continue;
    }
    return { final: res, finalBody: text, jar, callbackUrl };
  }
  throw new Error('too many redirects in the OIDC flow');
}
