// Real sign-up to stored history: two users, the Better Auth server, the chat API and PostgreSQL,
// over HTTP only.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { apiClient, authClient, request } from '../lib/clients.js';
import { decodeJwt, query, sleep, startStack, WEB_ORIGIN } from '../lib/stack.js';

/** @type {Awaited<ReturnType<typeof startStack>>} */
let stack;
/** @type {ReturnType<typeof authClient>} */
let auth;
/** @type {ReturnType<typeof apiClient>} */
let api;

describe('sign-up to stored history', () => {
  before(async () => {
    // The API caches a verified session token for SESSION_CACHE_TTL_SECS; 1 s keeps the
    // sign-out check short.
    stack = await startStack({ label: 'flow', apiEnv: { SESSION_CACHE_TTL_SECS: '1' } });
    auth = authClient(stack.authBase);
    api = apiClient(stack.apiBase);
  });
  after(async () => {
    if (stack) await stack.stop();
  });

  /** @type {{ alice: any, bob: any }} */
  const users = /** @type {any} */ ({});

  test('two users sign up and each gets a JWT from /api/auth/token and from set-auth-jwt', async () => {
    users.alice = await auth.signUp({ name: 'Alice Example' });
    users.bob = await auth.signUp({ name: 'Bob Example' });
    for (const u of [users.alice, users.bob]) {
      u.jwt = await auth.tokenEndpointJwt(u.sessionToken);
      u.headerJwt = await auth.headerJwt(u.sessionToken);
      for (const token of [u.jwt, u.headerJwt]) {
        const { header, payload } = decodeJwt(token);
        assert.equal(header.alg, 'EdDSA');
        assert.equal(payload.sub, u.id);
        assert.equal(payload.iss, stack.issuer);
        assert.equal(payload.aud, stack.audience);
        const me = await api('GET', '/users/me', token);
        assert.equal(me.status, 200, me.text);
        assert.equal(me.body.id, u.id);
        assert.equal(me.body.email, u.email);
        assert.equal(me.body.name, u.name);
      }
    }
    assert.notEqual(users.alice.id, users.bob.id);
  });

  test('each creates conversations and messages, and sees exactly their own', async () => {
    for (const [who, n] of /** @type {const} */ ([['alice', 3], ['bob', 2]])) {
      const u = users[who];
      u.conversations = [];
      for (let i = 0; i < n; i++) {
        const created = await api('POST', '/conversations', u.jwt, { body: { title: `${who} #${i}` } });
        assert.equal(created.status, 201, created.text);
        assert.equal(created.body.title, `${who} #${i}`);
        assert.ok(created.body.id && created.body.created_at && created.body.updated_at);
        u.conversations.push(created.body.id);
        for (const [role, content] of [['user', `question ${i} from ${who}`], ['assistant', `answer ${i} for ${who}`]]) {
          const m = await api('POST', `/conversations/${created.body.id}/messages`, u.headerJwt, { body: { role, content } });
          assert.equal(m.status, 201, m.text);
          assert.equal(m.body.content, content);
        }
      }
    }
    for (const who of /** @type {const} */ (['alice', 'bob'])) {
      const u = users[who];
      const list = await api('GET', '/conversations', u.jwt);
      assert.equal(list.status, 200, list.text);
      assert.deepEqual(
        new Set(list.body.map((/** @type {any} */ c) => c.id)),
        new Set(u.conversations),
        `${who} sees exactly their own conversations`,
      );
      const msgs = await api('GET', `/conversations/${u.conversations[0]}/messages`, u.jwt);
      assert.equal(msgs.status, 200, msgs.text);
      assert.deepEqual(
        msgs.body.map((/** @type {any} */ m) => [m.role, m.content]),
        [['user', `question 0 from ${who}`], ['assistant', `answer 0 for ${who}`]],
      );
    }
  });

  test("neither can see, rename, delete or append to the other's conversation (404), and nothing changes", async () => {
    for (const [who, other] of /** @type {const} */ ([['alice', 'bob'], ['bob', 'alice']])) {
      const me = users[who];
      const theirs = users[other].conversations[0];
      const attempts = [
        await api('GET', `/conversations/${theirs}`, me.jwt),
        await api('PATCH', `/conversations/${theirs}`, me.jwt, { body: { title: 'hijacked' } }),
        await api('GET', `/conversations/${theirs}/messages`, me.jwt),
        await api('POST', `/conversations/${theirs}/messages`, me.jwt, { body: { role: 'user', content: 'intrusion' } }),
        await api('DELETE', `/conversations/${theirs}`, me.jwt),
      ];
      for (const res of attempts) {
        assert.equal(res.status, 404, res.text);
        assert.match(res.headers.get('content-type') ?? '', /application\/problem\+json/);
      }
      // Search: the same words find the caller's own messages and none of the other's.
      const search = await api('GET', '/search?q=question', me.jwt);
      assert.equal(search.status, 200, search.text);
      const found = JSON.stringify(search.body);
      assert.ok(me.conversations.some((/** @type {string} */ id) => found.includes(id)), `${who} finds their own: ${found}`);
      for (const id of users[other].conversations) assert.ok(!found.includes(id), `${who}'s search found ${other}'s`);
      assert.ok(!found.includes(other), `${who}'s search finds nothing of ${other}'s`);
    }
    // The owner's data is untouched.
    for (const who of /** @type {const} */ (['alice', 'bob'])) {
      const u = users[who];
      const conv = await api('GET', `/conversations/${u.conversations[0]}`, u.jwt);
      assert.equal(conv.status, 200, conv.text);
      assert.equal(conv.body.title, `${who} #0`);
      const msgs = await api('GET', `/conversations/${u.conversations[0]}/messages`, u.jwt);
      assert.equal(msgs.body.length, 2);
    }
  });

  test('the owner can rename and delete their own conversation', async () => {
    const u = users.alice;
    const renamed = await api('PATCH', `/conversations/${u.conversations[2]}`, u.jwt, { body: { title: 'renamed' } });
    assert.equal(renamed.status, 200, renamed.text);
    assert.equal(renamed.body.title, 'renamed');
    const deleted = await api('DELETE', `/conversations/${u.conversations[2]}`, u.jwt);
    assert.ok(deleted.status === 204 || deleted.status === 200, deleted.text);
    assert.equal((await api('GET', `/conversations/${u.conversations[2]}`, u.jwt)).status, 404);
    u.conversations.pop();
    const list = await api('GET', '/conversations', u.jwt);
    assert.deepEqual(new Set(list.body.map((/** @type {any} */ c) => c.id)), new Set(u.conversations));
  });

  test("the API's users table carries Better Auth's email and name", async () => {
    const { rows } = await query('SELECT id, email, name FROM users ORDER BY email', [], stack.db.apiUrl);
    const expected = [users.alice, users.bob]
      .map((u) => ({ id: u.id, email: u.email, name: u.name }))
      .sort((a, b) => a.email.localeCompare(b.email));
    assert.deepEqual(rows, expected);
  });

  test("least privilege: the API's role cannot reach Better Auth's tables, the auth role cannot reach chat history", async () => {
    for (const [role, password, db] of [
      [stack.db.apiRole, stack.db.apiPassword, stack.db.authDb],
      [stack.db.authRole, stack.db.authPassword, stack.db.apiDb],
    ]) {
      const u = new URL(stack.db.apiUrl);
      u.username = role;
      u.password = password;
      u.pathname = `/${db}`;
      const c = new pg.Client({ connectionString: u.toString() });
      await assert.rejects(c.connect(), (/** @type {any} */ err) => err.code === '42501', `${role} reached ${db}`);
      await c.end().catch(() => {});
    }
    // And each role does reach its own.
    const own = await query('SELECT count(*)::int AS n FROM "user"', [], stack.db.authUrl);
    assert.equal(own.rows[0].n, 2);
  });

  test('a Better Auth session token (not a JWT) is accepted as bearer, and refused after sign-out', async () => {
    const carol = await auth.signUp({ name: 'Carol Session' });
    assert.equal(carol.sessionToken.split('.').length, 1, 'the raw session token is not a JWT');
    for (const token of [carol.sessionToken, /** @type {string} */ (carol.signedSessionToken)]) {
      const me = await api('GET', '/users/me', token);
      assert.equal(me.status, 200, me.text);
      assert.equal(me.body.id, carol.id);
      assert.equal(me.body.email, carol.email);
    }
    const created = await api('POST', '/conversations', carol.sessionToken, { body: { title: 'via session' } });
    assert.equal(created.status, 201, created.text);

    const out = await auth.signOut(carol.sessionToken);
    assert.equal(out.status, 200, out.text);
    await sleep(1500); // past the API's 1 s session cache
    for (const token of [carol.sessionToken, /** @type {string} */ (carol.signedSessionToken)]) {
      const me = await api('GET', '/users/me', token);
      assert.equal(me.status, 401, me.text);
      assert.match(me.headers.get('content-type') ?? '', /application\/problem\+json/);
    }
  });

  test('X-User-ID alone is refused; a mismatch with the verified identity is refused; a match is fine', async () => {
    const { alice, bob } = users;
    const alone = await api('GET', '/conversations', undefined, { headers: { 'x-user-id': alice.id } });
    assert.equal(alone.status, 401, alone.text);
    const none = await api('GET', '/conversations', undefined);
    assert.equal(none.status, 401, none.text);
    const mismatch = await api('GET', '/conversations', alice.jwt, { headers: { 'x-user-id': bob.id } });
    assert.equal(mismatch.status, 401, mismatch.text);
    const match = await api('GET', '/conversations', alice.jwt, { headers: { 'x-user-id': alice.id } });
    assert.equal(match.status, 200, match.text);
    const garbage = await api('GET', '/conversations', 'not-a-token.at-all');
    assert.equal(garbage.status, 401, garbage.text);
  });

  test('browser origins: preflight from the allowed origin succeeds on both servers, another origin is refused', async () => {
    for (const [base, path, headers] of [
      [stack.authBase, '/api/auth/get-session', 'authorization'],
      [stack.apiBase, '/conversations', 'authorization, content-type'],
    ]) {
      const ok = await request('OPTIONS', `${base}${path}`, {
        headers: { origin: WEB_ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': headers },
      });
      assert.ok(ok.status >= 200 && ok.status < 300, `${base} preflight: ${ok.status} ${ok.text}`);
      assert.equal(ok.headers.get('access-control-allow-origin'), WEB_ORIGIN);
      assert.equal(ok.headers.get('access-control-allow-credentials'), 'true');

      const evil = await request('OPTIONS', `${base}${path}`, {
        headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': headers },
      });
      assert.equal(evil.headers.get('access-control-allow-origin'), null, `${base} allowed evil.example`);
      assert.ok(evil.status >= 400, `${base} answered ${evil.status} to another origin's preflight`);
    }
    // An actual cross-origin request from the app can read the token headers.
    const res = await request('GET', `${stack.authBase}/api/auth/get-session`, {
      bearer: users.alice.sessionToken,
      headers: { origin: WEB_ORIGIN },
    });
    const exposed = (res.headers.get('access-control-expose-headers') ?? '').toLowerCase();
    assert.match(exposed, /set-auth-jwt/);
    assert.match(exposed, /set-auth-token/);
  });

  test('auth server stopped: a valid JWT keeps working (cached JWKS), sign-in fails; restarted, all works again', async () => {
    const { alice } = users;
    assert.equal(await stack.auth.stop(), 0, 'the auth server exits 0 on SIGTERM');
    await assert.rejects(auth.signIn(alice.email, alice.password), 'sign-in with the auth server down');

    const list = await api('GET', '/conversations', alice.jwt);
    assert.equal(list.status, 200, list.text);
    const created = await api('POST', '/conversations', alice.jwt, { body: { title: 'while auth is down' } });
    assert.equal(created.status, 201, created.text);
    assert.ok(stack.api.alive(), 'the API stays up');

    await stack.startAuth();
    const signIn = await auth.signIn(alice.email, alice.password);
    assert.equal(signIn.status, 200, signIn.text);
    const freshJwt = await auth.tokenEndpointJwt(signIn.body.token);
    assert.notEqual(freshJwt, alice.jwt);
    const again = await api('GET', '/conversations', freshJwt);
    assert.equal(again.status, 200, again.text);
    assert.ok(again.body.some((/** @type {any} */ c) => c.title === 'while auth is down'));
    const viaSession = await api('GET', '/users/me', signIn.body.token);
    assert.equal(viaSession.status, 200, viaSession.text);
  });

  test('no log line of either server carries a password, token or cookie', () => {
    const logs = stack.logs(true);
    for (const u of [users.alice, users.bob]) {
      for (const secret of [u.password, u.sessionToken, u.jwt, u.headerJwt]) {
        assert.ok(!logs.includes(secret), 'a secret reached a log');
      }
    }
    assert.ok(!/better-auth\.session_token=[^;[]/.test(logs));
  });
});
