/**
 * A player that answers the server's DTLS ClientHello late gets it more than once (the server
 * sends it as ICE connects, again after 100 ms, then on werift's retransmission timer), and a
 * player whose DTLS server uses cookies (werift's, Pion's) answers each copy with a
 * HelloVerifyRequest. werift's client failed the handshake on the second one (its `Flight3`
 * throws): found by the cluster bench, whose edges' players connected 1 time in 2 when their
 * process was busy. The server ignores a repeated HelloVerifyRequest (werift/patches.ts).
 *
 * The server runs as its own process; this process (the player) is kept busy for 700 ms right
 * after its ICE connects, so the ClientHello copies queue up on its socket.
 */
import assert from "node:assert/strict";
import { spawnServer } from "../helpers/process.ts";
import { Player, Publisher } from "../helpers/clients.ts";

Deno.test({
  name:
    "a player that answers DTLS late (several ClientHellos, several HelloVerifyRequests) connects",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const server = await spawnServer();
    const publisher = new Publisher();
    const players: Player[] = [];
    try {
      const host = await server.token("host", "slow");
      await publisher.publish(`${server.url}/whip/slow`, host);
      publisher.start(30);
      for (let i = 0; i < 3; i++) {
        const player = new Player();
        players.push(player);
        player.pc.iceConnectionStateChange.subscribe((state) => {
          if (state !== "connected") return;
          const until = performance.now() + 700;
          while (performance.now() < until) { /* busy: the ClientHellos queue up */ }
        });
        await player.play(`${server.url}/whep/slow`, host);
        await player.nextKeyframe(5000);
        assert.ok(player.received.video > 0, `player ${i} gets media`);
      }
    } finally {
      await Promise.all([publisher.close(), ...players.map((p) => p.close())]);
      await server.stop();
    }
  },
});
