// The documentation sections an answer came from, as links.
import type { Source } from '../api';

export function sourceHref(s: Source): string | null {
  if (s.url) return s.url;
  if (!s.slug) return null;
  return s.anchor ? `${s.slug}#${s.anchor}` : s.slug;
}

export function sourceLabel(s: Source): string {
  const parts = [s.title, s.heading].filter((p): p is string => !!p && p.trim() !== '');
  const unique = parts.filter((p, i) => parts.indexOf(p) === i);
  return unique.join(' › ') || s.slug || 'Source';
}

export function Sources({ sources }: { sources: Source[] }) {
  const linked = sources.map((s) => ({ s, href: sourceHref(s) })).filter((x) => x.href);
  if (linked.length === 0) return null;
  return (
    <nav className="cp-sources" aria-label="Sources">
      <span className="cp-sources-title">Sources</span>
      <ol>
        {linked.map(({ s, href }, i) => (
          <li key={`${href}-${i}`}>
            <a href={href ?? undefined} target="_blank" rel="noopener noreferrer">
              {sourceLabel(s)}
            </a>
          </li>
        ))}
      </ol>
    </nav>
  );
}
