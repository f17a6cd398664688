/**
 * The fan-out ramp lost about one player in 300 for good: its werift connection stayed
 * "connecting" until the join timed out, while the server retransmitted its DTLS flight 5
 * (Certificate, ClientKeyExchange, CertificateVerify, ChangeCipherSpec, Finished) and never got
 * the player's flight 6. werift's DTLS server (the player: the SFU is the DTLS client) derives
 * the extended master secret when it reads the ClientKeyExchange, from every handshake message
 * it holds at that moment. When the first flight 5 came as five datagrams and the one with the
 * ClientKeyExchange was lost, the player kept the CertificateVerify; the retransmitted
 * ClientKeyExchange was then hashed together with it, every Finished failed to decrypt (dropped
 * without a word) and no retransmission could help. The server now sends each of its DTLS
 * flights in one datagram (werift/dtls-handshake.ts): a lost flight is lost whole and its
 * retransmission arrives whole, in order.
 *
 * The server runs as its own process; in this process (the players), the first datagram that
 * carries a ClientKeyExchange is dropped: one lost datagram. (Dropping the CertificateVerify's
 * datagram with it, the old code connected: the retransmitted ClientKeyExchange was then hashed
 * without it.)
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { type Emit, hasClientKeyExchange, twoPlayersConnect } from "../helpers/dtls.ts";

Deno.test({
  name: "a player that loses the datagram with the server's ClientKeyExchange still connects",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const proto = dgram.Socket.prototype as unknown as { emit: Emit };
    const emit = proto.emit;
    let armed = false;
    let dropped = 0;
    proto.emit = function (event, ...rest) {
      if (armed && event === "message" && hasClientKeyExchange(rest[0] as Uint8Array)) {
        armed = false;
        dropped++;
        return true;
      }
      return emit.call(this, event, ...rest);
    };
    try {
      await twoPlayersConnect("lost", () => {
        armed = true;
      });
      assert.equal(dropped, 2, "one ClientKeyExchange datagram dropped per player");
    } finally {
      proto.emit = emit;
    }
  },
});
