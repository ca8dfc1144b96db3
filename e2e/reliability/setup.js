// One stack for a reliability run: the real auth server and API (stack.js) on the private
// cluster this run owns, with the API pointed at a model endpoint the run controls and its
// timeouts short enough that an outage shows within the run.
import { ROOT, startStack } from '../lib/stack.js';
import { modelServer, privatePostgres } from './faults.js';

/** @param {{ label: string, apiEnv?: Record<string, string> }} o */
export async function reliabilityStack({ label, apiEnv = {} }) {
  const postgres = privatePostgres();
  const model = await modelServer();
  try {
    const stack = await startStack({
      label,
      apiEnv: {
        LLM_BASE_URL: model.url,
        LLM_MODEL: 'reliability-model',
        LLM_TIMEOUT_SECS: '2',
        LLM_MAX_RETRIES: '0',
        // A session check is cached for a second only, so the auth outage shows within the run.
        SESSION_CACHE_TTL_SECS: '1',
        AUTH_TIMEOUT_SECS: '2',
        AGENTS_RATE_PER_MINUTE: '100000',
        RAG_CORPUS_DIR: `${ROOT}api/tests/data/corpus`,
        ...apiEnv,
      },
    });
    return { stack, postgres, model };
  } catch (err) {
    await model.close();
    throw err;
  }
}
