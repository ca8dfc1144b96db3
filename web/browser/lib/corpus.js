// The one place that says what the browser tests ask and which corpus answers it. The API's
// tests are moving to a fixture corpus (api/tests/data/corpus/, with Markdown tables); until it
// is there the repository's own docs/ is the corpus. Either can be overridden from outside.
import { existsSync } from 'node:fs';
import { ROOT } from '../../../e2e/lib/stack.js';

const FIXTURE = `${ROOT}api/tests/data/corpus`;

/** The directory the API ingests (RAG_CORPUS_DIR) and the docs site serves. */
export const CORPUS_DIR = process.env.WEB_TEST_CORPUS ?? (existsSync(FIXTURE) ? FIXTURE : `${ROOT}docs`);

/** A question whose (extractive) answer quotes a Markdown table. */
export const QUESTION =
  process.env.WEB_TEST_QUESTION ?? 'Which events does the streaming reply of /agents/run send: sources, delta, done, error?';
