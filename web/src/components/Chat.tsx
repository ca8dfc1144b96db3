// The conversation: its messages, the streamed answer, the question box (or, signed out, the
// sign-in panel in its place) and every failure state the API can produce.
import { useEffect, useId, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import { ApiError, OfflineError, type Message, type Source } from '../api';
import { SignedOutError } from '../auth';
import { useServices } from '../context';
import { useOnline } from '../online';
import { AuthPanel } from './AuthForms';
import { Markdown } from './Markdown';
import { Sources } from './Sources';

export interface Quote {
  text: string;
  page: string;
}

interface Shown {
  key: string;
  role: 'user' | 'assistant';
  content: string;
  sources: Source[];
  status: Message['status'] | 'streaming';
}

type Problem =
  | { kind: 'signed-out' }
  | { kind: 'rate'; until: number }
  | { kind: 'model'; status: number; detail: string }
  | { kind: 'offline' }
  | { kind: 'other'; detail: string };

export function describe(e: unknown): Problem {
  if (e instanceof SignedOutError) return { kind: 'signed-out' };
  if (e instanceof OfflineError) return { kind: 'offline' };
  if (e instanceof ApiError) {
    if (e.status === 429) return { kind: 'rate', until: Date.now() + (e.retryAfter ?? 10) * 1000 };
    if (e.status === 502 || e.status === 504) return { kind: 'model', status: e.status, detail: e.detail };
    return { kind: 'other', detail: e.detail };
  }
  return { kind: 'other', detail: (e as Error)?.message ?? 'Something went wrong.' };
}

/** Whole seconds left until `until`, re-rendered twice a second while it runs. */
function useCountdown(until: number | null): number {
  const [, tick] = useState(0);
  useEffect(() => {
    if (!until) return;
    const t = setInterval(() => tick((n) => n + 1), 500);
    return () => clearInterval(t);
  }, [until]);
  return until ? Math.max(0, Math.ceil((until - Date.now()) / 1000)) : 0;
}

interface Props {
  signedIn: boolean;
  conversationId: string | null;
  onConversation: (id: string) => void;
  onAnswered: () => void;
  onSignedOut: () => void;
  quote: Quote | null;
  clearQuote: () => void;
  inputRef?: React.RefObject<HTMLTextAreaElement | null>;
}

export function Chat({ signedIn, conversationId, onConversation, onAnswered, onSignedOut, quote, clearQuote, inputRef }: Props) {
  const { api } = useServices();
  const online = useOnline();
  const [messages, setMessages] = useState<Shown[]>([]);
  const [older, setOlder] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [streaming, setStreaming] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [text, setText] = useState('');
  const ownId = useRef<string | null>(null);
  const abort = useRef<AbortController | null>(null);
  const wait = useCountdown(problem?.kind === 'rate' ? problem.until : null);
  const inputId = useId();
  const fallbackRef = useRef<HTMLTextAreaElement | null>(null);
  const input = inputRef ?? fallbackRef;

  const show = (m: Message): Shown => ({ key: m.id, role: m.role, content: m.content, sources: m.sources ?? [], status: m.status });

  useEffect(() => {
    if (problem?.kind === 'rate' && wait === 0) setProblem(null);
  }, [problem, wait]);

  // Opening another conversation loads its newest page; the one being streamed is already shown.
  useEffect(() => {
    if (!signedIn) {
      setMessages([]);
      return;
    }
    if (conversationId === null) {
      ownId.current = null;
      setMessages([]);
      setOlder(null);
      setProblem(null);
      return;
    }
    if (conversationId === ownId.current) return;
    abort.current?.abort();
    let live = true;
    setLoading(true);
    setProblem(null);
    api
      .messages(conversationId)
      .then((page) => {
        if (!live) return;
        ownId.current = conversationId;
        setMessages(page.items.map(show));
        setOlder(page.next);
      })
      .catch((e) => live && setProblem(describe(e)))
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
  }, [conversationId, signedIn, api]);

  useEffect(() => {
    if (problem?.kind === 'signed-out') onSignedOut();
  }, [problem, onSignedOut]);

  async function loadOlder() {
    if (!older || !conversationId) return;
    try {
      const page = await api.messages(conversationId, older);
      setMessages((m) => [...page.items.map(show), ...m]);
      setOlder(page.next);
    } catch (e) {
      setProblem(describe(e));
    }
  }

  async function ask(e?: FormEvent) {
    e?.preventDefault();
    const question = text.trim() || (quote ? 'Explain this passage.' : '');
    if (!question || streaming || !online || wait > 0) return;
    setProblem(null);
    setStreaming(true);
    const qKey = `q-${Date.now()}`;
    const aKey = `a-${Date.now()}`;
    setMessages((m) => [
      ...m,
      { key: qKey, role: 'user', content: question, sources: [], status: 'complete' },
      { key: aKey, role: 'assistant', content: '', sources: [], status: 'streaming' },
    ]);
    const update = (f: (s: Shown) => Shown) => setMessages((m) => m.map((x) => (x.key === aKey ? f(x) : x)));
    const controller = new AbortController();
    abort.current = controller;
    let answered = false;
    try {
      for await (const ev of api.ask(
        {
          query: question,
          ...(conversationId ? { session_id: conversationId } : {}),
          ...(quote ? { highlighted_text: quote.text, current_page: quote.page } : {}),
        },
        controller.signal,
      )) {
        if (ev.type === 'sources') {
          if (ev.session_id && ev.session_id !== conversationId) {
            ownId.current = ev.session_id;
            onConversation(ev.session_id);
          }
          update((s) => ({ ...s, sources: ev.sources ?? [] }));
        } else if (ev.type === 'delta') {
          update((s) => ({ ...s, content: s.content + ev.text }));
        } else if (ev.type === 'done') {
          answered = true;
          update((s) => ({ ...s, key: ev.message_id, content: ev.message, sources: ev.sources ?? s.sources, status: 'complete' }));
        } else if (ev.type === 'error') {
          answered = true;
          update((s) => ({ ...s, status: 'failed' }));
          setProblem({ kind: 'model', status: ev.status, detail: ev.detail });
        }
      }
      if (!answered) update((s) => ({ ...s, status: 'incomplete' }));
      setText('');
      clearQuote();
    } catch (err) {
      if ((err as Error).name === 'AbortError') return;
      const p = describe(err);
      setProblem(p);
      // Refused before any answer: take the placeholder out; the question stays in the box.
      setMessages((m) => m.filter((x) => x.key !== aKey && (p.kind === 'model' || x.key !== qKey)));
    } finally {
      setStreaming(false);
      onAnswered();
    }
  }

  function onKey(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      void ask();
    }
  }

  return (
    <section className="cp-chat" aria-label="Chat">
      <div className="cp-messages" role="log" aria-live="polite" aria-busy={streaming || loading}>
        {loading && <p role="status" className="cp-status">Loading the conversation…</p>}
        {older && !loading && (
          <button type="button" className="cp-secondary" onClick={loadOlder}>
            Show earlier messages
          </button>
        )}
        {signedIn && !loading && messages.length === 0 && (
          <p className="cp-empty">Ask a question about the documentation. Answers cite their sources.</p>
        )}
        {messages.map((m) => (
          <article key={m.key} className={`cp-msg cp-msg-${m.role}`} aria-label={m.role === 'user' ? 'Question' : 'Answer'}>
            {m.role === 'user' ? (
              <p className="cp-question">{m.content}</p>
            ) : m.status === 'streaming' && !m.content ? (
              <p className="cp-status" role="status">
                Looking through the documentation…
              </p>
            ) : (
              <Markdown text={m.content} />
            )}
            {m.role === 'assistant' && <Sources sources={m.sources} />}
            {m.status === 'failed' && <p className="cp-note">This answer failed.</p>}
            {m.status === 'incomplete' && <p className="cp-note">This answer was cut off.</p>}
          </article>
        ))}
      </div>
      <ProblemBanner problem={problem} wait={wait} online={online} />
      {signedIn ? (
        <form className="cp-ask" onSubmit={ask}>
          {quote && (
            <div className="cp-quote">
              <span className="cp-quote-label">Asking about:</span>
              <blockquote>{quote.text.length > 200 ? `${quote.text.slice(0, 200)}…` : quote.text}</blockquote>
              <button type="button" className="cp-link" onClick={clearQuote} aria-label="Remove the selected text">
                Remove
              </button>
            </div>
          )}
          <label htmlFor={inputId} className="cp-visually-hidden">
            Your question
          </label>
          <textarea
            id={inputId}
            ref={input}
            rows={2}
            value={text}
            placeholder={quote ? 'What would you like to know about it?' : 'Ask the documentation…'}
            onChange={(e) => setText(e.target.value)}
            onKeyDown={onKey}
          />
          <button type="submit" className="cp-primary" disabled={streaming || !online || wait > 0}>
            {streaming ? 'Answering…' : 'Send'}
          </button>
        </form>
      ) : (
        <AuthPanel />
      )}
    </section>
  );
}

function ProblemBanner({ problem, wait, online }: { problem: Problem | null; wait: number; online: boolean }) {
  if (!online || problem?.kind === 'offline')
    return (
      <p className="cp-banner" role="alert">
        You are offline. Your question can be sent when the connection is back.
      </p>
    );
  if (!problem) return null;
  let text: string;
  switch (problem.kind) {
    case 'signed-out':
      text = 'Your session has ended. Sign in again to go on.';
      break;
    case 'rate':
      text = `Too many questions at once. You can ask again in ${wait} s.`;
      break;
    case 'model':
      text =
        problem.status === 504
          ? 'The model took too long to answer. Your question was kept; try again.'
          : 'The model failed to answer. Your question was kept; try again.';
      break;
    default:
      text = problem.detail;
  }
  return (
    <p className="cp-banner" role="alert">
      {text}
    </p>
  );
}
