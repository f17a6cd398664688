import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { RtpHeader, RtpPacket } from "werift";
import type { CodecFamily } from "../../src/media/codecs.ts";
import { KeyframeCache } from "../../src/media/keyframe-cache.ts";
import { spropParameterSets } from "../../src/sdp/fmtp.ts";
import { inspect, isKeyframeStart, KEY, PPS, SPS } from "../../src/media/keyframe.ts";

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

Deno.test("isKeyframeStart / inspect: H.264 (RFC 6184)", async (t) => {
  const h = (...b: number[]) => isKeyframeStart("h264", bytes(...b));
  const i = (...b: number[]) => inspect("h264", bytes(...b));

  await t.step("single NAL units: only an IDR slice is a keyframe; SPS and PPS are flagged", () => {
    assert.equal(h(0x65, 0x88, 0x84), true, "IDR (5)");
    assert.equal(h(0x25, 0x88), true, "IDR with NRI=1");
    assert.equal(h(0x67, 0x42, 0xc0, 0x1f), false, "SPS (7): may precede a non-IDR frame too");
    assert.equal(i(0x67, 0x42, 0xc0, 0x1f), SPS);
    assert.equal(i(0x68, 0xce, 0x3c, 0x80), PPS);
    assert.equal(h(0x41, 0x9a, 0x02), false, "non-IDR slice (1)");
    assert.equal(h(0x01, 0x9a), false, "non-IDR slice, NRI=0");
    assert.equal(h(0x06, 0x05, 0x10), false, "SEI (6)");
    assert.equal(i(0x09, 0xf0), 0, "access unit delimiter (9)");
  });

  await t.step("STAP-A (24)", () => {
    // SPS + PPS + IDR, as encoders aggregate them.
    assert.equal(
      i(0x78, 0x00, 0x04, 0x67, 0x42, 0xc0, 0x1f, 0x00, 0x02, 0x68, 0xce, 0x00, 0x02, 0x65, 0x88),
      KEY | SPS | PPS,
    );
    // SPS + PPS alone (libwebrtc, before an IDR in FU-A).
    assert.equal(i(0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce), SPS | PPS);
    // SPS after a SEI whose payload byte (0x05) would look like IDR if misaligned.
    assert.equal(i(0x78, 0x00, 0x02, 0x06, 0x05, 0x00, 0x02, 0x67, 0x42), SPS);
    // IDR as the last aggregated unit.
    assert.equal(h(0x78, 0x00, 0x02, 0x09, 0xf0, 0x00, 0x01, 0x65), true);
  });

  await t.step("STAP-A without SPS, PPS or IDR; truncated", () => {
    // SEI then a non-IDR slice; their payload bytes 0x05 / 0x07 must not be read as headers.
    assert.equal(i(0x78, 0x00, 0x03, 0x06, 0x05, 0x07, 0x00, 0x02, 0x41, 0x65), 0);
    assert.equal(i(0x78, 0x00, 0x02, 0x41, 0x9a, 0x00, 0x02, 0x41, 0x9b), 0);
    assert.equal(i(0x78), 0);
    assert.equal(i(0x78, 0x00), 0);
    assert.equal(i(0x78, 0x00, 0x00), 0);
    assert.equal(i(0x78, 0x00, 0x09, 0x65, 0x88), 0, "size past the end");
  });

  await t.step("FU-A (28): the first fragment of an IDR only", () => {
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
  await t.step("with layer indices (L): spatial layer 0 only", () => {
    const L = 0x20;
    // non-flexible mode: PictureID (15 bits), then TID U SID D, then TL0PICIDX
    assert.equal(v(0x80 | L | B, 0x80, 0x01, 0x00, 0x07), true, "SID 0");
    assert.equal(v(0x80 | L | B, 0x80, 0x01, 0x02, 0x07), false, "SID 1 (same picture)");
    assert.equal(v(0x80 | L | B, 0x81, 0x04, 0x01), true, "SID 0, D set");
    assert.equal(v(L | B, 0x04), false, "no PictureID, SID 2");
    assert.equal(v(L | B), false, "layer byte missing");
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

// ---- The keyframe cache, per packetization -------------------------------------------------

/** Test SPS / PPS NAL units (their bytes only need the right NAL header). */
const SPS_NAL = [0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01];
const PPS_NAL = [0x68, 0xce, 0x3c, 0x80];
const OLD_SPS = [0x67, 0x42, 0xc0, 0x15, 0x01];
const AUD_NAL = [0x09, 0xf0];
const SEI_NAL = [0x06, 0x05, 0x02, 0xaa, 0xbb, 0x80];
const stap = (
  ...nals: number[][]
) => [0x78, ...nals.flatMap((n) => [n.length >> 8, n.length, ...n])];
/** FU-A fragments of one NAL unit of `type`: start, `middle` continuations, end. */
const fuA = (type: number, middle = 1) => [
  [0x7c, 0x80 | type, 0x88, 0x84],
  ...Array.from({ length: middle }, () => [0x7c, type, 0x11, 0x22]),
  [0x7c, 0x40 | type, 0x33],
];

/** Feeds a stream to a cache: access units (timestamps 3000 apart) of payloads. */
class Stream {
  seq = 100;
  ts = 90_000;
  readonly sent: RtpPacket[] = [];
  readonly starts: number[] = []; // sequence numbers where push() said "keyframe"
  constructor(readonly cache: KeyframeCache) {}
  unit(...payloads: number[][]): RtpPacket[] {
    const out = payloads.map((p, i) =>
      new RtpPacket(
        new RtpHeader({
          payloadType: 102,
          sequenceNumber: this.seq++ & 0xffff,
          timestamp: this.ts,
          ssrc: 0x1234,
          marker: i === payloads.length - 1,
        }),
        Buffer.from(p),
      )
    );
    for (const p of out) {
      if (this.cache.push(p)) this.starts.push(p.header.sequenceNumber);
      this.sent.push(p);
    }
    this.ts = (this.ts + 3000) >>> 0;
    return out;
  }
  delta(): RtpPacket[] {
    return this.unit(...fuA(1, 0));
  }
}

const seqs = (packets: readonly RtpPacket[]) => packets.map((p) => p.header.sequenceNumber);
const nalsOf = (p: Uint8Array) => { // the NAL units of a STAP-A, as arrays
  const out: number[][] = [];
  for (let i = 1; i + 2 <= p.length;) {
    const size = (p[i] << 8) | p[i + 1];
    out.push([...p.subarray(i + 2, i + 2 + size)]);
    i += 2 + size;
  }
  return out;
};

Deno.test("KeyframeCache: H.264 starts at a whole access unit, however packetized", async (t) => {
  await t.step("OBS / libdatachannel: SPS, PPS in their own packets, then IDR in FU-A", () => {
    const s = new Stream(new KeyframeCache(undefined, "h264"));
    s.delta(); // mid-GOP before the first keyframe: nothing to cache
    assert.equal(s.cache.packets().length, 0);
    const key = s.unit(SPS_NAL, PPS_NAL, ...fuA(5, 3));
    assert.deepEqual(s.starts, [key[2].header.sequenceNumber], "the IDR's first fragment");
    const d1 = s.delta();
    assert.deepEqual(seqs(s.cache.packets()), seqs([...key, ...d1]), "SPS and PPS kept");
  });

  await t.step("libwebrtc / Chromium: STAP-A [SPS, PPS], then IDR in FU-A", () => {
    const s = new Stream(new KeyframeCache(undefined, "h264"));
    const key = s.unit(stap(SPS_NAL, PPS_NAL), ...fuA(5, 4));
    const d = [...s.delta(), ...s.delta()];
    assert.deepEqual(s.starts, [key[1].header.sequenceNumber]);
    assert.deepEqual(seqs(s.cache.packets()), seqs([...key, ...d]));
    assert.equal(s.cache.packets()[0], key[0], "the STAP-A is the cached start, as sent");
  });

  await t.step("STAP-A [SPS, PPS, IDR] in one packet", () => {
    const s = new Stream(new KeyframeCache(undefined, "h264"));
    const key = s.unit(stap(SPS_NAL, PPS_NAL, [0x65, 0x88, 0x80]));
    const d = s.delta();
    assert.deepEqual(seqs(s.cache.packets()), seqs([...key, ...d]));
  });

  await t.step("x264 with access unit delimiters: AUD, SPS, PPS, SEI, IDR (FU-A)", () => {
    const s = new Stream(new KeyframeCache(undefined, "h264"));
    s.unit(AUD_NAL, ...fuA(1)); // a delta first
    const key = s.unit(AUD_NAL, SPS_NAL, PPS_NAL, SEI_NAL, ...fuA(5, 2));
    const d = s.delta();
    assert.deepEqual(seqs(s.cache.packets()), seqs([...key, ...d]), "from the AUD on");
  });

  await t.step("an IDR in several slices: each slice's start leaves the cache alone", () => {
    const s = new Stream(new KeyframeCache(undefined, "h264"));
    const key = s.unit(SPS_NAL, PPS_NAL, ...fuA(5, 2), ...fuA(5, 2), [0x65, 0xb8, 0x10]);
    const d = s.delta();
    assert.equal(s.starts.length, 1);
    assert.deepEqual(seqs(s.cache.packets()), seqs([...key, ...d]));
  });

  await t.step("SPS / PPS before non-IDR frames (GStreamer config-interval) do not restart", () => {
    const s = new Stream(new KeyframeCache(undefined, "h264"));
    const key = s.unit(SPS_NAL, PPS_NAL, ...fuA(5));
    const d = s.unit(SPS_NAL, PPS_NAL, ...fuA(1));
    assert.deepEqual(seqs(s.cache.packets()), seqs([...key, ...d]));
  });

  await t.step("the next keyframe replaces the cache, with its own parameter sets", () => {
    const s = new Stream(new KeyframeCache(undefined, "h264"));
    s.unit(SPS_NAL, PPS_NAL, ...fuA(5));
    s.delta();
    const key2 = s.unit(stap(SPS_NAL, PPS_NAL), ...fuA(5));
    assert.deepEqual(seqs(s.cache.packets()), seqs(key2));
  });

  await t.step("parameter sets only out of band (sprop): a STAP-A goes in front", () => {
    const cache = new KeyframeCache(undefined, "h264", [
      new Uint8Array(SPS_NAL),
      new Uint8Array(PPS_NAL),
    ]);
    const s = new Stream(cache);
    const key = s.unit(...fuA(5, 2));
    const d = s.delta();
    const cached = cache.packets();
    assert.equal(cached.length, key.length + d.length + 1);
    const front = cached[0];
    assert.deepEqual(nalsOf(front.payload), [SPS_NAL, PPS_NAL]);
    assert.equal(front.payload[0] & 0x1f, 24, "a STAP-A");
    assert.equal(front.header.timestamp, key[0].header.timestamp, "the IDR's timestamp");
    assert.equal(front.header.sequenceNumber, (key[0].header.sequenceNumber - 1) & 0xffff);
    assert.equal(front.header.ssrc, key[0].header.ssrc);
    assert.equal(front.header.payloadType, key[0].header.payloadType);
    assert.equal(front.header.marker, false);
    assert.deepEqual(seqs(cached.slice(1)), seqs([...key, ...d]));
    // a player's sequence numbers run on without a gap from the packet in front
    const all = seqs(cached);
    for (let i = 1; i < all.length; i++) assert.equal(all[i], (all[i - 1] + 1) & 0xffff);
    assert.equal(cache.packets()[0], front, "written once per keyframe");
  });

  await t.step("sequence numbers wrapping: the packet in front is numbered 65535", () => {
    const s = new Stream(
      new KeyframeCache(undefined, "h264", [new Uint8Array(SPS_NAL), new Uint8Array(PPS_NAL)]),
    );
    s.seq = 0;
    s.unit(...fuA(5));
    assert.equal(s.cache.packets()[0].header.sequenceNumber, 0xffff);
  });

  await t.step("with an access unit delimiter first, the parameter sets go in after it", () => {
    const s = new Stream(
      new KeyframeCache(undefined, "h264", [new Uint8Array(SPS_NAL), new Uint8Array(PPS_NAL)]),
    );
    const key = s.unit(AUD_NAL, SEI_NAL, ...fuA(5));
    const cached = s.cache.packets();
    assert.equal(cached.length, key.length, "the AUD's packet is replaced, not added to");
    assert.deepEqual(nalsOf(cached[0].payload), [AUD_NAL, SPS_NAL, PPS_NAL]);
    assert.equal(cached[0].header.sequenceNumber, key[0].header.sequenceNumber);
    assert.deepEqual(seqs(cached.slice(1)), seqs(key.slice(1)));
    assert.equal(key[0].payload.length, 2, "the publisher's packet is left as it was");
  });

  await t.step("parameter sets sent once: a later IDR gets the last ones seen in-band", () => {
    const s = new Stream(new KeyframeCache(undefined, "h264", [new Uint8Array(OLD_SPS)]));
    s.unit(SPS_NAL, PPS_NAL, ...fuA(5)); // in-band, once: replaces the offer's
    s.delta();
    const key2 = s.unit(...fuA(5));
    const cached = s.cache.packets();
    assert.deepEqual(nalsOf(cached[0].payload), [SPS_NAL, PPS_NAL]);
    assert.deepEqual(seqs(cached.slice(1)), seqs(key2));
  });

  await t.step("no parameter sets known: the IDR is cached as it is", () => {
    const s = new Stream(new KeyframeCache(undefined, "h264"));
    const key = s.unit(...fuA(5));
    assert.deepEqual(seqs(s.cache.packets()), seqs(key));
  });

  await t.step("a late packet of an earlier timestamp neither restarts nor breaks the unit", () => {
    const s = new Stream(new KeyframeCache(undefined, "h264"));
    const key = s.unit(SPS_NAL, PPS_NAL, ...fuA(5));
    const d = s.delta();
    // a retransmitted IDR fragment of the keyframe (older timestamp) arrives now
    const late = new RtpPacket(
      new RtpHeader({ ...key[2].header, sequenceNumber: key[2].header.sequenceNumber }),
      Buffer.from([0x7c, 0x85, 0x88]),
    );
    assert.equal(s.cache.classify(late) & KEY, 0);
    assert.equal(s.cache.push(late), false);
    assert.deepEqual(seqs(s.cache.packets()), seqs([...key, ...d, late]));
  });

  await t.step("past the byte bound the cache empties until the next keyframe", () => {
    const s = new Stream(new KeyframeCache(40, "h264"));
    s.unit(SPS_NAL, PPS_NAL, ...fuA(5));
    for (let i = 0; i < 5; i++) s.delta();
    assert.equal(s.cache.packets().length, 0);
    const key = s.unit(SPS_NAL, PPS_NAL, ...fuA(5));
    assert.deepEqual(seqs(s.cache.packets()), seqs(key));
  });

  await t.step("bound 0 (cache off): only the keyframe's own access unit, while newest", () => {
    const s = new Stream(new KeyframeCache(0, "h264"));
    const key = s.unit(SPS_NAL, PPS_NAL, ...fuA(5));
    assert.deepEqual(seqs(s.cache.packets()), seqs(key), "a live start gets SPS and PPS");
    s.delta();
    assert.equal(s.cache.packets().length, 0, "nothing for a join mid-GOP");
  });
});

Deno.test("KeyframeCache: VP9 and AV1 keyframes over many packets", async (t) => {
  await t.step("VP9 key picture, three spatial layers in one timestamp", () => {
    const s = new Stream(new KeyframeCache(undefined, "vp9"));
    s.unit([0x80 | 0x40 | 0x08 | 0x04, 0x12]); // a delta (P=1), before the keyframe
    const B = 0x08, E = 0x04, V = 0x02, I = 0x80, L = 0x20;
    const layer = (sid: number, p: number) => [I | p | L | B, 0x81, 0x00, sid << 1, 0x00];
    const key = s.unit(
      [...layer(0, 0)].map((b, i) => (i === 0 ? b | V : b)), // S0 start, with the SS
      [I | L, 0x81, 0x00, 0x00, 0x00], // S0 continuation
      [I | L | E, 0x81, 0x00, 0x00, 0x00], // S0 end
      layer(1, 0), // S1 start, P=0 (not inter-picture predicted)
      [I | L | E, 0x81, 0x00, 0x02, 0x00],
      layer(2, 0x40), // S2 start, inter-layer only, P=1 on some encoders
      [I | L | E, 0x81, 0x00, 0x04, 0x00],
    );
    const d = s.unit([I | 0x40 | L | B | E, 0x81, 0x01, 0x00, 0x00]);
    assert.deepEqual(s.starts, [key[0].header.sequenceNumber]);
    assert.deepEqual(seqs(s.cache.packets()), seqs([...key, ...d]));
  });

  await t.step("VP9 without layer indices: B=1, P=0 starts, continuations follow", () => {
    const s = new Stream(new KeyframeCache(undefined, "vp9"));
    const key = s.unit([0x08 | 0x02, 0x00], [0x00, 0x01], [0x04, 0x02]);
    const d = s.unit([0x40 | 0x08 | 0x04, 0x03]);
    assert.deepEqual(seqs(s.cache.packets()), seqs([...key, ...d]));
  });

  await t.step("AV1: N=1 with the sequence header, then the keyframe's other packets", () => {
    const s = new Stream(new KeyframeCache(undefined, "av1"));
    s.unit([0x10, 0x32, 0x00]); // a delta before: not cached
    // Z Y W(2) N: first packet N=1 Y=1 (sequence header OBU type 1, then the frame's start)
    const key = s.unit([0x40 | 0x08, 0x0a, 0x0b], [0x80 | 0x40, 0x32], [0x80 | 0x10, 0x32]);
    const d = s.unit([0x10, 0x32, 0x01]);
    assert.deepEqual(s.starts, [key[0].header.sequenceNumber]);
    assert.deepEqual(seqs(s.cache.packets()), seqs([...key, ...d]));
  });

  await t.step("VP8: one keyframe start per timestamp, as before", () => {
    const s = new Stream(new KeyframeCache(undefined, "vp8"));
    const key = s.unit([S, ...VP8_KEY], [0x00, 0x01], [0x00, 0x02]);
    const d = s.unit([S, ...VP8_DELTA]);
    assert.deepEqual(seqs(s.cache.packets()), seqs([...key, ...d]));
  });
});

Deno.test("sprop-parameter-sets (RFC 6184 §8.1) from an offer's fmtp", () => {
  const codec = {
    payloadType: 102,
    name: "H264",
    clockRate: 90000,
    // as ffmpeg writes it for x264 baseline 640x360 (base64 with padding, comma-separated)
    fmtp: {
      "packetization-mode": "1",
      "sprop-parameter-sets": "Z0LAHtoCgL/lwEQAAAMABAAAAwDyPFi6gA==,aM4PyA==",
    },
    rtcpFeedback: [],
  };
  const [sps, pps, ...rest] = spropParameterSets(codec);
  assert.equal(sps[0], 0x67, "an SPS");
  assert.equal(sps.length, 25);
  assert.deepEqual([...pps], [0x68, 0xce, 0x0f, 0xc8]);
  assert.equal(rest.length, 0);
  assert.deepEqual(spropParameterSets({ ...codec, fmtp: {} }), []);
  assert.deepEqual(
    spropParameterSets({ ...codec, fmtp: { "sprop-parameter-sets": "!!,aM4PyA==" } }).length,
    1,
    "a unit that is not base64 is skipped",
  );
});
