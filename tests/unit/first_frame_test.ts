/**
 * The pieces of issue 21 that need no network: the first priming batch's length (the keyframe's
 * access unit), the trace's DTLS record names, and the trace being off unless asked for.
 */
import assert from "node:assert/strict";
import { RtpHeader, RtpPacket } from "werift";
import { Buffer } from "node:buffer";
import { keyframeUnitLength } from "../../src/media/keyframe-cache.ts";
import { dtlsRecords, trace, traceTo, tracing } from "../../src/media/trace.ts";

const packet = (timestamp: number, seq: number) =>
  new RtpPacket(
    new RtpHeader({ payloadType: 96, sequenceNumber: seq, timestamp, ssrc: 1 }),
    Buffer.alloc(10),
  );

Deno.test("keyframeUnitLength: the leading packets of the keyframe's timestamp, up to max", () => {
  const packets = [
    ...Array.from({ length: 70 }, (_, i) => packet(3000, i)),
    ...Array.from({ length: 9 }, (_, i) => packet(6000, 70 + i)),
  ];
  assert.equal(keyframeUnitLength(packets), 70);
  assert.equal(keyframeUnitLength(packets, 50), 50);
  assert.equal(keyframeUnitLength([]), 0);
});

Deno.test("dtlsRecords: names each record of a datagram", () => {
  const record = (type: number, epoch: number, body: number[]) => [
    type,
    0xfe,
    0xfd,
    0,
    epoch,
    ...new Array(6).fill(0),
    body.length >> 8,
    body.length & 0xff,
    ...body,
  ];
  const flight6 = new Uint8Array([...record(20, 0, [1]), ...record(22, 1, [9, 9, 9])]);
  assert.deepEqual(dtlsRecords(flight6), ["ccs", "hs*"]);
  const hello = new Uint8Array(record(22, 0, [1, 0, 0, 0]));
  assert.deepEqual(dtlsRecords(hello), ["hs:1"]);
});

Deno.test("the trace is off unless FIRST_FRAME_TRACE=1 or a sink is set", () => {
  assert.equal(Deno.env.get("FIRST_FRAME_TRACE") === "1", tracing());
  const seen: string[] = [];
  traceTo((e) => seen.push(e.event));
  try {
    assert.ok(tracing());
    trace("x");
  } finally {
    traceTo(undefined);
  }
  trace("y");
  assert.deepEqual(seen, ["x"]);
});
