// The short form of the reliability suite, part of `make test` (scripts/test.d/45-reliability.sh
// gives it a PostgreSQL cluster of its own to restart). The long form with the figures of
// docs/RELIABILITY.md is bench/reliability.sh; both check the same promises (load.js).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { checkFaultRun, faultRun, junkTokens, makeUsers, slowClients } from './load.js';
import { reliabilityStack } from './setup.js';

/** @type {Awaited<ReturnType<typeof reliabilityStack>>} */
let run;
/** @type {Awaited<ReturnType<typeof makeUsers>>} */
let users;

/** Real users for the floods: JWT ones, whose requests never reach the auth server. */
const jwtUsers = () => users.filter((u) => u.kind === 'jwt').slice(0, 5);

before(async () => {
  run = await reliabilityStack({ label: 'rel' });
  users = await makeUsers(run.stack.authBase, 20);
});
after(async () => {
  // RELIABILITY_LOG=FILE keeps every process's whole output, for a failing run.
  if (process.env.RELIABILITY_LOG && run) writeFileSync(process.env.RELIABILITY_LOG, run.stack.logs(true));
  await run?.stack.stop();
  await run?.model.close();
});

test('faults: PostgreSQL restarts, an auth outage and a failing model lose nothing and answer 503/502/504', async () => {
  const report = await faultRun({ ...run, users, seconds: 24, authDownSeconds: 6 });
  console.log(JSON.stringify(report));
  assert.deepEqual(checkFaultRun(report), [], `${JSON.stringify(report, null, 1)}\n${run.stack.logs()}`);
  assert.ok(run.stack.api.alive(), 'the API is still running');
});

test('slow clients: idle and trickling connections do not stop real users', async () => {
  const report = await slowClients({ apiBase: run.stack.apiBase, apiPid: run.stack.api.pid, users: jwtUsers(), idle: 300, trickle: 50, seconds: 5 });
  console.log(JSON.stringify(report));
  assert.deepEqual(Object.keys(report.real_users.by_status), ['200'], JSON.stringify(report));
  assert.ok(run.stack.api.alive(), 'the API is still running');
});

test('junk tokens: refused with 401, and what cannot be a session token never reaches the auth server', async () => {
  const report = await junkTokens({ stack: run.stack, users: jwtUsers(), tokens: 400, concurrency: 20 });
  console.log(JSON.stringify(report));
  assert.deepEqual(Object.keys(report.junk_answers), ['401'], JSON.stringify(report));
  assert.deepEqual(Object.keys(report.real_users.by_status), ['200'], JSON.stringify(report));
  // The auth server's own background work may commit a transaction or two meanwhile.
  assert.ok(report.not_session_shaped.auth_db_transactions <= 3, JSON.stringify(report));
});
