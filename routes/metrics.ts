/**
 * `GET /metrics`: Prometheus text exposition (format 0.0.4) of rooms and sessions.
 * Hand-written: a handful of gauges does not need prom-client and its Node-only collectors.
 *
 * @module
 */
import { Hono } from "hono";
import type { AppDeps } from "../src/http/app.ts";
import { loopLag } from "../src/metrics/loop-lag.ts";

/** The metrics endpoint. */
export function metricsRoutes(deps: AppDeps): Hono {
  const r = new Hono();
  const lag = loopLag();
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
      ...lag.prometheus("sfu_event_loop_lag_seconds"),
      "",
    ];
    return c.body(lines.join("\n"), 200, {
      "Content-Type": "text/plain; version=0.0.4; charset=utf-8",
    });
  });
  return r;
}
