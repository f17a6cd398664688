/**
 * The receiving side of the kernel-ceiling bench, run as its own process pinned to core 1:
 * `M` UDP sockets on 127.0.0.1 (4 MB of receive buffer each), drained with `recvmmsg`
 * (src/media/native/recv-batch.ts) in a polling loop that never sleeps in the kernel, as the
 * ramp's players read theirs (bench/load/fast-rx.ts polls with a zero timeout): a receiver
 * blocked in `epoll_wait` would be woken from the sender's softirq, work charged to the sending
 * core that the server's real players do not cause.
 *
 * With a second argument `gro`, the sockets take segmented sends whole (gro-drain.ts), as the
 * ramp's players do.
 *
 * Protocol: prints one JSON line `{"ports":[…]}` once bound; then each line on stdin
 * (`count`) is answered with `{"received":n}`; stdin closed ends it.
 *
 * @module
 */
import { openNative } from "../../src/media/native/libs.ts";
import { RecvBatch } from "../../src/media/native/recv-batch.ts";
import { udpSocket } from "./sockets.ts";
import { enableGro, GroDrain } from "./gro-drain.ts";

/** Polls `fds` until `stop()` says so; counts every datagram read. */
async function drainLoop(
  fds: number[],
  drain: (fd: number) => void,
  stop: () => boolean,
): Promise<void> {
  while (!stop()) {
    const until = performance.now() + 2;
    while (performance.now() < until) {
      for (const fd of fds) drain(fd);
    }
    await new Promise((resolve) => setTimeout(resolve, 0)); // let stdin be read
  }
}

async function main(): Promise<void> {
  const m = Number(Deno.args[0] ?? 300);
  const gro = Deno.args[1] === "gro";
  const native = openNative();
  if (!native.ok) throw new Error(native.reason);
  const sockets = Array.from({ length: m }, () => udpSocket(native.libc, 4 << 20, "receive"));
  if (gro && !sockets.every((s) => enableGro(native.libc, s.fd))) throw new Error("no UDP GRO");
  const reader = gro ? new GroDrain(native.libc) : new RecvBatch(native.libc);
  const deliver = () => {};
  const drain = reader instanceof GroDrain
    ? (fd: number) => reader.drain(fd)
    : (fd: number) => reader.drain(fd, deliver);
  console.log(JSON.stringify({ ports: sockets.map((s) => s.port) }));
  let done = false;
  const loop = drainLoop(sockets.map((s) => s.fd), drain, () => done);
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  let pending = "";
  for await (const chunk of lines) {
    pending += chunk;
    let at;
    while ((at = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, at).trim();
      pending = pending.slice(at + 1);
      if (line === "count") console.log(JSON.stringify({ received: reader.stats.datagrams }));
    }
  }
  done = true;
  await loop;
}

if (import.meta.main) await main();
