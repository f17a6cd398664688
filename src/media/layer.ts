/**
 * One video layer of a publication: the whole video of a plain publisher, or one simulcast
 * encoding (`rid`). It keeps its keyframe cache, its SSRC (for PLI) and a bitrate estimate
 * and resolution for layer selection and the WHEP `layers` event.
 *
 * @module
 */
import type { RtpPacket } from "werift";
import { KeyframeCache } from "./keyframe-cache.ts";
import { type CodecFamily, codecFamily } from "./codecs.ts";
import type { Codec } from "../sdp/offer.ts";
import { spropParameterSets } from "../sdp/fmtp.ts";

/** What the WHEP `layers` event and the room view say about a layer. */
export interface LayerInfo {
  /** Simulcast rid ("" for a publication without simulcast). */
  rid: string;
  /** Measured bitrate, bit/s (0 while inactive). */
  bitrate: number;
  /** Width from the last keyframe, when the codec says it (VP8). */
  width?: number;
  /** Height from the last keyframe. */
  height?: number;
}

/** Bitrate is measured over windows of this length, ms. */
const WINDOW_MS = 1000;

/** A video layer. */
export class VideoLayer {
  /** Simulcast rid, or "". */
  readonly rid: string;
  /** Media SSRC, once a packet arrived. */
  ssrc?: number;
  /** Last keyframe and the packets after it. */
  readonly cache: KeyframeCache;
  /** Resolution from the last keyframe. */
  width?: number;
  /** Resolution from the last keyframe. */
  height?: number;
  #bitrate = 0;
  #windowStart = performance.now();
  #windowBytes = 0;
  #lastPacketAt = 0;

  readonly #family?: CodecFamily;

  /**
   * @param rid the simulcast rid, or ""
   * @param cacheBytes the keyframe cache's bound
   * @param codec the publication's video codec (its H.264 `sprop-parameter-sets` seed the cache)
   */
  constructor(rid: string, cacheBytes?: number, codec?: Codec) {
    this.rid = rid;
    this.#family = codec && codecFamily(codec);
    const sprop = this.#family === "h264" && codec ? spropParameterSets(codec) : [];
    this.cache = new KeyframeCache(cacheBytes, this.#family, sprop);
  }

  /**
   * Accounts for one packet of this layer, with what `cache.classify` said of it (the
   * publication asks first, to act before the cache holds a keyframe); true when it starts a
   * keyframe.
   */
  receive(rtp: RtpPacket, flags: number = this.cache.classify(rtp)): boolean {
    this.ssrc = rtp.header.ssrc;
    const now = performance.now();
    this.#lastPacketAt = now;
    this.#windowBytes += rtp.payload.length + 12;
    if (now - this.#windowStart >= WINDOW_MS) {
      this.#bitrate = (this.#windowBytes * 8 * 1000) / (now - this.#windowStart);
      this.#windowStart = now;
      this.#windowBytes = 0;
    }
    const keyframe = this.cache.push(rtp, flags);
    if (keyframe && this.#family === "vp8") {
      const size = vp8KeyframeSize(rtp.payload);
      if (size) ({ width: this.width, height: this.height } = size);
    }
    return keyframe;
  }

  /** Bits per second over the last full window; 0 when no packet came for two windows. */
  get bitrate(): number {
    return performance.now() - this.#lastPacketAt > 2 * WINDOW_MS ? 0 : this.#bitrate;
  }

  /** The public description. */
  info(): LayerInfo {
    return {
      rid: this.rid,
      bitrate: Math.round(this.bitrate),
      width: this.width,
      height: this.height,
    };
  }
}

/** Width and height of a VP8 keyframe, from its first packet (RFC 6386 §9.1). */
export function vp8KeyframeSize(p: Uint8Array): { width: number; height: number } | undefined {
  let i = 1;
  if (p[0] & 0x80) {
    const ext = p[1];
    i = 2;
    if (ext & 0x80) i += p[i] & 0x80 ? 2 : 1;
    if (ext & 0x40) i += 1;
    if (ext & 0x30) i += 1;
  }
  // frame tag (3 bytes), start code 9d 01 2a, then 14-bit width and height (little-endian)
  if (p.length < i + 10 || p[i + 3] !== 0x9d || p[i + 4] !== 0x01 || p[i + 5] !== 0x2a) {
    return undefined;
  }
  const width = (p[i + 6] | (p[i + 7] << 8)) & 0x3fff;
  const height = (p[i + 8] | (p[i + 9] << 8)) & 0x3fff;
  return { width, height };
}
