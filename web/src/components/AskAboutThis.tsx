// Selecting text on the page offers "Ask about this": the question then carries the selection
// (highlighted_text) and the page's address (current_page).
import { useEffect, useState } from 'react';
import type { Quote } from './Chat';

const MAX_CHARS = 2000;

interface Spot {
  text: string;
  top: number;
  left: number;
}

export function selectedQuote(sel: Selection | null): Spot | null {
  if (!sel || sel.isCollapsed || sel.rangeCount === 0) return null;
  const text = sel.toString().replace(/\s+/g, ' ').trim();
  if (text.length < 2) return null;
  const rect = sel.getRangeAt(0).getBoundingClientRect();
  return {
    text: text.slice(0, MAX_CHARS),
    top: Math.max(8, rect.top - 44),
    left: Math.min(Math.max(8, rect.left), window.innerWidth - 160),
  };
}

export function AskAboutThis({ onAsk }: { onAsk: (q: Quote) => void }) {
  const [spot, setSpot] = useState<Spot | null>(null);
  useEffect(() => {
    let t: ReturnType<typeof setTimeout> | undefined;
    const check = () => {
      clearTimeout(t);
      t = setTimeout(() => setSpot(selectedQuote(document.getSelection())), 150);
    };
    document.addEventListener('selectionchange', check);
    return () => {
      clearTimeout(t);
      document.removeEventListener('selectionchange', check);
    };
  }, []);
  if (!spot) return null;
  return (
    <button
      type="button"
      className="cp-ask-about"
      style={{ top: spot.top, left: spot.left }}
      // Keep the selection: a mousedown elsewhere would clear it before the click.
      onMouseDown={(e) => e.preventDefault()}
      onClick={() => {
        onAsk({ text: spot.text, page: window.location.href });
        setSpot(null);
      }}
    >
      Ask about this
    </button>
  );
}
