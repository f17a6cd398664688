/**
 * A werift DTLS server that reads a ClientKeyExchange a second time — a retransmitted flight 5
 * read in the same turn as the first, as a busy player reads its socket — hashed it together
 * with the CertificateVerify and Finished it already held (RFC 7627's session hash stops at the
 * ClientKeyExchange): a wrong master secret, a Finished the SFU could not decrypt, a player
 * "connected" on its side that never got a packet (the fan-out ramp, one player in 300, once
 * each flight left in one datagram). The load players are the DTLS servers of the SFU's
 * sessions and load the server's werift patches (bench/load/players.ts), as this test does;
 * werift/dtls-handshake.ts (loaded by patches.ts) sets the later messages aside while a ClientKeyExchange is read.
 *
 * The server runs as its own process; in this process (the player) the first datagram carrying
 * the server's ClientKeyExchange is held until the next one (the server's retransmission, 500 ms
 * later) arrives, and both are handed to werift back to back.
 */
import "../../src/media/werift/patches.ts";
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { type Emit, hasClientKeyExchange, twoPlayersConnect } from "../helpers/dtls.ts";

Deno.test({
  name: "a player that reads the server's flight 5 twice in one turn still connects",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const proto = dgram.Socket.prototype as unknown as { emit: Emit };
    const emit = proto.emit;
    let armed = false;
    let held: { socket: object; rest: unknown[] } | undefined;
    let doubled = 0;
    proto.emit = function (event, ...rest) {
      if (!armed || event !== "message" || !hasClientKeyExchange(rest[0] as Uint8Array)) {
        return emit.call(this, event, ...rest);
      }
      if (!held) {
        held = { socket: this, rest };
        return true;
      }
      armed = false;
      doubled++;
      emit.call(held.socket, event, ...held.rest);
      held = undefined;
      return emit.call(this, event, ...rest);
    };
    try {
      await twoPlayersConnect("twice", () => {
        armed = true;
      });
      assert.equal(doubled, 2, "each player read flight 5 twice in one turn");
    } finally {
      proto.emit = emit;
    }
  },
});
