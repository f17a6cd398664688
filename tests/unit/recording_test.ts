import assert from "node:assert/strict";
import { RtpHeader, RtpPacket } from "werift";
import { Buffer } from "node:buffer";
import { WebmWriter } from "../../src/recording/webm.ts";
import { inside, recordingFileName, roomFolder, safePart } from "../../src/recording/names.ts";
import { parseRange } from "../../routes/recordings.ts";
import { FrameAssembler } from "../../src/recording/frames.ts";
import { av1Config } from "../../src/recording/av1.ts";
import { annexBUnits, avcC, h264Size, toAvcc, vp8Size } from "../../src/recording/codec-config.ts";

/** An in-memory sink. */
function memorySink() {
  let bytes = new Uint8Array(0);
  return {
    append(b: Uint8Array) {
      const next = new Uint8Array(bytes.length + b.length);
      next.set(bytes);
      next.set(b, bytes.length);
      bytes = next;
    },
    patch(at: number, b: Uint8Array) {
      assert.ok(at + b.length <= bytes.length, "a patch writes over bytes already written");
      bytes.set(b, at);
    },
    get bytes() {
      return bytes;
    },
  };
}

/** Reads one EBML element header at `at`: id, size (undefined: unknown), where data starts. */
function header(b: Uint8Array, at: number) {
  const vint = (pos: number, keepMarker: boolean) => {
    let width = 1;
    while (!(b[pos] & (0x80 >> (width - 1)))) width++;
    let v = keepMarker ? b[pos] : b[pos] & (0xff >> width);
    let all = v === (0xff >> width);
    for (let i = 1; i < width; i++) {
      v = v * 256 + b[pos + i];
      all &&= b[pos + i] === 0xff;
    }
    return { v, width, unknown: !keepMarker && all };
  };
  const id = vint(at, true);
  const size = vint(at + id.width, false);
  return { id: id.v, size: size.unknown ? undefined : size.v, data: at + id.width + size.width };
}

/** The children of the element whose data spans [from, to). */
function children(b: Uint8Array, from: number, to: number) {
  const out = [];
  for (let at = from; at < to;) {
    const h = header(b, at);
    assert.ok(h.size !== undefined, `element ${h.id.toString(16)} at ${at} has a size`);
    out.push({ ...h, at });
    at = h.data + h.size!;
  }
  return out;
}

Deno.test("WebmWriter: sizes, Duration, SeekHead and Cues written in place at finish", () => {
  const sink = memorySink();
  const writer = new WebmWriter(sink, {
    video: { codec: "VP8", width: 320, height: 240 },
    audio: { channels: 2 },
  });
  for (let i = 0; i < 150; i++) { // 5 s: video at 30 fps, a keyframe every second; audio 20 ms
    writer.frame("video", new Uint8Array(100), i * 33.3, i % 30 === 0);
    for (let a = 0; a < 2; a++) writer.frame("audio", new Uint8Array(40), i * 33.3 + a * 16, true);
  }
  const before = sink.bytes.length;
  writer.finish();
  const b = sink.bytes;
  assert.equal(b.length, before + header(b, before).data - before + header(b, before).size!);
  const [ebml, segment] = children(b, 0, b.length);
  assert.equal(ebml.id, 0x1a45dfa3);
  assert.equal(segment.id, 0x18538067);
  const top = children(b, segment.data, b.length);
  const ids = top.map((e) => e.id);
  assert.deepEqual(ids.slice(0, 4), [0x114d9b74, 0xec, 0x1549a966, 0x1654ae6b]); // SeekHead, Void
  assert.equal(ids.filter((id) => id === 0x1f43b675).length, 5, "a cluster per keyframe");
  assert.equal(ids.at(-1), 0x1c53bb6b, "Cues last");
  const info = children(b, top[2].data, top[2].data + top[2].size!);
  const duration = info.find((e) => e.id === 0x4489)!;
  const ms = new DataView(b.buffer, duration.data, 8).getFloat64(0);
  assert.ok(Math.abs(ms - writer.duration) < 1 && ms > 4900 && ms < 5100, `${ms} ms`);
  const cues = children(b, top.at(-1)!.data, b.length);
  assert.equal(cues.length, 5);
  for (const cue of cues) { // CueClusterPosition → a Cluster
    const positions = children(b, cue.data, cue.data + cue.size!).find((e) => e.id === 0xb7)!;
    const pos = children(b, positions.data, positions.data + positions.size!).find((e) =>
      e.id === 0xf1
    )!;
    let v = 0;
    for (let i = 0; i < pos.size!; i++) v = v * 256 + b[pos.data + i];
    assert.equal(header(b, segment.data + v).id, 0x1f43b675);
  }
  const seeks = children(b, top[0].data, top[0].data + top[0].size!);
  assert.equal(seeks.length, 3);
  assert.equal(writer.blocks.video, 150);
  assert.equal(writer.blocks.audio, 300);
});

Deno.test("WebmWriter: before finish, the Segment and the open cluster have an unknown size", () => {
  const sink = memorySink();
  const writer = new WebmWriter(sink, { audio: { channels: 2 } });
  for (let i = 0; i < 10; i++) writer.frame("audio", new Uint8Array(10), i * 20, true);
  const b = sink.bytes;
  const segment = header(b, header(b, 0).data + header(b, 0).size!);
  assert.equal(segment.size, undefined);
});

Deno.test("recording names: percent-encoded, never a path, bounded", () => {
  assert.equal(safePart(".."), "%2E%2E");
  assert.equal(safePart("a/b\\c"), "a%2Fb%5Cc");
  assert.equal(safePart("🎸"), "%F0%9F%8E%B8");
  assert.equal(safePart(""), "_");
  const long = safePart("🎸".repeat(64));
  assert.ok(long.length <= 96 && /~[0-9a-f]{16}$/.test(long), long);
  assert.notEqual(safePart("🎸".repeat(64)), safePart("🎸".repeat(63) + "🎤"));
  assert.ok(roomFolder("/data/rec", "..").startsWith("/data/rec/"));
  assert.throws(() => inside("/data/rec", "/data/rec/../x"));
  assert.throws(() => inside("/data/rec", "/data/rec"));
  const name = recordingFileName("../x", "0123456789abcdef", new Date("2026-01-02T03:04:05.678Z"));
  assert.equal(name, "20260102T030405Z_%2E%2E%2Fx_0123456789abcdef.webm");
});

Deno.test("parseRange: one range, suffix, open end, unsatisfiable, ignored forms", () => {
  assert.deepEqual(parseRange("bytes=0-99", 1000), { start: 0, end: 99 });
  assert.deepEqual(parseRange("bytes=900-", 1000), { start: 900, end: 999 });
  assert.deepEqual(parseRange("bytes=-100", 1000), { start: 900, end: 999 });
  assert.deepEqual(parseRange("bytes=-5000", 1000), { start: 0, end: 999 });
  assert.deepEqual(parseRange("bytes=990-2000", 1000), { start: 990, end: 999 });
  assert.equal(parseRange("bytes=1000-", 1000), "unsatisfiable");
  assert.equal(parseRange("bytes=5-4", 1000), "unsatisfiable");
  assert.equal(parseRange("bytes=-0", 1000), "unsatisfiable");
  assert.equal(parseRange(undefined, 1000), undefined);
  assert.equal(parseRange("items=0-1", 1000), undefined);
  assert.equal(parseRange("bytes=0-1,5-6", 1000), undefined);
});

/** A VP8 packet: descriptor (S bit on the first), frame tag P bit 0 for a keyframe. */
function vp8(seq: number, ts: number, first: boolean, marker: boolean, key: boolean) {
  const payload = Buffer.alloc(20, 0xab);
  payload[0] = first ? 0x10 : 0x00;
  payload[1] = key ? 0x00 : 0x01;
  return new RtpPacket(
    new RtpHeader({ sequenceNumber: seq & 0xffff, timestamp: ts, marker, payloadType: 96 }),
    payload,
  );
}

Deno.test("FrameAssembler: reorders, cuts at the marker, waits for a keyframe after a loss", () => {
  const a = new FrameAssembler("vp8");
  const frames = [];
  // frame 1 (key): seq 65534, 65535, 0 (wraps), the last two delivered out of order
  frames.push(...a.push(vp8(65534, 1000, true, false, true), 0).frames);
  frames.push(...a.push(vp8(0, 1000, false, true, true), 1).frames);
  assert.equal(frames.length, 0);
  frames.push(...a.push(vp8(65535, 1000, false, false, true), 2).frames);
  assert.equal(frames.length, 1);
  assert.equal(frames[0].keyframe, true);
  // frame 2 (delta) in order
  frames.push(...a.push(vp8(1, 4000, true, true, false), 3).frames);
  assert.equal(frames.length, 2);
  assert.equal(frames[1].timestamp - frames[0].timestamp, 3000);
  // seq 2 lost: frame 3 (4) waits, then is given up on; a delta frame is not written
  let r = a.push(vp8(3, 7000, true, true, false), 4);
  assert.equal(r.frames.length, 0);
  r = a.push(vp8(4, 10000, true, true, false), 200);
  assert.equal(r.lost, true);
  assert.equal(r.frames.length, 0);
  r = a.push(vp8(5, 13000, true, true, true), 201);
  assert.equal(r.frames.length, 1);
  assert.equal(r.frames[0].keyframe, true);
});

Deno.test("H.264 for WebM: Annex B → length-prefixed NAL units, avcC; VP8 keyframe size", () => {
  const sps = Uint8Array.of(0x67, 0x42, 0xc0, 0x1e, 0xda);
  const pps = Uint8Array.of(0x68, 0xce, 0x0f);
  const idr = Uint8Array.of(0x65, 1, 2, 3);
  const annexB = Uint8Array.of(
    0,
    0,
    0,
    1,
    ...sps,
    0,
    0,
    1,
    ...pps,
    0,
    0,
    0,
    1,
    9,
    0xf0,
    0,
    0,
    1,
    ...idr,
  );
  assert.equal(annexBUnits(annexB).length, 4);
  assert.deepEqual(
    [...toAvcc(annexB)],
    [0, 0, 0, 5, ...sps, 0, 0, 0, 3, ...pps, 0, 0, 0, 4, ...idr],
  );
  assert.deepEqual([...avcC(sps, pps)], [
    1,
    0x42,
    0xc0,
    0x1e,
    0xff,
    0xe1,
    0,
    5,
    ...sps,
    1,
    0,
    3,
    ...pps,
  ]);
  const key = Uint8Array.of(0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00);
  assert.deepEqual(vp8Size(key), { width: 320, height: 240 });
});

Deno.test("h264Size: x264's SPS (High 1080p with cropping, Baseline 360p)", () => {
  // deno-fmt-ignore
  const high1080 = Uint8Array.of(0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5,
    0xc0, 0x44, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc6, 0x58);
  // deno-fmt-ignore
  const base360 = Uint8Array.of(0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x2f, 0xf9, 0x70, 0x11,
    0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x0f, 0x16, 0x2e, 0x48);
  assert.deepEqual(h264Size(high1080), { width: 1920, height: 1080 });
  assert.deepEqual(h264Size(base360), { width: 640, height: 360 });
  assert.deepEqual(h264Size(Uint8Array.of(0x67)), {});
});

Deno.test("av1Config: av1C and size from libaom's sequence header (640×360, 4:2:0)", () => {
  // deno-fmt-ignore
  const sequenceHeader = Uint8Array.of(0x0a, 0x0b, 0x00, 0x00, 0x00, 0x0c, 0xc4, 0xff, 0x67, 0x36,
    0xbe, 0x40, 0x10);
  // a temporal delimiter, the sequence header, and a frame OBU without a size field (the last)
  const frame = Uint8Array.of(0x12, 0x00, ...sequenceHeader, 0x30, 1, 2, 3);
  const config = av1Config(frame)!;
  assert.equal(config.width, 640);
  assert.equal(config.height, 360);
  assert.deepEqual([...config.codecPrivate], [0x81, 0x01, 0x0c, 0x00, ...sequenceHeader]);
  assert.equal(av1Config(Uint8Array.of(0x12, 0x00, 0x30, 1, 2, 3)), undefined);
});
