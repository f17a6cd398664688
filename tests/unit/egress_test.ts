import assert from "node:assert/strict";
import { Rollover } from "../../src/media/egress-stream.ts";

Deno.test("Rollover: the SRTP rollover counter follows the sequence numbers sent", () => {
  const r = new Rollover();
  assert.equal(r.of(65_534), 0);
  assert.equal(r.of(65_535), 0);
  assert.equal(r.of(0), 1, "wrap");
  assert.equal(r.of(1), 1);
  // a retransmission of a packet from before the wrap keeps its own counter
  assert.equal(r.of(65_535), 0);
  assert.equal(r.of(2), 1);
  // a gap (lost packets upstream) still counts as forward
  assert.equal(r.of(20_000), 1);
  assert.equal(r.of(40_000), 1);
  assert.equal(r.of(60_000), 1);
  assert.equal(r.of(10), 2, "second wrap");
  assert.equal(r.of(59_999), 1, "old packet from the previous cycle");
});
