import { render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { Markdown } from './Markdown';
import { Sources, sourceHref } from './Sources';

const ANSWER = `The **ZMP** is *the* point.

- one
- two

\`inline code\`

| field | meaning |
|---|---|
| \`slug\` | the page path |
| \`anchor\` | the heading id |

<script>alert(1)</script>`;

describe('Markdown', () => {
  it('renders bold, italics, lists, code and a GFM table inside a sideways-scrolling region', () => {
    const { container } = render(<Markdown text={ANSWER} />);
    expect(container.querySelector('strong')?.textContent).toBe('ZMP');
    expect(container.querySelector('em')?.textContent).toBe('the');
    expect(container.querySelectorAll('li')).toHaveLength(2);
    expect(container.querySelector('code')?.textContent).toBe('inline code');
    const region = screen.getByRole('region', { name: /table/i });
    expect(region.className).toBe('cp-table-scroll');
    expect(region.tabIndex).toBe(0);
    const table = within(region).getByRole('table');
    expect(within(table).getAllByRole('columnheader').map((h) => h.textContent)).toEqual(['field', 'meaning']);
    expect(within(table).getAllByRole('row')).toHaveLength(3);
  });

  it('does not render raw HTML', () => {
    const { container } = render(<Markdown text={ANSWER} />);
    expect(container.querySelector('script')).toBeNull();
  });
});

describe('Sources', () => {
  it('links every source to its section', () => {
    render(
      <Sources
        sources={[
          { slug: '/RAG', title: 'Answers', heading: 'Streaming', anchor: 'streaming', url: 'https://docs.example/RAG#streaming' },
          { slug: '/API', title: 'The chat API', heading: 'The chat API', anchor: 'errors' },
          { title: 'no link' },
        ]}
      />,
    );
    const nav = screen.getByRole('navigation', { name: 'Sources' });
    const links = within(nav).getAllByRole('link');
    expect(links.map((a) => [a.textContent, a.getAttribute('href')])).toEqual([
      ['Answers › Streaming', 'https://docs.example/RAG#streaming'],
      ['The chat API', '/API#errors'],
    ]);
    expect(links[0].getAttribute('rel')).toContain('noopener');
  });

  it('builds a site-relative link without a URL', () => {
    expect(sourceHref({ slug: '/guide' })).toBe('/guide');
    expect(sourceHref({})).toBeNull();
  });

  it('renders nothing without sources', () => {
    const { container } = render(<Sources sources={[]} />);
    expect(container.innerHTML).toBe('');
  });
});
