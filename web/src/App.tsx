// The chat application: header (who is signed in, sign out), history and chat. The full page
// and the widget render this same component; `variant` only changes the layout.
import { useCallback, useMemo, useRef, useState } from 'react';
import { createPortal } from 'react-dom';
import { ChatApi } from './api';
import { makeAuthClient, TokenSource } from './auth';
import type { ChatConfig } from './config';
import { ServicesContext, useServices, type Services } from './context';
import { AskAboutThis } from './components/AskAboutThis';
import { Chat, type Quote } from './components/Chat';
import { History } from './components/History';

export function createServices(config: ChatConfig): Services {
  const auth = makeAuthClient(config.authUrl);
  const tokens = new TokenSource(config.authUrl);
  return { config, auth, tokens, api: new ChatApi(config.apiUrl, tokens) };
}

export function ServicesProvider({ config, children }: { config: ChatConfig; children: React.ReactNode }) {
  const services = useMemo(() => createServices(config), [config]);
  return <ServicesContext.Provider value={services}>{children}</ServicesContext.Provider>;
}

interface Props {
  variant: 'page' | 'widget';
  /** Called when "Ask about this" is used, so the widget can open its panel. */
  onQuote?: () => void;
  onClose?: () => void;
  /** Where "Ask about this" is rendered when this app may be hidden (the closed widget). */
  askPortal?: Element | null;
}

export function ChatApp({ variant, onQuote, onClose, askPortal }: Props) {
  const { auth, tokens } = useServices();
  const session = auth.useSession();
  const user = session.data?.user;
  const signedIn = !!user;
  const [conversation, setConversation] = useState<string | null>(null);
  const [version, setVersion] = useState(0);
  const [historyOpen, setHistoryOpen] = useState(false);
  const [quote, setQuote] = useState<Quote | null>(null);
  const inputRef = useRef<HTMLTextAreaElement | null>(null);

  const signedOut = useCallback(() => {
    tokens.clear();
    setConversation(null);
    void session.refetch();
  }, [tokens, session]);

  async function signOut() {
    await auth.signOut();
    tokens.clear();
    setConversation(null);
    setHistoryOpen(false);
  }

  const open = (id: string | null) => {
    setConversation(id);
    setHistoryOpen(false);
    setTimeout(() => inputRef.current?.focus(), 0);
  };

  const ask = (
    <AskAboutThis
      onAsk={(q) => {
        setQuote(q);
        onQuote?.();
        setTimeout(() => inputRef.current?.focus(), 0);
      }}
    />
  );

  return (
    <div className={`cp-app cp-${variant}`}>
      <header className="cp-header">
        <h1 className="cp-brand">Ask the docs</h1>
        {signedIn && (
          <>
            <button
              type="button"
              className="cp-secondary cp-history-toggle"
              aria-expanded={historyOpen}
              onClick={() => setHistoryOpen(!historyOpen)}
            >
              History
            </button>
            <span className="cp-user" title={user.email}>
              {user.name || user.email}
            </span>
            <button type="button" className="cp-secondary" onClick={signOut}>
              Sign out
            </button>
          </>
        )}
        {onClose && (
          <button type="button" className="cp-secondary" onClick={onClose} aria-label="Close the chat">
            ✕
          </button>
        )}
      </header>
      {session.isPending ? (
        <p role="status" className="cp-status">
          Checking your session…
        </p>
      ) : (
        <div className={`cp-body${historyOpen ? ' cp-history-open' : ''}`}>
          {signedIn && <History current={conversation} version={version} onOpen={open} onSignedOut={signedOut} />}
          <Chat
            signedIn={signedIn}
            conversationId={conversation}
            onConversation={setConversation}
            onAnswered={() => setVersion((v) => v + 1)}
            onSignedOut={signedOut}
            quote={quote}
            clearQuote={() => setQuote(null)}
            inputRef={inputRef}
          />
        </div>
      )}
      {askPortal ? createPortal(ask, askPortal) : ask}
    </div>
  );
}
