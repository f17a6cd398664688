/**
 * Silence measured in the time the event loop ran. The room store ends a session whose peer was
 * silent for `SESSION_TIMEOUT`; a peer's datagrams are only heard when the loop turns, so a stall
 * of the server's own loop (a join storm at 100 % CPU, a long collection, the VM paused) looks
 * like silence from every peer at once, and the first sweep after a stall as long as the timeout
 * would end every session — before the datagrams that waited in the socket are read. Here each
 * sweep tick says how late it came; lateness beyond {@link TICK_SLACK_MS} is time the loop did not
 * run, and it is not counted as anyone's silence. A loop that is merely slow (every tick a little
 * late) still counts nearly all of its time, so silent sessions still end under load.
 *
 * @module
 */

/** A sweep tick this much late is still on time (timer jitter, a busy turn), ms. */
export const TICK_SLACK_MS = 250;
/** Stalls remembered (older ones count as silence again: conservative). */
const KEPT_STALLS = 64;

/** The sweeper's clock: real time minus the event loop's stalls. */
export class LiveClock {
  readonly #intervalMs: number;
  #dueAt: number;
  /** Total stalled time so far, ms. */
  #stalled = 0;
  /** Recent stalls: when each was seen and the total stalled time after it. */
  readonly #stalls: { at: number; total: number }[] = [];
  /** The total before the oldest kept stall. */
  #base = 0;

  /**
   * @param intervalMs the sweep's interval
   * @param now `performance.now()` when the sweep's timer was started
   */
  constructor(intervalMs: number, now: number) {
    this.#intervalMs = intervalMs;
    this.#dueAt = now + intervalMs;
  }

  /** A sweep tick at `now`: returns how long the loop stalled before it, ms (0: on time). */
  tick(now: number): number {
    const stalled = Math.max(0, now - this.#dueAt - TICK_SLACK_MS);
    this.#dueAt = now + this.#intervalMs;
    if (stalled === 0) return 0;
    this.#stalled += stalled;
    this.#stalls.push({ at: now, total: this.#stalled });
    if (this.#stalls.length > KEPT_STALLS) this.#base = this.#stalls.shift()!.total;
    return stalled;
  }

  /** How long a peer last heard at `heardAt` has been silent at `now`, stalls not counted, ms. */
  silentFor(heardAt: number, now: number): number {
    let before = this.#base; // the stalled total when the peer was last heard
    for (let i = this.#stalls.length - 1; i >= 0; i--) {
      if (this.#stalls[i].at <= heardAt) {
        before = this.#stalls[i].total;
        break;
      }
    }
    return now - heardAt - (this.#stalled - before);
  }
}
