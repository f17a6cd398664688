/**
 * Token buckets per key (client address, identity): `take` spends one token or says how long
 * until one is back. Hand-written (about 30 lines) rather than `hono-rate-limiter`, because the
 * identity limit is applied after token verification, inside the routes, not as middleware.
 *
 * @module
 */

/** Buckets of `burst` tokens refilled at `perMinute` per minute. */
export class RateLimiter {
  #buckets = new Map<string, { tokens: number; at: number }>();
  #rate: number;
  #burst: number;

  /** @param perMinute sustained rate; @param burst bucket size. */
  constructor(perMinute: number, burst: number) {
    this.#rate = perMinute / 60_000;
    this.#burst = burst;
  }

  /** Spends a token of `key`: 0 when allowed, else the seconds to wait. */
  take(key: string, now = performance.now()): number {
    const bucket = this.#buckets.get(key) ?? { tokens: this.#burst, at: now };
    bucket.tokens = Math.min(this.#burst, bucket.tokens + (now - bucket.at) * this.#rate);
    bucket.at = now;
    this.#buckets.set(key, bucket);
    if (this.#buckets.size > 10_000) this.#prune(now);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - bucket.tokens) / this.#rate / 1000);
  }

  /** Forgets buckets that are full again (their clients are idle). */
  #prune(now: number): void {
    for (const [key, b] of this.#buckets) {
      if (b.tokens + (now - b.at) * this.#rate >= this.#burst) this.#buckets.delete(key);
    }
  }
}
