// widget.js: <script src=".../widget.js" data-api-url="…" data-auth-url="…"> adds a floating
// chat button to any page. Everything lives in a shadow root, so the page's CSS and ours never
// meet. Without data-api-url the API is the origin widget.js came from.
import { useState } from 'react';
import { createRoot } from 'react-dom/client';
import { ChatApp, ServicesProvider } from './App';
import { resolveConfig, type ChatConfig } from './config';
import css from './styles.css?inline';

function Widget({ config }: { config: ChatConfig }) {
  const [open, setOpen] = useState(false);
  const [root, setRoot] = useState<HTMLDivElement | null>(null);
  return (
    <ServicesProvider config={config}>
      <div className="cp-root" ref={setRoot}>
        {/* Hidden, not unmounted, when closed: the conversation survives, and a selection on
            the page still offers "Ask about this", which opens the panel. */}
        <div className="cp-widget-panel" role="dialog" aria-label="Documentation chat" hidden={!open}>
          <ChatApp variant="widget" askPortal={root} onQuote={() => setOpen(true)} onClose={() => setOpen(false)} />
        </div>
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
