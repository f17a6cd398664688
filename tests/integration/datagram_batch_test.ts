/**
 * The native batch sender and the ingress probe, on real loopback UDP sockets: segmented runs
 * arrive as the same datagrams, in order, byte for byte; the probe sees what waits unread.
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { openNative } from "../../src/media/native/libs.ts";
import { DatagramBatch } from "../../src/media/native/datagram-batch.ts";
import { descriptorOfUdpSocket, sockaddrIn } from "../../src/media/native/udp-socket.ts";
import { IngressProbe } from "../../src/media/ingress-probe.ts";
import type { IceConnection } from "../../src/media/werift/internals.ts";
import { boundUdp } from "../helpers/udp.ts";

const native = openNative();
// CI has Linux, FFI and libcrypto: there these tests must run, not be skipped
const ignore = !native.ok && !Deno.env.get("CI");

function collect(socket: dgram.Socket): Uint8Array[] {
  const got: Uint8Array[] = [];
  socket.on("message", (msg) => got.push(new Uint8Array(msg)));
  return got;
}

async function until(check: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 3000;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Fills slot k with a recognisable datagram of `size` bytes (12 header, 10 tag). */
function fill(batch: DatagramBatch, k: number, size: number): Uint8Array {
  const expected = new Uint8Array(size);
  for (let i = 0; i < size; i++) expected[i] = (k * 31 + i * 7) & 0xff;
  batch.headers[k].set(expected.subarray(0, 12));
  batch.ciphertexts[k].set(expected.subarray(12, size - 10));
  batch.tags[k].set(expected.subarray(size - 10));
  batch.setLengths(k, 12, size - 22, 10);
  return expected;
}

Deno.test({
  name: "DatagramBatch: runs of one size go out segmented, and arrive as the same datagrams",
  ignore,
  async fn() {
    if (!native.ok) throw new Error(`native path unavailable: ${native.reason}`);
    const [from, to] = await Promise.all([boundUdp(), boundUdp()]);
    const got = collect(to);
    try {
      const fd = descriptorOfUdpSocket(native.libc, "127.0.0.1", from.address().port, new Map());
      assert.ok(fd !== undefined, "the sending socket's descriptor is found");
      const name = sockaddrIn("127.0.0.1", to.address().port)!;
      const batch = new DatagramBatch(native.libc);
      // five of 1,200 and a shorter last (one call), three of 1,000 (one), a longer one with an
      // audio-sized one after it (one: the last segment may be shorter), two of 1,000 (one)
      const sizes = [1200, 1200, 1200, 1200, 1200, 700, 1000, 1000, 1000, 1300, 100, 1000, 1000];
      const expected = sizes.map((size, k) => fill(batch, k, size));
      const result = batch.send(fd, name, sizes.length, true);
      assert.equal(result.sent, sizes.length);
      assert.equal(result.calls, 4);
      assert.equal(result.segmentationRefused, false);
      await until(() => got.length >= sizes.length, "the datagrams");
      assert.equal(got.length, sizes.length, "one datagram per packet, none merged");
      got.forEach((datagram, k) => assert.deepEqual(datagram, expected[k], `datagram ${k}`));

      // without segmentation: one call each, same bytes
      got.length = 0;
      const again = batch.send(fd, name, sizes.length, false);
      assert.equal(again.sent, sizes.length);
      assert.equal(again.calls, sizes.length);
      await until(() => got.length >= sizes.length, "the datagrams, sent one by one");
      got.forEach((datagram, k) => assert.deepEqual(datagram, expected[k], `datagram ${k}`));
    } finally {
      from.close();
      to.close();
    }
  },
});

Deno.test({
  name: "IngressProbe: a publisher socket's unread datagrams are seen, and then not",
  ignore,
  async fn() {
    if (!native.ok) throw new Error(`native path unavailable: ${native.reason}`);
    const [from, to] = await Promise.all([boundUdp(), boundUdp()]);
    const got = collect(to);
    try {
      const connection: IceConnection = {
        nominated: {
          remoteAddr: ["127.0.0.1", from.address().port],
          protocol: { transport: { socket: to } },
        },
        canSendApplicationData: () => true,
        send: () => Promise.resolve(),
      };
      const probe = new IngressProbe(native.libc, new Map(), connection);
      assert.equal(probe.waiting(), false, "nothing sent yet");
      const fd = descriptorOfUdpSocket(native.libc, "127.0.0.1", from.address().port, new Map())!;
      const batch = new DatagramBatch(native.libc);
      fill(batch, 0, 300);
      fill(batch, 1, 300);
      // synchronous sends: both wait in the kernel until the event loop reads them
      assert.equal(batch.send(fd, sockaddrIn("127.0.0.1", to.address().port)!, 2, true).sent, 2);
      assert.equal(probe.waiting(), true, "two datagrams wait unread");
      await until(() => got.length === 2, "node:dgram to read them");
      assert.equal(probe.waiting(), false, "all read");
    } finally {
      from.close();
      to.close();
    }
  },
});
