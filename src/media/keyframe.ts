/**
 * Detects the first RTP packet of a keyframe from the payload descriptor alone, without
 * depacketizing: the SFU asks this for every video packet, so it reads a few bytes and no more.
 *
 * Hand-written because werift's depacketizers parse (and copy) the whole payload.
 *
 * @module
 */
import type { CodecFamily } from "./codecs.ts";

/** True when `payload` starts a keyframe (VP8, VP9, H.264, AV1). */
export function isKeyframeStart(family: CodecFamily, payload: Uint8Array): boolean {
  switch (family) {
    case "vp8":
      return vp8(payload);
    case "vp9":
      return vp9(payload);
    case "h264":
      return h264(payload);
    case "av1":
      return payload.length > 0 && (payload[0] & 0x08) !== 0; // N: new coded video sequence
    default:
      return false;
  }
}

/** RFC 7741: S=1, PID=0, then the VP8 frame header's P bit is 0 for a keyframe. */
function vp8(p: Uint8Array): boolean {
  if (p.length < 1) return false;
  const x = (p[0] & 0x80) !== 0;
  const s = (p[0] & 0x10) !== 0;
  const pid = p[0] & 0x07;
  if (!s || pid !== 0) return false;
  let i = 1;
  if (x) {
    if (p.length < 2) return false;
    const ext = p[1];
    i = 2;
    if (ext & 0x80) i += p.length > i && (p[i] & 0x80) ? 2 : 1; // I: PictureID, M bit = 15 bits
    if (ext & 0x40) i += 1; // L: TL0PICIDX
    if (ext & 0x30) i += 1; // T or K: TID/Y/KEYIDX
  }
  return p.length > i && (p[i] & 0x01) === 0;
}

/** RFC 9628 (VP9 payload descriptor): B=1 (start of frame) and P=0 (not inter-predicted). */
function vp9(p: Uint8Array): boolean {
  if (p.length < 1) return false;
  const pBit = (p[0] & 0x40) !== 0;
  const bBit = (p[0] & 0x08) !== 0;
  return bBit && !pBit;
}

/** RFC 6184: an IDR or SPS NAL unit, alone, aggregated in STAP-A, or starting a FU-A. */
function h264(p: Uint8Array): boolean {
  if (p.length < 1) return false;
  const type = p[0] & 0x1f;
  if (type === 5 || type === 7) return true;
  if (type === 24) { // STAP-A: [size16][nal]…
    let i = 1;
    while (i + 2 < p.length) {
      const size = (p[i] << 8) | p[i + 1];
      const nal = p[i + 2] & 0x1f;
      if (nal === 5 || nal === 7) return true;
      i += 2 + size;
    }
    return false;
  }
  if (type === 28 && p.length > 1) { // FU-A: start bit and IDR type
    return (p[1] & 0x80) !== 0 && (p[1] & 0x1f) === 5;
  }
  return false;
}
