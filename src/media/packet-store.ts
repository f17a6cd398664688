/**
 * The recent packets every player's NACK history points into: one ring for every source of the
 * process (each publication's layers and audio), written once per forwarded packet, while each
 * player's stream (egress-stream.ts) keeps only numbers — the packet's position here — in its
 * `Float64Array`. Before, each player's ring held a reference to the payload of every packet it
 * was sent: one old-to-new pointer per packet per player, which the young-generation collector
 * visits at every scavenge (at 300 players, 300 per forwarded packet); now it is one.
 *
 * A position is a counter (wrapped at 2^30, a small integer for V8); a position is valid while
 * the ring has not written over it, checked by age. The fan-out is synchronous (feed.ts hands a
 * packet to every player before the next one), so a packet handed to many players is added once:
 * {@link PacketStore.add} returns the newest position when the packet is the one just added. A
 * packet handed over later (a keyframe cache's replay) gets a new position, which is correct too.
 *
 * The ring never overwrites a packet younger than `holdMs`: it doubles instead (up to
 * `maxSlots`), so a history of one second stays answerable whatever the number of sources. What
 * it holds after the last source stops is bounded by its size and replaced as traffic resumes.
 *
 * @module
 */
import type { RtpPacket } from "werift";

/** Positions wrap at 2^30 (small integers in V8: no heap number per add). */
const POSITION_MASK = 0x3fff_ffff;

/** A ring of recent packets addressed by position. */
export class PacketStore {
  readonly #holdMs: number;
  readonly #maxSlots: number;
  #packets: (RtpPacket | undefined)[];
  #times: Float64Array;
  #mask: number;
  /** Position of the next packet added. */
  #next = 0;
  /** Positions issued, counted up to `maxSlots`. */
  #added = 0;

  /**
   * @param slots initial ring size (a power of two)
   * @param holdMs a packet younger than this is never overwritten (the ring grows instead)
   * @param maxSlots the ring's largest size (a power of two ≤ 2^29)
   * @param firstPosition the first position issued (tests start near the wrap)
   */
  constructor(slots = 4096, holdMs = 2000, maxSlots = 1 << 20, firstPosition = 0) {
    if (!isPowerOfTwo(slots) || !isPowerOfTwo(maxSlots) || maxSlots > 1 << 29) {
      throw new RangeError(`slots ${slots}, maxSlots ${maxSlots}: powers of two ≤ 2^29`);
    }
    this.#holdMs = holdMs;
    this.#maxSlots = maxSlots;
    this.#packets = new Array(slots).fill(undefined);
    this.#times = new Float64Array(slots);
    this.#mask = slots - 1;
    this.#next = firstPosition & POSITION_MASK;
  }

  /** The ring's size, slots. */
  get slots(): number {
    return this.#mask + 1;
  }

  /**
   * The position of `rtp` added at `now` (`performance.now()`): the last position when `rtp` is
   * the packet added last, a new one otherwise.
   */
  add(rtp: RtpPacket, now: number): number {
    const mask = this.#mask;
    const last = (this.#next - 1) & POSITION_MASK;
    if (this.#packets[last & mask] === rtp && this.#added > 0) return last;
    let slot = this.#next & mask;
    if (
      this.#packets[slot] !== undefined && now - this.#times[slot] < this.#holdMs &&
      mask + 1 < this.#maxSlots
    ) {
      this.#grow();
      slot = this.#next & this.#mask;
    }
    this.#packets[slot] = rtp;
    this.#times[slot] = now;
    const position = this.#next;
    this.#next = (position + 1) & POSITION_MASK;
    if (this.#added < this.#maxSlots) this.#added++; // only "fewer than the ring" matters
    return position;
  }

  /** The packet at `position`, or undefined when the ring has written over it since. */
  get(position: number): RtpPacket | undefined {
    const age = (this.#next - position) & POSITION_MASK; // 1 for the newest
    if (age === 0 || age > this.#mask + 1 || age > this.#added) return undefined;
    return this.#packets[position & this.#mask];
  }

  /** Doubles the ring, each held packet moved to its slot in the larger one. */
  #grow(): void {
    const oldMask = this.#mask;
    const slots = (oldMask + 1) * 2;
    const packets: (RtpPacket | undefined)[] = new Array(slots).fill(undefined);
    const times = new Float64Array(slots);
    const held = Math.min(this.#added, oldMask + 1);
    for (let age = 1; age <= held; age++) {
      const position = (this.#next - age) & POSITION_MASK;
      packets[position & (slots - 1)] = this.#packets[position & oldMask];
      times[position & (slots - 1)] = this.#times[position & oldMask];
    }
    this.#packets = packets;
    this.#times = times;
    this.#mask = slots - 1;
  }
}

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/**
 * The process's one store (the event loop is single-threaded): every forwarded packet of every
 * source, for the players' NACK answers. Holds at most its ring of packets.
 */
export const PACKETS: PacketStore = new PacketStore();
