/**
 * Reads what the keyframe cache needs from an RTP payload's descriptor alone, without
 * depacketizing: whether the packet starts a keyframe, and for H.264 whether it carries parameter
 * sets. The SFU asks this once per video packet and layer, so it reads a few bytes and no more.
 *
 * Hand-written because werift's depacketizers parse (and copy) the whole payload.
 *
 * @module
 */
import type { CodecFamily } from "./codecs.ts";
import { NAL, nalTypes } from "./h264.ts";

/**
 * The packet starts a keyframe, or for H.264 holds an IDR slice (alone, aggregated, or the first
 * fragment of one). The access unit it belongs to may have begun earlier (parameter sets, an
 * access unit delimiter, SEI in packets of the same timestamp): the cache keeps those too.
 */
export const KEY = 1;
/** H.264: the packet carries a sequence parameter set. */
export const SPS = 2;
/** H.264: the packet carries a picture parameter set. */
export const PPS = 4;

/** What `payload` holds, as {@link KEY} | {@link SPS} | {@link PPS} bits. */
export function inspect(family: CodecFamily, payload: Uint8Array): number {
  switch (family) {
    case "vp8":
      return vp8(payload) ? KEY : 0;
    case "vp9":
      return vp9(payload) ? KEY : 0;
    case "h264": {
      const types = nalTypes(payload);
      return ((types >> NAL.IDR) & 1) * KEY | ((types >> NAL.SPS) & 1) * SPS |
        ((types >> NAL.PPS) & 1) * PPS;
    }
    case "av1":
      // N: the first packet of a new coded video sequence (a keyframe with its sequence header)
      return payload.length > 0 && (payload[0] & 0x08) !== 0 ? KEY : 0;
    default:
      return 0;
  }
}

/**
 * True when `payload` starts a keyframe (VP8, VP9, AV1), or holds an IDR slice or the start of
 * one (H.264).
 */
export function isKeyframeStart(family: CodecFamily, payload: Uint8Array): boolean {
  return (inspect(family, payload) & KEY) !== 0;
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

/**
 * RFC 9628 (VP9 payload descriptor, byte 0: I P L F B E V Z): B=1 (start of a frame), P=0 (not
 * inter-picture predicted) and, when the layer indices are present (L), spatial layer 0: the
 * upper spatial layers of a key picture have the same timestamp and are part of its start.
 */
function vp9(p: Uint8Array): boolean {
  if (p.length < 1) return false;
  const b = p[0];
  if ((b & 0x08) === 0 || (b & 0x40) !== 0) return false;
  if ((b & 0x20) === 0) return true; // no layer indices: one spatial layer
  let i = 1;
  if (b & 0x80) i += p.length > i && (p[i] & 0x80) ? 2 : 1; // I: PictureID, M bit = 15 bits
  return p.length > i && ((p[i] >> 1) & 0x07) === 0; // TID(3) U SID(3) D
}
