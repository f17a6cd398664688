/**
 * `GET /metrics`: Prometheus text exposition (format 0.0.4): rooms, sessions by kind, RTP
 * packets and bytes in and out, NACKs, retransmissions, keyframe requests, keyframe-cache
 * hits, POST-to-201 and join-time histograms, and the event loop's lag.
 *
 * @module
 */
import { Hono } from "hono";
import type { AppDeps } from "../src/http/deps.ts";
import { metrics } from "../src/metrics/counters.ts";
import { loopLag } from "../src/metrics/loop-lag.ts";

/** The metrics endpoint. */
export function metricsRoutes(deps: AppDeps): Hono {
  const r = new Hono();
  r.get("/metrics", (c) => {
    const counts = deps.rooms.sessions.counts();
    const lines = [
      "# HELP sfu_rooms Open rooms.",
      "# TYPE sfu_rooms gauge",
      `sfu_rooms ${deps.rooms.size}`,
      "# HELP sfu_sessions Live sessions by kind.",
      "# TYPE sfu_sessions gauge",
      `sfu_sessions{kind="whip"} ${counts.whip}`,
      `sfu_sessions{kind="whep"} ${counts.whep}`,
      ...Object.values(metrics).flatMap((m) => m.render()),
      ...loopLag().prometheus(),
      "",
    ];
    return c.body(lines.join("\n"), 200, {
      "Content-Type": "text/plain; version=0.0.4; charset=utf-8",
    });
  });
  return r;
}
