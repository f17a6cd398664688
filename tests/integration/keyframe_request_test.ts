/**
 * A player's keyframe request reaches the publisher when it comes from werift's own receiver
 * (`RTCRtpReceiver.sendRtcpPLI`): werift's offers announce the player's SSRCs, and werift's
 * RTCP routing on the server sends payload-specific feedback to whatever its sender SSRC names
 * first — a receiver — so the server reads keyframe requests at the transport
 * (`media/keyframe-request.ts`). Cluster edges pull with werift: their PLIs go this way.
 */
import assert from "node:assert/strict";
import { testServer } from "../helpers/server.ts";
import { Player, Publisher, until } from "../helpers/clients.ts";

Deno.test("a PLI from werift's receiver (a player announcing its SSRCs) reaches the publisher", async () => {
  const server = await testServer();
  const publisher = new Publisher();
  const player = new Player();
  try {
    const host = await server.token("host", "pli");
    await publisher.publish(`${server.url}/whip/pli`, host);
    publisher.start(1000); // one keyframe at the start, then only on request
    await player.play(`${server.url}/whep/pli`, host);
    await until(() => player.received.keyframes > 0, "the primed keyframe", 5000);
    assert.match(player.pc.localDescription!.sdp, /^a=ssrc:/m, "werift's offer names SSRCs");
    await new Promise((r) => setTimeout(r, 600)); // past the feed's 500 ms request interval
    const before = publisher.plis;
    const keyframes = player.received.keyframes;
    const video = player.pc.getTransceivers().find((t) => t.kind === "video")!;
    const [ssrc] = [...player.ssrcs.video];
    await video.receiver.sendRtcpPLI(ssrc);
    await until(() => publisher.plis > before, "the PLI at the publisher", 3000);
    await until(() => player.received.keyframes > keyframes, "the keyframe it asked for", 3000);
  } finally {
    await Promise.all([publisher.close(), player.close()]);
    await server.shutdown();
  }
});
