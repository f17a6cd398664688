/**
 * How fast the server's core ran during a hold. The shared 2-core VMs this bench runs on
 * (a paravirtualised guest: `/proc/stat` reports no steal time) have periods, seconds long,
 * in which the same work costs about 1.7× the CPU time, whatever this machine itself does: a
 * fixed computation took 1.3 ms of CPU time in one second and 2.3 ms in the next on an otherwise
 * idle machine. A server measured in such a period costs more per packet, and near its limit
 * its queues grow. Nothing in `/proc` shows it, so a probe measures it: a small process pinned
 * to the server's core at nice 19 times a fixed piece of work in its own CPU time every 100 ms
 * (core-speed-probe.ts; ≈ 0.75 % of the core).
 *
 * A sample is slow when it costs more than {@link SLOW_FACTOR} × the ramp's fast reference (the
 * 10th percentile of every sample so far). The ramp reports the slow share of each hold
 * (`core slow %`); it does not act on it: whether the probe sees every slowing that costs the
 * server, and only those, is what the ramps that print it are to show.
 *
 * @module
 */
import { Child } from "../load/child.ts";

/** A sample costing more than this × the fast reference is slow. */
export const SLOW_FACTOR = 1.3;
/** Samples at the probe's start left out (the JIT warms up). */
const WARM_UP = 20;

/** What the probe saw in one window. */
export interface CoreSpeed {
  /** Samples in the window. */
  samples: number;
  /** Share of them that were slow, %. */
  slowPct: number;
  /** The window's median cost over the fast reference (1: full speed). */
  medianRatio: number;
}

/** Sums up `costs` (µs, of one window) against the fast reference `reference` (µs). */
export function summarise(costs: number[], reference: number): CoreSpeed | undefined {
  if (costs.length === 0 || !(reference > 0)) return undefined;
  const sorted = [...costs].sort((a, b) => a - b);
  const slow = sorted.filter((c) => c > SLOW_FACTOR * reference).length;
  return {
    samples: sorted.length,
    slowPct: (100 * slow) / sorted.length,
    medianRatio: sorted[Math.floor(sorted.length / 2)] / reference,
  };
}

/** The fast reference of `costs`: their 10th percentile (undefined with fewer than 10). */
export function fastReference(costs: number[]): number | undefined {
  if (costs.length < 10) return undefined;
  const sorted = [...costs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 10)];
}

/** The probe process and its samples. */
export class CoreSpeedProbe {
  readonly #child: Child;
  /** [wall-clock ms, µs of CPU] per sample, after the warm-up. */
  readonly #samples: [number, number][] = [];
  #seen = 0;

  /** Starts the probe on `cpus` at nice 19. */
  constructor(cpus: string) {
    this.#child = new Child({
      name: "core-speed",
      script: new URL("./core-speed-probe.ts", import.meta.url).pathname,
      args: [],
      denoFlags: ["--allow-env"],
      cpus,
      nice: 19,
    });
    this.#collect();
  }

  async #collect(): Promise<void> {
    for (;;) {
      let m;
      try {
        m = await this.#child.next("sample", 3_600_000);
      } catch {
        return; // the probe exited
      }
      if (++this.#seen > WARM_UP) this.#samples.push([Number(m.at), Number(m.us)]);
      if (this.#samples.length > 100_000) this.#samples.splice(0, 50_000);
    }
  }

  /** The core's speed between wall-clock times `from` and `to` (ms), if the probe saw it. */
  window(from: number, to: number): CoreSpeed | undefined {
    const reference = fastReference(this.#samples.map((s) => s[1]));
    const costs = this.#samples.filter(([at]) => at >= from && at <= to).map((s) => s[1]);
    return reference === undefined ? undefined : summarise(costs, reference);
  }

  /** Stops the probe. */
  async stop(): Promise<void> {
    await this.#child.stop(2000);
  }

  /** Kills the probe at once (a second signal). */
  kill(): void {
    this.#child.killNow();
  }
}
