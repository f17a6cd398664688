/**
 * Latency of Redis commands for `/metrics`: a cumulative histogram (Prometheus buckets) and the
 * percentiles of the most recent commands.
 *
 * @module
 */

/** Upper bounds of the histogram's buckets, milliseconds (the last, `+Inf`, is implicit). */
export const LATENCY_BUCKETS_MS: readonly number[] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000];

/** A snapshot of the latencies seen so far. */
export interface LatencySnapshot {
  /** Commands measured since the start. */
  count: number;
  /** Sum of every measured latency, milliseconds. */
  sumMs: number;
  /** Cumulative counts per bucket of {@link LATENCY_BUCKETS_MS}, then `+Inf` (= `count`). */
  buckets: number[];
  /** Median of the recent commands, milliseconds (0 before the first). */
  p50: number;
  /** 99th percentile of the recent commands, milliseconds (0 before the first). */
  p99: number;
}

/** Records command latencies: every one in the histogram, the last `window` for percentiles. */
export class LatencyRecorder {
  #count = 0;
  #sum = 0;
  #buckets = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
  #recent: Float64Array;
  #next = 0;

  /** @param window how many recent latencies the percentiles are computed over. */
  constructor(window = 1024) {
    this.#recent = new Float64Array(Math.max(1, window));
  }

  /** Records one latency in milliseconds. */
  record(ms: number): void {
    this.#recent[this.#next % this.#recent.length] = ms;
    this.#next++;
    this.#count++;
    this.#sum += ms;
    let i = LATENCY_BUCKETS_MS.findIndex((bound) => ms <= bound);
    if (i === -1) i = LATENCY_BUCKETS_MS.length;
    this.#buckets[i]++;
  }

  /** The histogram (cumulative) and the recent percentiles. */
  snapshot(): LatencySnapshot {
    const recent = this.#recent.slice(0, Math.min(this.#next, this.#recent.length)).sort();
    const at = (q: number) =>
      recent.length === 0 ? 0 : recent[Math.min(recent.length - 1, Math.floor(q * recent.length))];
    let running = 0;
    const buckets = this.#buckets.map((n) => running += n);
    return { count: this.#count, sumMs: this.#sum, buckets, p50: at(0.5), p99: at(0.99) };
  }
}
