// Test helpers: a fresh database per test on the machine's PostgreSQL, and the real auth server
// started as a child process (stopped by the test, even on failure).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

if (!process.env.TEST_DATABASE_URL) {
  throw new Error('TEST_DATABASE_URL is not set: run the suites with `make test`, which starts a private PostgreSQL');
}
/** The administrator's URL of the test server (a private cluster `make test` starts). */
export const ADMIN_URL = process.env.TEST_DATABASE_URL;
const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));
export const SECRET = randomBytes(32).toString('base64');

/** @param {string} dbName */
export function urlFor(dbName) {
  const u = new URL(ADMIN_URL);
  u.pathname = '/' + dbName;
  return u.toString();
}

/**
 * Creates a uniquely named database and registers its removal.
 * @param {import('node:test').TestContext} t
 */
export async function freshDatabase(t) {
  const name = `authsrv_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  t.after(async () => {
    const c = new pg.Client({ connectionString: ADMIN_URL });
    await c.connect();
    try {
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    } finally {
      await c.end();
    }
  });
  return urlFor(name);
}

/**
 * Runs the auth server until it exits; resolves with its exit code and output.
 * @param {Record<string, string>} env
 * @param {number} [timeoutMs]
 */
export function runToExit(env, timeoutMs = 15000) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN], { env: { PATH: process.env.PATH ?? '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('auth server did not exit'));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** @returns {Promise<number>} a port that was free a moment ago */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (srv.address());
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts the auth server on a free port and waits for its "ready" line.
 * @param {import('node:test').TestContext} t
 * @param {Record<string, string>} env   merged over a valid default configuration
 */
export async function startAuthServer(t, env) {
  const chosen = await freePort();
  const child = spawn(process.execPath, [MAIN], {
    env: {
      PATH: process.env.PATH ?? '',
      BETTER_AUTH_SECRET: SECRET,
      BETTER_AUTH_URL: `http://127.0.0.1:${chosen}`,
      HOST: '127.0.0.1',
      PORT: String(chosen),
      ...env,
    },
  });
  /** @type {Record<string, any>[]} */
  const lines = [];
  let raw = '';
  let buf = '';
  let exited = false;
  /** @type {Promise<number|null>} */
  const exit = new Promise((resolve) => child.on('exit', (code) => ((exited = true), resolve(code))));
  const ready = new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      raw += d;
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          const entry = JSON.parse(line);
          lines.push(entry);
          if (entry.msg === 'ready') resolve(entry.port);
        } catch {
          lines.push({ unparsed: line });
        }
      }
    });
    child.stderr.on('data', (d) => (raw += d));
    exit.then((code) => reject(new Error(`auth server exited (${code}) before ready:\n${raw}`)));
    setTimeout(() => reject(new Error(`auth server not ready in time:\n${raw}`)), 20000).unref();
  });
  const stop = async () => {
    if (exited) return exit;
    child.kill('SIGTERM');
    const t2 = setTimeout(() => child.kill('SIGKILL'), 10000);
    const code = await exit;
    clearTimeout(t2);
    return code;
  };
  t.after(stop);
  const port = /** @type {number} */ (await ready);
  return { url: `http://127.0.0.1:${port}`, port, lines, output: () => raw, stop, child };
}

/**
 * Signs a new user up; returns the session token, the user and the response.
 * @param {string} base
 * @param {{ email?: string, password?: string, name?: string }} [who]
 */
export async function signUp(base, who = {}) {
  const email = who.email ?? `user-${randomBytes(6).toString('hex')}@example.com`;
  const password = who.password ?? `pw-${randomBytes(9).toString('hex')}`;
  const name = who.name ?? 'Test User';
  const res = await fetch(`${base}/api/auth/sign-up/email`, {
    method: 'POST',
    // Node's fetch sends Sec-Fetch-Mode like a browser, so Better Auth's CSRF check wants an Origin.
    headers: { 'content-type': 'application/json', origin: new URL(base).origin },
    body: JSON.stringify({ email, password, name }),
  });
  const body = await res.json();
  if (res.status !== 200) throw new Error(`sign-up failed: ${res.status} ${JSON.stringify(body)}`);
  return { token: body.token, user: body.user, email, password, name, res };
}
