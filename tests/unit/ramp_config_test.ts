import assert from "node:assert/strict";
import { parseRampArgs, UsageError } from "../../bench/ramp/config.ts";

Deno.test("ramp config: --rx takes ffi, ffi-gro or dgram and refuses anything else in one sentence", () => {
  for (const rx of ["ffi", "ffi-gro", "dgram"]) {
    assert.equal(parseRampArgs(["--quick", "--rx", rx])?.args.rx, rx);
  }
  assert.equal(parseRampArgs(["--quick"])?.perProcess, 1000, "players per load process");
  assert.throws(
    () => parseRampArgs(["--rx", "gro"]),
    (e) => e instanceof UsageError && /ffi-gro/.test(e.message),
  );
});

Deno.test("ramp config: --rx-poll-ms is 20 by default, takes 1 to 1000 and refuses anything else in one sentence", () => {
  assert.equal(parseRampArgs(["--quick"])?.args["rx-poll-ms"], "20");
  assert.equal(parseRampArgs(["--quick", "--rx-poll-ms", "1"])?.args["rx-poll-ms"], "1");
  for (const bad of ["0", "2.5", "fast", "1001"]) {
    assert.throws(
      () => parseRampArgs(["--rx-poll-ms", bad]),
      (e: Error) =>
        e.message === `--rx-poll-ms is a whole number of ms from 1 to 1000, not "${bad}"`,
    );
  }
});
