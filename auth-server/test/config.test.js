import test from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig, parseOrigin, parseTimeSpan } from '../src/config.js';

const valid = {
  DATABASE_URL: 'postgres://auth:pw@db:5432/auth',
  BETTER_AUTH_SECRET: 'x'.repeat(32),
  BETTER_AUTH_URL: 'https://auth.example.com/',
};

/** @param {Record<string,string>} env */
function problemsOf(env) {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

test('every missing required variable is named in one error', () => {
  const problems = problemsOf({});
  assert.equal(problems.length, 3);
  assert.match(problems[0], /^DATABASE_URL is required/);
  assert.match(problems[1], /^BETTER_AUTH_SECRET is required/);
  assert.match(problems[2], /^BETTER_AUTH_URL is required/);
});

test('malformed values are each named', () => {
  const problems = problemsOf({
    DATABASE_URL: 'mysql://x',
    BETTER_AUTH_SECRET: 'short',
    BETTER_AUTH_URL: 'not a url',
    JWT_EXPIRATION: 'soon',
    JWT_ALG: 'HS256',
    JWT_KEY_ROTATION_INTERVAL: '-5',
    TRUSTED_ORIGINS: 'https://ok.example.com, *',
    PORT: 'http',
  });
  const names = problems.map((p) => p.split(' ')[0]);
  assert.deepEqual(names, [
    'DATABASE_URL',
    'BETTER_AUTH_SECRET',
    'BETTER_AUTH_URL',
    'JWT_EXPIRATION',
    'JWT_ALG',
    'JWT_KEY_ROTATION_INTERVAL',
    'TRUSTED_ORIGINS',
    'PORT',
  ]);
});

test('defaults: issuer and audience are the origin of BETTER_AUTH_URL, EdDSA, 15m, port 3000', () => {
  const c = loadConfig(valid);
  assert.equal(c.baseUrl, 'https://auth.example.com');
  assert.equal(c.jwtIssuer, 'https://auth.example.com');
  assert.equal(c.jwtAudience, 'https://auth.example.com');
  assert.equal(c.jwtAlg, 'EdDSA');
  assert.equal(c.jwtExpiration, '15m');
  assert.equal(c.jwtRotationInterval, undefined);
  assert.equal(c.port, 3000);
  assert.deepEqual(c.trustedOrigins, []);
});

test('explicit values are used as given', () => {
  const c = loadConfig({
    ...valid,
    JWT_ISSUER: 'chatplane-auth',
    JWT_AUDIENCE: 'chatplane-api',
    JWT_EXPIRATION: '300',
    JWT_ALG: 'ES256',
    JWT_KEY_ROTATION_INTERVAL: '86400',
    TRUSTED_ORIGINS: 'http://localhost:5173, https://docs.example.com/,http://localhost:5173',
    PORT: '8000',
  });
  assert.equal(c.jwtIssuer, 'chatplane-auth');
  assert.equal(c.jwtAudience, 'chatplane-api');
  assert.equal(c.jwtExpiration, '300s', 'a bare number is seconds from now, not an absolute exp');
  assert.equal(c.jwtAlg, 'ES256');
  assert.equal(c.jwtRotationInterval, 86400);
  assert.deepEqual(c.trustedOrigins, ['http://localhost:5173', 'https://docs.example.com']);
  assert.equal(c.port, 8000);
});

test('origins must be exact', () => {
  assert.equal(parseOrigin('https://a.example.com'), 'https://a.example.com');
  assert.equal(parseOrigin('http://localhost:3000/'), 'http://localhost:3000');
  assert.equal(parseOrigin('*'), null);
  assert.equal(parseOrigin('https://*.example.com'), null);
  assert.equal(parseOrigin('https://a.example.com/path'), null);
  assert.equal(parseOrigin('ftp://a.example.com'), null);
  assert.equal(parseOrigin('a.example.com'), null);
});

test('time spans', () => {
  assert.equal(parseTimeSpan('15m'), '15m');
  assert.equal(parseTimeSpan('2 hours'), '2hours');
  assert.equal(parseTimeSpan('45'), '45s');
  assert.equal(parseTimeSpan('0'), null);
  assert.equal(parseTimeSpan('-5m'), null);
  assert.equal(parseTimeSpan('1 month'), null);
});
