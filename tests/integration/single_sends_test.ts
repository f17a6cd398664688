/**
 * Lone datagrams of several players in one `sendmmsg` (native/single-sends.ts), on real loopback
 * UDP sockets: each player gets its own datagram, byte for byte; a datagram for another socket
 * sends what was gathered first; a refused message drops only itself.
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { openNative } from "../../src/media/native/libs.ts";
import { SingleSends, type SinglesResult } from "../../src/media/native/single-sends.ts";
import { descriptorOfUdpSocket, sockaddrIn } from "../../src/media/native/udp-socket.ts";

const native = openNative();
// CI has Linux and FFI: there these tests must run, not be skipped
const ignore = !native.ok && !Deno.env.get("CI");

function bound(): Promise<dgram.Socket> {
  const socket = dgram.createSocket("udp4");
  return new Promise((resolve) => socket.bind(0, "127.0.0.1", () => resolve(socket)));
}

/** The datagrams a socket receives, each with the port it came from as `from`. */
function collect(socket: dgram.Socket): (Uint8Array & { from?: number })[] {
  const got: (Uint8Array & { from?: number })[] = [];
  socket.on(
    "message",
    (msg, rinfo) => got.push(Object.assign(new Uint8Array(msg), { from: rinfo.port })),
  );
  return got;
}

async function until(check: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 3000;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Writes a recognisable datagram of `size` bytes (12 header, 16 tag) into slot `k`. */
function fill(singles: SingleSends, k: number, size: number, to: Uint8Array): Uint8Array {
  const expected = new Uint8Array(size);
  for (let i = 0; i < size; i++) expected[i] = (k * 31 + i * 7 + size) & 0xff;
  singles.headers[k].set(expected.subarray(0, 12));
  singles.ciphertexts[k].set(expected.subarray(12, size - 16));
  singles.tags[k].set(expected.subarray(size - 16));
  singles.commit(k, to, 12, size - 28, 16);
  return expected;
}

Deno.test({
  name: "SingleSends: several players' lone datagrams in one call, each to its own socket",
  ignore,
  async fn() {
    if (!native.ok) throw new Error(`native path unavailable: ${native.reason}`);
    const senders = await Promise.all([bound(), bound()]);
    const players = await Promise.all([bound(), bound(), bound()]);
    const got = players.map(collect);
    const results: SinglesResult[] = [];
    try {
      const fds = senders.map((s) =>
        descriptorOfUdpSocket(native.libc, "127.0.0.1", s.address().port, new Map())!
      );
      assert.ok(fds.every((fd) => fd !== undefined), "the sending sockets' descriptors are found");
      const names = players.map((p) => sockaddrIn("127.0.0.1", p.address().port)!);
      const singles = new SingleSends((r) => results.push({ ...r }));

      // three players from one socket: one call when submitted
      const expected = [160, 120, 1200].map((size, i) =>
        fill(singles, singles.reserve(fds[0]), size, names[i])
      );
      assert.equal(singles.length, 3);
      assert.equal(results.length, 0, "nothing sent before the submit");
      singles.submit();
      assert.deepEqual(results, [{ count: 3, sent: 3, calls: 1 }]);
      await until(() => got.every((g) => g.length === 1), "one datagram per player");
      got.forEach((g, i) => {
        assert.deepEqual(new Uint8Array(g[0]), expected[i], `player ${i}'s datagram`);
        assert.equal(g[0].from, senders[0].address().port);
      });

      // a datagram from another socket sends the gathered ones first
      const first = fill(singles, singles.reserve(fds[0]), 100, names[0]);
      const second = fill(singles, singles.reserve(fds[1]), 101, names[1]);
      assert.deepEqual(results[1], { count: 1, sent: 1, calls: 1 });
      assert.equal(singles.length, 1);
      singles.submit();
      await until(() => got[0].length === 2 && got[1].length === 2, "the next datagrams");
      assert.deepEqual(new Uint8Array(got[0][1]), first);
      assert.deepEqual(new Uint8Array(got[1][1]), second);
      assert.equal(got[1][1].from, senders[1].address().port, "from the second socket");

      // a message the kernel refuses (port 0) is dropped, the ones after it still go
      fill(singles, singles.reserve(fds[0]), 90, names[0]);
      fill(singles, singles.reserve(fds[0]), 91, sockaddrIn("127.0.0.1", 0)!);
      const after = fill(singles, singles.reserve(fds[0]), 92, names[2]);
      singles.submit();
      const last = results.at(-1)!;
      assert.equal(last.count, 3);
      assert.equal(last.sent, 2, "the refused one alone is dropped");
      await until(() => got[2].length === 2, "the datagram after the refused one");
      assert.deepEqual(new Uint8Array(got[2][1]), after);

      // more than a call's worth: sent as the slots fill up
      const total = () => got.reduce((n, g) => n + g.length, 0);
      const before = total();
      const many = 64 + 6;
      for (let i = 0; i < many; i++) fill(singles, singles.reserve(fds[0]), 50, names[i % 3]);
      singles.submit();
      const sent = results.slice(-2).reduce((n, r) => n + r.sent, 0);
      assert.equal(sent, many);
      await until(
        () => total() === before + many,
        "every datagram of the full batch",
      );
    } finally {
      for (const s of [...senders, ...players]) s.close();
    }
  },
});
