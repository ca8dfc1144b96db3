// The HTTP server: CORS, request ids and access logs around Better Auth's handler at /api/auth/*,
// plus /healthz and /readyz.
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { toNodeHandler } from 'better-auth/node';
import { createCors } from './cors.js';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * @param {import('node:http').ServerResponse} res
 * @param {number} status
 * @param {unknown} body
 * @param {string} [type]
 */
function sendJson(res, status, body, type = 'application/json') {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

/** @param {number} status @param {string} title @param {string} detail */
function problem(res, status, title, detail) {
  sendJson(res, status, { type: 'about:blank', title, status, detail }, 'application/problem+json');
}

/**
 * @param {object} deps
 * @param {import('./config.js').Config} deps.config
 * @param {{ handler: (req: Request) => Promise<Response> }} deps.auth
 * @param {import('pg').Pool} deps.pool
 * @param {import('./log.js').Logger} deps.log
 */
export function createServer({ config, auth, pool, log }) {
  const cors = createCors(config);
  const authHandler = toNodeHandler(auth);
  const state = { ready: false, shuttingDown: false };

  async function databaseReachable() {
    const client = await pool.connect();
    try {
      await client.query({ text: 'SELECT 1', query_timeout: 2000 });
      return true;
    } finally {
      client.release();
    }
  }

  const server = http.createServer(async (req, res) => {
    const started = process.hrtime.bigint();
    const incoming = req.headers['x-request-id'];
    const requestId = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.setHeader('X-Request-Id', requestId);
    if (state.shuttingDown) res.setHeader('Connection', 'close');
    const path = (req.url ?? '/').split('?')[0];
    res.on('finish', () => {
      // A keep-alive connection whose request finished during shutdown is closed now, so the
      // server does not wait for the keep-alive timeout.
      if (state.shuttingDown) setImmediate(() => server.closeIdleConnections());
      const fields = {
        request_id: requestId,
        method: req.method,
        path,
        status: res.statusCode,
        duration_ms: Number(process.hrtime.bigint() - started) / 1e6,
      };
      if (path === '/healthz' || path === '/readyz') log.debug('request', fields);
      else if (res.statusCode >= 500) log.error('request', fields);
      else if (res.statusCode === 401 || res.statusCode === 403) log.warn('request', fields);
      else log.info('request', fields);
    });

    try {
      if (cors(req, res) !== 'next') return;
      if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
        return sendJson(res, 200, { status: 'ok' });
      }
      if (path === '/readyz' && (req.method === 'GET' || req.method === 'HEAD')) {
        if (state.shuttingDown) return sendJson(res, 503, { status: 'shutting down' });
        if (!state.ready) return sendJson(res, 503, { status: 'starting' });
        try {
          await databaseReachable();
        } catch (err) {
          log.warn('readiness check failed', { request_id: requestId, error: err });
          return sendJson(res, 503, { status: 'database unreachable' });
        }
        return sendJson(res, 200, { status: 'ready' });
      }
      if (path === '/api/auth' || path.startsWith('/api/auth/')) {
        if (!state.ready) return problem(res, 503, 'Service Unavailable', 'starting');
        return await authHandler(req, res);
      }
      return problem(res, 404, 'Not Found', 'no such route');
    } catch (err) {
      log.error('unhandled error', { request_id: requestId, error: err });
      if (!res.headersSent) problem(res, 500, 'Internal Server Error', 'see the server log, request id ' + requestId);
      else res.destroy();
    }
  });
  server.keepAliveTimeout = 5000;

  /** @returns {Promise<import('node:net').AddressInfo>} */
  function listen() {
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => {
        server.off('error', reject);
        resolve(/** @type {import('node:net').AddressInfo} */ (server.address()));
      });
    });
  }

  /**
   * Stops taking new connections, lets in-flight requests finish (bounded), then resolves.
   * @param {number} timeoutMs
   */
  function shutdown(timeoutMs) {
    state.shuttingDown = true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        log.warn('shutdown timeout reached, closing remaining connections');
        server.closeAllConnections();
      }, timeoutMs);
      timer.unref();
      server.close(() => {
        clearTimeout(timer);
        resolve(undefined);
      });
      server.closeIdleConnections();
    });
  }

  return { server, state, listen, shutdown };
}
