import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { openNative } from "../../src/media/native/libs.ts";
import { RecvBatch } from "../../src/media/native/recv-batch.ts";
import { addressOf, MultiSend, setPointer } from "../../src/media/native/send-mmsg.ts";
import { sockaddrIn } from "../../src/media/native/udp-socket.ts";
import { closeSocket, udpSocket } from "../../bench/kernel/sockets.ts";
import { AUDIO_DATAGRAM, PATTERNS } from "../../bench/kernel/patterns.ts";
import { enableGro, GroDrain } from "../../bench/kernel/gro-drain.ts";

const native = openNative();

Deno.test({
  name: "sendmmsg: each message reaches its own destination, split at its segment size",
  ignore: !native.ok,
  fn: () => {
    if (!native.ok) return;
    const libc = native.libc;
    const sender = udpSocket(libc, 1 << 20, "send");
    const a = udpSocket(libc, 1 << 20, "receive");
    const b = udpSocket(libc, 1 << 20, "receive");
    try {
      const data = new Uint8Array(1000).map((_, i) => i & 0xff);
      const iov = new DataView(new ArrayBuffer(32));
      setPointer(iov, 0, addressOf(data)); // 3 × 300 + 100 bytes
      iov.setUint32(8, 1000, true);
      setPointer(iov, 16, addressOf(data)); // one 200-byte datagram, not segmented
      iov.setUint32(24, 200, true);
      const multi = new MultiSend(libc, 2);
      assertEquals(
        multi.add(sockaddrIn("127.0.0.1", a.port)!, addressOf(iov.buffer), 1, 300),
        true,
      );
      assertEquals(
        multi.add(sockaddrIn("127.0.0.1", b.port)!, addressOf(iov.buffer) + 16, 1, 0),
        true,
      );
      assertEquals(multi.add(sockaddrIn("127.0.0.1", b.port)!, addressOf(iov.buffer), 1, 0), false);
      assertEquals(multi.flush(sender.fd), 2);
      assertEquals(multi.length, 0);
      const batch = new RecvBatch(libc);
      const got = (fd: number) => {
        const out: number[][] = [];
        batch.drain(fd, (bytes, address, port) => {
          assertEquals([address, port], ["127.0.0.1", sender.port]);
          out.push([bytes.length, bytes[0]]);
        });
        return out;
      };
      assertEquals(got(a.fd), [[300, 0], [300, 300 & 0xff], [300, 600 & 0xff], [100, 900 & 0xff]]);
      assertEquals(got(b.fd), [[200, 0]]);
    } finally {
      for (const s of [sender, a, b]) closeSocket(s.fd);
    }
  },
});

Deno.test({
  name:
    "kernel-ceiling patterns: every pattern delivers its datagrams (9 of video, 1 of audio) to each player",
  ignore: !native.ok,
  fn: () => {
    if (!native.ok) return;
    const libc = native.libc;
    const sender = udpSocket(libc, 1 << 20, "send");
    const players = [udpSocket(libc, 1 << 20, "receive"), udpSocket(libc, 1 << 20, "receive")];
    const names = players.map((p) => sockaddrIn("127.0.0.1", p.port)!);
    const batch = new RecvBatch(libc);
    try {
      for (const pattern of PATTERNS) {
        const audio = pattern.name.startsWith("audio");
        const per = audio ? 1 : 9;
        assertEquals(pattern.make(libc, sender.fd)(names, 0, 2), 2 * per, pattern.name);
        for (const p of players) {
          const sizes: number[] = [];
          batch.drain(p.fd, (bytes) => sizes.push(bytes.length));
          assertEquals(sizes.length, per, pattern.name);
          if (audio) assertEquals(sizes, [AUDIO_DATAGRAM], pattern.name);
          else assertEquals(sizes.filter((n) => n === 1200).length >= 5, true, pattern.name);
        }
      }
    } finally {
      for (const s of [sender, ...players]) closeSocket(s.fd);
    }
  },
});

Deno.test({
  name: "kernel-ceiling GRO receivers: a segmented send arrives whole and counts as its datagrams",
  ignore: !native.ok,
  fn: () => {
    if (!native.ok) return;
    const libc = native.libc;
    const sender = udpSocket(libc, 1 << 20, "send");
    const receiver = udpSocket(libc, 1 << 20, "receive");
    try {
      assertEquals(enableGro(libc, receiver.fd), true);
      const data = new Uint8Array(1000);
      const iov = new DataView(new ArrayBuffer(16));
      setPointer(iov, 0, addressOf(data));
      iov.setUint32(8, 1000, true);
      const multi = new MultiSend(libc, 2);
      multi.add(sockaddrIn("127.0.0.1", receiver.port)!, addressOf(iov.buffer), 1, 300);
      multi.add(sockaddrIn("127.0.0.1", receiver.port)!, addressOf(iov.buffer), 1, 0);
      assertEquals(multi.flush(sender.fd), 2); // 3 × 300 + 100 bytes, then 1,000 bytes alone
      const drain = new GroDrain(libc);
      drain.drain(receiver.fd);
      assertEquals(drain.stats, { datagrams: 5, messages: 2 });
    } finally {
      for (const s of [sender, receiver]) closeSocket(s.fd);
    }
  },
});
