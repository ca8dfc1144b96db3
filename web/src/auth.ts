// The Better Auth client and the JWT the API wants. The session lives in the auth server's
// cookie (so it survives a reload); the JWT is fetched from /api/auth/token, kept in memory only,
// and fetched again shortly before it expires.
import { createAuthClient } from 'better-auth/react';
import { jwtClient } from 'better-auth/client/plugins';

export type AuthClient = ReturnType<typeof makeAuthClient>;

export function makeAuthClient(authUrl: string) {
  return createAuthClient({
    baseURL: `${authUrl}/api/auth`,
    plugins: [jwtClient()],
    fetchOptions: { credentials: 'include' },
  });
}

/** Seconds before `exp` at which a token counts as stale and is replaced. */
export const REFRESH_MARGIN_SECS = 60;

/** The `exp` claim (seconds) of a compact JWS, or null when unreadable. */
export function jwtExpiry(token: string): number | null {
  try {
    const part = token.split('.')[1];
    if (!part) return null;
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp : null;
  } catch {
    return null;
  }
}

export class SignedOutError extends Error {
  constructor() {
    super('signed out');
  }
}

/** Hands out a valid JWT, fetching one when there is none or it is about to expire. */
export class TokenSource {
  private token: string | null = null;
  private exp = 0;
  private inflight: Promise<string> | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly authUrl: string,
    private readonly fetchImpl: typeof fetch = (...a) => fetch(...a),
    private readonly now: () => number = () => Date.now() / 1000,
  ) {}

  async get(force = false): Promise<string> {
    if (!force && this.token && this.exp - REFRESH_MARGIN_SECS > this.now()) return this.token;
    this.inflight ??= this.fetchToken().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  clear(): void {
    this.token = null;
    this.exp = 0;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private async fetchToken(): Promise<string> {
    const res = await this.fetchImpl(`${this.authUrl}/api/auth/token`, { credentials: 'include' });
    if (res.status === 401 || res.status === 403) {
      this.clear();
      throw new SignedOutError();
    }
    if (!res.ok) throw new Error(`the auth server answered ${res.status}`);
    const body = (await res.json()) as { token?: string };
    if (!body.token) throw new SignedOutError();
    this.token = body.token;
    this.exp = jwtExpiry(body.token) ?? this.now() + 300;
    this.schedule();
    return body.token;
  }

  /** Renews in the background before expiry, so a question never waits for a token. */
  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    const inMs = Math.max(5, this.exp - REFRESH_MARGIN_SECS - this.now()) * 1000;
    this.timer = setTimeout(() => {
      this.get(true).catch(() => this.clear());
    }, inMs);
  }
}
