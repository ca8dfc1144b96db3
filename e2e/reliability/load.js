// The reliability runs: virtual users (each a real Better Auth identity) appending and reading
// while faults are injected, a slow-client flood, and a junk-token flood. Each run returns a
// report (plain numbers); `checkFaultRun` says which of the suite's promises a report breaks.
import { randomBytes, randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { authClient } from '../lib/clients.js';
import { dbUrl, query, sleep } from '../lib/stack.js';
import { rssBytes, openFds } from './faults.js';

/** The client's own bound: a request still unanswered after this is a hang. */
export const CLIENT_TIMEOUT_MS = 15000;

/**
 * One request that never throws. `status` 0 means no answer (reset, refused, or timed out).
 * @param {string} base @param {string} method @param {string} path
 * @param {{ bearer?: string, body?: unknown }} [opts]
 */
export async function call(base, method, path, { bearer, body } = {}) {
  /** @type {Record<string,string>} */
  const headers = {};
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const started = performance.now();
  try {
    const res = await fetch(`${base}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
    });
    const text = await res.text();
    let parsed;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: parsed, ms: performance.now() - started };
  } catch (err) {
    return { status: 0, retryAfter: null, body: undefined, ms: performance.now() - started, error: String(err) };
  }
}

/** Signs up `count` users; the first three of every four verify by JWT, the fourth by session token. */
export async function makeUsers(/** @type {string} */ authBase, /** @type {number} */ count) {
  const auth = authClient(authBase);
  /** @type {{ n: number, kind: 'jwt'|'session', bearer: string, id: string }[]} */
  const users = [];
  const batch = 10;
  for (let i = 0; i < count; i += batch) {
    const made = await Promise.all(
      Array.from({ length: Math.min(batch, count - i) }, async (_, j) => {
        const n = i + j;
        const u = await auth.signUp({ name: `Reliability ${n}` });
        const kind = n % 4 === 3 ? 'session' : 'jwt';
        const bearer = kind === 'jwt' ? await auth.headerJwt(u.sessionToken) : u.sessionToken;
        return { n, kind, bearer, id: u.id };
      }),
    );
    users.push(.../** @type {any} */ (made));
  }
  return users;
}

const pct = (/** @type {number[]} */ xs, /** @type {number} */ p) => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const round = (/** @type {number} */ x, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

/**
 * The fault run: `users` append and read (and ask /agents/run) for `seconds` while PostgreSQL is
 * restarted twice (fast, then immediate), the auth server is stopped for `authDownSeconds`, and
 * the model is slow and then failing.
 * @param {object} o
 * @param {any} o.stack        from startStack (its auth server is stopped and started here)
 * @param {{ restart(mode: 'fast'|'immediate'): void }} o.postgres
 * @param {{ set(m: 'ok'|'slow'|'fail'): void, counts: Record<string, number> }} o.model
 * @param {Awaited<ReturnType<typeof makeUsers>>} o.users
 * @param {number} o.seconds
 * @param {number} o.authDownSeconds
 * @param {number} [o.thinkMs]
 */
export async function faultRun({ stack, postgres, model, users, seconds, authDownSeconds, thinkMs = 100 }) {
  const t0 = performance.now();
  const now = () => (performance.now() - t0) / 1000;
  const deadline = seconds;
  /** @type {{ t: number, op: string, kind: string, status: number, retryAfter: boolean, ms: number, error?: string }[]} */
  const records = [];
  /** @type {string[]} */
  const acked = [];
  /** @type {string[]} */
  const unansweredQuestions = [];
  /** @type {{ name: string, start: number, back: number }[]} */
  const dbRestarts = [];
  /** @type {Record<string, [number, number]>} */
  const windows = {};
  const rss = [];
  /** @type {'ok'|'slow'|'fail'} */
  let modelMode = 'ok';
  const setModel = (/** @type {'ok'|'slow'|'fail'} */ m) => {
    modelMode = m;
    model.set(m);
  };

  const record = (/** @type {string} */ op, /** @type {string} */ kind, /** @type {number} */ t, /** @type {Awaited<ReturnType<typeof call>>} */ r) =>
    records.push({ t, op, kind, status: r.status, retryAfter: r.retryAfter !== null, ms: r.ms, error: r.error });

  const vu = async (/** @type {(typeof users)[number]} */ u) => {
    let conv;
    while (!conv && now() < deadline) {
      const t = now();
      const r = await call(stack.apiBase, 'POST', '/conversations', { bearer: u.bearer, body: { title: `reliability ${u.n}` } });
      record('create', u.kind, t, r);
      if (r.status === 201) conv = r.body.id;
      else await sleep(200);
    }
    for (let i = 1; now() < deadline; i++) {
      const content = `rel ${u.n} ${i} ${randomUUID()}`;
      let t = now();
      const w = await call(stack.apiBase, 'POST', `/conversations/${conv}/messages`, { bearer: u.bearer, body: { role: 'user', content } });
      record('append', u.kind, t, w);
      if (w.status === 201) acked.push(content);
      if (i % 3 === 0) {
        t = now();
        record('read', u.kind, t, await call(stack.apiBase, 'GET', `/conversations/${conv}/messages?limit=20`, { bearer: u.bearer }));
      }
      // Every tenth turn asks the model; while the model misbehaves, every other turn, so each
      // of its fault windows surely meets some questions.
      if (i % 10 === 0 || (modelMode !== 'ok' && i % 2 === 0)) {
        const q = `rel-question ${u.n} ${i} ${randomUUID()} how do I calibrate the sensor?`;
        t = now();
        const a = await call(stack.apiBase, 'POST', '/agents/run', { bearer: u.bearer, body: { query: q, session_id: `rel-session-${u.n}` } });
        record('agents', u.kind, t, a);
        if (a.status === 502 || a.status === 504) unansweredQuestions.push(q);
      }
      await sleep(thinkMs * (0.5 + Math.random()));
    }
  };

  const at = async (/** @type {number} */ fraction) => {
    const wait = fraction * seconds - now();
    if (wait > 0) await sleep(wait * 1000);
  };
  const faults = async () => {
    for (const [fraction, mode] of /** @type {[number, 'fast'|'immediate'][]} */ ([[0.15, 'fast'], [0.3, 'immediate']])) {
      await at(fraction);
      const start = now();
      postgres.restart(mode);
      dbRestarts.push({ name: mode, start, back: now() });
    }
    await at(0.4);
    const authStart = now();
    await stack.auth.stop();
    const modelFaults = (async () => {
      await at(0.45);
      setModel('slow');
      windows.model_slow = [now(), 0];
      await at(0.6);
      setModel('fail');
      windows.model_slow[1] = now();
      windows.model_fail = [now(), 0];
      await at(0.75);
      setModel('ok');
      windows.model_fail[1] = now();
    })();
    await sleep(authDownSeconds * 1000);
    windows.auth_down = [authStart, now()];
    await stack.startAuth();
    windows.auth_down[1] = now();
    await modelFaults;
  };
  const sampler = (async () => {
    while (now() < deadline) {
      rss.push({ t: now(), bytes: rssBytes(stack.api.pid) ?? 0 });
      await sleep(500);
    }
  })();

  await Promise.all([...users.map(vu), faults(), sampler]);
  rss.push({ t: now(), bytes: rssBytes(stack.api.pid) ?? 0 });

  // What the database holds of every acknowledged append, and of every unanswered question.
  const api = dbUrl(stack.db.apiDb);
  const stored = new Map();
  const res = await query(`SELECT content, count(*)::int AS n FROM messages WHERE content LIKE 'rel %' GROUP BY content`, [], api);
  for (const row of res.rows) stored.set(row.content, row.n);
  const lost = acked.filter((c) => !stored.has(c)).length;
  const duplicated = acked.filter((c) => (stored.get(c) ?? 0) > 1).length;
  const kept = await query(`SELECT count(DISTINCT content)::int AS n FROM messages WHERE role = 'user' AND content = ANY($1)`, [unansweredQuestions], api);

  /** @type {Record<string, number>} */
  const byStatus = {};
  for (const r of records) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
  const recovery = dbRestarts.map((d) => {
    const first = records.filter((r) => r.t >= d.back && r.op !== 'agents' && r.kind === 'jwt' && r.status >= 200 && r.status < 300).sort((a, b) => a.t - b.t)[0];
    return { mode: d.name, restart_s: round(d.back - d.start, 2), back_after_db_s: first ? round(first.t - d.back, 2) : null };
  });
  const [aFrom, aTo] = windows.auth_down;
  const inAuthOutage = records.filter((r) => r.t >= aFrom && r.t + r.ms / 1000 <= aTo && r.op !== 'agents');
  const warm = rss.find((s) => s.t >= Math.min(5, seconds * 0.1)) ?? rss[0];
  return {
    users: users.length,
    seconds,
    requests: records.length,
    by_status: byStatus,
    fives_without_retry_after: records.filter((r) => r.status === 503 && !r.retryAfter).length,
    no_answer: records.filter((r) => r.status === 0).length,
    slowest_ms: Math.round(Math.max(0, ...records.map((r) => r.ms))),
    writes: { acknowledged: acked.length, lost, duplicated },
    db_restarts: recovery,
    auth_outage: {
      seconds: round(aTo - aFrom),
      jwt_requests: inAuthOutage.filter((r) => r.kind === 'jwt').length,
      jwt_failed: inAuthOutage.filter((r) => r.kind === 'jwt' && (r.status < 200 || r.status >= 300)).length,
      jwt_failures: inAuthOutage
        .filter((r) => r.kind === 'jwt' && (r.status < 200 || r.status >= 300))
        .slice(0, 5)
        .map((r) => `${r.op} ${r.status} at ${round(r.t)}s`),
      session_requests: inAuthOutage.filter((r) => r.kind === 'session').length,
      session_503: inAuthOutage.filter((r) => r.kind === 'session' && r.status === 503).length,
      session_other_failures: inAuthOutage.filter((r) => r.kind === 'session' && r.status !== 503 && (r.status < 200 || r.status >= 300)).length,
    },
    agents: {
      requests: records.filter((r) => r.op === 'agents').length,
      by_status: records.filter((r) => r.op === 'agents').reduce((/** @type {Record<string, number>} */ m, r) => ((m[r.status] = (m[r.status] ?? 0) + 1), m), {}),
      unanswered: unansweredQuestions.length,
      unanswered_question_kept: kept.rows[0].n,
      model_calls: { ...model.counts },
    },
    rss_mib: {
      start: round(warm.bytes / 2 ** 20),
      end: round(rss[rss.length - 1].bytes / 2 ** 20),
      max: round(Math.max(...rss.map((s) => s.bytes)) / 2 ** 20),
    },
  };
}

/**
 * The promises of the fault run; returns the broken ones (empty when all hold).
 * @param {Awaited<ReturnType<typeof faultRun>>} r
 * @param {{ recoverySeconds?: number }} [opts]  bound on "back within N s of the database" (long run)
 */
export function checkFaultRun(r, { recoverySeconds } = {}) {
  const broken = [];
  const allowed = new Set(['200', '201', '502', '503', '504']);
  for (const [status, n] of Object.entries(r.by_status)) if (!allowed.has(status)) broken.push(`${n} answers with status ${status}`);
  if (r.fives_without_retry_after > 0) broken.push(`${r.fives_without_retry_after} 503s without Retry-After`);
  if (r.writes.acknowledged === 0) broken.push('no write was acknowledged');
  if (r.writes.lost > 0) broken.push(`${r.writes.lost} acknowledged writes lost`);
  if (r.writes.duplicated > 0) broken.push(`${r.writes.duplicated} acknowledged writes stored twice`);
  for (const d of r.db_restarts) {
    if (d.back_after_db_s === null) broken.push(`never served again after the ${d.mode} restart`);
    else if (recoverySeconds !== undefined && d.back_after_db_s > recoverySeconds)
      broken.push(`back ${d.back_after_db_s}s after the ${d.mode} restart (more than ${recoverySeconds}s)`);
  }
  const a = r.auth_outage;
  if (a.jwt_requests === 0) broken.push('no JWT request ran during the auth outage');
  if (a.jwt_failed > 0) broken.push(`${a.jwt_failed} JWT requests failed while the auth server was down`);
  if (a.session_503 === 0) broken.push('session-token users never saw the auth outage as 503');
  if (a.session_other_failures > 0) broken.push(`${a.session_other_failures} session requests failed with other than 503`);
  const ag = r.agents;
  if (!ag.by_status['504']) broken.push('a slow model never gave 504');
  if (!ag.by_status['502']) broken.push('a failing model never gave 502');
  if (ag.unanswered_question_kept !== ag.unanswered) broken.push(`${ag.unanswered - ag.unanswered_question_kept} unanswered questions not kept`);
  if (r.rss_mib.end > 2 * r.rss_mib.start + 16) broken.push(`RSS grew from ${r.rss_mib.start} to ${r.rss_mib.end} MiB`);
  return broken;
}

/**
 * Slow clients: `idle` connections that never send a byte and `trickle` ones that send a header
 * a byte a second, held for `seconds`, while `realUsers` keep reading.
 * @param {{ apiBase: string, apiPid: number, users: Awaited<ReturnType<typeof makeUsers>>, idle: number, trickle: number, seconds: number }} o
 */
export async function slowClients({ apiBase, apiPid, users, idle, trickle, seconds }) {
  const { hostname, port } = new URL(apiBase);
  /** @type {import('node:net').Socket[]} */
  const sockets = [];
  let closedByServer = 0;
  let refused = 0;
  const open = (/** @type {boolean} */ trickling) =>
    new Promise((resolve) => {
      const s = connect({ host: hostname, port: Number(port) });
      s.on('error', () => {});
      s.on('close', () => {
        if (!s.destroyedByUs) closedByServer += 1;
      });
      s.once('connect', () => {
        if (trickling) {
          s.write('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ');
          const timer = setInterval(() => s.writable && s.write('a'), 1000);
          timer.unref();
          s.on('close', () => clearInterval(timer));
        }
        resolve(undefined);
      });
      s.once('error', () => {
        refused += 1;
        resolve(undefined);
      });
      sockets.push(s);
    });
  const before = { rss: rssBytes(apiPid) ?? 0, fds: openFds(apiPid) ?? 0 };
  for (let i = 0; i < idle + trickle; i += 100) {
    await Promise.all(Array.from({ length: Math.min(100, idle + trickle - i) }, (_, j) => open(i + j >= idle)));
  }
  const peak = { rss: rssBytes(apiPid) ?? 0, fds: openFds(apiPid) ?? 0 };
  const latencies = [];
  /** @type {Record<string, number>} */
  const statuses = {};
  // The descriptors are sampled on a timer, not after every request: the load generator's own
  // work would otherwise count in the real users' latencies.
  const sampler = setInterval(() => {
    const fds = openFds(apiPid) ?? 0;
    if (fds > peak.fds) peak.fds = fds;
  }, 500);
  const t0 = performance.now();
  await Promise.all(
    users.map(async (u) => {
      while (performance.now() - t0 < seconds * 1000) {
        const r = await call(apiBase, 'GET', '/conversations?limit=5', { bearer: u.bearer });
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
        latencies.push(r.ms);
        await sleep(50);
      }
    }),
  );
  clearInterval(sampler);
  const stillOpen = sockets.filter((s) => !s.destroyed).length;
  for (const s of sockets) {
    /** @type {any} */ (s).destroyedByUs = true;
    s.destroy();
  }
  return {
    idle,
    trickle,
    seconds,
    refused_at_connect: refused,
    closed_by_server: closedByServer,
    still_open_at_end: stillOpen,
    api_fds: { before: before.fds, peak: peak.fds },
    api_rss_mib: { before: round(before.rss / 2 ** 20), with_connections: round(peak.rss / 2 ** 20) },
    real_users: { requests: latencies.length, by_status: statuses, p50_ms: round(pct(latencies, 50)), p99_ms: round(pct(latencies, 99)) },
  };
}

/**
 * A junk-token flood: `tokens` distinct made-up bearer tokens, `concurrency` at a time, while
 * `users` keep reading. First half: tokens that cannot be Better Auth session tokens (random
 * base64 of other lengths), which must never reach the auth server; second half: tokens shaped
 * like session tokens (32 letters and digits), which only the auth server can refuse. The auth
 * database's transactions over each half are what it cost the auth server.
 * @param {{ stack: any, users: Awaited<ReturnType<typeof makeUsers>>, tokens: number, concurrency: number }} o
 */
export async function junkTokens({ stack, users, tokens, concurrency }) {
  const xacts = async () => {
    // A busy backend flushes its statistics at most once a second and an idle one only after
    // 10 s (PostgreSQL 15's PGSTAT_IDLE_INTERVAL), so the auth server's pooled connections report
    // late: wait that out, or what came before a window is counted in it.
    await sleep(11_000);
    const r = await query(`SELECT (xact_commit + xact_rollback)::bigint AS n FROM pg_stat_database WHERE datname = $1`, [stack.db.authDb]);
    return Number(r.rows[0].n);
  };
  const alnum = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const sessionShaped = () => Array.from(randomBytes(32), (b) => alnum[b % alnum.length]).join('');
  // 8–47 random bytes as base64: never 32 letters and digits, never `token.signature`.
  const junk = () => `${randomBytes(8 + (randomBytes(1)[0] % 40)).toString('base64').replace(/=+$/, '')}+`;
  const baseline = [];
  for (const u of users) baseline.push((await call(stack.apiBase, 'GET', '/conversations?limit=5', { bearer: u.bearer })).ms);
  /** @type {Record<string, number>} */
  const junkStatus = {};
  const flood = async (/** @type {number} */ count, /** @type {() => string} */ make) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) {
          next += 1;
          const r = await call(stack.apiBase, 'GET', '/conversations', { bearer: make() });
          junkStatus[r.status] = (junkStatus[r.status] ?? 0) + 1;
        }
      }),
    );
  };
  const latencies = [];
  /** @type {Record<string, number>} */
  const statuses = {};
  let flooding = true;
  const real = users.map(async (u) => {
    while (flooding) {
      const r = await call(stack.apiBase, 'GET', '/conversations?limit=5', { bearer: u.bearer });
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      latencies.push(r.ms);
      await sleep(50);
    }
  });
  // The runs before this one wrote sessions, so autovacuum may be due on the auth database, and
  // its transactions count in pg_stat_database too: vacuum and analyze it first, so nothing but
  // the auth server's own work lands in the windows below.
  await query('VACUUM (ANALYZE)', [], dbUrl(stack.db.authDb));
  const before = await xacts();
  const half = Math.floor(tokens / 2);
  await flood(half, junk);
  const afterJunk = await xacts();
  await flood(tokens - half, sessionShaped);
  const afterSessions = await xacts();
  flooding = false;
  await Promise.all(real);
  return {
    tokens,
    concurrency,
    junk_answers: junkStatus,
    not_session_shaped: { tokens: half, auth_db_transactions: afterJunk - before },
    session_shaped: { tokens: tokens - half, auth_db_transactions: afterSessions - afterJunk },
    real_users: {
      baseline_p99_ms: round(pct(baseline, 99)),
      requests: latencies.length,
      by_status: statuses,
      p50_ms: round(pct(latencies, 50)),
      p99_ms: round(pct(latencies, 99)),
    },
  };
}
