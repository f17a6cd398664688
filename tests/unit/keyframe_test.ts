import assert from "node:assert/strict";
import type { CodecFamily } from "../../src/media/codecs.ts";
import { isKeyframeStart } from "../../src/media/keyframe.ts";

const bytes = (...b: number[]) => new Uint8Array(b);

// VP8 payload header (first byte of the VP8 frame tag): bit 0 is P, 0 for a keyframe.
// 0x50: P=0, version 0, show_frame=1; followed by the keyframe start code 9d 01 2a.
const VP8_KEY = [0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01];
const VP8_DELTA = [0x31, 0x2a, 0x00];

/** VP8 payload descriptor byte 0 (RFC 7741 §4.2): X R N S R PID(3). */
const X = 0x80;
const N = 0x20;
const S = 0x10;
/** Extension byte: I L T K RSV(4). */
const I = 0x80;
const L = 0x40;
const T = 0x20;
const K = 0x10;

Deno.test("isKeyframeStart: VP8 (RFC 7741)", async (t) => {
  await t.step("minimal descriptor, keyframe vs delta frame", () => {
    assert.equal(isKeyframeStart("vp8", bytes(S, ...VP8_KEY)), true);
    assert.equal(isKeyframeStart("vp8", bytes(S, ...VP8_DELTA)), false);
    assert.equal(isKeyframeStart("vp8", bytes(S | N, ...VP8_KEY)), true); // N (non-reference)
  });

  await t.step("S=0 (continuation) is never a keyframe start", () => {
    assert.equal(isKeyframeStart("vp8", bytes(0x00, ...VP8_KEY)), false);
    assert.equal(isKeyframeStart("vp8", bytes(X, I, 0x12, ...VP8_KEY)), false);
    assert.equal(isKeyframeStart("vp8", bytes(0x00, 0x00)), false);
  });

  await t.step("a partition other than 0 is not a keyframe start", () => {
    assert.equal(isKeyframeStart("vp8", bytes(S | 0x01, ...VP8_KEY)), false);
    assert.equal(isKeyframeStart("vp8", bytes(S | 0x07, ...VP8_KEY)), false);
  });

  await t.step("X with an empty extension byte", () => {
    assert.equal(isKeyframeStart("vp8", bytes(X | S, 0x00, ...VP8_KEY)), true);
    assert.equal(isKeyframeStart("vp8", bytes(X | S, 0x00, ...VP8_DELTA)), false);
  });

  await t.step("I with a 7-bit PictureID", () => {
    // PictureID 0x13 has bit 0 set: read as the payload header it would say "delta".
    assert.equal(isKeyframeStart("vp8", bytes(X | S, I, 0x13, ...VP8_KEY)), true);
    // PictureID 0x12 has bit 0 clear: read as the payload header it would say "key".
    assert.equal(isKeyframeStart("vp8", bytes(X | S, I, 0x12, ...VP8_DELTA)), false);
  });

  await t.step("I with a 15-bit PictureID (M bit)", () => {
    assert.equal(isKeyframeStart("vp8", bytes(X | S, I, 0x80 | 0x12, 0x35, ...VP8_KEY)), true);
    assert.equal(isKeyframeStart("vp8", bytes(X | S, I, 0x80 | 0x12, 0x34, ...VP8_DELTA)), false);
    assert.equal(isKeyframeStart("vp8", bytes(X | S, I, 0xff, 0xff, ...VP8_KEY)), true);
  });

  await t.step("L (TL0PICIDX) alone", () => {
    assert.equal(isKeyframeStart("vp8", bytes(X | S, L, 0x01, ...VP8_KEY)), true);
    assert.equal(isKeyframeStart("vp8", bytes(X | S, L, 0x00, ...VP8_DELTA)), false);
  });

  await t.step("T alone and K alone take one byte (TID/Y/KEYIDX)", () => {
    assert.equal(isKeyframeStart("vp8", bytes(X | S, T, 0x41, ...VP8_KEY)), true);
    assert.equal(isKeyframeStart("vp8", bytes(X | S, T, 0x40, ...VP8_DELTA)), false);
    assert.equal(isKeyframeStart("vp8", bytes(X | S, K, 0x01, ...VP8_KEY)), true);
    assert.equal(isKeyframeStart("vp8", bytes(X | S, K, 0x00, ...VP8_DELTA)), false);
    // T and K together still share one byte.
    assert.equal(isKeyframeStart("vp8", bytes(X | S, T | K, 0x41, ...VP8_KEY)), true);
    assert.equal(isKeyframeStart("vp8", bytes(X | S, T | K, 0x40, ...VP8_DELTA)), false);
  });

  await t.step("every extension: I (7 and 15 bit), L, T, K", () => {
    assert.equal(
      isKeyframeStart("vp8", bytes(X | S, I | L | T | K, 0x05, 0x03, 0x41, ...VP8_KEY)),
      true,
    );
    assert.equal(
      isKeyframeStart("vp8", bytes(X | S, I | L | T | K, 0x04, 0x02, 0x40, ...VP8_DELTA)),
      false,
    );
    assert.equal(
      isKeyframeStart("vp8", bytes(X | S, I | L | T | K, 0x81, 0x23, 0x07, 0x41, ...VP8_KEY)),
      true,
    );
    assert.equal(
      isKeyframeStart("vp8", bytes(X | S, I | L | T | K, 0x81, 0x22, 0x06, 0x40, ...VP8_DELTA)),
      false,
    );
    // The same with S=0: a continuation.
    assert.equal(
      isKeyframeStart("vp8", bytes(X, I | L | T | K, 0x81, 0x23, 0x07, 0x41, ...VP8_KEY)),
      false,
    );
  });

  await t.step("a descriptor without a payload is not a keyframe", () => {
    assert.equal(isKeyframeStart("vp8", bytes(S)), false);
    assert.equal(isKeyframeStart("vp8", bytes(X | S)), false);
    assert.equal(isKeyframeStart("vp8", bytes(X | S, 0x00)), false);
    assert.equal(isKeyframeStart("vp8", bytes(X | S, I, 0x12)), false);
    assert.equal(isKeyframeStart("vp8", bytes(X | S, I, 0x80)), false);
    assert.equal(isKeyframeStart("vp8", bytes(X | S, I, 0x80, 0x00)), false);
    assert.equal(isKeyframeStart("vp8", bytes(X | S, I | L | T | K, 0x81, 0x22, 0x06)), false);
  });
});

Deno.test("isKeyframeStart: H.264 (RFC 6184)", async (t) => {
  const h = (...b: number[]) => isKeyframeStart("h264", bytes(...b));

  await t.step("single NAL units", () => {
    assert.equal(h(0x65, 0x88, 0x84), true, "IDR (5)");
    assert.equal(h(0x25, 0x88), true, "IDR with NRI=1");
    assert.equal(h(0x67, 0x42, 0xc0, 0x1f), true, "SPS (7)");
    assert.equal(h(0x41, 0x9a, 0x02), false, "non-IDR slice (1)");
    assert.equal(h(0x01, 0x9a), false, "non-IDR slice, NRI=0");
    assert.equal(h(0x68, 0xce, 0x3c, 0x80), false, "PPS (8)");
    assert.equal(h(0x06, 0x05, 0x10), false, "SEI (6)");
    assert.equal(h(0x09, 0xf0), false, "access unit delimiter (9)");
  });

  await t.step("STAP-A (24)", () => {
    // SPS + PPS + IDR, as encoders aggregate them.
    assert.equal(
      h(0x78, 0x00, 0x04, 0x67, 0x42, 0xc0, 0x1f, 0x00, 0x02, 0x68, 0xce, 0x00, 0x02, 0x65, 0x88),
      true,
    );
    // SPS alone.
    assert.equal(h(0x78, 0x00, 0x02, 0x67, 0x42), true);
    // SPS after a SEI whose payload byte (0x05) would look like IDR if misaligned.
    assert.equal(h(0x78, 0x00, 0x02, 0x06, 0x05, 0x00, 0x02, 0x67, 0x42), true);
    // IDR as the last aggregated unit.
    assert.equal(h(0x78, 0x00, 0x02, 0x09, 0xf0, 0x00, 0x01, 0x65), true);
  });

  await t.step("STAP-A without SPS or IDR", () => {
    // SEI then PPS; their payload bytes 0x05 / 0x07 must not be read as NAL headers.
    assert.equal(h(0x78, 0x00, 0x03, 0x06, 0x05, 0x07, 0x00, 0x02, 0x68, 0x65), false);
    assert.equal(h(0x78, 0x00, 0x02, 0x41, 0x9a, 0x00, 0x02, 0x41, 0x9b), false);
    assert.equal(h(0x78), false);
    assert.equal(h(0x78, 0x00), false);
    assert.equal(h(0x78, 0x00, 0x00), false);
  });

  await t.step("FU-A (28)", () => {
    assert.equal(h(0x7c, 0x85, 0x88, 0x84), true, "start of an IDR");
    assert.equal(h(0x5c, 0x85, 0x88), true, "start of an IDR, NRI=2");
    assert.equal(h(0x7c, 0x05, 0x88), false, "continuation of an IDR");
    assert.equal(h(0x7c, 0x45, 0x88), false, "end of an IDR");
    assert.equal(h(0x7c, 0x81, 0x9a), false, "start of a non-IDR slice");
    assert.equal(h(0x5c, 0x01, 0x9a), false, "continuation of a non-IDR slice");
    assert.equal(h(0x7c), false, "FU indicator without a header");
  });

  await t.step("other packet types are not keyframe starts", () => {
    assert.equal(h(0x79, 0x00, 0x00, 0x00, 0x02, 0x65, 0x88), false, "STAP-B (25)");
    assert.equal(h(0x7d, 0x85, 0x00, 0x00, 0x88), false, "FU-B (29)");
  });
});

Deno.test("isKeyframeStart: VP9 (RFC 9628)", async (t) => {
  // Byte 0: I P L F B E V Z.
  const P = 0x40;
  const B = 0x08;
  const v = (...b: number[]) => isKeyframeStart("vp9", bytes(...b));
  await t.step("B=1 and P=0 starts a keyframe", () => {
    assert.equal(v(B), true);
    assert.equal(v(0x80 | B | 0x04 | 0x02, 0x80, 0x01), true); // I, E, V set as well
    assert.equal(v(0x80 | B, 0x12), true);
  });
  await t.step("P=1 (inter-predicted) is not", () => {
    assert.equal(v(P | B), false);
    assert.equal(v(0x80 | P | B | 0x04, 0x12), false);
  });
  await t.step("B=0 (not the start of a frame) is not", () => {
    assert.equal(v(0x00), false);
    assert.equal(v(0x04), false); // E only
    assert.equal(v(0x80 | 0x04 | 0x02, 0x12), false);
  });
});

Deno.test("isKeyframeStart: AV1 (N bit of the aggregation header)", async (t) => {
  // Z Y W(2) N - - -.
  await t.step("N=1 starts a new coded video sequence", () => {
    assert.equal(isKeyframeStart("av1", bytes(0x08, 0x0a, 0x0b)), true);
    assert.equal(isKeyframeStart("av1", bytes(0x18, 0x0a)), true); // W=1, N=1
  });
  await t.step("N=0 is not", () => {
    assert.equal(isKeyframeStart("av1", bytes(0x10, 0x32)), false); // W=1
    assert.equal(isKeyframeStart("av1", bytes(0xf0, 0x32)), false); // Z, Y, W=3
    assert.equal(isKeyframeStart("av1", bytes(0x07)), false); // reserved bits only
  });
});

Deno.test("isKeyframeStart: empty payloads and audio", async (t) => {
  const families: CodecFamily[] = ["vp8", "vp9", "h264", "av1", "opus"];
  await t.step("an empty payload is never a keyframe", () => {
    for (const family of families) {
      assert.equal(isKeyframeStart(family, new Uint8Array(0)), false, family);
    }
  });
  await t.step("opus is never a keyframe, whatever the bytes", () => {
    for (const first of [0x00, 0x08, 0x10, 0x65, 0x67, 0x78, 0xfc, 0xff]) {
      assert.equal(isKeyframeStart("opus", bytes(first, 0xff, 0xfe)), false, String(first));
    }
  });
});
