// `make dev` (scripts/dev.sh) exercised for real, so it cannot silently rot: it comes up on a
// fresh directory with a private PostgreSQL, both ports answer, its printed curl session works,
// Ctrl-C stops everything it started, and a second run reuses what the first made.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ADMIN_URL, API_BIN, freePort, query, ROOT, sleep, startProcess } from '../lib/stack.js';

const devDir = mkdtempSync(join(tmpdir(), 'chatplane-dev-e2e-'));

/** @param {number} port */
async function portOpen(port) {
  try {
    await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) });
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts scripts/dev.sh and waits for its banner.
 * @param {{ auth: number, api: number, pg: number }} ports
 * @param {Record<string, string>} [extraEnv]
 */
async function startDev(ports, extraEnv = {}) {
  const proc = startProcess('make dev', 'bash', ['scripts/dev.sh'], {
    ...extraEnv,
    DEV_DIR: devDir,
    AUTH_PORT: String(ports.auth),
    API_PORT: String(ports.api),
    DEV_PG_PORT: String(ports.pg),
    CHATPLANE_API_BIN: API_BIN,
  });
  const deadline = Date.now() + 180000;
  while (!proc.output().includes('chatplane is up')) {
    if (!proc.alive()) throw new Error(`dev.sh exited early:\n${proc.output()}`);
    if (Date.now() > deadline) {
      await proc.stop('SIGINT');
      throw new Error(`dev.sh did not come up:\n${proc.output()}`);
    }
    await sleep(250);
  }
  return proc;
}

/** The curl session dev.sh printed, run as a user would paste it. */
function runCurlSession(/** @type {string} */ output) {
  const m = /^# --- curl session ---\n([\s\S]*?)^# --- end ---$/m.exec(output);
  assert.ok(m, 'dev.sh prints a curl session');
  return spawnSync('bash', ['-c', `set -u\n${m[1]}`], { encoding: 'utf8', timeout: 60000 });
}

/** @param {string} dataDir */
function postgresRunning(dataDir) {
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return false;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('make dev', () => {
  /** @type {ReturnType<typeof startProcess>|undefined} */
  let current;
  after(async () => {
    if (current) await current.stop('SIGINT', 60000);
    rmSync(devDir, { recursive: true, force: true });
  });

  test('comes up, answers on both ports, its curl session works, and Ctrl-C stops all it started', async () => {
    const ports = { auth: await freePort(), api: await freePort(), pg: await freePort() };
    current = await startDev(ports);
    const out = current.output();
    assert.match(out, new RegExp(`http://localhost:${ports.auth}`));
    assert.match(out, new RegExp(`http://localhost:${ports.api}`));
    for (const port of [ports.auth, ports.api]) {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`);
      assert.equal(res.status, 200, `port ${port} ready`);
    }

    const session = runCurlSession(out);
    assert.equal(session.status, 0, session.stderr);
    assert.match(session.stdout, /"title":"My first conversation"/);
    assert.match(session.stdout, /"created_at"/);

    const dataDir = join(devDir, 'pg', 'data');
    assert.ok(postgresRunning(dataDir), 'the private PostgreSQL runs from the project directory');
    const secrets = readFileSync(join(devDir, 'secrets.env'), 'utf8');

    const code = await current.stop('SIGINT', 60000);
    assert.equal(code, 0, current.output());
    assert.match(current.output(), /\[dev\].*stopped/);
    assert.equal(await portOpen(ports.auth), false, 'auth server stopped');
    assert.equal(await portOpen(ports.api), false, 'API stopped');
    assert.equal(postgresRunning(dataDir), false, 'PostgreSQL stopped');
    const leftovers = spawnSync('bash', ['-c', `ps -eo args | grep -F -- "${devDir}" | grep -v grep || true`], {
      encoding: 'utf8',
    });
    assert.equal(leftovers.stdout.trim(), '', 'no process of the stack is left');

    // Second run: same directory, same secrets, same databases, nothing duplicated.
    current = await startDev(ports);
    assert.ok(!current.output().includes('initialising'), 'the cluster is reused');
    assert.equal(readFileSync(join(devDir, 'secrets.env'), 'utf8'), secrets, 'secrets are kept');
    const authPw = /^AUTH_DB_PASSWORD=(.*)$/m.exec(secrets)?.[1];
    const url = `postgres://chatplane_auth:${authPw}@127.0.0.1:${ports.pg}/chatplane_auth`;
    const dbs = await query("SELECT datname FROM pg_database WHERE datname LIKE 'chatplane%' ORDER BY 1", [], url);
    assert.deepEqual(dbs.rows.map((r) => r.datname), ['chatplane_api', 'chatplane_auth']);
    const users = await query('SELECT count(*)::int AS n FROM "user"', [], url);
    assert.equal(users.rows[0].n, 1, "the first run's user is still there");
    const second = runCurlSession(current.output());
    assert.equal(second.status, 0, second.stderr);
    assert.match(second.stdout, /"title":"My first conversation"/);

    // A second `make dev` while one runs refuses without disturbing it.
    const clash = spawnSync('bash', ['scripts/dev.sh'], {
      cwd: ROOT,
      env: { ...process.env, DEV_DIR: devDir, AUTH_PORT: String(ports.auth), API_PORT: String(ports.api), DEV_PG_PORT: String(ports.pg), CHATPLANE_API_BIN: API_BIN },
      encoding: 'utf8',
      timeout: 60000,
    });
    assert.notEqual(clash.status, 0);
    assert.match(clash.stderr, /already in use/);
    assert.equal((await fetch(`http://127.0.0.1:${ports.api}/readyz`)).status, 200, 'the running stack is undisturbed');

    assert.equal(await current.stop('SIGINT', 60000), 0, current.output());
    current = undefined;
    assert.equal(postgresRunning(dataDir), false);
  });

  test('with DATABASE_URL it provisions least-privilege databases on that server instead', async () => {
    const prefix = `e2e_dev_${randomBytes(4).toString('hex')}`;
    const ports = { auth: await freePort(), api: await freePort(), pg: await freePort() };
    try {
      current = await startDev(ports, { DATABASE_URL: ADMIN_URL, DEV_DB_PREFIX: prefix });
      assert.match(current.output(), /using the PostgreSQL server at/);
      const session = runCurlSession(current.output());
      assert.equal(session.status, 0, session.stderr);
      assert.match(session.stdout, /"title":"My first conversation"/);
      const { rows } = await query('SELECT datname FROM pg_database WHERE datname LIKE $1 ORDER BY 1', [`${prefix}%`]);
      assert.deepEqual(rows.map((r) => r.datname), [`${prefix}_api`, `${prefix}_auth`]);
      const stored = await query('SELECT title FROM conversations', [], ADMIN_URL.replace(/\/[^/]*$/, `/${prefix}_api`));
      assert.deepEqual(stored.rows, [{ title: 'My first conversation' }]);
      assert.equal(await current.stop('SIGINT', 60000), 0, current.output());
      current = undefined;
      assert.equal(await portOpen(ports.auth), false);
      assert.equal(await portOpen(ports.api), false);
    } finally {
      for (const suffix of ['auth', 'api']) {
        await query(`DROP DATABASE IF EXISTS ${prefix}_${suffix} WITH (FORCE)`);
        await query(`DROP ROLE IF EXISTS ${prefix}_${suffix}`);
      }
    }
  });
});
