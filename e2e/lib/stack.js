// The real stack for end-to-end tests: per-run databases and least-privilege roles on the
// machine's PostgreSQL, the Better Auth server (auth-server/) and the chatplane-api binary as
// child processes on free loopback ports. Everything started here is stopped by `stack.stop()`,
// which the tests register with `after`, so it runs on failure too.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
if (!process.env.TEST_DATABASE_URL) {
  throw new Error('TEST_DATABASE_URL is not set: run the suites with `make test`, which starts a private PostgreSQL');
}
/** The administrator's URL of the test server (a private cluster `make test` starts). */
export const ADMIN_URL = process.env.TEST_DATABASE_URL;
export const API_BIN =
  process.env.CHATPLANE_API_BIN ??
  `${process.env.CARGO_TARGET_DIR ?? `${homedir()}/.cache/chatplane/target`}/debug/chatplane-api`;
const AUTH_MAIN = `${ROOT}auth-server/src/main.js`;
/** The browser origin the stacks trust (a web app served elsewhere). */
export const WEB_ORIGIN = 'http://app.chatplane.test:5173';

export const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

/** @returns {Promise<number>} a loopback port that was free a moment ago */
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

/** @param {string} sql @param {unknown[]} [params] @param {string} [url] */
export async function query(sql, params = [], url = ADMIN_URL) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query(sql, params);
  } finally {
    await c.end();
  }
}

/** @param {string} dbName @param {string} [user] @param {string} [password] */
export function dbUrl(dbName, user, password) {
  const u = new URL(ADMIN_URL);
  u.pathname = `/${dbName}`;
  if (user !== undefined) {
    u.username = user;
    u.password = password ?? '';
  }
  return u.toString();
}

/**
 * A child process whose output is kept (for diagnostics and log assertions).
 * @param {string} name
 * @param {string} cmd
 * @param {string[]} args
 * @param {Record<string, string>} env
 */
export function startProcess(name, cmd, args, env) {
  const child = spawn(cmd, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  /** @type {number|null|undefined} */
  let exitCode;
  const exited = new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      exitCode = code ?? (signal ? -1 : null);
      resolve(exitCode);
    }),
  );
  return {
    name,
    child,
    pid: /** @type {number} */ (child.pid),
    output: () => output,
    alive: () => exitCode === undefined,
    exited,
    /** SIGTERM (or `signal`), then SIGKILL after `graceMs`; resolves with the exit code. */
    async stop(signal = /** @type {NodeJS.Signals} */ ('SIGTERM'), graceMs = 15000) {
      if (exitCode !== undefined) return exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/**
 * Polls `url` until it answers 2xx, while `proc` lives.
 * @param {string} url @param {ReturnType<typeof startProcess>} proc @param {number} [timeoutMs]
 */
export async function waitReady(url, proc, timeoutMs = 60000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!proc.alive()) throw new Error(`${proc.name} exited before ready:\n${proc.output().slice(-4000)}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  throw new Error(`${proc.name} not ready at ${url}:\n${proc.output().slice(-4000)}`);
}

/** The one provisioning SQL (also the operator's and `make dev`'s). */
export const PROVISION_SQL = `${ROOT}sql/provision.sql`;

/**
 * Runs sql/provision.sql with psql as the administrator: two roles, two databases, each
 * reachable by its own role only. Idempotent.
 * @param {{ authRole: string, authPassword: string, authDb: string, apiRole: string, apiPassword: string, apiDb: string }} db
 */
export function provisionDatabases(db) {
  const vars = {
    auth_role: db.authRole,
    auth_password: db.authPassword,
    auth_db: db.authDb,
    api_role: db.apiRole,
    api_password: db.apiPassword,
    api_db: db.apiDb,
  };
  const args = [ADMIN_URL, '-X', '-q', '-v', 'ON_ERROR_STOP=1'];
  for (const [name, value] of Object.entries(vars)) args.push('-v', `${name}=${value}`);
  args.push('-f', PROVISION_SQL);
  const run = spawnSync('psql', args, { encoding: 'utf8', timeout: 60000 });
  if (run.status !== 0) throw new Error(`provisioning ${db.authDb}/${db.apiDb} failed: ${run.error ?? ''}${run.stderr}`);
}

/**
 * Creates the two databases and roles of one stack (unique names so runs can overlap).
 * @param {string} label
 */
async function provision(label) {
  const base = `e2e_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}_${label}`;
  const db = {
    authRole: `${base}_auth`,
    authPassword: randomBytes(18).toString('hex'),
    apiRole: `${base}_api`,
    apiPassword: randomBytes(18).toString('hex'),
  };
  provisionDatabases({ ...db, authDb: db.authRole, apiDb: db.apiRole });
  return {
    ...db,
    authDb: db.authRole,
    apiDb: db.apiRole,
    authUrl: dbUrl(db.authRole, db.authRole, db.authPassword),
    apiUrl: dbUrl(db.apiRole, db.apiRole, db.apiPassword),
  };
}

/** @param {{ authDb: string, apiDb: string, authRole: string, apiRole: string }} db */
async function unprovision(db) {
  for (const name of [db.authDb, db.apiDb]) await query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  for (const role of [db.authRole, db.apiRole]) await query(`DROP ROLE IF EXISTS ${role}`);
}

/**
 * Starts a whole stack: databases, the auth server, `chatplane-api migrate`, the API.
 * @param {object} opts
 * @param {string} opts.label                short name for databases and diagnostics
 * @param {Record<string,string>} [opts.authEnv]   extra auth server environment
 * @param {Record<string,string>} [opts.apiEnv]    extra API environment
 * @param {number} [opts.authPort]   fixed ports, for callers that must know the origins up front
 * @param {number} [opts.apiPort]
 */
export async function startStack({ label, authEnv = {}, apiEnv = {}, authPort: fixedAuth, apiPort: fixedApi }) {
  const db = await provision(label);
  const authPort = fixedAuth ?? (await freePort());
  const apiPort = fixedApi ?? (await freePort());
  const authBase = `http://127.0.0.1:${authPort}`;
  const apiBase = `http://127.0.0.1:${apiPort}`;
  const issuer = `https://auth.${label}.chatplane.test`;
  const audience = 'chatplane-api';
  /** @type {ReturnType<typeof startProcess>[]} */
  const procs = [];

  const authEnvAll = {
    DATABASE_URL: db.authUrl,
    BETTER_AUTH_SECRET: randomBytes(32).toString('base64'),
    BETTER_AUTH_URL: authBase,
    JWT_ISSUER: issuer,
    JWT_AUDIENCE: audience,
    TRUSTED_ORIGINS: WEB_ORIGIN,
    HOST: '127.0.0.1',
    PORT: String(authPort),
    ...authEnv,
  };
  const stack = {
    label,
    db,
    authBase,
    apiBase,
    issuer,
    audience,
    /** @type {ReturnType<typeof startProcess>} */
    auth: /** @type {any} */ (undefined),
    /** @type {ReturnType<typeof startProcess>} */
    api: /** @type {any} */ (undefined),
    /** (Re)starts the auth server on the same port with the same secret and database. */
    async startAuth() {
      const proc = startProcess(`auth-server[${label}]`, process.execPath, [AUTH_MAIN], authEnvAll);
      procs.push(proc);
      stack.auth = proc;
      await waitReady(`${authBase}/readyz`, proc);
      return proc;
    },
    async stop() {
      for (const p of procs.reverse()) await p.stop();
      await unprovision(db);
    },
    /** Output of every process started, for a failing test's diagnostics. */
    logs(full = false) {
      return procs.map((p) => `--- ${p.name}\n${full ? p.output() : p.output().slice(-3000)}`).join('\n');
    },
  };

  try {
    await stack.startAuth();
    const migrate = spawnSync(API_BIN, ['migrate'], {
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: db.apiUrl },
      encoding: 'utf8',
      timeout: 60000,
    });
    if (migrate.status !== 0) throw new Error(`chatplane-api migrate failed: ${migrate.stderr}${migrate.stdout}`);
    const api = startProcess(`chatplane-api[${label}]`, API_BIN, ['serve'], {
      DATABASE_URL: db.apiUrl,
      AUTH_URL: authBase,
      AUTH_ISSUER: issuer,
      AUTH_AUDIENCE: audience,
      CORS_ALLOWED_ORIGINS: WEB_ORIGIN,
      LISTEN_ADDR: `127.0.0.1:${apiPort}`,
      METRICS_ADDR: '127.0.0.1:0',
      RAG_CORPUS_DIR: `${ROOT}docs`,
      ...apiEnv,
    });
    procs.push(api);
    stack.api = api;
    await waitReady(`${apiBase}/readyz`, api);
  } catch (err) {
    await stack.stop().catch(() => {});
    throw err;
  }
  return stack;
}

/** Decodes a compact JWS's header or payload (no verification: that is the API's job). */
export function decodeJwt(/** @type {string} */ token) {
  const [h, p] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString()),
    payload: JSON.parse(Buffer.from(p, 'base64url').toString()),
  };
}
