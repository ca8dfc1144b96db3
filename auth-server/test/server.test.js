// The real auth server against a real PostgreSQL: start-up, migrations with two replicas, JWTs
// verified against its JWKS, key rotation, CORS, health, logs and shutdown.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import net from 'node:net';
import pg from 'pg';
import { ADMIN_URL, freshDatabase, runToExit, signUp, startAuthServer } from './helpers.js';

test('start-up without BETTER_AUTH_SECRET and BETTER_AUTH_URL fails naming both', async () => {
  const { code, stdout, stderr } = await runToExit({ DATABASE_URL: 'postgres://u@127.0.0.1:1/x' });
  assert.equal(code, 2);
  assert.match(stderr, /BETTER_AUTH_SECRET is required/);
  assert.match(stderr, /BETTER_AUTH_URL is required/);
  const entry = JSON.parse(stdout.trim().split('\n').at(-1) ?? '');
  assert.equal(entry.level, 'error');
  assert.equal(entry.problems.length, 2);
});

test('two replicas starting at once on an empty database both become ready, with one signing key', async (t) => {
  const db = await freshDatabase(t);
  const env = { DATABASE_URL: db, JWT_ISSUER: 'iss-test', JWT_AUDIENCE: 'aud-test' };
  const [a, b] = await Promise.all([startAuthServer(t, env), startAuthServer(t, env)]);
  for (const s of [a, b]) {
    const r = await fetch(`${s.url}/readyz`);
    assert.equal(r.status, 200);
  }
  const migrated = [a, b].filter((s) => s.lines.some((l) => l.msg === 'applying migrations'));
  assert.equal(migrated.length, 1, 'exactly one replica applied the migrations');
  const jwks = await (await fetch(`${a.url}/api/auth/jwks`)).json();
  assert.equal(jwks.keys.length, 1);
  assert.deepEqual(jwks, await (await fetch(`${b.url}/api/auth/jwks`)).json());

  const c = new pg.Client({ connectionString: db });
  await c.connect();
  try {
    const { rows } = await c.query(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    );
    assert.deepEqual(rows.map((r) => r.table_name), ['account', 'jwks', 'session', 'user', 'verification']);
  } finally {
    await c.end();
  }

  // A restart on the migrated database has nothing to do.
  await a.stop();
  const again = await startAuthServer(t, env);
  assert.ok(again.lines.some((l) => l.msg === 'schema up to date'));
  assert.equal((await (await fetch(`${again.url}/api/auth/jwks`)).json()).keys.length, 1);
});

test('sign-up yields a session token and EdDSA JWTs (token endpoint and set-auth-jwt) that verify with the configured iss/aud', async (t) => {
  const db = await freshDatabase(t);
  const s = await startAuthServer(t, { DATABASE_URL: db, JWT_ISSUER: 'https://auth.test', JWT_AUDIENCE: 'chatplane-api' });
  const who = await signUp(s.url, { name: 'Ada Lovelace' });
  assert.ok(who.token);
  assert.equal(who.res.headers.get('set-auth-token')?.split('.')[0], who.token);

  const keys = createLocalJWKSet(await (await fetch(`${s.url}/api/auth/jwks`)).json());
  const tokenRes = await fetch(`${s.url}/api/auth/token`, { headers: { authorization: `Bearer ${who.token}` } });
  assert.equal(tokenRes.status, 200);
  const { token: jwt } = await tokenRes.json();
  const sessionRes = await fetch(`${s.url}/api/auth/get-session`, { headers: { authorization: `Bearer ${who.token}` } });
  assert.equal(sessionRes.status, 200);
  const headerJwt = sessionRes.headers.get('set-auth-jwt');
  assert.ok(headerJwt);

  for (const token of [jwt, headerJwt]) {
    assert.equal(decodeProtectedHeader(token).alg, 'EdDSA');
    const { payload } = await jwtVerify(token, keys, { issuer: 'https://auth.test', audience: 'chatplane-api' });
    assert.equal(payload.sub, who.user.id);
    assert.equal(payload.email, who.email);
    assert.equal(payload.name, 'Ada Lovelace');
    assert.equal(/** @type {number} */ (payload.exp) - /** @type {number} */ (payload.iat), 15 * 60);
  }
  await assert.rejects(jwtVerify(jwt, keys, { issuer: 'https://auth.test', audience: 'someone-else' }));

  // A wrong password is refused; the right one signs in.
  const bad = await fetch(`${s.url}/api/auth/sign-in/email`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: s.url },
    body: JSON.stringify({ email: who.email, password: 'not-the-password' }),
  });
  assert.equal(bad.status, 401);
  const good = await fetch(`${s.url}/api/auth/sign-in/email`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: s.url },
    body: JSON.stringify({ email: who.email, password: who.password }),
  });
  assert.equal(good.status, 200);

  // Logs carry no password, session token, JWT or cookie.
  const out = s.output();
  for (const secret of [who.password, who.token, jwt, headerJwt, 'not-the-password']) {
    assert.ok(!out.includes(/** @type {string} */ (secret)), 'a secret reached the log');
  }
  assert.ok(!/session_token=/.test(out));
  assert.ok(s.lines.some((l) => l.msg === 'request' && l.path === '/api/auth/sign-up/email' && l.status === 200));
});

test('JWT_ALG and JWT_EXPIRATION are honoured', async (t) => {
  const db = await freshDatabase(t);
  const s = await startAuthServer(t, { DATABASE_URL: db, JWT_ALG: 'ES256', JWT_EXPIRATION: '90' });
  const jwks = await (await fetch(`${s.url}/api/auth/jwks`)).json();
  assert.equal(jwks.keys[0].alg, 'ES256');
  const who = await signUp(s.url);
  const { token } = await (await fetch(`${s.url}/api/auth/token`, { headers: { authorization: `Bearer ${who.token}` } })).json();
  assert.equal(decodeProtectedHeader(token).alg, 'ES256');
  const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), { issuer: s.url, audience: s.url });
  assert.equal(/** @type {number} */ (payload.exp) - /** @type {number} */ (payload.iat), 90);
});

test('with key rotation, a new key signs after the interval and the old one stays published', async (t) => {
  const db = await freshDatabase(t);
  const s = await startAuthServer(t, { DATABASE_URL: db, JWT_KEY_ROTATION_INTERVAL: '2' });
  const who = await signUp(s.url);
  const getJwt = async () =>
    (await (await fetch(`${s.url}/api/auth/token`, { headers: { authorization: `Bearer ${who.token}` } })).json()).token;
  const first = await getJwt();
  await new Promise((r) => setTimeout(r, 2500));
  const second = await getJwt();
  const kid1 = decodeProtectedHeader(first).kid;
  const kid2 = decodeProtectedHeader(second).kid;
  assert.notEqual(kid1, kid2);
  const jwks = await (await fetch(`${s.url}/api/auth/jwks`)).json();
  assert.deepEqual(new Set(jwks.keys.map((k) => k.kid)), new Set([kid1, kid2]));
  const keys = createLocalJWKSet(jwks);
  for (const token of [first, second]) await jwtVerify(token, keys);
});

test('CORS: trusted origins get credentials and exposed headers, others are refused', async (t) => {
  const db = await freshDatabase(t);
  const s = await startAuthServer(t, { DATABASE_URL: db, TRUSTED_ORIGINS: 'http://app.test:5173' });
  const pre = await fetch(`${s.url}/api/auth/sign-in/email`, {
    method: 'OPTIONS',
    headers: {
      origin: 'http://app.test:5173',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type, authorization',
    },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), 'http://app.test:5173');
  assert.equal(pre.headers.get('access-control-allow-credentials'), 'true');
  assert.match(pre.headers.get('access-control-allow-methods') ?? '', /POST/);
  assert.match(pre.headers.get('access-control-allow-headers') ?? '', /authorization/);
  assert.equal(pre.headers.get('access-control-max-age'), '600');

  const evil = await fetch(`${s.url}/api/auth/sign-in/email`, {
    method: 'OPTIONS',
    headers: { origin: 'http://evil.test', 'access-control-request-method': 'POST' },
  });
  assert.equal(evil.status, 403);
  assert.equal(evil.headers.get('access-control-allow-origin'), null);

  const who = await signUp(s.url);
  const session = await fetch(`${s.url}/api/auth/get-session`, {
    headers: { origin: 'http://app.test:5173', authorization: `Bearer ${who.token}` },
  });
  assert.equal(session.status, 200);
  assert.equal(session.headers.get('access-control-allow-origin'), 'http://app.test:5173');
  const exposed = (session.headers.get('access-control-expose-headers') ?? '').split(',').map((h) => h.trim());
  assert.ok(exposed.includes('set-auth-jwt') && exposed.includes('set-auth-token'), exposed.join());
  assert.ok(session.headers.get('set-auth-jwt'));

  const cross = await fetch(`${s.url}/api/auth/get-session`, {
    headers: { origin: 'http://evil.test', authorization: `Bearer ${who.token}` },
  });
  assert.equal(cross.status, 403);
  assert.equal(cross.headers.get('set-auth-jwt'), null);
});

test('health, readiness, unknown routes and SIGTERM', async (t) => {
  const db = await freshDatabase(t);
  const s = await startAuthServer(t, { DATABASE_URL: db });
  assert.deepEqual(await (await fetch(`${s.url}/healthz`)).json(), { status: 'ok' });
  const ready = await fetch(`${s.url}/readyz`);
  assert.equal(ready.status, 200);
  assert.ok(ready.headers.get('x-request-id'));
  const missing = await fetch(`${s.url}/nope`);
  assert.equal(missing.status, 404);
  assert.equal(missing.headers.get('content-type'), 'application/problem+json');
  assert.equal(await s.stop(), 0);
  assert.ok(s.lines.some((l) => l.msg === 'stopped'));
  await assert.rejects(fetch(`${s.url}/healthz`));
});

test('changing JWT_ALG on a database with a live key keeps that key, with a warning', async (t) => {
  const db = await freshDatabase(t);
  const first = await startAuthServer(t, { DATABASE_URL: db });
  const who = await signUp(first.url);
  await first.stop();
  const second = await startAuthServer(t, { DATABASE_URL: db, JWT_ALG: 'RS256' });
  assert.ok(second.lines.some((l) => l.level === 'warn' && l.configured_alg === 'RS256'));
  const { token } = await (
    await fetch(`${second.url}/api/auth/token`, { headers: { authorization: `Bearer ${who.token}` } })
  ).json();
  assert.equal(decodeProtectedHeader(token).alg, 'EdDSA');
});

test('SIGTERM lets a request in flight finish, then exits 0', async (t) => {
  const db = await freshDatabase(t);
  const s = await startAuthServer(t, { DATABASE_URL: db });
  const body = JSON.stringify({ email: 'inflight@example.com', password: 'in-flight-password', name: 'In Flight' });
  // Send the headers and half the body, signal, then finish the body: the server must still answer.
  const socket = net.connect(s.port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  let response = '';
  socket.on('data', (d) => (response += d));
  const closed = new Promise((resolve) => socket.once('close', resolve));
  socket.write(
    `POST /api/auth/sign-up/email HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 10)}`,
  );
  await new Promise((r) => setTimeout(r, 300)); // let the server read the request head
  s.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
  await assert.rejects(fetch(`${s.url}/healthz`), 'no new connections once shutting down');
  socket.write(body.slice(10));
  await closed; // the server closes the connection once it has answered
  assert.match(response, /^HTTP\/1\.1 200 /);
  assert.match(response, /"email":"inflight@example.com"/);
  assert.equal(await s.stop(), 0);
});

test('readiness follows the database; liveness does not', async (t) => {
  const db = await freshDatabase(t);
  const s = await startAuthServer(t, { DATABASE_URL: db });
  assert.equal((await fetch(`${s.url}/readyz`)).status, 200);
  const name = new URL(db).pathname.slice(1);
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
  const ready = await fetch(`${s.url}/readyz`);
  assert.equal(ready.status, 503);
  assert.deepEqual(await ready.json(), { status: 'database unreachable' });
  assert.equal((await fetch(`${s.url}/healthz`)).status, 200);
  assert.ok(s.child.exitCode === null, 'the server keeps running');
});
