/**
 * What a WebM video track needs from the bitstream: the picture size (VP8 and VP9 keyframe
 * headers, the H.264 SPS) and, for H.264, the avcC CodecPrivate and frames as length-prefixed
 * NAL units (WebM's `V_MPEG4/ISO/AVC` is ISO 14496-15, not Annex B); for AV1, av1C and the size
 * from the sequence header (`av1.ts`).
 *
 * @module
 */
import type { CodecFamily } from "../media/codecs.ts";
import { concat } from "./ebml.ts";
import type { WebmTracks } from "./webm.ts";
import { av1Config } from "./av1.ts";

/** The NAL units of an Annex B stream (start codes removed). */
export function annexBUnits(data: Uint8Array): Uint8Array[] {
  const units: Uint8Array[] = [];
  let start = -1;
  for (let i = 0; i + 2 < data.length; i++) {
    if (data[i] === 0 && data[i + 1] === 0 && data[i + 2] === 1) {
      if (start >= 0) units.push(trimZeros(data.subarray(start, i)));
      start = i + 3;
      i += 2;
    }
  }
  if (start >= 0 && start < data.length) units.push(data.subarray(start));
  return units.filter((u) => u.length > 0);
}

function trimZeros(u: Uint8Array): Uint8Array {
  let end = u.length;
  while (end > 0 && u[end - 1] === 0) end--;
  return u.subarray(0, end);
}

/** Annex B → 4-byte length-prefixed NAL units (AUDs dropped). */
export function toAvcc(data: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const unit of annexBUnits(data)) {
    if ((unit[0] & 0x1f) === 9) continue; // access unit delimiter
    const length = new Uint8Array(4);
    new DataView(length.buffer).setUint32(0, unit.length);
    parts.push(length, unit);
  }
  return concat(parts);
}

/** The avcC record (ISO 14496-15 §5.2.4.1) of one SPS and one PPS. */
export function avcC(sps: Uint8Array, pps: Uint8Array): Uint8Array {
  return concat([
    Uint8Array.of(1, sps[1], sps[2], sps[3], 0xff, 0xe1, sps.length >> 8, sps.length & 0xff),
    sps,
    Uint8Array.of(1, pps.length >> 8, pps.length & 0xff),
    pps,
  ]);
}

/**
 * The video track of a file that starts with `keyframe` (in the depacketizer's form), or
 * undefined when it cannot start there (H.264 without SPS and PPS in front).
 */
export function videoTrack(
  family: CodecFamily,
  keyframe: Uint8Array,
): WebmTracks["video"] | undefined {
  switch (family) {
    case "vp8":
      return { codec: "VP8", ...vp8Size(keyframe) };
    case "vp9":
      return { codec: "VP9", ...vp9Size(keyframe) };
    case "av1": {
      const config = av1Config(keyframe);
      return config ? { codec: "AV1", ...config } : undefined; // the next keyframe, with one
    }
    case "h264": {
      const units = annexBUnits(keyframe);
      const sps = units.find((u) => (u[0] & 0x1f) === 7);
      const pps = units.find((u) => (u[0] & 0x1f) === 8);
      if (!sps || !pps) return undefined;
      return { codec: "H264", codecPrivate: avcC(sps, pps), ...h264Size(sps) };
    }
    default:
      return undefined;
  }
}

/** VP8 keyframe: 3-byte tag, start code 9d 01 2a, 14-bit width and height (RFC 6386 §9.1). */
export function vp8Size(frame: Uint8Array): { width?: number; height?: number } {
  if (frame.length < 10 || frame[3] !== 0x9d || frame[4] !== 0x01 || frame[5] !== 0x2a) return {};
  return {
    width: (frame[6] | (frame[7] << 8)) & 0x3fff,
    height: (frame[8] | (frame[9] << 8)) & 0x3fff,
  };
}

/** A most-significant-bit-first reader. */
class Bits {
  #pos = 0;
  constructor(readonly bytes: Uint8Array) {}
  bit(): number {
    const byte = this.bytes[this.#pos >> 3];
    if (byte === undefined) throw new RangeError("past the end");
    return (byte >> (7 - (this.#pos++ & 7))) & 1;
  }
  bits(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 2 + this.bit();
    return v;
  }
  ue(): number {
    let zeros = 0;
    while (this.bit() === 0) if (++zeros > 31) throw new RangeError("bad exp-Golomb");
    return 2 ** zeros - 1 + this.bits(zeros);
  }
  se(): number {
    const k = this.ue();
    return k % 2 ? (k + 1) / 2 : -k / 2;
  }
}

/** VP9 keyframe's uncompressed header (VP9 bitstream spec §6.2). */
export function vp9Size(frame: Uint8Array): { width?: number; height?: number } {
  try {
    const b = new Bits(frame);
    if (b.bits(2) !== 2) return {};
    const profile = b.bit() | (b.bit() << 1);
    if (profile === 3) b.bit();
    if (b.bit()) return {}; // show_existing_frame
    if (b.bit() !== 0) return {}; // not a keyframe
    b.bits(2); // show_frame, error_resilient_mode
    if (b.bits(24) !== 0x498342) return {};
    if (profile >= 2) b.bit();
    const colorSpace = b.bits(3);
    if (colorSpace !== 7) {
      b.bit();
      if (profile === 1 || profile === 3) b.bits(3);
    } else if (profile === 1 || profile === 3) b.bit();
    return { width: b.bits(16) + 1, height: b.bits(16) + 1 };
  } catch {
    return {};
  }
}

/** Picture size from an H.264 SPS (ITU-T H.264 §7.3.2.1.1), cropping applied. */
export function h264Size(nal: Uint8Array): { width?: number; height?: number } {
  try {
    const rbsp: number[] = [];
    for (let i = 1; i < nal.length; i++) { // without emulation-prevention bytes
      if (i >= 3 && nal[i] === 3 && nal[i - 1] === 0 && nal[i - 2] === 0) continue;
      rbsp.push(nal[i]);
    }
    const b = new Bits(Uint8Array.from(rbsp));
    const profile = b.bits(8);
    b.bits(16); // constraint flags, level
    b.ue();
    let chroma = 1;
    if ([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].includes(profile)) {
      chroma = b.ue();
      if (chroma === 3) b.bit();
      b.ue();
      b.ue();
      b.bit();
      if (b.bit()) { // scaling matrices
        for (let i = 0; i < (chroma !== 3 ? 8 : 12); i++) {
          if (!b.bit()) continue;
          let last = 8, next = 8;
          for (let j = 0; j < (i < 6 ? 16 : 64); j++) {
            if (next !== 0) next = (last + b.se() + 256) % 256;
            last = next === 0 ? last : next;
          }
        }
      }
    }
    b.ue(); // log2_max_frame_num
    const pocType = b.ue();
    if (pocType === 0) b.ue();
    else if (pocType === 1) {
      b.bit();
      b.se();
      b.se();
      const n = b.ue();
      for (let i = 0; i < n; i++) b.se();
    }
    b.ue(); // max_num_ref_frames
    b.bit();
    const widthMbs = b.ue() + 1;
    const heightUnits = b.ue() + 1;
    const frameMbsOnly = b.bit();
    if (!frameMbsOnly) b.bit();
    b.bit();
    let crop = [0, 0, 0, 0];
    if (b.bit()) crop = [b.ue(), b.ue(), b.ue(), b.ue()];
    const cropX = chroma === 0 || chroma === 3 ? 1 : 2;
    const cropY = (chroma === 1 ? 2 : 1) * (2 - frameMbsOnly);
    return {
      width: widthMbs * 16 - cropX * (crop[0] + crop[1]),
      height: heightUnits * 16 * (2 - frameMbsOnly) - cropY * (crop[2] + crop[3]),
    };
  } catch {
    return {};
  }
}
