// The faults the reliability runs inject, each a real part made to misbehave: the private
// PostgreSQL cluster restarted (fast and immediate shutdown), the Better Auth server stopped and
// started again, and an OpenAI-compatible model endpoint that answers, stalls or fails on demand.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { ROOT } from '../lib/stack.js';

/**
 * The cluster this run owns (scripts/test.d/45-reliability.sh and bench/reliability.sh start it
 * with pg_private_up and pass its directory): nobody else's tests use it, so it may be restarted.
 */
export function privatePostgres() {
  const dir = process.env.PG_PRIVATE_DIR;
  if (!dir) throw new Error('PG_PRIVATE_DIR is not set: run through scripts/test.d/45-reliability.sh or bench/reliability.sh');
  return {
    /** @param {'fast'|'immediate'} mode */
    restart(mode) {
      const run = spawnSync(
        'bash',
        ['-c', `source "${ROOT}scripts/lib/postgres.sh" && pg_private_restart "$0" "$1"`, dir, mode],
        { encoding: 'utf8', timeout: 90000 },
      );
      if (run.status !== 0) throw new Error(`pg_private_restart ${mode} failed: ${run.error ?? ''}${run.stderr}`);
    },
  };
}

/**
 * A local model endpoint (`LLM_BASE_URL`): `mode` is 'ok' (streams a short answer), 'slow'
 * (holds every request for `slowMs`, longer than the API's LLM timeout) or 'fail' (500).
 * @param {{ slowMs?: number }} [opts]
 */
export async function modelServer({ slowMs = 30000 } = {}) {
  /** @type {'ok'|'slow'|'fail'} */
  let mode = 'ok';
  const counts = { ok: 0, slow: 0, fail: 0 };
  /** @type {Set<import('node:http').ServerResponse>} */
  const held = new Set();
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const current = mode;
      counts[current] += 1;
      if (current === 'fail') {
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"injected failure"}}');
        return;
      }
      const answer = () => {
        held.delete(res);
        if (res.destroyed) return;
        const stream = (() => {
          try {
            return JSON.parse(body).stream === true;
          } catch {
            return false;
          }
        })();
        const text = 'Injected answer from the reliability model.';
        if (!stream) {
          res.writeHead(200, { 'content-type': 'application/json' }).end(
            JSON.stringify({ choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }] }),
          );
          return;
        }
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        for (const word of text.split(' ')) {
          res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: `${word} ` } }] })}\n\n`);
        }
        res.end('data: [DONE]\n\n');
      };
      if (current === 'slow') {
        held.add(res);
        setTimeout(answer, slowMs).unref();
      } else {
        answer();
      }
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  return {
    url: `http://127.0.0.1:${port}/v1/`,
    counts,
    /** @param {'ok'|'slow'|'fail'} m */
    set(m) {
      mode = m;
    },
    async close() {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(() => resolve(undefined)));
    },
  };
}

/** Resident set size of a process in bytes (VmRSS), or undefined once it is gone. */
export function rssBytes(/** @type {number} */ pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Open file descriptors of a process (a directory read: no child process, which would stall
 * the load generator's event loop and show up in its latencies). */
export function openFds(/** @type {number} */ pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}
