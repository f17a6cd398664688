/**
 * The keyframe cache's replay (src/media/replay.ts): its pacing, the live packets it queues
 * behind it, and how it gives up when it falls behind.
 */
import assert from "node:assert/strict";
import { RtpHeader, RtpPacket } from "werift";
import { Buffer } from "node:buffer";
import { Replay, REPLAY_LIVE_MAX } from "../../src/media/replay.ts";
import type { Codec } from "../../src/sdp/offer.ts";

const VP8 = { payloadType: 96, name: "VP8", clockRate: 90_000 } as unknown as Codec;

const packet = (seq: number, timestamp = 3000 * Math.floor(seq / 10)) =>
  new RtpPacket(
    new RtpHeader({ payloadType: 96, sequenceNumber: seq, timestamp, ssrc: 1 }),
    Buffer.alloc(10),
  );

/** A target that records what was forwarded and how many flushes. */
function recorder() {
  const sent: number[] = [];
  let flushes = 0;
  return {
    sent,
    get flushes() {
      return flushes;
    },
    target: {
      forward: (rtp: RtpPacket) => void sent.push(rtp.header.sequenceNumber),
      flush: () => void flushes++,
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("a replay sends the keyframe's unit (or 40) at once, the rest paced, then the live packets", async () => {
  const cached = Array.from({ length: 200 }, (_, i) => packet(i, i < 50 ? 0 : 3000 + i));
  const r = recorder();
  const replay = new Replay(cached, VP8, r.target);
  assert.equal(r.sent.length, 50, "the first batch is the keyframe's whole unit");
  assert.equal(r.flushes, 1);
  assert.ok(replay.queue(packet(1000)));
  const until = performance.now() + 2000;
  while (replay.running && performance.now() < until) await sleep(5);
  assert.equal(replay.running, false);
  assert.deepEqual(r.sent, [...cached.map((p) => p.header.sequenceNumber), 1000]);
  assert.ok(r.flushes >= 1 + Math.ceil(151 / 40), `${r.flushes} flushes: one per batch`);
});

Deno.test("a replay with more than REPLAY_LIVE_MAX live packets behind it stops and drops them", () => {
  const r = recorder();
  const replay = new Replay(Array.from({ length: 500 }, (_, i) => packet(i, 0)), VP8, r.target);
  const sentAtStart = r.sent.length;
  for (let i = 0; i < REPLAY_LIVE_MAX; i++) assert.ok(replay.queue(packet(10_000 + i)));
  assert.equal(replay.queue(packet(20_000)), false, "one more is too many");
  assert.equal(replay.running, false);
  assert.equal(r.sent.length, sentAtStart, "nothing more goes out");
});

Deno.test("a stopped replay sends nothing more", async () => {
  const r = recorder();
  const replay = new Replay(Array.from({ length: 400 }, (_, i) => packet(i, 0)), VP8, r.target);
  const first = r.sent.length;
  replay.stop();
  await sleep(30);
  assert.equal(r.sent.length, first);
  assert.equal(replay.running, false);
});
