// The chat API client: bearer JWT on every call, problem+json errors as ApiError, keyset pages
// from the Link header, and the /agents/run stream.
import { readSse } from './sse';
import { SignedOutError, type TokenSource } from './auth';

export interface Source {
  slug?: string;
  title?: string;
  heading?: string;
  anchor?: string;
  url?: string;
  snippet?: string;
}
export interface Conversation {
  id: string;
  title: string;
  created_at: string;
  updated_at: string;
}
export interface Message {
  id: string;
  conversation_id: string;
  role: 'user' | 'assistant';
  content: string;
  sources: Source[];
  status: 'complete' | 'incomplete' | 'failed';
  created_at: string;
}
export interface SearchHit {
  message_id: string;
  conversation_id: string;
  conversation_title: string;
  role: string;
  snippet: string;
}
export interface Page<T> {
  items: T[];
  next: string | null;
}
export interface AskInput {
  query: string;
  session_id?: string;
  highlighted_text?: string;
  current_page?: string;
}
export type StreamEvent =
  | { type: 'sources'; session_id: string; sources: Source[] }
  | { type: 'delta'; text: string }
  | { type: 'done'; message: string; session_id: string; message_id: string; sources: Source[] }
  | { type: 'error'; status: number; detail: string };

/** What the UI needs to say about a failure. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly retryAfter: number | null = null,
  ) {
    super(detail);
  }
}
export class OfflineError extends Error {
  constructor() {
    super('offline');
  }
}

/** The URL of `rel="next"` in a Link header, if any. */
export function nextLink(header: string | null): string | null {
  if (!header) return null;
  for (const part of header.split(',')) {
    const m = /<([^>]*)>\s*;(.*)$/.exec(part.trim());
    if (m && /rel="?next"?/.test(m[2])) return m[1];
  }
  return null;
}

async function problem(res: Response): Promise<ApiError> {
  let detail = res.statusText || `HTTP ${res.status}`;
  try {
    const body = (await res.json()) as { detail?: string; title?: string };
    detail = body.detail ?? body.title ?? detail;
  } catch {
    // not a problem document
  }
  const ra = Number(res.headers.get('retry-after'));
  return new ApiError(res.status, detail, Number.isFinite(ra) && ra > 0 ? ra : null);
}

export class ChatApi {
  constructor(
    readonly baseUrl: string,
    private readonly tokens: TokenSource,
  ) {}

  /** One call; a 401 fetches a fresh JWT and tries once more. */
  private async call(path: string, init: RequestInit = {}, retried = false): Promise<Response> {
    const token = await this.tokens.get(retried);
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${token}`);
    if (init.body) headers.set('content-type', 'application/json');
    let res: Response;
    try {
      res = await fetch(new URL(path, `${this.baseUrl}/`).href, { ...init, headers });
    } catch (e) {
      if ((e as Error).name === 'AbortError') throw e;
      throw navigator.onLine === false ? new OfflineError() : new ApiError(0, 'The chat service cannot be reached.');
    }
    if (res.status === 401 && !retried) return this.call(path, init, true);
    if (res.status === 401) throw new SignedOutError();
    if (!res.ok) throw await problem(res);
    return res;
  }

  private async json<T>(path: string, init?: RequestInit): Promise<T> {
    return (await (await this.call(path, init)).json()) as T;
  }

  async conversations(url = 'conversations?limit=20'): Promise<Page<Conversation>> {
    const res = await this.call(url.replace(/^\//, ''));
    return { items: (await res.json()) as Conversation[], next: nextLink(res.headers.get('link')) };
  }

  async messages(id: string, url = `conversations/${id}/messages?limit=50`): Promise<Page<Message>> {
    const res = await this.call(url.replace(/^\//, ''));
    return { items: (await res.json()) as Message[], next: nextLink(res.headers.get('link')) };
  }

  rename(id: string, title: string): Promise<Conversation> {
    return this.json(`conversations/${id}`, { method: 'PATCH', body: JSON.stringify({ title }) });
  }

  async remove(id: string): Promise<void> {
    await this.call(`conversations/${id}`, { method: 'DELETE' });
  }

  search(q: string): Promise<SearchHit[]> {
    return this.json(`search?q=${encodeURIComponent(q)}&limit=20`);
  }

  /** Asks a question and yields the answer as it streams. */
  async *ask(input: AskInput, signal?: AbortSignal): AsyncGenerator<StreamEvent> {
    const res = await this.call('agents/run', {
      method: 'POST',
      body: JSON.stringify(input),
      headers: { accept: 'text/event-stream' },
      signal,
    });
    if (!res.body) throw new ApiError(502, 'The answer came without a body.');
    for await (const ev of readSse(res.body)) {
      let data: Record<string, unknown>;
      try {
        data = JSON.parse(ev.data) as Record<string, unknown>;
      } catch {
        continue;
      }
      if (ev.event === 'sources' || ev.event === 'delta' || ev.event === 'done' || ev.event === 'error') {
        yield { type: ev.event, ...data } as StreamEvent;
      }
    }
  }
}
