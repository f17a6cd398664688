/**
 * The HTTP listener watchdog's verdict on a probe (src/http/watchdog.ts, `awaitAccept`), on a
 * clock the test moves: a probe that waited on a lagging event loop gives no verdict, so a join
 * storm that keeps the loop busy does not get a live listening socket replaced (which dropped
 * every connection in its backlog).
 */
import assert from "node:assert/strict";
import {
  awaitAccept,
  PROBE_LAG_MS,
  PROBE_TIMEOUT_MS,
  PROBE_TURN_MS,
  type ProbeClock,
} from "../../src/http/watchdog.ts";

/** A clock whose sleeps take `ms`, or `late(n)` more at turn n. */
function clock(late: (turn: number) => number = () => 0): ProbeClock & { turns: number } {
  let t = 0;
  const c = {
    turns: 0,
    now: () => t,
    sleep: (ms: number) => {
      t += ms + late(c.turns++);
      return Promise.resolve();
    },
  };
  return c;
}

Deno.test("awaitAccept: accepted → true, at once or on the turn after the deadline", async () => {
  assert.equal(await awaitAccept(0, () => true, clock()), true);
  const c = clock();
  const turnsToDeadline = Math.ceil(PROBE_TIMEOUT_MS / PROBE_TURN_MS);
  assert.equal(await awaitAccept(0, () => c.turns > turnsToDeadline, c), true);
});

Deno.test("awaitAccept: never accepted on a loop that kept time → false (replace the socket)", async () => {
  const c = clock();
  assert.equal(await awaitAccept(0, () => false, c), false);
  assert.ok(c.now() >= PROBE_TIMEOUT_MS);
});

Deno.test("awaitAccept: never accepted while the loop lagged → no verdict", async () => {
  // one turn 1.5 s late, as in a join storm: the accept may be queued behind it
  assert.equal(await awaitAccept(0, () => false, clock((n) => (n === 3 ? 1500 : 0))), undefined);
  // the connect itself took longer than the lag allowed
  const c = clock();
  const started = -(PROBE_LAG_MS + 1);
  assert.equal(await awaitAccept(started, () => false, c), undefined);
});
