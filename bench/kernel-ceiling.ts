/**
 * The kernel's ceiling for the fan-out on this machine's loopback: what one core pays per
 * ~1,200-byte datagram for the server's send patterns (bench/kernel/patterns.ts) to M receiving
 * sockets, what OpenSSL pays per SRTP packet (bench/kernel/crypto.ts), and the players per core
 * those leave for a 2.6 Mbit/s stream.
 *
 * ```sh
 * deno task bench:kernel                       # M = 300 and 600, 4 s per pattern (< 2 min)
 * deno task bench:kernel -- --players 600 --seconds 2 --server-us 9
 * deno task bench:kernel -- --gro              # receivers take segmented sends whole (UDP GRO)
 * ```
 *
 * This process (the sender) is pinned to core 0 and sends as fast as it can from one
 * non-blocking UDP socket; a receiver process pinned to core 1 (bench/kernel/receivers.ts)
 * drains the M sockets with `recvmmsg` in a loop that never sleeps, as the ramp's players do.
 * On loopback the receive side's softirq work (routing, socket lookup, queueing on the receiving
 * socket) runs on the sending core inside the `sendmsg` call; this kernel has no
 * `CONFIG_IRQ_TIME_ACCOUNTING`, so that time is charged to the sending thread as system time,
 * the same accounting as the ramp's server CPU (`/proc/PID/stat`). The cost is the sending
 * thread's user + system time (`getrusage(RUSAGE_THREAD)`) ÷ the datagrams the kernel took.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { openNative } from "../src/media/native/libs.ts";
import { sockaddrIn } from "../src/media/native/udp-socket.ts";
import { NOMINAL_PPS } from "./load/common.ts";
import { coreBusy, coreTimes, pinAllThreads, threadAffinity } from "./load/proc.ts";
import { measureSrtp } from "./kernel/crypto.ts";
import { DATAGRAM, FRAME, PATTERNS } from "./kernel/patterns.ts";
import { closeSocket, threadCpu, udpSocket } from "./kernel/sockets.ts";

/** Slices of a row; its figures are the median slice's. */
const SLICES = 9;

/** One pattern's figures at one M. */
export interface Row {
  /** Pattern name. */
  pattern: string;
  /** Destinations. */
  players: number;
  /** Datagrams the kernel took. */
  sent: number;
  /** Share of the row's datagrams (warm-up included) the receivers read. */
  received: number;
  /** µs of the sending thread per datagram (the median of {@link SLICES} slices): user, system, both. */
  user: number;
  system: number;
  total: number;
  /** Datagrams per second of one core (1 / total). */
  perCore: number;
  /** Core 0's softirq share during the run (in the thread's time, or ksoftirqd's). */
  softirq: number;
  /**
   * Core 0's busy time per datagram, µs: the thread, plus work charged elsewhere (ksoftirqd),
   * plus other processes on the core (an upper bound on a shared machine).
   */
  coreBusy: number;
}

/** The lines of a byte stream. */
async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let pending = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    let at;
    while ((at = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, at).trim();
      pending = pending.slice(at + 1);
      if (line) yield line;
    }
  }
}

/** A child process reading lines of JSON from its stdout. */
class Receivers {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: AsyncIterator<string>;

  constructor(players: number, gro: boolean) {
    this.#child = new Deno.Command("taskset", {
      args: [
        "-c",
        "1",
        Deno.execPath(),
        "run",
        "-A",
        new URL("./kernel/receivers.ts", import.meta.url).pathname,
        String(players),
        ...(gro ? ["gro"] : []),
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#lines = lines(this.#child.stdout)[Symbol.asyncIterator]();
  }

  /** The next JSON line. */
  async next<T>(): Promise<T> {
    const r = await this.#lines.next();
    if (r.done) throw new Error("receivers exited");
    return JSON.parse(r.value) as T;
  }

  /** Datagrams read so far. */
  async count(): Promise<number> {
    await this.#writer.write(new TextEncoder().encode("count\n"));
    return (await this.next<{ received: number }>()).received;
  }

  /** Ends the process. */
  async close(): Promise<void> {
    await this.#writer.close();
    await this.#child.status;
  }
}

async function measure(
  pattern: (typeof PATTERNS)[number],
  fd: number,
  names: Uint8Array[],
  players: number,
  seconds: number,
  receivers: Receivers,
): Promise<Row> {
  const native = openNative();
  if (!native.ok) throw new Error(native.reason);
  const send = pattern.make(native.libc, fd);
  const before = await receivers.count();
  let warmSent = 0;
  const warm = performance.now() + 300;
  while (performance.now() < warm) warmSent += send(names, 0, players);
  const cores0 = coreTimes();
  // SLICES slices: the row's figures are the median slice's (other tenants of a shared machine
  // come and go; a slice they disturbed falls out of the middle)
  const slices: { user: number; system: number; sent: number }[] = [];
  const end = performance.now() + seconds * 1000;
  let sent = 0;
  for (let k = 0; k < SLICES; k++) {
    const c0 = threadCpu();
    const until = performance.now() + (seconds * 1000) / SLICES;
    let n = 0;
    while (performance.now() < until) n += send(names, 0, players);
    const c1 = threadCpu();
    slices.push({ user: c1.user - c0.user, system: c1.system - c0.system, sent: n });
    sent += n;
  }
  const cores1 = coreTimes();
  slices.sort((a, b) => (a.user + a.system) / a.sent - (b.user + b.system) / b.sent);
  const mid = slices[SLICES >> 1];
  const wall = seconds * 1000 + (performance.now() - end);
  // every datagram of the row (warm-up included) read, or the drops: wait for the count to settle
  let after = await receivers.count();
  for (let i = 0; i < 40; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const now = await receivers.count();
    if (now === after) break;
    after = now;
  }
  const received = (after - before) / (warmSent + sent);
  // the total is exact (the scheduler's runtime); its user/system split is apportioned by ticks,
  // so it is taken over the whole row
  const total = (mid.user + mid.system) / mid.sent;
  const userTime = slices.reduce((a, x) => a + x.user, 0);
  const share = userTime / (userTime + slices.reduce((a, x) => a + x.system, 0));
  const user = total * share;
  const system = total - user;
  return {
    pattern: pattern.name,
    players,
    sent,
    received,
    user,
    system,
    total: user + system,
    perCore: 1e6 / (user + system),
    softirq: coreBusy(cores0, cores1).cpu0?.softirq ?? 0,
    coreBusy: ((coreBusy(cores0, cores1).cpu0?.busy ?? 0) * wall * 1000) / sent,
  };
}

function pad(s: string | number, n: number): string {
  return String(s).padStart(n);
}

/** Runs the bench and prints the tables. */
export async function main(argv: string[]): Promise<void> {
  const { values: args } = parseArgs({
    args: argv.filter((a) => a !== "--"),
    options: {
      players: { type: "string", default: "300,600" },
      seconds: { type: "string", default: "4" },
      "server-us": { type: "string", default: "9" },
      gro: { type: "boolean", default: false },
    },
  });
  const counts = args.players!.split(",").map(Number);
  const seconds = Number(args.seconds);
  const serverUs = Number(args["server-us"]);
  const native = openNative();
  if (!native.ok) throw new Error(`native libraries: ${native.reason}`);
  await pinAllThreads(Deno.pid, "0");
  const receivers = new Receivers(Math.max(...counts), args.gro!);
  const { ports } = await receivers.next<{ ports: number[] }>();
  const names = ports.map((p) => sockaddrIn("127.0.0.1", p)!);
  const sender = udpSocket(native.libc, 4 << 20, "send");
  console.log(
    `sender: this process, threads on ${threadAffinity(Deno.pid).join(" ")}; receivers: ` +
      `${ports.length} sockets in one process on core 1, drained with recvmmsg in a polling loop` +
      (args.gro ? ", UDP GRO on (a segmented send arrives whole)" : ""),
  );
  console.log(
    `datagrams of ${DATAGRAM} bytes, ${FRAME} per frame per player, ${seconds} s per row`,
  );
  const rows: Row[] = [];
  try {
    for (const m of counts) {
      for (const pattern of PATTERNS) {
        const row = await measure(pattern, sender.fd, names, m, seconds, receivers);
        rows.push(row);
        console.log(
          `${pad(m, 4)} ${row.pattern.padEnd(22)} ${pad(row.total.toFixed(2), 6)} µs/dgram ` +
            `(user ${row.user.toFixed(2)}, sys ${row.system.toFixed(2)})  ` +
            `${pad(Math.round(row.perCore / 1000), 5)} k dgrams/s/core  ` +
            `read ${(row.received * 100).toFixed(1)} %  core 0 busy ${row.coreBusy.toFixed(2)} ` +
            `µs/dgram, softirq ${(row.softirq * 100).toFixed(0)} %`,
        );
      }
    }
  } finally {
    closeSocket(sender.fd);
    await receivers.close();
  }
  const srtp = measureSrtp(native.crypto);
  for (const c of srtp) {
    console.log(`OpenSSL SRTP ${c.profile}: ${c.us.toFixed(2)} µs / ${DATAGRAM}-byte packet`);
  }
  printCeiling(rows, srtp[0].us, serverUs, Math.max(...counts));
}

/** The players per core each cost model leaves (video in segmented runs, audio one by one). */
function printCeiling(rows: Row[], srtpUs: number, serverUs: number, m: number): void {
  const pps = NOMINAL_PPS.video + NOMINAL_PPS.audio;
  const at = (name: string) => rows.find((r) => r.players === m && r.pattern.startsWith(name))!;
  const one = at("audio").total;
  console.log(
    `\nper player: ${NOMINAL_PPS.video} video + ${NOMINAL_PPS.audio} audio = ${pps} packets/s; ` +
      `600 players on one core leave ${(1e6 / (600 * pps)).toFixed(2)} µs per packet`,
  );
  console.log(
    `ceiling at M = ${m} (video by the pattern, audio one 160-byte sendmsg each; AES-GCM ${
      srtpUs.toFixed(2)
    } µs):`,
  );
  console.log(
    "send pattern (video)     kernel µs/pkt  + OpenSSL  N max | + JS today (server µs − kernel − OpenSSL)",
  );
  for (
    const name of ["sendmsg GSO 4+5", "sendmmsg 64×GSO 4+5", "sendmsg GSO 9", "sendmmsg 64×GSO 9"]
  ) {
    const kernel = (NOMINAL_PPS.video * at(name).total + NOMINAL_PPS.audio * one) / pps;
    const base = kernel + srtpUs;
    const js = Math.max(0, serverUs - at("sendmsg GSO 4+5").total - srtpUs);
    console.log(
      `${name.padEnd(24)} ${pad(kernel.toFixed(2), 13)} ${pad(base.toFixed(2), 10)} ${
        pad(Math.floor(1e6 / (pps * base)), 6)
      }` +
        ` | ${pad((base + js).toFixed(2), 6)} µs → N ${Math.floor(1e6 / (pps * (base + js)))}`,
    );
  }
  console.log(`(JS today = --server-us ${serverUs} − the GSO 4+5 kernel cost − OpenSSL)`);
}

if (import.meta.main) await main(Deno.args);
