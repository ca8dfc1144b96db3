// A static documentation site on its own loopback port (another origin than the API): the
// corpus pages as HTML with GitHub-style heading ids (so source links and their #anchors can be
// checked), and a page that embeds the widget with one <script> tag.
import { readdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join, relative } from 'node:path';
import { PASSAGE } from './corpus.js';

const esc = (/** @type {string} */ s) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** GitHub's heading ids: lower case, punctuation dropped, spaces to '-', repeats numbered. */
export function slugger() {
  /** @type {Map<string, number>} */
  const seen = new Map();
  return (/** @type {string} */ text) => {
    const explicit = /\{#([^}]+)\}\s*$/.exec(text);
    if (explicit) return explicit[1];
    const base = text
      .replace(/`/g, '')
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base);
    seen.set(base, (n ?? -1) + 1);
    return n === undefined ? base : `${base}-${n + 1}`;
  };
}

/** Front matter (between --- lines) and the body of a page. */
function splitFrontMatter(/** @type {string} */ text) {
  const m = /^---\r?\n([\s\S]*?)\r?\n---\r?\n/.exec(text);
  return m ? { front: m[1], body: text.slice(m[0].length) } : { front: '', body: text };
}

/** slug → file, the way the API's ingest names pages: front matter `slug`, else the path. */
async function pagesOf(/** @type {string} */ dir) {
  /** @type {Map<string, string>} */
  const pages = new Map();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !/\.mdx?$/.test(entry.name)) continue;
    const file = join(entry.parentPath, entry.name);
    const { front } = splitFrontMatter(await readFile(file, 'utf8'));
    const declared = /^slug:\s*(\S+)\s*$/m.exec(front)?.[1];
    const rel = relative(dir, file).replace(/\.mdx?$/, '').replace(/(^|\/)index$/, '');
    pages.set(declared?.startsWith('/') ? declared : `/${rel}`, file);
  }
  return pages;
}

/** Markdown as plain HTML: headings with ids, everything else as preformatted paragraphs. */
export function renderPage(/** @type {string} */ md, /** @type {string} */ widgetTag) {
  const slug = slugger();
  let inFence = false;
  const out = [];
  for (const line of splitFrontMatter(md).body.split('\n')) {
    if (/^```/.test(line)) inFence = !inFence;
    const h = !inFence && /^(#{1,6})\s+(.*)$/.exec(line);
    if (h) out.push(`<h${h[1].length} id="${esc(slug(h[2]))}">${esc(h[2])}</h${h[1].length}>`);
    else if (line.trim()) out.push(`<p>${esc(line)}</p>`);
  }
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>docs</title></head><body><main>${out.join('\n')}</main>${widgetTag}</body></html>`;
}

/**
 * @param {{ corpusDir: string, apiBase: string, authBase: string, port: number }} opts
 */
export async function startDocsSite({ corpusDir, apiBase, authBase, port }) {
  const pages = await pagesOf(corpusDir);
  const widgetTag = `<script src="${apiBase}/widget.js" data-api-url="${apiBase}" data-auth-url="${authBase}"></script>`;
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    if (path === '/' || path === '/widget-test.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(
        `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Docs with the chat widget</title>` +
          `<style>body{font:16px/1.5 Georgia,serif;max-width:40rem;margin:2rem auto;padding:0 1rem}</style></head>` +
          `<body><main><h1>A documentation page</h1>` +
          `<p id="passage">${esc(PASSAGE)}</p>` +
          `<p>Select a sentence on this page and use "Ask about this".</p></main>${widgetTag}</body></html>`,
      );
      return;
    }
    const file = pages.get(path.replace(/\/+$/, ''));
    try {
      if (!file) throw new Error('no such page');
      const md = await readFile(file, 'utf8');
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(renderPage(md, widgetTag));
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(undefined)));
  return {
    base: `http://127.0.0.1:${port}`,
    stop: () => new Promise((resolve) => server.close(() => resolve(undefined))),
  };
}
