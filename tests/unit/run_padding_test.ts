import assert from "node:assert/strict";
import { MAX_PAD, padToRuns, writePadded } from "../../src/media/run-padding.ts";

function pads(sizes: number[]): number[] {
  const payloads = sizes.map((n) => new Uint8Array(n));
  const order = Int32Array.from(sizes.keys());
  const out = new Uint8Array(sizes.length);
  padToRuns(payloads, order, sizes.length, out);
  return [...out];
}

Deno.test("padToRuns: libwebrtc's two sizes of a frame become one run", () => {
  assert.deepEqual(pads([1199, 1199, 1199, 1199, 1200, 1200, 1200, 1200, 1200]), [
    1,
    1,
    1,
    1,
    0,
    0,
    0,
    0,
    0,
  ]);
});

Deno.test("padToRuns: a shorter last packet and a new frame of other sizes are left alone", () => {
  // a frame ending shorter (allowed as the last segment), then a frame of 1,199 / 1,200
  assert.deepEqual(pads([1200, 1200, 1100, 1199, 1200]), [0, 0, 0, 1, 0]);
  // more than MAX_PAD apart: runs of their own; within: padded to the run after
  assert.deepEqual(pads([1000, 1000 + MAX_PAD + 1, 1000 + MAX_PAD + 1]), [0, 0, 0]);
  assert.deepEqual(pads([1000, 1000 + MAX_PAD]), [MAX_PAD, 0]);
  // an audio packet alone, and a single packet
  assert.deepEqual(pads([120]), [0]);
  // padding goes to the run that follows, never past a longer packet after it
  assert.deepEqual(pads([1190, 1195, 1200, 1300]), [10, 5, 0, 0]);
});

Deno.test("padToRuns: only the packets of the order given, in its order", () => {
  const payloads = [new Uint8Array(1199), new Uint8Array(120), new Uint8Array(1200)];
  const out = new Uint8Array(2);
  padToRuns(payloads, Int32Array.from([0, 2]), 2, out);
  assert.deepEqual([...out], [1, 0]);
});

Deno.test("writePadded: RFC 3550 padding, zeros then the count", () => {
  const out = new Uint8Array(16).fill(0xee);
  assert.equal(writePadded(out, Uint8Array.from([1, 2, 3]), 4), 7);
  assert.deepEqual([...out.subarray(0, 8)], [1, 2, 3, 0, 0, 0, 4, 0xee]);
  assert.equal(writePadded(out, Uint8Array.from([9]), 1), 2);
  assert.deepEqual([...out.subarray(0, 2)], [9, 1]);
});
