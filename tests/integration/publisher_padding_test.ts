/**
 * A publisher's RTP padding (RFC 3550 §5.1: libwebrtc pads to probe bandwidth, any encoder may
 * pad) is the publisher's own: the server forwards the payloads, not the padding, and the
 * players receive them byte for byte on both egress paths. werift's parser takes the padding
 * off the payload but leaves the P bit set, and werift's sender writes a set P bit without any
 * padding bytes: forwarded as parsed, a player would read the payload's last byte as a padding
 * count and cut the payload (or drop the packet). Real ICE / DTLS / SRTP on loopback.
 */
import assert from "node:assert/strict";
import { testServer } from "../helpers/server.ts";
import { Player, Publisher, until } from "../helpers/clients.ts";
import { egressPath } from "../../src/media/send-path.ts";

/** Padding on every published video packet, bytes (the payloads are 1,200 bytes). */
const PADDING = 40;

for (const path of ["native", "werift"] as const) {
  Deno.test({
    name: `a publisher's RTP padding is not passed on: players get its payloads whole (${path})`,
    ignore: path === "native" && !egressPath(true).native && !Deno.env.get("CI"),
    fn: async () => {
      const server = await testServer({ FAST_EGRESS: path === "native" ? "auto" : "off" });
      const pub = new Publisher({ padding: PADDING });
      const player = new Player();
      try {
        const host = await server.token("host", "pad");
        await pub.publish(`${server.url}/whip/pad`, host);
        await player.play(`${server.url}/whep/pad`, host);
        await new Promise((r) => setTimeout(r, 300)); // DTLS settles on the server side too
        for (let i = 0; i < 30; i++) {
          pub.sendFrame(i === 0);
          await new Promise((r) => setTimeout(r, 10));
        }
        await until(
          () => player.received.video >= pub.sent.video * 0.99,
          `the video (${player.received.video} of ${pub.sent.video} packets)`,
        );
        const sizes = new Set(player.videoLog.map((p) => p.size));
        assert.deepEqual([...sizes], [1200], "every payload arrives whole, without the padding");
        assert.equal(player.received.keyframes, 1);
      } finally {
        await Promise.all([pub.close(), player.close()]);
        await server.shutdown();
      }
    },
  });
}
