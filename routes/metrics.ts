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

/** Sessions by transport and the shared media ports' counters. */
function transportLines(deps: AppDeps): string[] {
  const byTransport = deps.rooms.sessions.transports();
  const { udp, tcp } = deps.mediaPorts();
  return [
    "# HELP sfu_sessions_by_transport Live sessions by the transport of their selected ICE pair.",
    "# TYPE sfu_sessions_by_transport gauge",
    `sfu_sessions_by_transport{transport="udp"} ${byTransport.udp}`,
    `sfu_sessions_by_transport{transport="tcp"} ${byTransport.tcp}`,
    `sfu_sessions_by_transport{transport="connecting"} ${byTransport.connecting}`,
    ...(udp
      ? [
        "# HELP sfu_udp_mux_datagrams_total Datagrams at the shared UDP port, routed to a session or not.",
        "# TYPE sfu_udp_mux_datagrams_total counter",
        `sfu_udp_mux_datagrams_total{result="routed"} ${udp.routed}`,
        `sfu_udp_mux_datagrams_total{result="unroutable"} ${udp.unroutable}`,
      ]
      : []),
    ...(tcp
      ? [
        "# HELP sfu_ice_tcp_connections_total ICE-TCP connections, handed to a session or refused.",
        "# TYPE sfu_ice_tcp_connections_total counter",
        `sfu_ice_tcp_connections_total{result="routed"} ${tcp.routed}`,
        `sfu_ice_tcp_connections_total{result="refused"} ${tcp.refused}`,
        "# HELP sfu_ice_tcp_pending ICE-TCP connections waiting for their first STUN request.",
        "# TYPE sfu_ice_tcp_pending gauge",
        `sfu_ice_tcp_pending ${tcp.pending}`,
      ]
      : []),
  ];
}

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
      ...transportLines(deps),
      ...(deps.cluster?.metrics() ?? []),
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
