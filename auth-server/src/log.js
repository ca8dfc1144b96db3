// JSON-lines logging. Nothing secret reaches a line: fields whose names look sensitive are
// replaced, and strings are scrubbed of bearer tokens, JWTs, cookies and URL passwords.

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 };
const SENSITIVE_KEY = /pass(word|wd)?$|password|secret|token|cookie|authori[sz]ation|private_?key|credential/i;
const REDACTED = '[redacted]';

/** @param {string} s */
export function scrub(s) {
  return s
    .replace(/\b(bearer|basic)\s+[^\s",;]+/gi, '$1 ' + REDACTED)
    .replace(/\beyJ[\w-]*\.[\w-]*\.[\w-]*/g, REDACTED) // compact JWS/JWT
    .replace(/(\w+:\/\/[^:/@\s]*:)[^@\s]*@/g, '$1' + REDACTED + '@') // user:password@ in URLs
    .replace(/((?:__Secure-)?better-auth\.[\w.]+=)[^;\s,]+/gi, '$1' + REDACTED) // cookie values
    .replace(/([?&](?:token|code|password|secret)=)[^&\s]+/gi, '$1' + REDACTED);
}

/**
 * Makes a value safe to log: sensitive keys redacted, strings scrubbed, errors reduced to
 * name/message/code, depth and size bounded.
 * @param {unknown} value
 * @param {number} [depth]
 * @returns {unknown}
 */
export function sanitize(value, depth = 0) {
  if (value === null || value === undefined) return value;
  if (typeof value === 'string') return scrub(value.length > 2000 ? value.slice(0, 2000) + '…' : value);
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value === 'bigint') return String(value);
  if (value instanceof Error) {
    /** @type {Record<string, unknown>} */
    const out = { name: value.name, message: scrub(value.message) };
    const code = /** @type {any} */ (value).code;
    if (code !== undefined) out.code = sanitize(code, depth + 1);
    if (value.cause !== undefined && depth < 3) out.cause = sanitize(value.cause, depth + 1);
    return out;
  }
  if (depth >= 4) return '[…]';
  if (Array.isArray(value)) return value.slice(0, 20).map((v) => sanitize(v, depth + 1));
  if (typeof value === 'object') {
    /** @type {Record<string, unknown>} */
    const out = {};
    for (const [k, v] of Object.entries(value).slice(0, 50)) {
      out[k] = SENSITIVE_KEY.test(k) ? REDACTED : sanitize(v, depth + 1);
    }
    return out;
  }
  return String(value);
}

/**
 * @typedef {{ debug: LogFn, info: LogFn, warn: LogFn, error: LogFn }} Logger
 * @typedef {(msg: string, fields?: Record<string, unknown>) => void} LogFn
 */

/**
 * @param {{ level?: string, write?: (line: string) => void, base?: Record<string, unknown> }} [opts]
 * @returns {Logger}
 */
export function createLogger({ level = 'info', write = (line) => process.stdout.write(line), base = {} } = {}) {
  const min = LEVELS[/** @type {keyof LEVELS} */ (level)] ?? LEVELS.info;
  /** @param {keyof LEVELS} lvl */
  const make = (lvl) => (msg, fields = {}) => {
    if (LEVELS[lvl] < min) return;
    const entry = {
      ts: new Date().toISOString(),
      level: lvl,
      service: 'auth-server',
      msg: scrub(String(msg)),
      ...base,
      .../** @type {object} */ (sanitize(fields)),
    };
    write(JSON.stringify(entry) + '\n');
  };
  return { debug: make('debug'), info: make('info'), warn: make('warn'), error: make('error') };
}
