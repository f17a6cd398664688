/**
 * werift's media sockets read each datagram into a small allocation (src/media/werift/patches.ts)
 * and still receive the largest datagram a 1,500-byte MTU path carries, whole.
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { UdpTransport } from "werift";
import { RECEIVE_ALLOCATION } from "../../src/media/werift/patches.ts";

Deno.test("werift's UDP sockets read into 8 KiB, and a 1,472-byte datagram arrives whole", async () => {
  const transport = await UdpTransport.init("udp4", { interfaceAddresses: { udp4: "127.0.0.1" } });
  const socket = (transport as unknown as { socket: dgram.Socket }).socket;
  const sender = dgram.createSocket("udp4");
  try {
    assert.equal(socket.getRecvBufferSize(), RECEIVE_ALLOCATION);
    const sent = crypto.getRandomValues(new Uint8Array(1472));
    const got = new Promise<Uint8Array>((resolve) => {
      transport.onData = (data: Uint8Array) => resolve(new Uint8Array(data));
    });
    sender.send(sent, transport.port, "127.0.0.1");
    assert.deepEqual(await got, sent);
  } finally {
    sender.close();
    await transport.close();
  }
});
