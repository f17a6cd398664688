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

/** A receiving socket: what it got, and its address as a `sockaddr_in`. */
interface Receiver {
  socket: dgram.Socket;
  got: Uint8Array[];
  name: Uint8Array;
}

/**
 * A bound socket to send from, with its descriptor found as the send path finds werift's, and
 * `count` receiving sockets that collect their datagrams; `close` closes them all.
 */
async function link(count: number) {
  if (!native.ok) throw new Error(`native path unavailable: ${native.reason}`);
  const [from, ...sockets] = await Promise.all(
    Array.from({ length: count + 1 }, () => boundUdp()),
  );
  const receivers: Receiver[] = sockets.map((socket) => {
    const got: Uint8Array[] = [];
    socket.on("message", (msg) => got.push(new Uint8Array(msg)));
    return { socket, got, name: sockaddrIn("127.0.0.1", socket.address().port)! };
  });
  const close = () => [from, ...sockets].forEach((s) => s.close());
  const fd = descriptorOfUdpSocket(native.libc, "127.0.0.1", from.address().port, new Map());
  if (fd === undefined) close();
  assert.ok(fd !== undefined, "the sending socket's descriptor is found");
  return { from, fd, receivers, close, libc: native.libc };
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
    const { fd, receivers: [{ got, name }], close, libc } = await link(1);
    try {
      const batch = new DatagramBatch(libc);
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
      close();
    }
  },
});

Deno.test({
  name: "IngressProbe: a publisher socket's unread datagrams are seen, and then not",
  ignore,
  async fn() {
    const { from, fd, receivers: [to], close, libc } = await link(1);
    try {
      const connection: IceConnection = {
        nominated: {
          remoteAddr: ["127.0.0.1", from.address().port],
          protocol: { transport: { socket: to.socket } },
        },
        canSendApplicationData: () => true,
        send: () => Promise.resolve(),
      };
      const probe = new IngressProbe(libc, new Map(), connection);
      assert.equal(probe.waiting(), false, "nothing sent yet");
      const batch = new DatagramBatch(libc);
      fill(batch, 0, 300);
      fill(batch, 1, 300);
      // synchronous sends: both wait in the kernel until the event loop reads them
      assert.equal(batch.send(fd, to.name, 2, true).sent, 2);
      assert.equal(probe.waiting(), true, "two datagrams wait unread");
      await until(() => to.got.length === 2, "node:dgram to read them");
      assert.equal(probe.waiting(), false, "all read");
    } finally {
      close();
    }
  },
});

Deno.test({
  name:
    "DatagramBatch shared by several players: their runs leave in one sendmmsg, each to its own destination, in order",
  ignore,
  async fn() {
    const { fd, receivers, close, libc } = await link(2);
    const got = receivers.map((r) => r.got);
    const names = receivers.map((r) => r.name);
    try {
      const counts = { sent: { n: 0 }, dropped: { n: 0 }, calls: { n: 0 } };
      const batch = new DatagramBatch(libc, counts);
      const owner = {
        refused: 0,
        segmentationRefused() {
          this.refused++;
        },
      };
      // player a: a frame of 4 × 1,200 and a shorter last (one message); player b: two of
      // 1,000, then an audio packet of 160 (one message: the last segment may be shorter)
      const plan = [[1200, 1200, 1200, 1200, 700], [1000, 1000, 160]];
      const expected: Uint8Array[][] = [];
      for (let p = 0; p < 2; p++) {
        const start = batch.reserve(fd, plan[p].length);
        assert.equal(start, p === 0 ? 0 : 5, "the second player's packets follow the first's");
        expected.push(plan[p].map((size, j) => fill(batch, start + j, size)));
        batch.queue(fd, names[p], start, plan[p].length, true, owner);
      }
      assert.equal(batch.queued, 8);
      assert.equal(batch.sendQueued(), 8);
      assert.deepEqual(counts, { sent: { n: 8 }, dropped: { n: 0 }, calls: { n: 1 } });
      assert.equal(batch.queued, 0, "empty after sending");
      await until(() => got[0].length >= 5 && got[1].length >= 3, "the datagrams");
      for (let p = 0; p < 2; p++) {
        assert.equal(got[p].length, plan[p].length, `player ${p}: one datagram per packet`);
        got[p].forEach((d, k) => assert.deepEqual(d, expected[p][k], `player ${p} datagram ${k}`));
      }
      assert.equal(owner.refused, 0);

      // a full batch, or another descriptor, sends what is queued first
      batch.reserve(fd, 60);
      for (let k = 0; k < 60; k++) fill(batch, k, 300);
      batch.queue(fd, names[0], 0, 60, true, owner);
      assert.equal(batch.reserve(fd, 60), 60, "room for a second full queue");
      assert.equal(batch.reserve(fd, 70), 0, "no room for 70 more: the 60 went out");
      assert.equal(counts.sent.n, 8 + 60);
      await until(() => got[0].length >= 5 + 60, "the 60 datagrams");
      fill(batch, 0, 400);
      batch.queue(fd, names[1], 0, 1, true, owner);
      assert.equal(batch.reserve(fd + 1000, 1), 0, "another descriptor: the one queued went out");
      assert.equal(counts.sent.n, 8 + 60 + 1);
      await until(() => got[1].length >= 4, "the last datagram");
    } finally {
      close();
    }
  },
});

Deno.test({
  name:
    "DatagramBatch shared: a route that refuses segmentation gets its datagrams one by one, and its owner is told",
  ignore,
  async fn() {
    const { fd, receivers: [{ got, name }], close, libc } = await link(1);
    try {
      // SO_NO_CHECK: the kernel refuses UDP_SEGMENT on this socket (EINVAL), lone datagrams go
      const on = new Int32Array([1]);
      assert.equal(libc.setsockopt(fd, 1, 11, new Uint8Array(on.buffer), 4), 0);
      const counts = { sent: { n: 0 }, dropped: { n: 0 }, calls: { n: 0 } };
      const batch = new DatagramBatch(libc, counts);
      const refused: string[] = [];
      const owner = (who: string) => ({ segmentationRefused: () => refused.push(who) });
      // a lone packet, a run of three (refused), a lone packet: the first and last in sendmmsg
      const sizes = [[200], [900, 900, 900], [300]];
      const expected: Uint8Array[] = [];
      sizes.forEach((run, r) => {
        const start = batch.reserve(fd, run.length);
        run.forEach((size, j) => expected.push(fill(batch, start + j, size)));
        batch.queue(fd, name, start, run.length, true, owner(`run ${r}`));
      });
      assert.equal(batch.sendQueued(), 5);
      assert.deepEqual(refused, ["run 1"]);
      // sendmmsg: 1 taken, refused at the run; 3 sendmsg; sendmmsg of the last
      assert.deepEqual(counts, { sent: { n: 5 }, dropped: { n: 0 }, calls: { n: 5 } });
      await until(() => got.length >= 5, "the datagrams");
      got.forEach((d, k) => assert.deepEqual(d, expected[k], `datagram ${k}`));
    } finally {
      close();
    }
  },
});
