/**
 * `/metrics` in Prometheus text format reflects real traffic: rooms, sessions, packets and
 * bytes both ways, keyframe-cache hits, POST and join-time histograms, event-loop lag.
 */
import assert from "node:assert/strict";
import { testServer } from "../helpers/server.ts";
import { call, Player, Publisher, until } from "../helpers/clients.ts";

function parse(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    values.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return values;
}

Deno.test({
  name: "metrics follow real traffic",
  fn: async () => {
    const server = await testServer();
    const pub = new Publisher();
    const player = new Player();
    try {
      const base = parse(await (await fetch(`${server.url}/metrics`)).text());
      const delta = (m: Map<string, number>, key: string) =>
        (m.get(key) ?? 0) - (base.get(key) ?? 0);
      const host = await server.token("host", "m");
      await pub.publish(`${server.url}/whip/m`, host);
      pub.start(30);
      await new Promise((r) => setTimeout(r, 300)); // a keyframe is cached
      await player.play(`${server.url}/whep/m`, host);
      await player.nextKeyframe();
      await until(() => player.received.video > 30, "media");
      pub.stop();
      await new Promise((r) => setTimeout(r, 200)); // what was sent has arrived
      const res = await fetch(`${server.url}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get("Content-Type")!, /^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      const m = parse(text);
      assert.equal(m.get("sfu_rooms"), 1);
      assert.equal(m.get('sfu_sessions{kind="whip"}'), 1);
      assert.equal(m.get('sfu_sessions{kind="whep"}'), 1);
      const received = delta(m, 'sfu_rtp_packets_received_total{kind="video"}');
      assert.ok(received >= pub.sent.video * 0.9 && received <= pub.sent.video, `${received}`);
      assert.ok(delta(m, 'sfu_rtp_bytes_sent_total{kind="video"}') >= player.received.video * 1200);
      assert.equal(delta(m, 'sfu_keyframe_cache_lookups_total{result="hit"}'), 1);
      assert.equal(delta(m, "sfu_post_duration_seconds_count"), 2);
      assert.equal(delta(m, "sfu_player_join_seconds_count"), 1);
      assert.ok(m.has("sfu_nacks_received_total"));
      assert.ok(m.has("sfu_keyframe_requests_sent_total"));
      assert.match(text, /^sfu_event_loop_lag_seconds_bucket\{le="0\.001"\} \d+$/m);
      await call(player.session!.url, host, { method: "DELETE" }).then((r) => r.body?.cancel());
      const after = parse(await (await fetch(`${server.url}/metrics`)).text());
      assert.equal(delta(after, 'sfu_sessions_ended_total{reason="deleted"}'), 1);
    } finally {
      await Promise.all([pub.close(), player.close()]);
      await server.shutdown();
    }
  },
});

Deno.test("metrics: sessions by transport and the shared ports' counters", async () => {
  const server = await testServer();
  const publisher = new Publisher();
  const player = new Player();
  try {
    const host = await server.token("host", "t");
    await publisher.publish(`${server.url}/whip/t`, host);
    publisher.start(30);
    await player.play(`${server.url}/whep/t`, host);
    await player.nextKeyframe();
    const m = parse(await (await fetch(`${server.url}/metrics`)).text());
    const byTransport = ["udp", "tcp", "connecting"].map((t) =>
      m.get(`sfu_sessions_by_transport{transport="${t}"}`) ?? 0
    );
    assert.equal(byTransport.reduce((a, b) => a + b), 2, `${byTransport}`);
    assert.ok(byTransport[0] >= 1, "the publisher on UDP");
    assert.ok((m.get(`sfu_udp_mux_datagrams_total{result="routed"}`) ?? 0) > 0);
    assert.equal(m.get(`sfu_udp_mux_datagrams_total{result="unroutable"}`), 0);
    assert.equal(m.has(`sfu_ice_tcp_connections_total{result="refused"}`), true);
    assert.equal(m.get("sfu_ice_tcp_pending"), 0);
  } finally {
    await Promise.all([player.close(), publisher.close()]);
    await server.shutdown();
  }
});
