/**
 * Event-loop lag: how late a repeating 10 ms timer fires. A busy loop (fan-out, crypto, GC)
 * delays every timer and every I/O callback by about as much, so this is the queueing delay the
 * media path sees. Kept as a Prometheus histogram (cumulative buckets, `_sum`, `_count`) so that
 * any scraper, the benchmark included, gets the distribution over its own window from two
 * scrapes, plus a gauge of the largest lag seen since start.
 *
 * The sampler is a single unref'd interval per process (it never keeps the process alive),
 * started on first use.
 *
 * @module
 */

/** Samples kept for {@link LoopLagSampler.recentLag}: 2.5 s of a 10 ms timer that keeps time. */
const RECENT = 256;
/** The window of {@link overloadProbe}, ms. */
export const OVERLOAD_WINDOW_MS = 2000;

/** Upper bounds of the histogram buckets, ms (a final `+Inf` bucket is implied). */
export const LAG_BUCKETS_MS: readonly number[] = [
  0.5,
  1,
  2,
  3,
  5,
  7.5,
  10,
  15,
  20,
  30,
  50,
  75,
  100,
  150,
  250,
  500,
  1000,
  2500,
];

/** A histogram state: per-bucket counts (not cumulative; the last one is `+Inf`), sum, count. */
export interface LagSnapshot {
  /** Upper bounds, ms, as {@link LAG_BUCKETS_MS}. */
  bucketsMs: readonly number[];
  /** Samples per bucket; `counts.length === bucketsMs.length + 1` (overflow last). */
  counts: number[];
  /** Sum of the lags, ms. */
  sumMs: number;
  /** Number of samples. */
  count: number;
  /** Largest lag since start, ms. */
  maxMs: number;
}

/** Samples how late a timer fires, every `intervalMs`. */
export class LoopLagSampler {
  readonly #intervalMs: number;
  readonly #counts: number[] = new Array(LAG_BUCKETS_MS.length + 1).fill(0);
  #sumMs = 0;
  #count = 0;
  #maxMs = 0;
  #timer?: ReturnType<typeof setInterval>;
  #last = 0;
  // the last RECENT samples: when each was taken and its lag, ms (a ring)
  readonly #recentAt = new Float64Array(RECENT);
  readonly #recentLag = new Float64Array(RECENT);
  #recentNext = 0;

  /** A sampler firing every `intervalMs` (not started). */
  constructor(intervalMs = 10) {
    this.#intervalMs = intervalMs;
  }

  /** Starts sampling (idempotent); the timer does not keep the process alive. */
  start(): this {
    if (this.#timer !== undefined) return this;
    this.#last = performance.now();
    this.#timer = setInterval(() => this.#tick(), this.#intervalMs);
    unref(this.#timer);
    return this;
  }

  /** Stops sampling. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Records one lag (ms) taken at `at` (`performance.now()`); public for tests. */
  record(lagMs: number, at = performance.now()): void {
    const lag = Math.max(0, lagMs);
    this.#recentAt[this.#recentNext] = at;
    this.#recentLag[this.#recentNext] = lag;
    this.#recentNext = (this.#recentNext + 1) % RECENT;
    let i = 0;
    while (i < LAG_BUCKETS_MS.length && lag > LAG_BUCKETS_MS[i]) i++;
    this.#counts[i]++;
    this.#sumMs += lag;
    this.#count++;
    if (lag > this.#maxMs) this.#maxMs = lag;
  }

  /**
   * The `q` quantile (0..1) of the lags recorded in the last `windowMs` before `now`, ms
   * (nearest rank); 0 without samples. A loop blocked for seconds records one sample when it
   * resumes, so the window holds few samples then, all of them late.
   */
  recentLag(windowMs: number, q: number, now = performance.now()): number {
    const lags: number[] = [];
    for (let i = 0; i < RECENT; i++) {
      if (this.#recentAt[i] > 0 && now - this.#recentAt[i] <= windowMs) {
        lags.push(this.#recentLag[i]);
      }
    }
    if (lags.length === 0) return 0;
    lags.sort((a, b) => a - b);
    return lags[Math.min(lags.length - 1, Math.ceil(q * lags.length) - 1)];
  }

  /** The histogram so far. */
  snapshot(): LagSnapshot {
    return {
      bucketsMs: LAG_BUCKETS_MS,
      counts: [...this.#counts],
      sumMs: this.#sumMs,
      count: this.#count,
      maxMs: this.#maxMs,
    };
  }

  /** Prometheus text lines: a `<name>` histogram in seconds and a `<name-without-_seconds>_max_seconds` gauge. */
  prometheus(name = "sfu_event_loop_lag_seconds"): string[] {
    const base = name.replace(/_seconds$/, "");
    const lines = [
      `# HELP ${name} Event-loop lag: how late a ${this.#intervalMs} ms timer fires.`,
      `# TYPE ${name} histogram`,
    ];
    let cumulative = 0;
    LAG_BUCKETS_MS.forEach((le, i) => {
      cumulative += this.#counts[i];
      lines.push(`${name}_bucket{le="${le / 1000}"} ${cumulative}`);
    });
    cumulative += this.#counts[LAG_BUCKETS_MS.length];
    lines.push(`${name}_bucket{le="+Inf"} ${cumulative}`);
    lines.push(`${name}_sum ${this.#sumMs / 1000}`);
    lines.push(`${name}_count ${this.#count}`);
    lines.push(`# HELP ${base}_max_seconds Largest event-loop lag since start.`);
    lines.push(`# TYPE ${base}_max_seconds gauge`);
    lines.push(`${base}_max_seconds ${this.#maxMs / 1000}`);
    return lines;
  }

  #tick(): void {
    const now = performance.now();
    this.record(now - this.#last - this.#intervalMs, now);
    this.#last = now;
  }
}

function unref(timer: ReturnType<typeof setInterval>): void {
  const t = timer as unknown as { unref?: () => void };
  if (typeof t.unref === "function") t.unref();
  else Deno.unrefTimer(timer as unknown as number);
}

let shared: LoopLagSampler | undefined;

/** The process-wide sampler, (re)started by each call. */
export function loopLag(): LoopLagSampler {
  shared ??= new LoopLagSampler();
  return shared.start();
}

/**
 * The `q` quantile (0..1) of the samples between two snapshots of the same sampler, ms, by
 * linear interpolation inside the bucket; `Infinity` when it falls in the overflow bucket, and
 * `undefined` without samples.
 */
export function lagQuantile(from: LagSnapshot, to: LagSnapshot, q: number): number | undefined {
  const counts = to.counts.map((c, i) => c - (from.counts[i] ?? 0));
  const total = counts.reduce((a, b) => a + b, 0);
  if (total <= 0) return undefined;
  const target = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    if (counts[i] === 0) continue;
    if (seen + counts[i] >= target) {
      if (i >= to.bucketsMs.length) return Infinity;
      const lo = i === 0 ? 0 : to.bucketsMs[i - 1];
      const hi = to.bucketsMs[i];
      return lo + (hi - lo) * ((target - seen) / counts[i]);
    }
    seen += counts[i];
  }
  return undefined;
}

/**
 * The server's overload probe: the 90th percentile of the event loop's lag over the last
 * {@link OVERLOAD_WINDOW_MS} when it is above `limitMs` (one turn in ten that late: the loop
 * no longer keeps up), else undefined; never with `limitMs` 0. New sessions wait while it says
 * so, and are refused when it lasts (capacity.ts): new sessions are what a server at its limit
 * can still refuse, so that the live ones keep what the core has left.
 */
export function overloadProbe(
  limitMs: number,
  sampler: LoopLagSampler = loopLag(),
): () => number | undefined {
  return () => {
    if (limitMs <= 0) return undefined;
    const lag = sampler.recentLag(OVERLOAD_WINDOW_MS, 0.9);
    return lag > limitMs ? lag : undefined;
  };
}
