/**
 * The last keyframe of a video layer and every packet after it, so a player that joins
 * mid-GOP is primed at once instead of waiting for the encoder's next keyframe (OBS never
 * answers a PLI). Bounded in bytes: past the bound the cache empties until the next keyframe.
 *
 * The cache thinks in access units (the packets of one RTP timestamp): it restarts at the first
 * keyframe packet of a new timestamp and keeps the packets of that timestamp that came before it
 * (H.264 parameter sets, an access unit delimiter, SEI in packets of their own), and a keyframe
 * packet of the cached keyframe's own timestamp (a STAP-A then FU-A, an IDR in several slices,
 * the spatial layers of a VP9 key picture) never restarts it. For H.264 it remembers the last
 * SPS and PPS seen in-band or signalled in `sprop-parameter-sets`, and when the cached IDR's
 * access unit has none, puts them in front (see {@link KeyframeCache.packets}).
 *
 * `push` runs once per packet and layer (not per player): it reads a few bytes, compares a
 * timestamp and appends, and copies only a parameter set that changed.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { RtpHeader, RtpPacket } from "werift";
import type { CodecFamily } from "./codecs.ts";
import { inspect, KEY, PPS, SPS } from "./keyframe.ts";
import { forEachParameterSet, NAL, sameBytes, stapA } from "./h264.ts";

/** Default bound: 4 MiB, ~12 s of a 2.5 Mbit/s stream. */
export const KEYFRAME_CACHE_BYTES = 4 * 1024 * 1024;

/** With the cache off (bound 0), the keyframe's own access unit is still kept, up to this. */
const UNIT_MAX_BYTES = 1024 * 1024;

const NONE: readonly RtpPacket[] = Object.freeze([]);

/** Packets from the last keyframe's access unit on. */
export class KeyframeCache {
  #packets: RtpPacket[] = [];
  #bytes = 0;
  readonly #maxBytes: number;
  readonly #family?: CodecFamily;
  /** #packets begins with a keyframe's access unit (else: only the newest access unit). */
  #keyed = false;
  /** A packet came (#ts is a real timestamp). */
  #seen = false;
  /** The newest access unit: its timestamp, first index in #packets, and whether it is a key. */
  #ts = 0;
  #unitFrom = 0;
  #unitKey = false;
  /** What the newest access unit's packets carried (KEY | SPS | PPS). */
  #unitHas = 0;
  /** The cached keyframe's timestamp, and the parameter sets its access unit carries. */
  #keyTs = 0;
  #keyHas = 0;
  /** H.264: the last SPS and PPS (in-band or from the offer's sprop-parameter-sets). */
  #sps?: Uint8Array;
  #pps?: Uint8Array;
  /** H.264: the packets written in front of the cached keyframe, once computed. */
  #front?: { replaces: number; packets: RtpPacket[] };

  /**
   * @param maxBytes the most payload bytes kept (0: only a keyframe's access unit while it is
   *   the newest, so a player starting at a live keyframe gets the whole of it).
   * @param family the codec; without one no packet is a keyframe.
   * @param parameterSets H.264 NAL units signalled out of band (sprop-parameter-sets).
   */
  constructor(
    maxBytes = KEYFRAME_CACHE_BYTES,
    family?: CodecFamily,
    parameterSets: readonly Uint8Array[] = [],
  ) {
    this.#maxBytes = maxBytes;
    this.#family = family;
    for (const nal of parameterSets) this.#learn(nal);
  }

  /**
   * What {@link push} will make of `rtp`, changing nothing: {@link KEY} when it starts a
   * keyframe (the first keyframe packet of a timestamp newer than any seen: the cache restarts
   * there, with the packets of that timestamp before it), {@link SPS}, {@link PPS}.
   */
  classify(rtp: RtpPacket): number {
    let flags = this.#family === undefined ? 0 : inspect(this.#family, rtp.payload);
    if ((flags & KEY) !== 0 && this.#seen) {
      const ts = rtp.header.timestamp;
      if (ts === this.#ts ? this.#unitKey : ((ts - this.#ts) | 0) < 0) flags &= ~KEY;
    }
    return flags;
  }

  /**
   * Adds a packet, with what {@link classify} said of it. True when it starts a keyframe.
   */
  push(rtp: RtpPacket, flags: number = this.classify(rtp)): boolean {
    if (flags & (SPS | PPS)) forEachParameterSet(rtp.payload, (nal) => this.#learn(nal));
    const ts = rtp.header.timestamp;
    if (ts !== this.#ts || !this.#seen) {
      if (this.#seen && ((ts - this.#ts) | 0) < 0) {
        // a late packet of an earlier access unit (reordered, retransmitted)
        if (this.#keyed && ((ts - this.#keyTs) | 0) >= 0) this.#add(rtp);
        return false;
      }
      if (!this.#keyed || this.#maxBytes === 0) this.clear();
      this.#seen = true;
      this.#ts = ts;
      this.#unitFrom = this.#packets.length;
      this.#unitKey = false;
      this.#unitHas = 0;
    }
    this.#unitHas |= flags;
    let start = false;
    if ((flags & KEY) !== 0 && !this.#unitKey && ts === this.#ts) {
      // a new keyframe: the cache restarts at its access unit
      this.#unitKey = true;
      if (this.#unitFrom > 0) {
        this.#packets = this.#packets.slice(this.#unitFrom);
        this.#bytes = 0;
        for (const p of this.#packets) this.#bytes += p.payload.length;
        this.#unitFrom = 0;
      }
      this.#keyed = true;
      this.#keyTs = ts;
      this.#front = undefined;
      start = true;
    }
    if (this.#keyed && ts === this.#keyTs) this.#keyHas = this.#unitHas;
    this.#add(rtp);
    return start;
  }

  /**
   * The packets from the last keyframe's access unit on, oldest first (empty when there is
   * none). For H.264, when that access unit carries no SPS or no PPS and the cache knows both,
   * they come first: as a STAP-A [AUD, SPS, PPS] in place of a leading access unit delimiter
   * (same sequence number), else as a STAP-A [SPS, PPS] numbered one before the first packet,
   * with the keyframe's timestamp, so a player's sequence numbers stay continuous (the first
   * packet sent sets its offset) and its NACKs find the packet in the send history.
   */
  packets(): readonly RtpPacket[] {
    if (!this.#keyed) return NONE;
    if (this.#family !== "h264" || (this.#keyHas & (SPS | PPS)) === (SPS | PPS)) {
      return this.#packets;
    }
    const front = this.#front ??= this.#parameterSetsInFront();
    if (!front) return this.#packets;
    return [...front.packets, ...this.#packets.slice(front.replaces)];
  }

  /** Forgets the packets (not the parameter sets). */
  clear(): void {
    this.#packets = [];
    this.#bytes = 0;
    this.#keyed = false;
    this.#unitFrom = 0;
  }

  #add(rtp: RtpPacket): void {
    this.#bytes += rtp.payload.length;
    if (this.#bytes > (this.#maxBytes > 0 ? this.#maxBytes : UNIT_MAX_BYTES)) {
      this.clear();
      this.#unitKey = true; // the rest of this access unit cannot start a keyframe either
      return;
    }
    this.#packets.push(rtp);
  }

  /** Keeps a copy of an SPS or PPS that differs from the one kept. */
  #learn(nal: Uint8Array): void {
    const type = nal[0] & 0x1f;
    if (type === NAL.SPS && !sameBytes(this.#sps, nal)) {
      this.#sps = nal.slice();
      this.#front = undefined;
    } else if (type === NAL.PPS && !sameBytes(this.#pps, nal)) {
      this.#pps = nal.slice();
      this.#front = undefined;
    }
  }

  #parameterSetsInFront(): { replaces: number; packets: RtpPacket[] } | undefined {
    const first = this.#packets[0];
    if (!first || !this.#sps || !this.#pps) return undefined;
    const h = first.header;
    const packet = (seq: number, payload: Uint8Array) =>
      new RtpPacket(
        new RtpHeader({
          payloadType: h.payloadType,
          sequenceNumber: seq & 0xffff,
          timestamp: this.#keyTs,
          ssrc: h.ssrc,
          marker: false,
        }),
        Buffer.from(payload.buffer, payload.byteOffset, payload.length),
      );
    if ((first.payload[0] & 0x1f) === NAL.AUD && h.timestamp === this.#keyTs) {
      const unit = stapA([first.payload, this.#sps, this.#pps]);
      return { replaces: 1, packets: [packet(h.sequenceNumber, unit)] };
    }
    return {
      replaces: 0,
      packets: [packet(h.sequenceNumber - 1, stapA([this.#sps, this.#pps]))],
    };
  }
}

/**
 * How many of `packets` ({@link KeyframeCache.packets}) carry the keyframe's access unit: the
 * leading ones of the first packet's timestamp (with H.264 parameter sets put in front), `max`
 * at most.
 */
export function keyframeUnitLength(packets: readonly RtpPacket[], max = Infinity): number {
  const ts = packets[0]?.header.timestamp;
  let n = 0;
  while (n < packets.length && n < max && packets[n].header.timestamp === ts) n++;
  return n;
}
