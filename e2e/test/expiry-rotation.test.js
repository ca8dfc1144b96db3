// Token lifetime and signing-key rotation, end to end: short-lived JWTs expire at the API, and a
// key rotated by Better Auth is picked up by the running API without a restart.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiClient, authClient } from '../lib/clients.js';
import { decodeJwt, sleep, startStack } from '../lib/stack.js';

const ROTATION_SECONDS = 4;

/** @type {Awaited<ReturnType<typeof startStack>>} */
let stack;
/** @type {ReturnType<typeof authClient>} */
let auth;
/** @type {ReturnType<typeof apiClient>} */
let api;

describe('expiry and key rotation', () => {
  before(async () => {
    stack = await startStack({
      label: 'expiry',
      authEnv: { JWT_EXPIRATION: '3s', JWT_KEY_ROTATION_INTERVAL: String(ROTATION_SECONDS) },
      // No leeway, so "expired" means expired; an unknown kid may trigger a refetch each second.
      apiEnv: { AUTH_LEEWAY_SECS: '0', JWKS_MIN_REFETCH_SECS: '1' },
    });
    auth = authClient(stack.authBase);
    api = apiClient(stack.apiBase);
  });
  after(async () => {
    if (stack) await stack.stop();
  });

  test('a short-lived JWT is accepted, then refused once it has expired', async () => {
    const u = await auth.signUp();
    const jwt = await auth.tokenEndpointJwt(u.sessionToken);
    const { payload } = decodeJwt(jwt);
    assert.equal(payload.exp - payload.iat, 3);
    const ok = await api('GET', '/users/me', jwt);
    assert.equal(ok.status, 200, ok.text);
    // Sleep past the expiry (exp has one-second resolution).
    await sleep(Math.max(0, payload.exp * 1000 - Date.now()) + 1500);
    const expired = await api('GET', '/users/me', jwt);
    assert.equal(expired.status, 401, expired.text);
    assert.match(expired.headers.get('content-type') ?? '', /application\/problem\+json/);
    // A fresh token from the same session works again.
    const fresh = await auth.tokenEndpointJwt(u.sessionToken);
    assert.equal((await api('GET', '/users/me', fresh)).status, 200);
  });

  test('after Better Auth rotates its signing key, the running API accepts tokens signed by the new key', async () => {
    const apiPid = stack.api.pid;
    const u = await auth.signUp();
    const first = await auth.tokenEndpointJwt(u.sessionToken);
    const firstKid = decodeJwt(first).header.kid;
    assert.equal((await api('GET', '/users/me', first)).status, 200);

    // Past the rotation interval the next token is signed by a newly minted key.
    await sleep(ROTATION_SECONDS * 1000 + 1000);
    const second = await auth.tokenEndpointJwt(u.sessionToken);
    const secondKid = decodeJwt(second).header.kid;
    assert.notEqual(secondKid, firstKid, 'Better Auth rotated the key');
    const jwks = await (await fetch(`${stack.authBase}/api/auth/jwks`)).json();
    const kids = jwks.keys.map((/** @type {any} */ k) => k.kid);
    assert.ok(kids.includes(firstKid) && kids.includes(secondKid), 'old and new keys are both published');

    const me = await api('GET', '/users/me', second);
    assert.equal(me.status, 200, me.text);
    assert.equal(me.body.id, u.id);
    assert.equal(stack.api.pid, apiPid);
    assert.ok(stack.api.alive(), 'same API process, no restart');
  });
});
