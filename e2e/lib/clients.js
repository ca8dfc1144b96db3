// HTTP clients for the tests: Better Auth's endpoints as a browser app would call them, and the
// chat API.
import { randomBytes } from 'node:crypto';
import { WEB_ORIGIN } from './stack.js';

/**
 * @param {string} method @param {string} url
 * @param {{ bearer?: string, headers?: Record<string,string>, body?: unknown }} [opts]
 * @returns {Promise<{ status: number, headers: Headers, body: any, text: string }>}
 */
export async function request(method, url, { bearer, headers = {}, body } = {}) {
  /** @type {Record<string,string>} */
  const h = { ...headers };
  if (bearer !== undefined) h.authorization = `Bearer ${bearer}`;
  if (body !== undefined) h['content-type'] = 'application/json';
  const res = await fetch(url, {
    method,
    headers: h,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15000),
  });
  const text = await res.text();
  let parsed;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

/**
 * Better Auth as the web app uses it. Node's fetch sends Sec-Fetch-Mode like a browser, so
 * Better Auth's CSRF check wants the app's Origin (a trusted origin) on state-changing calls.
 * @param {string} authBase
 */
export function authClient(authBase) {
  const origin = { origin: WEB_ORIGIN };
  return {
    /** @param {{ name?: string, email?: string, password?: string }} [who] */
    async signUp(who = {}) {
      const email = who.email ?? `e2e-${randomBytes(6).toString('hex')}@example.com`;
      const password = who.password ?? `pw-${randomBytes(10).toString('hex')}`;
      const name = who.name ?? 'E2E User';
      const res = await request('POST', `${authBase}/api/auth/sign-up/email`, {
        headers: origin,
        body: { email, password, name },
      });
      if (res.status !== 200) throw new Error(`sign-up: ${res.status} ${res.text}`);
      return {
        email,
        password,
        name,
        id: /** @type {string} */ (res.body.user.id),
        sessionToken: /** @type {string} */ (res.body.token),
        signedSessionToken: res.headers.get('set-auth-token'),
      };
    },
    /** @param {string} email @param {string} password */
    async signIn(email, password) {
      return request('POST', `${authBase}/api/auth/sign-in/email`, { headers: origin, body: { email, password } });
    },
    /** JWT from GET /api/auth/token. @param {string} sessionToken */
    async tokenEndpointJwt(sessionToken) {
      const res = await request('GET', `${authBase}/api/auth/token`, { bearer: sessionToken, headers: origin });
      if (res.status !== 200) throw new Error(`token: ${res.status} ${res.text}`);
      return /** @type {string} */ (res.body.token);
    },
    /** JWT from the set-auth-jwt header of get-session. @param {string} sessionToken */
    async headerJwt(sessionToken) {
      const res = await request('GET', `${authBase}/api/auth/get-session`, { bearer: sessionToken, headers: origin });
      const jwt = res.headers.get('set-auth-jwt');
      if (res.status !== 200 || !jwt) throw new Error(`get-session: ${res.status} ${res.text}`);
      return jwt;
    },
    /** @param {string} sessionToken */
    async signOut(sessionToken) {
      return request('POST', `${authBase}/api/auth/sign-out`, { bearer: sessionToken, headers: origin, body: {} });
    },
  };
}

/** @param {string} apiBase */
export function apiClient(apiBase) {
  /**
   * @param {string} method @param {string} path @param {string|undefined} bearer
   * @param {{ body?: unknown, headers?: Record<string,string> }} [opts]
   */
  return (method, path, bearer, opts = {}) => request(method, `${apiBase}${path}`, { bearer, ...opts });
}
