// The long form of the reliability suite (bench/reliability.sh): the fault run with 200 users
// for 75 s (a 30 s auth outage), then the slow-client and junk-token floods; prints one JSON
// report and exits 1 when a promise is broken. Sizes come from the environment (REL_*).
import { writeFileSync } from 'node:fs';
import { checkFaultRun, faultRun, junkTokens, makeUsers, slowClients } from './load.js';
import { reliabilityStack } from './setup.js';

const num = (/** @type {string} */ name, /** @type {number} */ dflt) => Number(process.env[name] ?? dflt);
const sizes = {
  users: num('REL_USERS', 200),
  seconds: num('REL_SECONDS', 75),
  authDownSeconds: num('REL_AUTH_DOWN_SECONDS', 30),
  // Each user's pause between two actions: 200 users at ~1/s is the short form's 20 at ~10/s.
  thinkMs: num('REL_THINK_MS', 1000),
  idle: num('REL_IDLE_CONNECTIONS', 3000),
  trickle: num('REL_TRICKLE_CONNECTIONS', 500),
  slowSeconds: num('REL_SLOW_SECONDS', 20),
  junkTokens: num('REL_JUNK_TOKENS', 6000),
  junkConcurrency: num('REL_JUNK_CONCURRENCY', 100),
  realUsers: num('REL_REAL_USERS', 10),
};

const run = await reliabilityStack({ label: 'relbench' });
let broken = [];
try {
  const users = await makeUsers(run.stack.authBase, sizes.users);
  const faults = await faultRun({ ...run, users, seconds: sizes.seconds, authDownSeconds: sizes.authDownSeconds, thinkMs: sizes.thinkMs });
  broken = checkFaultRun(faults, { recoverySeconds: 5 });
  const real = users.filter((u) => u.kind === 'jwt').slice(0, sizes.realUsers);
  const slow = await slowClients({
    apiBase: run.stack.apiBase,
    apiPid: run.stack.api.pid,
    users: real,
    idle: sizes.idle,
    trickle: sizes.trickle,
    seconds: sizes.slowSeconds,
  });
  if (slow.real_users.p99_ms >= 100) broken.push(`real users' p99 ${slow.real_users.p99_ms} ms under slow clients`);
  if (Object.keys(slow.real_users.by_status).some((s) => s !== '200')) broken.push('real users failed under slow clients');
  const junk = await junkTokens({ stack: run.stack, users: real, tokens: sizes.junkTokens, concurrency: sizes.junkConcurrency });
  if (Object.keys(junk.real_users.by_status).some((s) => s !== '200')) broken.push('real users failed under the junk-token flood');
  const report = { sizes, faults, slow_clients: slow, junk_tokens: junk, broken };
  const json = JSON.stringify(report, null, 2);
  if (process.env.REL_OUT) writeFileSync(process.env.REL_OUT, `${json}\n`);
  console.log(json);
} finally {
  if (process.env.RELIABILITY_LOG) writeFileSync(process.env.RELIABILITY_LOG, run.stack.logs(true));
  await run.stack.stop();
  await run.model.close();
}
if (broken.length > 0) {
  console.error(`reliability: ${broken.length} promises broken:\n  ${broken.join('\n  ')}`);
  process.exit(1);
}
