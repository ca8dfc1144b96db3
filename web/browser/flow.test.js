// The UI in a real browser against the real stack (Better Auth, chatplane-api serving web/dist,
// PostgreSQL): sign-up, a streamed answer with a table and source links, history across a
// reload, rename, delete, sign-out, isolation between users, the widget on another origin with
// "Ask about this", and axe-core. Prints the time to the first answer token; with
// SCREENSHOT_DIR set it also saves the README's screenshots there.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { freePort, ROOT, startStack } from '../../e2e/lib/stack.js';
import { launch, seriousViolations } from './lib/browser.js';
import { CORPUS_DIR, QUESTION, SEARCH_WORD } from './lib/corpus.js';
import { startDocsSite } from './lib/docs-site.js';

const WEB_DIR = process.env.WEB_DIR ?? `${ROOT}web/dist`;
const SHOTS = process.env.SCREENSHOT_DIR;
const PASSWORD = 'correct-horse-battery';
const T = 30000;

/** @type {Awaited<ReturnType<typeof startStack>>} */
let stack;
/** @type {Awaited<ReturnType<typeof startDocsSite>>} */
let docs;
/** @type {import('playwright-core').Browser} */
let browser;
const user1 = { name: 'Ada Browser', email: `ada+${randomBytes(4).toString('hex')}@example.com` };
/** Milliseconds from pressing Enter to the first answer text on screen, per question. */
/** @type {number[]} */
const firstTokenMs = [];

before(async () => {
  const [authPort, apiPort, docsPort] = [await freePort(), await freePort(), await freePort()];
  const appOrigin = `http://127.0.0.1:${apiPort}`;
  const docsOrigin = `http://127.0.0.1:${docsPort}`;
  const origins = [appOrigin, docsOrigin].join(',');
  stack = await startStack({
    label: 'web',
    authPort,
    apiPort,
    authEnv: { TRUSTED_ORIGINS: origins },
    apiEnv: {
      CORS_ALLOWED_ORIGINS: origins,
      WEB_DIR,
      RAG_CORPUS_DIR: CORPUS_DIR,
      DOCS_BASE_URL: docsOrigin,
      AGENTS_RATE_PER_MINUTE: '0',
    },
  });
  await waitCorpus(stack.apiBase);
  docs = await startDocsSite({ corpusDir: CORPUS_DIR, apiBase: stack.apiBase, authBase: stack.authBase, port: docsPort });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await docs?.stop();
  await stack?.stop();
  if (firstTokenMs.length) {
    const sorted = [...firstTokenMs].sort((a, b) => a - b);
    const summary = { questions: sorted.length, first_token_ms_median: sorted[Math.floor(sorted.length / 2)], first_token_ms: firstTokenMs };
    console.log(`# time to first answer token ${JSON.stringify(summary)}`);
    if (process.env.WEB_BENCH_OUT) writeFileSync(process.env.WEB_BENCH_OUT, `${JSON.stringify(summary)}\n`);
  }
});

/** /readyz turns 200 only once the corpus is ingested; startStack already waited for it. */
async function waitCorpus(/** @type {string} */ base) {
  const r = await fetch(`${base}/readyz`);
  assert.equal(r.status, 200, await r.text());
}

/** @param {import('playwright-core').Page} page @param {string} name */
async function shot(page, name) {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: `${SHOTS}/${name}.png` });
}

/** @param {import('playwright-core').Page} page */
async function signUp(page, /** @type {{name: string, email: string}} */ who) {
  await page.getByRole('button', { name: 'Create an account' }).click();
  await page.getByLabel('Name').fill(who.name);
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Confirm password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByLabel('Your question').waitFor({ timeout: T });
}

/** Asks and waits for the stored answer; returns ms to the first streamed token. */
async function ask(/** @type {import('playwright-core').Page} */ page, /** @type {string} */ question) {
  const answers = page.locator('.cp-msg-assistant');
  const before = await answers.count();
  await page.getByLabel('Your question').fill(question);
  const t0 = Date.now();
  await page.getByLabel('Your question').press('Enter');
  await answers.nth(before).locator('.cp-markdown').waitFor({ timeout: T });
  const firstToken = Date.now() - t0;
  firstTokenMs.push(firstToken);
  await page.getByRole('button', { name: 'Send', exact: true }).waitFor({ timeout: T });
  return { firstToken, answer: answers.nth(before) };
}

/** @param {import('playwright-core').Page} page */
async function axeClean(page, /** @type {string} */ where) {
  const bad = await seriousViolations(page);
  assert.deepEqual(bad, [], `axe-core: serious violations ${where}`);
}

test('sign up, ask, read a table with sources, find it again, rename, delete, sign out', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  /** @type {string[]} */
  const cspErrors = [];
  page.on('console', (m) => m.type() === 'error' && /Content Security Policy/.test(m.text()) && cspErrors.push(m.text()));
  await page.goto(stack.apiBase + '/');

  // Signed out: the sign-in prompt is where the input would be.
  await page.getByRole('heading', { name: 'Sign in to ask the documentation' }).waitFor({ timeout: T });
  assert.equal(await page.getByLabel('Your question').count(), 0);
  await axeClean(page, 'signed out');

  // Live validation, then the account.
  await page.getByRole('button', { name: 'Create an account' }).click();
  await page.getByLabel('Email').fill('not-an-email');
  await page.getByText('Enter an email address like name@example.com.').waitFor();
  await page.getByLabel('Password', { exact: true }).fill('short');
  await page.getByText('Use at least 8 characters.').waitFor();
  await page.getByRole('button', { name: 'Sign in' }).click();
  await signUp(page, user1);
  await axeClean(page, 'signed in, empty');

  // A streamed answer with a table and source links.
  const { answer } = await ask(page, QUESTION);
  const table = answer.locator('.cp-table-scroll table');
  await table.first().waitFor({ timeout: T });
  assert.ok((await table.first().locator('th').count()) >= 2, 'the table has a header row');
  const hrefs = await answer.getByRole('navigation', { name: 'Sources' }).getByRole('link').evaluateAll((as) =>
    as.map((a) => /** @type {HTMLAnchorElement} */ (a).href),
  );
  assert.ok(hrefs.length >= 1, 'sources are linked');
  for (const href of hrefs) {
    const url = new URL(href);
    assert.equal(url.origin, docs.base, `${href} points at the docs site`);
    const res = await fetch(href);
    assert.equal(res.status, 200, `${href} resolves`);
    if (url.hash) assert.ok((await res.text()).includes(`id="${decodeURIComponent(url.hash.slice(1))}"`), `${href}: the section exists`);
  }
  await axeClean(page, 'with an answer');
  await shot(page, 'conversation-1280');

  // Reload: the session holds and the conversation is in the history.
  await page.reload();
  const history = page.getByRole('navigation', { name: 'Conversation history' });
  const entry = history.locator('.cp-open').first();
  await entry.waitFor({ timeout: T });
  const title = (await entry.locator('.cp-title').textContent()) ?? '';
  assert.ok(title.length > 0 && QUESTION.startsWith(title.replace(/…$/, '').slice(0, 20)), `titled from the question: ${title}`);
  await entry.click();
  await page.locator('.cp-msg-assistant .cp-table-scroll table').first().waitFor({ timeout: T });
  assert.equal(await page.locator('.cp-msg-user').first().textContent(), QUESTION);
  await shot(page, 'history-1280');

  // Rename (kept across a reload), then delete after confirming.
  await history.getByRole('button', { name: /^Rename/ }).first().click();
  await history.getByLabel('New title').fill('Renamed by the browser test');
  await history.getByRole('button', { name: 'Save' }).click();
  await history.locator('.cp-title', { hasText: 'Renamed by the browser test' }).waitFor();
  await page.reload();
  await history.locator('.cp-title', { hasText: 'Renamed by the browser test' }).waitFor({ timeout: T });
  await history.getByRole('button', { name: 'Delete “Renamed by the browser test”' }).click();
  await history.getByRole('group', { name: /Delete/ }).getByRole('button', { name: 'Delete' }).click();
  await history.getByText('No conversations yet.').waitFor();
  await page.reload();
  await history.getByText('No conversations yet.').waitFor({ timeout: T });

  // One more question so the second user has something not to see; search finds it.
  await ask(page, QUESTION);
  await history.getByLabel('Search your messages').fill(SEARCH_WORD);
  await history.getByRole('button', { name: 'Search' }).click();
  await history.getByRole('region', { name: 'Search results' }).locator('.cp-hit').first().waitFor({ timeout: T });

  // Signing out puts the sign-in prompt back in place of the input, also after a reload.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in to ask the documentation' }).waitFor({ timeout: T });
  assert.equal(await page.getByLabel('Your question').count(), 0);
  await page.reload();
  await page.getByRole('heading', { name: 'Sign in to ask the documentation' }).waitFor({ timeout: T });
  assert.deepEqual(cspErrors, [], 'nothing was blocked by the CSP');
  await ctx.close();
});

test('a second user sees none of the first user’s conversations', async () => {
  const ctx = await browser.newContext({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
  const page = await ctx.newPage();
  await page.goto(stack.apiBase + '/');
  await shot(page, 'signed-out-375');
  await signUp(page, { name: 'Bob Browser', email: `bob+${randomBytes(4).toString('hex')}@example.com` });
  await page.getByRole('button', { name: 'History' }).click();
  const history = page.getByRole('navigation', { name: 'Conversation history' });
  await history.getByText('No conversations yet.').waitFor({ timeout: T });
  await history.getByLabel('Search your messages').fill(SEARCH_WORD);
  await history.getByRole('button', { name: 'Search' }).click();
  await history.getByText('No messages match.').waitFor({ timeout: T });
  await history.getByRole('button', { name: 'New conversation' }).click();

  // At 375 px the answer's table scrolls inside its region instead of widening the page.
  await ask(page, QUESTION);
  const region = page.locator('.cp-msg-assistant .cp-table-scroll').first();
  await region.waitFor({ timeout: T });
  const widths = await page.evaluate(() => ({ doc: document.documentElement.scrollWidth, view: window.innerWidth }));
  assert.ok(widths.doc <= widths.view, `no sideways page scroll at 375 px: ${JSON.stringify(widths)}`);
  await shot(page, 'conversation-375');
  await page.getByRole('button', { name: 'History' }).click();
  await history.locator('.cp-open').first().waitFor({ timeout: T });
  await shot(page, 'history-375');
  await axeClean(page, 'at 375 px');
  await ctx.close();
});

for (const width of [1280, 375]) {
  test(`the widget on another origin signs in, chats and asks about a selection (${width} px)`, async () => {
    const ctx = await browser.newContext({ viewport: { width, height: width === 375 ? 812 : 900 } });
    const page = await ctx.newPage();
    await page.goto(`${docs.base}/widget-test.html`);
    const launcher = page.getByRole('button', { name: 'Open the documentation chat' });
    await launcher.waitFor({ timeout: T });
    await launcher.click();
    const panel = page.getByRole('dialog', { name: 'Documentation chat' });
    await panel.getByRole('heading', { name: 'Sign in to ask the documentation' }).waitFor({ timeout: T });
    await shot(page, `widget-signed-out-${width}`);
    await axeClean(page, `widget, signed out, ${width} px`);
    await panel.getByLabel('Email').fill(user1.email);
    await panel.getByLabel('Password').fill(PASSWORD);
    await panel.getByRole('button', { name: 'Sign in' }).click();
    await panel.getByLabel('Your question').waitFor({ timeout: T });
    const { answer } = await ask(page, QUESTION);
    await answer.getByRole('navigation', { name: 'Sources' }).getByRole('link').first().waitFor();
    await shot(page, `widget-conversation-${width}`);

    // "Ask about this": select a sentence of the page; the question carries it and the page.
    await panel.getByRole('button', { name: 'Close the chat' }).click();
    const selected = await page.evaluate(() => {
      const p = /** @type {HTMLElement} */ (document.getElementById('passage'));
      const range = document.createRange();
      range.selectNodeContents(p);
      const sel = /** @type {Selection} */ (window.getSelection());
      sel.removeAllRanges();
      sel.addRange(range);
      return sel.toString().replace(/\s+/g, ' ').trim();
    });
    await page.getByRole('button', { name: 'Ask about this' }).click();
    await panel.getByText('Asking about:').waitFor({ timeout: T });
    const sent = page.waitForRequest((r) => r.url().endsWith('/agents/run') && r.method() === 'POST', { timeout: T });
    await ask(page, 'What does this mean for a client?');
    const body = (await sent).postDataJSON();
    assert.equal(body.highlighted_text, selected);
    assert.equal(body.current_page, `${docs.base}/widget-test.html`);
    assert.equal(body.query, 'What does this mean for a client?');
    assert.match(body.session_id ?? '', /^[0-9a-f-]{36}$/, 'the follow-up stays in the same conversation');
    await ctx.close();
  });
}
