// Entry point: configuration, database pool, migrations (under an advisory lock), then the HTTP
// server; SIGTERM/SIGINT drain in-flight requests and exit 0.
import pg from 'pg';
import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './log.js';
import { createAuth } from './auth.js';
import { migrate } from './migrate.js';
import { createServer } from './server.js';

async function main() {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      createLogger().error(err.message, { problems: err.problems });
      process.stderr.write(`auth-server: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
  const log = createLogger({ level: config.logLevel });
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 10, connectionTimeoutMillis: 5000 });
  pool.on('error', (err) => log.error('idle database connection failed', { error: err }));
  // pg emits 'error' on a checked-out client whose server goes away between two queries (a
  // database restart), and the pool listens only on idle ones: without this the process dies.
  // The broken client is dropped when it is released.
  pool.on('connect', (client) =>
    client.on('error', (err) => log.warn('database connection lost', { error: err })),
  );

  const { auth, options } = createAuth(config, pool, log);
  const app = createServer({ config, auth, pool, log });

  let stopping = false;
  const stop = async (/** @type {string} */ signal) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    await app.shutdown(config.shutdownTimeoutMs);
    await pool.end().catch(() => {});
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  // Listen first so /healthz answers while another replica holds the migration lock; /readyz and
  // /api/auth/* answer 503 until the schema and the signing key are in place.
  let address;
  try {
    address = await app.listen();
  } catch (err) {
    log.error('cannot listen', { error: err, host: config.host, port: config.port });
    await pool.end().catch(() => {});
    process.exit(1);
  }
  try {
    await migrate(pool, options, auth, log, config.jwtAlg);
  } catch (err) {
    log.error('migrations failed', { error: err });
    await app.shutdown(1000);
    await pool.end().catch(() => {});
    process.exit(1);
  }
  if (stopping) return;
  app.state.ready = true;
  log.info('ready', {
    address: address.address,
    port: address.port,
    base_url: config.baseUrl,
    jwt_issuer: config.jwtIssuer,
    jwt_audience: config.jwtAudience,
    jwt_alg: config.jwtAlg,
    jwt_expiration: config.jwtExpiration,
    jwt_key_rotation_interval_s: config.jwtRotationInterval ?? null,
    trusted_origins: config.trustedOrigins,
  });
}

main().catch((err) => {
  createLogger().error('fatal', { error: err });
  process.exit(1);
});
