// Better Auth sets no CORS headers, so this layer does: exact TRUSTED_ORIGINS only, credentials
// allowed, the token headers exposed, preflight answered and cached. A request carrying any other
// Origin (other than this server's own) is refused before it reaches Better Auth.

export const EXPOSED_HEADERS = ['set-auth-jwt', 'set-auth-token', 'x-request-id'];
export const ALLOWED_METHODS = 'GET, POST, PUT, PATCH, DELETE, OPTIONS';
export const DEFAULT_ALLOWED_HEADERS = 'authorization, content-type, x-request-id';
export const PREFLIGHT_MAX_AGE = 600;
const HEADER_LIST = /^[A-Za-z0-9-]+(\s*,\s*[A-Za-z0-9-]+)*$/;

/**
 * @param {{ trustedOrigins: string[], ownOrigin: string }} config
 * @returns {(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => 'handled' | 'refused' | 'next'}
 *   'handled': a preflight was answered; 'refused': a 403 was sent; 'next': go on (headers set)
 */
export function createCors({ trustedOrigins, ownOrigin }) {
  const trusted = new Set(trustedOrigins);
  return (req, res) => {
    const origin = req.headers.origin;
    res.setHeader('Vary', 'Origin');
    if (origin === undefined) return 'next';
    const isPreflight = req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined;
    if (!trusted.has(origin)) {
      if (origin === ownOrigin && !isPreflight) return 'next';
      res.writeHead(403, { 'content-type': 'application/problem+json' });
      res.end(JSON.stringify({ type: 'about:blank', title: 'Forbidden', status: 403, detail: 'origin not allowed' }));
      return 'refused';
    }
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Access-Control-Allow-Credentials', 'true');
    if (isPreflight) {
      const requested = req.headers['access-control-request-headers'];
      res.setHeader('Access-Control-Allow-Methods', ALLOWED_METHODS);
      res.setHeader(
        'Access-Control-Allow-Headers',
        typeof requested === 'string' && HEADER_LIST.test(requested) ? requested : DEFAULT_ALLOWED_HEADERS,
      );
      res.setHeader('Access-Control-Max-Age', String(PREFLIGHT_MAX_AGE));
      res.writeHead(204);
      res.end();
      return 'handled';
    }
    // Better Auth's plugins write their own Access-Control-Expose-Headers (naming only their own
    // header); merge ours into whatever is there when the head is written.
    const writeHead = res.writeHead;
    res.writeHead = /** @type {any} */ (
      function (/** @type {any[]} */ ...args) {
        const current = String(res.getHeader('access-control-expose-headers') ?? '');
        const names = new Set(
          [...current.split(','), ...EXPOSED_HEADERS].map((h) => h.trim().toLowerCase()).filter(Boolean),
        );
        res.setHeader('Access-Control-Expose-Headers', [...names].join(', '));
        res.setHeader('Access-Control-Allow-Origin', origin);
        res.setHeader('Access-Control-Allow-Credentials', 'true');
        return writeHead.apply(res, /** @type {any} */ (args));
      }
    );
    return 'next';
  };
}
