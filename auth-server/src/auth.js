// The Better Auth instance: email and password, the `jwt` plugin (JWKS at /api/auth/jwks, JWTs
// at /api/auth/token and in the `set-auth-jwt` header of get-session) and the `bearer` plugin
// (session token in `set-auth-token`, accepted back as `Authorization: Bearer`).
import { betterAuth } from 'better-auth';
import { bearer, jwt } from 'better-auth/plugins';

/**
 * @param {import('./config.js').Config} config
 * @param {import('pg').Pool} pool
 * @param {import('./log.js').Logger} log
 */
export function authOptions(config, pool, log) {
  return {
    appName: 'chatplane',
    baseURL: config.baseUrl,
    basePath: '/api/auth',
    secret: config.secret,
    database: pool,
    trustedOrigins: config.trustedOrigins,
    telemetry: { enabled: false },
    emailAndPassword: { enabled: true, autoSignIn: true },
    logger: {
      level: /** @type {any} */ (config.logLevel),
      /** @type {(level: string, message: string, ...args: unknown[]) => void} */
      log(level, message, ...args) {
        const fn = /** @type {any} */ (log)[level] ?? log.info;
        fn(message, args.length ? { source: 'better-auth', details: args } : { source: 'better-auth' });
      },
    },
    plugins: [
      jwt({
        jwks: {
          keyPairConfig: /** @type {any} */ (
            config.jwtAlg === 'EdDSA' ? { alg: 'EdDSA', crv: 'Ed25519' } : { alg: config.jwtAlg }
          ),
          rotationInterval: config.jwtRotationInterval,
          gracePeriod: config.jwtGracePeriod,
        },
        jwt: {
          issuer: config.jwtIssuer,
          audience: config.jwtAudience,
          expirationTime: config.jwtExpiration,
        },
      }),
      bearer(),
    ],
  };
}

/**
 * @param {import('./config.js').Config} config
 * @param {import('pg').Pool} pool
 * @param {import('./log.js').Logger} log
 * @returns {{ auth: any, options: ReturnType<typeof authOptions> }}
 */
export function createAuth(config, pool, log) {
  const options = authOptions(config, pool, log);
  return { auth: betterAuth(/** @type {any} */ (options)), options };
}
