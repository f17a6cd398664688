/**
 * The bench load's FFI receive path (bench/load/fast-rx.ts): a socket it takes over leaves the
 * runtime's epoll instance (on loopback, every datagram to a socket still in it wakes the
 * runtime's thread from inside the server's `sendmsg`, which the ramp would charge to the
 * server), and it still receives through the FFI path and sends through `node:dgram`.
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { Buffer } from "node:buffer";
import { descriptorOf, FastRx } from "../../bench/load/fast-rx.ts";
import { boundUdp } from "../helpers/udp.ts";

/** The epoll instances of this process that watch `fd` (from `/proc/self/fdinfo`). */
function epollsWatching(fd: number): number[] {
  const found: number[] = [];
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    try {
      if (Deno.readLinkSync(`/proc/self/fd/${entry.name}`) !== "anon_inode:[eventpoll]") continue;
      const info = Deno.readTextFileSync(`/proc/self/fdinfo/${entry.name}`);
      if (new RegExp(`^tfd:\\s+${fd}\\s`, "m").test(info)) found.push(Number(entry.name));
    } catch {
      // closed meanwhile
    }
  }
  return found;
}

/**
 * `player` sends `peer` one datagram on the runtime's path, as ICE and DTLS do before a player is
 * handed over (the runtime marks a socket writable when its poll first reports it); what arrived.
 */
async function greet(player: dgram.Socket, peer: dgram.Socket): Promise<string> {
  const hello = new Promise<string>((resolve) => peer.once("message", (m) => resolve(`${m}`)));
  player.send(Buffer.from("hello"), peer.address().port, "127.0.0.1");
  return await hello;
}

/** A tap that keeps what it is handed, and a wait for the `count`-th datagram (3 s at most). */
function collector(count: number) {
  const received: string[] = [];
  const got = Promise.withResolvers<void>();
  return {
    received,
    tap: {
      onDatagram(buf: Uint8Array) {
        received.push(new TextDecoder().decode(buf));
        if (received.length === count) got.resolve();
        return true;
      },
    },
    done(): Promise<void> {
      const timeout = setTimeout(() => got.reject(new Error(`received ${received}`)), 3000);
      return got.promise.finally(() => clearTimeout(timeout));
    },
  };
}

Deno.test({
  name: "load fast-rx: a socket it takes over leaves the runtime's epoll and still works",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const rx = FastRx.open(dgram.Socket.prototype.emit as never);
    assert.ok(rx, "libc through FFI");
    const player = await boundUdp();
    const peer = await boundUdp();
    try {
      assert.equal(await greet(player, peer), "hello");

      const fd = descriptorOf(player);
      assert.ok(fd !== undefined);
      assert.ok(epollsWatching(fd).length >= 1, "the runtime registers the socket it opens");

      const three = collector(3);
      assert.ok(rx.add(player, three.tap));
      assert.equal(epollsWatching(fd).length, 1, "only the fast path's own epoll watches it");

      const port = player.address().port;
      for (const text of ["one", "two", "three"]) peer.send(Buffer.from(text), port, "127.0.0.1");
      await three.done();
      assert.deepEqual(three.received.sort(), ["one", "three", "two"]);

      const back = new Promise<string>((resolve) => peer.once("message", (m) => resolve(`${m}`)));
      player.send(Buffer.from("reply"), peer.address().port, "127.0.0.1");
      assert.equal(await back, "reply");
    } finally {
      rx.remove(player);
      rx.stop();
      await new Promise<void>((resolve) => player.close(() => resolve()));
      await new Promise<void>((resolve) => peer.close(() => resolve()));
    }
  },
});

Deno.test({
  name:
    "load fast-rx: with UDP GRO a segmented send arrives whole and is handed over datagram by datagram",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const libc = Deno.dlopen("libc.so.6", {
      setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
    });
    for (const gro of [true, false]) {
      const rx = FastRx.open(dgram.Socket.prototype.emit as never, { gro });
      assert.ok(rx, "libc through FFI");
      const player = await boundUdp();
      const peer = await boundUdp();
      try {
        await greet(player, peer);
        const three = collector(3);
        assert.ok(rx.add(player, three.tap));
        // the peer sends 250 bytes as 100 + 100 + 50 in one system call (UDP_SEGMENT, as the
        // server sends a frame)
        const segment = new Uint8Array(new Int32Array([100]).buffer);
        const fd = descriptorOf(peer)!;
        assert.equal(libc.symbols.setsockopt(fd, 17, 103, segment, 4), 0, "UDP_SEGMENT");
        const body = "a".repeat(100) + "b".repeat(100) + "c".repeat(50);
        peer.send(Buffer.from(body), player.address().port, "127.0.0.1");
        await three.done();
        assert.deepEqual(three.received, ["a".repeat(100), "b".repeat(100), "c".repeat(50)]);
        assert.equal(rx.stats.datagrams, 3);
        assert.equal(rx.stats.coalesced, gro ? 1 : 0, gro ? "one buffer" : "three buffers");
      } finally {
        rx.remove(player);
        rx.stop();
        await new Promise<void>((resolve) => player.close(() => resolve()));
        await new Promise<void>((resolve) => peer.close(() => resolve()));
      }
    }
    libc.close();
  },
});

Deno.test({
  name: "load fast-rx: a player that stops reading for a while loses nothing in its own socket",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const libc = Deno.dlopen("libc.so.6", {
      sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "isize" },
    });
    const rx = FastRx.open(dgram.Socket.prototype.emit as never);
    assert.ok(rx, "libc through FFI");
    const player = await boundUdp();
    const peer = await boundUdp();
    try {
      await greet(player, peer);
      const count = 1000; // ≈ 1.2 MB: 3.6 s of the bench's stream (the default buffer holds ≈ 90)
      let received = 0;
      assert.ok(rx.add(player, { onDatagram: () => (received++, true) }));
      // sent while the event loop does not turn: the player reads nothing until the end
      const to = new Uint8Array(16);
      const port = player.address().port;
      to.set([2, 0, port >> 8, port & 0xff, 127, 0, 0, 1]); // sockaddr_in, AF_INET
      const datagram = new Uint8Array(1200);
      const fd = descriptorOf(peer)!;
      for (let i = 0; i < count; i++) {
        assert.equal(Number(libc.symbols.sendto(fd, datagram, 1200n, 0, to, 16)), 1200);
      }
      const end = performance.now() + 3000;
      while (received < count && performance.now() < end) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(received, count, "datagrams the player read");
    } finally {
      rx.remove(player);
      rx.stop();
      libc.close();
      await new Promise<void>((resolve) => player.close(() => resolve()));
      await new Promise<void>((resolve) => peer.close(() => resolve()));
    }
  },
});
