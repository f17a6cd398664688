/**
 * Issue 21: nothing between a player's connection coming up and its first picture waits for a
 * timer. With werift clients (real ICE, DTLS and SRTP on loopback) and the first-frame trace
 * (src/media/trace.ts) as the witness, each property is an order of events, not a duration, so
 * a loaded machine slows both sides alike:
 *
 * - the server's DTLS ClientHello to the player (the SFU is the DTLS client) leaves before the
 *   first timer turn after ICE connected — werift waited on a fixed 100 ms timer there
 *   (patches.ts, "DTLS client start"), in ICE-lite (TCP candidates offered) and full ICE;
 * - the cached keyframe primed to the player leaves whole in the first batch, before any
 *   priming tick, even when it is larger than a tick's batch (40 packets): a 100-packet
 *   keyframe took three ticks before.
 */
import assert from "node:assert/strict";
import { testServer } from "../helpers/server.ts";
import { Player, Publisher, until } from "../helpers/clients.ts";
import { type TraceEvent, traceTo } from "../../src/media/trace.ts";

/** A keyframe larger than a priming tick's batch (40), as a 720p VP8 keyframe is. */
const KEYFRAME_PACKETS = 100;

for (const ice of ["ICE-lite (TCP offered)", "full ICE (ICE_TRANSPORTS=udp)"] as const) {
  Deno.test(`first frame, ${ice}: ClientHello and the whole primed keyframe leave without waiting for a timer`, async () => {
    const events: TraceEvent[] = [];
    let sentAtFirst: number | undefined;
    const server = await testServer(ice.startsWith("full") ? { ICE_TRANSPORTS: "udp" } : {});
    const whepSession = () => {
      const s = server.rooms.sessions.all().find((s) => s.kind === "whep");
      return s?.kind === "whep" ? s : undefined;
    };
    const whipSession = () => {
      const s = server.rooms.sessions.all().find((s) => s.kind === "whip");
      return s?.kind === "whip" ? s : undefined;
    };
    // a marker pushed on the first timer turn after each of these steps
    const turnAfter = new Set(["ice.connected", "dtls.connected"]);
    traceTo((e) => {
      events.push(e);
      if (e.tag !== "whep") return;
      if (turnAfter.has(e.event)) {
        setTimeout(() => events.push({ t: 0, tag: "whep", event: `turn after ${e.event}` }), 0);
      }
      if (e.event === "rtp.first") sentAtFirst = whepSession()?.media.stats.packets.video;
    });
    const pub = new Publisher();
    const player = new Player();
    try {
      const token = await server.token("host", "ff");
      await pub.publish(`${server.url}/whip/ff`, token);
      // the publisher's side is up before the server's (it is the DTLS server): deltas until
      // the server has its keys, then the keyframe the cache keeps
      const received = () => whipSession()?.media.stats.packets.video ?? 0;
      await until(() => (pub.sendFrame(false, 1), received() > 0), "the publisher's media");
      const before = received();
      pub.sendFrame(true, KEYFRAME_PACKETS);
      for (let i = 0; i < 5; i++) pub.sendFrame(false);
      await until(() => received() >= before + KEYFRAME_PACKETS + 15, "the keyframe at the server");
      await player.play(`${server.url}/whep/ff`, token);
      await player.nextKeyframe(10_000);
      await until(() => sentAtFirst !== undefined, "the priming trace");
      await until(() => events.some((e) => e.event === "turn after dtls.connected"), "a turn");

      const order = events.filter((e) => e.tag === "whep").map((e) =>
        e.event === "dtls.out" ? `dtls.out ${(e.records as string[]).join(",")}` : e.event
      );
      const at = (name: string) => {
        const i = order.findIndex((o) => o === name || o.startsWith(`${name} `));
        assert.ok(i >= 0, `${name} in the trace: ${order.join(" → ")}`);
        return i;
      };
      const hello = order.findIndex((o) => o.startsWith("dtls.out") && o.includes("hs:1"));
      assert.ok(hello >= 0, `the server sent a ClientHello: ${order.join(" → ")}`);
      assert.ok(at("ice.connected") < hello, "ICE first");
      assert.ok(
        hello < at("turn after ice.connected"),
        `the ClientHello left before the first timer turn after ICE connected: ${
          order.join(" → ")
        }`,
      );
      assert.ok(
        at("dtls.connected") < at("rtp.first") &&
          at("rtp.first") < at("turn after dtls.connected"),
        `the primed keyframe left before the first timer turn after DTLS: ${order.join(" → ")}`,
      );
      assert.ok(
        sentAtFirst! >= KEYFRAME_PACKETS,
        `the first priming batch held the whole ${KEYFRAME_PACKETS}-packet keyframe ` +
          `(${sentAtFirst} video packets sent)`,
      );
    } finally {
      traceTo(undefined);
      await Promise.all([pub.close(), player.close()]);
      await server.shutdown();
    }
  });
}
