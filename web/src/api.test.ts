import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError, ChatApi, nextLink } from './api';
import { TokenSource } from './auth';

function jwt(exp: number): string {
  const b64 = (o: object) => btoa(JSON.stringify(o)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
  return `${b64({ alg: 'EdDSA' })}.${b64({ sub: 'u', exp })}.sig`;
}

afterEach(() => vi.unstubAllGlobals());

describe('nextLink', () => {
  it('finds rel="next" among other links', () => {
    expect(nextLink('</conversations?limit=2&cursor=abc>; rel="next"')).toBe('/conversations?limit=2&cursor=abc');
    expect(nextLink('</a>; rel="prev", </b>; rel="next"')).toBe('/b');
    expect(nextLink('</a>; rel="prev"')).toBeNull();
    expect(nextLink(null)).toBeNull();
  });
});

describe('TokenSource', () => {
  it('reuses a fresh token and fetches a new one shortly before expiry', async () => {
    let now = 1000;
    const tokens = [jwt(1000 + 900), jwt(1000 + 1800)];
    const fetchImpl = vi.fn(async () => new Response(JSON.stringify({ token: tokens.shift() }), { status: 200 }));
    const src = new TokenSource('http://auth', fetchImpl as unknown as typeof fetch, () => now);
    const first = await src.get();
    expect(await src.get()).toBe(first);
    expect(fetchImpl).toHaveBeenCalledTimes(1);
    now = 1000 + 900 - 30; // inside the refresh margin
    const second = await src.get();
    expect(second).not.toBe(first);
    expect(fetchImpl).toHaveBeenCalledTimes(2);
    src.clear();
  });

  it('says signed out when the auth server has no session', async () => {
    const src = new TokenSource('http://auth', (async () => new Response('{}', { status: 401 })) as unknown as typeof fetch);
    await expect(src.get()).rejects.toThrow('signed out');
  });
});

describe('ChatApi', () => {
  const tokens = { get: vi.fn(async () => 'jwt'), clear: vi.fn() } as unknown as TokenSource;

  it('turns a 429 problem into an ApiError with Retry-After', async () => {
    vi.stubGlobal('fetch', async () =>
      new Response(JSON.stringify({ status: 429, detail: 'slow down' }), {
        status: 429,
        headers: { 'content-type': 'application/problem+json', 'retry-after': '7' },
      }),
    );
    const err = await new ChatApi('http://api', tokens).conversations().catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 429, detail: 'slow down', retryAfter: 7 });
  });

  it('sends the bearer JWT and reads the next page link', async () => {
    const seen: Request[] = [];
    vi.stubGlobal('fetch', async (url: string, init: RequestInit) => {
      seen.push(new Request(url, init));
      return new Response('[]', { status: 200, headers: { link: '</conversations?cursor=x>; rel="next"' } });
    });
    const page = await new ChatApi('http://api', tokens).conversations();
    expect(page.next).toBe('/conversations?cursor=x');
    expect(seen[0].url).toBe('http://api/conversations?limit=20');
    expect(seen[0].headers.get('authorization')).toBe('Bearer jwt');
  });

  it('streams /agents/run events', async () => {
    vi.stubGlobal('fetch', async () =>
      new Response('event: sources\ndata: {"session_id":"c1","sources":[]}\n\nevent: delta\ndata: {"text":"hi"}\n\n', {
        status: 200,
        headers: { 'content-type': 'text/event-stream' },
      }),
    );
    const got = [];
    for await (const e of new ChatApi('http://api', tokens).ask({ query: 'q' })) got.push(e);
    expect(got).toEqual([
      { type: 'sources', session_id: 'c1', sources: [] },
      { type: 'delta', text: 'hi' },
    ]);
  });
});
