/**
 * The last keyframe of a video layer and every packet after it, so a player that joins
 * mid-GOP is primed at once instead of waiting for the encoder's next keyframe (OBS never
 * answers a PLI). Bounded in bytes: past the bound the cache empties until the next keyframe.
 *
 * @module
 */
import type { RtpPacket } from "werift";

/** Default bound: 4 MiB, ~12 s of a 2.5 Mbit/s stream. */
export const KEYFRAME_CACHE_BYTES = 4 * 1024 * 1024;

/** Packets from the last keyframe on. */
export class KeyframeCache {
  #packets: RtpPacket[] = [];
  #bytes = 0;
  #maxBytes: number;

  /** @param maxBytes the most payload bytes kept. */
  constructor(maxBytes = KEYFRAME_CACHE_BYTES) {
    this.#maxBytes = maxBytes;
  }

  /** Adds a packet; a keyframe's first packet starts the cache anew. */
  push(rtp: RtpPacket, keyframe: boolean): void {
    if (this.#maxBytes === 0) return;
    if (keyframe) {
      this.#packets = [];
      this.#bytes = 0;
    } else if (this.#packets.length === 0) {
      return; // nothing decodable to append to
    }
    this.#bytes += rtp.payload.length;
    if (this.#bytes > this.#maxBytes) {
      this.clear();
      return;
    }
    this.#packets.push(rtp);
  }

  /** The packets from the last keyframe on, oldest first (empty when there is none). */
  packets(): readonly RtpPacket[] {
    return this.#packets;
  }

  /** Forgets everything. */
  clear(): void {
    this.#packets = [];
    this.#bytes = 0;
  }
}
