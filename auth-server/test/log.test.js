import test from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, sanitize, scrub } from '../src/log.js';

test('scrub removes bearer tokens, JWTs, cookie values and URL passwords', () => {
  const jwt = 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';
  const s = scrub(
    `Authorization: Bearer abc.def ${jwt} postgres://auth:hunter2@db/auth ` +
      'cookie better-auth.session_token=tok.sig%3D; path=/ ?token=xyz&a=1',
  );
  for (const secret of ['abc.def', jwt, 'hunter2', 'tok.sig', 'xyz']) assert.ok(!s.includes(secret), `${secret} in ${s}`);
  assert.match(s, /postgres:\/\/auth:\[redacted\]@db\/auth/);
});

test('sanitize redacts sensitive keys at any depth and reduces errors', () => {
  const out = /** @type {any} */ (
    sanitize({
      user: { email: 'a@example.com', password: 'pw1234567' },
      headers: { cookie: 'c=1', authorization: 'Bearer t' },
      sessionToken: 'raw-session-token',
      error: Object.assign(new Error('failed for postgres://u:p@h/db'), { code: '28P01' }),
    })
  );
  assert.equal(out.user.email, 'a@example.com');
  assert.equal(out.user.password, '[redacted]');
  assert.equal(out.headers.cookie, '[redacted]');
  assert.equal(out.headers.authorization, '[redacted]');
  assert.equal(out.sessionToken, '[redacted]');
  assert.deepEqual(out.error, { name: 'Error', message: 'failed for postgres://u:[redacted]@h/db', code: '28P01' });
});

test('the logger writes one JSON object a line and honours the level', () => {
  /** @type {string[]} */
  const lines = [];
  const log = createLogger({ level: 'info', write: (l) => lines.push(l) });
  log.debug('hidden');
  log.info('hello', { n: 1, token: 'secret' });
  assert.equal(lines.length, 1);
  assert.ok(lines[0].endsWith('\n'));
  const entry = JSON.parse(lines[0]);
  assert.equal(entry.level, 'info');
  assert.equal(entry.msg, 'hello');
  assert.equal(entry.n, 1);
  assert.equal(entry.token, '[redacted]');
});
