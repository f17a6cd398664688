import assert from "node:assert/strict";
import { parseRampArgs, UsageError } from "../../bench/ramp/config.ts";

Deno.test("ramp config: --rx takes ffi, ffi-gro or dgram and refuses anything else in one sentence", () => {
  for (const rx of ["ffi", "ffi-gro", "dgram"]) {
    assert.equal(parseRampArgs(["--quick", "--rx", rx])?.args.rx, rx);
  }
  assert.equal(parseRampArgs(["--quick"])?.perProcess, 200, "players per load process");
  assert.throws(
    () => parseRampArgs(["--rx", "gro"]),
    (e) => e instanceof UsageError && /ffi-gro/.test(e.message),
  );
});
