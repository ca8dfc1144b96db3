// Configuration from the environment (DESIGN.md §7), validated in one place: every missing or
// malformed variable is collected and reported in a single error, so start-up fails once, clearly.

/** Algorithms the Better Auth `jwt` plugin can generate keys for (asymmetric only). */
export const JWT_ALGORITHMS = ['EdDSA', 'ES256', 'ES512', 'PS256', 'RS256'];

const TIME_SPAN =
  /^(\d+)\s*(s|sec|secs|second|seconds|m|min|mins|minute|minutes|h|hr|hrs|hour|hours|d|day|days)?$/i;

export class ConfigError extends Error {
  /** @param {string[]} problems */
  constructor(problems) {
    super(`invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/**
 * @typedef {object} Config
 * @property {string} databaseUrl
 * @property {string} secret
 * @property {string} baseUrl          BETTER_AUTH_URL as given (no trailing slash)
 * @property {string} ownOrigin        origin of BETTER_AUTH_URL
 * @property {string} jwtIssuer
 * @property {string} jwtAudience
 * @property {string} jwtExpiration    a time span Better Auth understands, e.g. "15m" or "90s"
 * @property {string} jwtAlg
 * @property {number|undefined} jwtRotationInterval  seconds; undefined = no rotation
 * @property {number} jwtGracePeriod   seconds a rotated-out key stays in the JWKS
 * @property {string[]} trustedOrigins
 * @property {string} host
 * @property {number} port
 * @property {number} shutdownTimeoutMs
 * @property {string} logLevel
 */

/**
 * Parses an origin ("scheme://host[:port]", nothing else).
 * @param {string} value
 * @returns {string|null} the normalised origin, or null when `value` is not an origin
 */
export function parseOrigin(value) {
  if (value.includes('*')) return null;
  let url;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  if (url.username || url.password || url.search || url.hash) return null;
  if (url.pathname !== '/' || value.replace(/\/$/, '') !== url.origin) return null;
  return url.origin;
}

/**
 * Turns JWT_EXPIRATION into a relative time span: a bare number means seconds (Better Auth would
 * read a bare number as an absolute `exp`, which is never what an operator means).
 * @param {string} value
 * @returns {string|null}
 */
export function parseTimeSpan(value) {
  const m = TIME_SPAN.exec(value.trim());
  if (!m || Number(m[1]) <= 0) return null;
  return m[2] ? `${m[1]}${m[2].toLowerCase()}` : `${m[1]}s`;
}

function positiveInt(value) {
  return /^\d+$/.test(value) && Number(value) > 0 && Number.isSafeInteger(Number(value))
    ? Number(value)
    : null;
}

/**
 * @param {Record<string, string|undefined>} env
 * @returns {Config}
 * @throws {ConfigError} naming every missing or malformed variable
 */
export function loadConfig(env) {
  /** @type {string[]} */
  const problems = [];
  const get = (name) => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };

  const databaseUrl = get('DATABASE_URL');
  if (!databaseUrl) problems.push('DATABASE_URL is required (postgres://user:password@host:port/db)');
  else if (!/^postgres(ql)?:\/\//.test(databaseUrl))
    problems.push('DATABASE_URL must be a postgres:// or postgresql:// URL');

  const secret = get('BETTER_AUTH_SECRET');
  if (!secret)
    problems.push(
      'BETTER_AUTH_SECRET is required (at least 32 random characters, e.g. `openssl rand -base64 32`); ' +
        'keep it: changing it makes the stored signing keys undecryptable',
    );
  else if (secret.length < 32) problems.push('BETTER_AUTH_SECRET must be at least 32 characters long');

  const baseUrlRaw = get('BETTER_AUTH_URL');
  let baseUrl = '';
  let ownOrigin = '';
  if (!baseUrlRaw) {
    problems.push('BETTER_AUTH_URL is required (the public base URL of this server, e.g. https://auth.example.com)');
  } else {
    try {
      const u = new URL(baseUrlRaw);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
      baseUrl = baseUrlRaw.replace(/\/+$/, '');
      ownOrigin = u.origin;
    } catch {
      problems.push(`BETTER_AUTH_URL must be an http(s) URL, got ${JSON.stringify(baseUrlRaw)}`);
    }
  }

  const jwtIssuer = get('JWT_ISSUER') ?? ownOrigin;
  const jwtAudience = get('JWT_AUDIENCE') ?? ownOrigin;

  const expirationRaw = get('JWT_EXPIRATION') ?? '15m';
  const jwtExpiration = parseTimeSpan(expirationRaw);
  if (!jwtExpiration)
    problems.push(`JWT_EXPIRATION must be a positive duration such as 900, 90s, 15m or 1h, got ${JSON.stringify(expirationRaw)}`);

  const jwtAlg = get('JWT_ALG') ?? 'EdDSA';
  if (!JWT_ALGORITHMS.includes(jwtAlg))
    problems.push(`JWT_ALG must be one of ${JWT_ALGORITHMS.join(', ')}, got ${JSON.stringify(jwtAlg)}`);

  let jwtRotationInterval;
  const rotationRaw = get('JWT_KEY_ROTATION_INTERVAL');
  if (rotationRaw !== undefined) {
    jwtRotationInterval = positiveInt(rotationRaw) ?? undefined;
    if (jwtRotationInterval === undefined)
      problems.push(`JWT_KEY_ROTATION_INTERVAL must be a positive number of seconds, got ${JSON.stringify(rotationRaw)}`);
  }
  const graceRaw = get('JWT_KEY_GRACE_PERIOD') ?? String(30 * 24 * 3600);
  const jwtGracePeriod = positiveInt(graceRaw) ?? 0;
  if (!jwtGracePeriod)
    problems.push(`JWT_KEY_GRACE_PERIOD must be a positive number of seconds, got ${JSON.stringify(graceRaw)}`);

  /** @type {string[]} */
  const trustedOrigins = [];
  for (const item of (get('TRUSTED_ORIGINS') ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const origin = parseOrigin(item);
    if (!origin)
      problems.push(`TRUSTED_ORIGINS must be a comma list of exact origins like https://app.example.com (no "*", no path), got ${JSON.stringify(item)}`);
    else if (!trustedOrigins.includes(origin)) trustedOrigins.push(origin);
  }

  const portRaw = get('PORT') ?? '3000';
  const port = /^\d+$/.test(portRaw) ? Number(portRaw) : NaN;
  if (!(port >= 0 && port <= 65535)) problems.push(`PORT must be a port number (0-65535), got ${JSON.stringify(portRaw)}`);

  const host = get('HOST') ?? '0.0.0.0';

  const shutdownRaw = get('SHUTDOWN_TIMEOUT_SECONDS') ?? '25';
  const shutdownSeconds = positiveInt(shutdownRaw);
  if (!shutdownSeconds)
    problems.push(`SHUTDOWN_TIMEOUT_SECONDS must be a positive number of seconds, got ${JSON.stringify(shutdownRaw)}`);

  const logLevel = (get('LOG_LEVEL') ?? 'info').toLowerCase();
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel))
    problems.push(`LOG_LEVEL must be one of debug, info, warn, error, got ${JSON.stringify(logLevel)}`);

  if (problems.length) throw new ConfigError(problems);
  return {
    databaseUrl: /** @type {string} */ (databaseUrl),
    secret: /** @type {string} */ (secret),
    baseUrl,
    ownOrigin,
    jwtIssuer,
    jwtAudience,
    jwtExpiration: /** @type {string} */ (jwtExpiration),
    jwtAlg,
    jwtRotationInterval,
    jwtGracePeriod,
    trustedOrigins,
    host,
    port,
    shutdownTimeoutMs: /** @type {number} */ (shutdownSeconds) * 1000,
    logLevel,
  };
}
