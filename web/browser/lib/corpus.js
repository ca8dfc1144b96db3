// The one place that says which corpus the browser tests use and what they ask of it: the API
// tests' fixture corpus (api/tests/data/corpus/, the Fieldnet handbook, with Markdown tables)
// when it is there, else the repository's docs/. WEB_TEST_CORPUS / WEB_TEST_QUESTION override.
import { existsSync } from 'node:fs';
import { ROOT } from '../../../e2e/lib/stack.js';

const FIXTURE = `${ROOT}api/tests/data/corpus`;
const useFixture = !process.env.WEB_TEST_CORPUS && existsSync(FIXTURE);

/** The directory the API ingests (RAG_CORPUS_DIR) and the docs site serves. */
export const CORPUS_DIR = process.env.WEB_TEST_CORPUS ?? (useFixture ? FIXTURE : `${ROOT}docs`);

/** A question whose (extractive) answer quotes a Markdown table. */
export const QUESTION =
  process.env.WEB_TEST_QUESTION ??
  (useFixture
    ? 'Field reference: which key of a report means what, and in which unit?'
    : 'Which events does the streaming reply of /agents/run send: sources, delta, done, error?');

/** A word of QUESTION that /search finds among the asker's messages. */
export const SEARCH_WORD = process.env.WEB_TEST_SEARCH_WORD ?? (useFixture ? 'unit' : 'delta');

/** A sentence of the widget's test page, selected for "Ask about this". */
export const PASSAGE = useFixture
  ? 'Every five minutes a station sends one report: a compact line of text carrying the averages and extremes of the last interval.'
  : 'With Accept: text/event-stream the reply is a stream of server-sent events: sources first, then delta pieces of the answer, then done once the answer is stored.';
