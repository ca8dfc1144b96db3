// Better Auth's tables, created at start-up without prompts. A PostgreSQL advisory lock held on
// one dedicated connection serialises replicas that start at once: the second waits, then finds
// nothing left to do. The first signing key is created under the same lock, so two replicas never
// race to mint two.
import { getMigrations } from 'better-auth/db/migration';

/** Arbitrary but fixed: "chatplane auth migrations". */
export const MIGRATION_LOCK_KEY = 0x63_68_61_74_61_75_74;

/**
 * @param {import('pg').Pool} pool
 * @param {object} options           the Better Auth options (database = pool)
 * @param {{ api: { getJwks: Function } }} auth
 * @param {import('./log.js').Logger} log
 * @param {string} alg               the configured JWT_ALG
 * @returns {Promise<{ created: string[], altered: string[] }>}
 */
export async function migrate(pool, options, auth, log, alg) {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      const { toBeCreated, toBeAdded, runMigrations } = await getMigrations(/** @type {any} */ (options));
      const created = toBeCreated.map((t) => t.table);
      const altered = toBeAdded.map((t) => t.table);
      if (created.length || altered.length) {
        log.info('applying migrations', { create_tables: created, add_columns_to: altered });
        await runMigrations();
      } else {
        log.info('schema up to date');
      }
      // Lists the keys and creates the first one when there is none.
      const jwks = await auth.api.getJwks();
      log.info('signing keys ready', { keys: jwks.keys.map((k) => ({ kid: k.kid, alg: k.alg })) });
      if (!jwks.keys.some((k) => k.alg === alg)) {
        log.warn('no stored signing key uses JWT_ALG; tokens are signed with the newest existing key until it expires', {
          configured_alg: alg,
        });
      }
      return { created, altered };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    client.release();
  }
}
