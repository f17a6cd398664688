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

const native = openNative();
// CI has Linux, FFI and libcrypto: there these tests must run, not be skipped
const ignore = !native.ok && !Deno.env.get("CI");

function bound(): Promise<dgram.Socket> {
  const socket = dgram.createSocket("udp4");
  return new Promise((resolve) => socket.bind(0, "127.0.0.1", () => resolve(socket)));
}

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
    const [from, to] = await Promise.all([bound(), bound()]);
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
  name:
    "DatagramBatch queue: several destinations' runs leave in one sendmmsg, each where it belongs; a refused run is counted as dropped",
  ignore,
  async fn() {
    if (!native.ok) throw new Error(`native path unavailable: ${native.reason}`);
    const [from, a, b] = await Promise.all([bound(), bound(), bound()]);
    const gotA = collect(a);
    const gotB = collect(b);
    try {
      const fd = descriptorOfUdpSocket(native.libc, "127.0.0.1", from.address().port, new Map())!;
      const batch = new DatagramBatch(native.libc, 32);
      const refused: string[] = [];
      const owner = (who: string) => ({ segmentationRefused: () => refused.push(who) });
      // A: 4 × 1,199 then 5 × 1,200 (libwebrtc's split: two runs); B: 3 × 900 and an audio one
      const sizesA = [1199, 1199, 1199, 1199, 1200, 1200, 1200, 1200, 1200];
      const sizesB = [900, 900, 900, 160];
      const firstA = batch.reserve(sizesA.length, fd);
      assert.equal(firstA, 1, "slot 0 stays the scratch of a packet sent at once");
      const expectedA = sizesA.map((size, k) => fill(batch, firstA + k, size));
      batch.queue(fd, sockaddrIn("127.0.0.1", a.address().port)!, firstA, 9, true, owner("A"));
      const firstB = batch.reserve(sizesB.length + 2, fd);
      const expectedB = sizesB.map((size, k) => fill(batch, firstB + k, size));
      batch.release(firstB + sizesB.length); // two reserved, not used
      batch.queue(fd, sockaddrIn("127.0.0.1", b.address().port)!, firstB, 4, true, owner("B"));
      const result = batch.submit();
      assert.deepEqual(result, { sent: 13, dropped: 0, calls: 1 });
      await until(() => gotA.length >= 9 && gotB.length >= 4, "the datagrams");
      gotA.forEach((d, k) => assert.deepEqual(d, expectedA[k], `A's datagram ${k}`));
      gotB.forEach((d, k) => assert.deepEqual(d, expectedB[k], `B's datagram ${k}`));
      assert.deepEqual(refused, []);

      // a full queue is sent before a reservation that does not fit, and counted by the next
      // submit; the reservation then starts at slot 1 again
      const first = batch.reserve(20, fd);
      sizesA.forEach((size, k) => fill(batch, first + k, size));
      batch.queue(fd, sockaddrIn("127.0.0.1", a.address().port)!, first, 9, true);
      assert.equal(batch.reserve(20, fd), 1);
      batch.release(1);
      assert.deepEqual(batch.submit(), { sent: 9, dropped: 0, calls: 1 });

      // a descriptor the kernel refuses: every run is tried (one by one for a segmented one)
      // and counted as dropped, its owner not told (nothing went out)
      const bad = batch.reserve(5, 1 << 20);
      [1000, 1000, 1000, 500, 300].forEach((size, k) => fill(batch, bad + k, size));
      batch.queue(1 << 20, sockaddrIn("127.0.0.1", a.address().port)!, bad, 5, true, owner("C"));
      const failed = batch.submit();
      assert.equal(failed.sent, 0);
      assert.equal(failed.dropped, 5);
      assert.deepEqual(refused, []);
    } finally {
      for (const s of [from, a, b]) s.close();
    }
  },
});

Deno.test({
  name: "IngressProbe: a publisher socket's unread datagrams are seen, and then not",
  ignore,
  async fn() {
    if (!native.ok) throw new Error(`native path unavailable: ${native.reason}`);
    const [from, to] = await Promise.all([bound(), bound()]);
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
