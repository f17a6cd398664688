/**
 * The replay of a layer's keyframe cache to a player that starts: the cached keyframe and what
 * followed it, paced (a whole GOP at once would overflow socket buffers on the way), with the
 * live packets that arrive meanwhile queued behind it so nothing is reordered.
 *
 * A replay that falls behind is dropped rather than left to lag (a join storm on a busy server:
 * timers come late, the replay sends less than the live stream brings, and the player would stay
 * seconds behind for good): its owner ends it at the next live keyframe, and it gives up by
 * itself when more than {@link REPLAY_LIVE_MAX} live packets wait behind it.
 *
 * @module
 */
import type { RtpPacket } from "werift";
import type { Codec } from "../sdp/offer.ts";
import { keyframeUnitLength } from "./keyframe-cache.ts";

/** Packets per tick (every {@link REPLAY_TICK_MS}), … */
const REPLAY_BATCH = 40;
/** … but the first batch is the keyframe's access unit, up to this. */
const REPLAY_FIRST_MAX = 160;
/** Interval between batches, ms (40 × 1,200 B / 4 ms ≈ 100 Mbit/s, ≈ 10× real time). */
const REPLAY_TICK_MS = 4;
/**
 * Live packets a replay may hold behind it (≈ 3 s of a 2.6 Mbit/s stream); one more and it
 * gives up.
 */
export const REPLAY_LIVE_MAX = 1024;

/** What a replay sends with: one packet at a time, then the batch goes out. */
export interface ReplayTarget {
  /** Queues one packet to the player. */
  forward(rtp: RtpPacket, codec: Codec): void;
  /** Sends what was queued. */
  flush(): void;
}

/**
 * One replay of one source's video; it sends its first batch when made. The live packets queued
 * behind it are of that source, so of its codec too (a new source stops the replay).
 */
export class Replay {
  readonly #target: ReplayTarget;
  readonly #codec: Codec;
  readonly #packets: RtpPacket[];
  #next = 0;
  #live = 0;
  #timer?: ReturnType<typeof setTimeout>;
  #done = false;

  /** Replays `cached` (in codec `codec`) to `target`. */
  constructor(cached: readonly RtpPacket[], codec: Codec, target: ReplayTarget) {
    this.#target = target;
    this.#codec = codec;
    this.#packets = [...cached];
    this.#send(Math.max(keyframeUnitLength(cached, REPLAY_FIRST_MAX), REPLAY_BATCH));
  }

  /** True until every packet went out, or the replay was stopped. */
  get running(): boolean {
    return !this.#done;
  }

  /**
   * Queues a live packet behind the replay; false (and the replay stops) when more than
   * {@link REPLAY_LIVE_MAX} would wait: the player should wait for a keyframe instead.
   */
  queue(rtp: RtpPacket): boolean {
    if (++this.#live > REPLAY_LIVE_MAX) {
      this.stop();
      return false;
    }
    this.#packets.push(rtp);
    return true;
  }

  /** Stops: what is left is dropped. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#done = true;
    this.#packets.length = 0;
  }

  #send(count: number): void {
    if (this.#done) return;
    const packets = this.#packets;
    const end = Math.min(packets.length, this.#next + count);
    for (let i = this.#next; i < end; i++) this.#target.forward(packets[i], this.#codec);
    this.#next = end;
    this.#target.flush();
    if (end < packets.length) {
      this.#timer = setTimeout(() => this.#send(REPLAY_BATCH), REPLAY_TICK_MS);
    } else this.stop();
  }
}
