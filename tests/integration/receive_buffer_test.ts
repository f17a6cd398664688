/**
 * werift's media sockets read each datagram into a small allocation (src/media/werift/patches.ts)
 * and still receive the largest datagram a 1,500-byte MTU path carries, whole; the shared UDP
 * port's kernel buffer is what the server asks for.
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { UdpTransport } from "werift";
import { RECEIVE_ALLOCATION } from "../../src/media/werift/patches.ts";
import { KERNEL_BUFFER_BYTES, UdpMux } from "../../src/media/transport/udp-mux.ts";
import { openNative } from "../../src/media/native/libs.ts";

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

Deno.test({
  name: "the shared UDP port gets its 8 MiB kernel receive buffer past net.core.rmem_max (as root)",
  ignore: Deno.build.os !== "linux" || Deno.uid() !== 0,
  async fn() {
    const native = openNative();
    assert.ok(native.ok);
    const cap = Number(Deno.readTextFileSync("/proc/sys/net/core/rmem_max"));
    const mux = await UdpMux.open(["127.0.0.1"], 0, native.libc);
    try {
      // SO_RCVBUF alone stops at the cap (208 KiB on a stock kernel); SO_RCVBUFFORCE does not
      assert.equal(mux.receiveBuffer, KERNEL_BUFFER_BYTES, `rmem_max ${cap}`);
    } finally {
      await mux.close();
    }
  },
});
