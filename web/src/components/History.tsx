// The caller's conversations, most recently updated first, a page at a time (the Link header's
// next cursor); open, rename, delete (after a confirmation), start a new one, search messages.
import { useEffect, useId, useState, type FormEvent } from 'react';
import type { Conversation, SearchHit } from '../api';
import { useServices } from '../context';
import { describe } from './Chat';
import { Markdown } from './Markdown';

interface Props {
  current: string | null;
  version: number;
  onOpen: (id: string | null) => void;
  onSignedOut: () => void;
}

export function History({ current, version, onOpen, onSignedOut }: Props) {
  const { api } = useServices();
  const [items, setItems] = useState<Conversation[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [q, setQ] = useState('');
  const [hits, setHits] = useState<SearchHit[] | null>(null);
  const searchId = useId();

  function fail(e: unknown) {
    const p = describe(e);
    if (p.kind === 'signed-out') onSignedOut();
    setError(p.kind === 'other' ? p.detail : p.kind === 'offline' ? 'You are offline.' : 'The history cannot be loaded now.');
  }

  useEffect(() => {
    let live = true;
    setLoading(true);
    api
      .conversations()
      .then((page) => {
        if (!live) return;
        setItems(page.items);
        setNext(page.next);
        setError(null);
      })
      .catch((e) => live && fail(e))
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
  }, [api, version]);

  async function more() {
    if (!next) return;
    try {
      const page = await api.conversations(next);
      setItems((i) => [...i, ...page.items.filter((c) => !i.some((x) => x.id === c.id))]);
      setNext(page.next);
    } catch (e) {
      fail(e);
    }
  }

  async function rename(id: string, title: string) {
    try {
      const c = await api.rename(id, title);
      setItems((i) => i.map((x) => (x.id === id ? c : x)));
      setEditing(null);
    } catch (e) {
      fail(e);
    }
  }

  async function remove(id: string) {
    try {
      await api.remove(id);
      setItems((i) => i.filter((x) => x.id !== id));
      setConfirming(null);
      if (current === id) onOpen(null);
    } catch (e) {
      fail(e);
    }
  }

  async function search(e: FormEvent) {
    e.preventDefault();
    if (!q.trim()) {
      setHits(null);
      return;
    }
    try {
      setHits(await api.search(q.trim()));
    } catch (err) {
      fail(err);
    }
  }

  return (
    <nav className="cp-history" aria-label="Conversation history">
      <div className="cp-history-head">
        <h2>History</h2>
        <button type="button" className="cp-primary" onClick={() => onOpen(null)}>
          New conversation
        </button>
      </div>
      <form role="search" className="cp-search" onSubmit={search}>
        <label htmlFor={searchId}>Search your messages</label>
        <div className="cp-row">
          <input id={searchId} type="search" value={q} onChange={(e) => setQ(e.target.value)} />
          <button type="submit" className="cp-secondary">
            Search
          </button>
        </div>
      </form>
      {error && (
        <p className="cp-banner" role="alert">
          {error}
        </p>
      )}
      {hits !== null && (
        <section aria-label="Search results" className="cp-hits">
          <div className="cp-row">
            <h3>{hits.length === 0 ? 'No messages match.' : `${hits.length} match${hits.length === 1 ? '' : 'es'}`}</h3>
            <button type="button" className="cp-link" onClick={() => { setHits(null); setQ(''); }}>
              Clear search
            </button>
          </div>
          <ul>
            {hits.map((h) => (
              <li key={h.message_id}>
                <button type="button" className="cp-hit" onClick={() => onOpen(h.conversation_id)}>
                  <strong>{h.conversation_title}</strong>
                  <Markdown text={h.snippet} />
                </button>
              </li>
            ))}
          </ul>
        </section>
      )}
      {loading && <p role="status" className="cp-status">Loading your conversations…</p>}
      {!loading && items.length === 0 && !error && <p className="cp-empty">No conversations yet. Your questions will appear here.</p>}
      <ul className="cp-conversations">
        {items.map((c) => (
          <li key={c.id} className={c.id === current ? 'cp-current' : undefined}>
            {editing === c.id ? (
              <RenameForm title={c.title} onSave={(t) => rename(c.id, t)} onCancel={() => setEditing(null)} />
            ) : (
              <button
                type="button"
                className="cp-open"
                aria-current={c.id === current ? 'true' : undefined}
                onClick={() => onOpen(c.id)}
              >
                <span className="cp-title">{c.title}</span>
                <time dateTime={c.updated_at}>{new Date(c.updated_at).toLocaleString()}</time>
              </button>
            )}
            {confirming === c.id ? (
              <div className="cp-confirm" role="group" aria-label={`Delete “${c.title}”?`}>
                <span>Delete this conversation?</span>
                <button type="button" className="cp-danger" onClick={() => remove(c.id)}>
                  Delete
                </button>
                <button type="button" className="cp-secondary" onClick={() => setConfirming(null)}>
                  Cancel
                </button>
              </div>
            ) : (
              editing !== c.id && (
                <div className="cp-actions">
                  <button type="button" className="cp-link" onClick={() => setEditing(c.id)} aria-label={`Rename “${c.title}”`}>
                    Rename
                  </button>
                  <button type="button" className="cp-link" onClick={() => setConfirming(c.id)} aria-label={`Delete “${c.title}”`}>
                    Delete
                  </button>
                </div>
              )
            )}
          </li>
        ))}
      </ul>
      {next && (
        <button type="button" className="cp-secondary" onClick={more}>
          Show older conversations
        </button>
      )}
    </nav>
  );
}

function RenameForm({ title, onSave, onCancel }: { title: string; onSave: (t: string) => void; onCancel: () => void }) {
  const [t, setT] = useState(title);
  const id = useId();
  return (
    <form
      className="cp-rename"
      onSubmit={(e) => {
        e.preventDefault();
        if (t.trim()) onSave(t.trim());
      }}
    >
      <label htmlFor={id}>New title</label>
      <input id={id} value={t} autoFocus onChange={(e) => setT(e.target.value)} onKeyDown={(e) => e.key === 'Escape' && onCancel()} />
      <button type="submit" className="cp-primary" disabled={!t.trim()}>
        Save
      </button>
      <button type="button" className="cp-secondary" onClick={onCancel}>
        Cancel
      </button>
    </form>
  );
}
