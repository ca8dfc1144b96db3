// widget.js: <script src=".../widget.js" data-api-url="…" data-auth-url="…"> adds a floating
// chat button to any page. Everything lives in a shadow root, so the page's CSS and ours never
// meet. Without data-api-url the API is the origin widget.js came from.
import { useState } from 'react';
import { createRoot } from 'react-dom/client';
import { ChatApp, ServicesProvider } from './App';
import { AskAboutThis } from './components/AskAboutThis';
import type { Quote } from './components/Chat';
import { resolveConfig, type ChatConfig } from './config';
import css from './styles.css?inline';

function Widget({ config }: { config: ChatConfig }) {
  const [open, setOpen] = useState(false);
  const [carried, setCarried] = useState<Quote | null>(null);
  return (
    <ServicesProvider config={config}>
      <div className="cp-root">
        {open ? (
          <div className="cp-widget-panel" role="dialog" aria-label="Documentation chat">
            <ChatApp variant="widget" initialQuote={carried} onClose={() => setOpen(false)} />
          </div>
        ) : (
          // While the panel is closed a selection still offers "Ask about this"; it opens it.
          <AskAboutThis
            onAsk={(q) => {
              setCarried(q);
              setOpen(true);
            }}
          />
        )}
        <button
          type="button"
          className="cp-launcher"
          aria-expanded={open}
          aria-label={open ? 'Close the documentation chat' : 'Open the documentation chat'}
          onClick={() => setOpen(!open)}
        >
          {open ? '✕' : 'Ask the docs'}
        </button>
      </div>
    </ServicesProvider>
  );
}

function mount(script: HTMLScriptElement | null) {
  const base = script?.src ? new URL(script.src, window.location.href).origin : window.location.origin;
  const apiUrl = script?.dataset.apiUrl || base;
  const config = resolveConfig({ apiUrl, authUrl: script?.dataset.authUrl || apiUrl }, window.location.href);
  const host = document.createElement('div');
  host.id = 'chatplane-widget';
  document.body.appendChild(host);
  const shadow = host.attachShadow({ mode: 'open' });
  const style = document.createElement('style');
  style.textContent = css;
  shadow.appendChild(style);
  const container = document.createElement('div');
  shadow.appendChild(container);
  createRoot(container).render(<Widget config={config} />);
}

// document.currentScript is only set while the script first runs.
const current = document.currentScript as HTMLScriptElement | null;
if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', () => mount(current));
else mount(current);
