/**
 * A cheaper receive path for the load players (Linux, `--allow-ffi`): once a player is
 * connected, Deno's `node:dgram` receive loop on its socket is stopped and the socket's file
 * descriptor is read directly with libc `recvmmsg` (64 datagrams per call) into one
 * preallocated buffer. Every `pollMs` (the ramp's `--rx-poll-ms`, 20) a synchronous
 * `epoll_wait(…, 0)` says which sockets have data (a non-blocking FFI call per wake-up costs more
 * than it saves: it hops threads). A longer poll reads more per system call: at 550 players the
 * players cost 3.04 / 3.19 µs per packet polled every 20 ms, 3.47 / 3.97 every 10 ms and
 * 3.79 / 3.53 every 1 ms (2026-12-05, alternated single steps; bench/README.md).
 * Deno's own path costs ~30 µs per datagram (an async op and a fresh 64 KiB buffer each).
 *
 * The arrival time of each datagram is the kernel's (`SO_TIMESTAMPNS`, wall clock), so the
 * poll does not add to the measured one-way delay.
 *
 * Every datagram still goes through the player's tap first; what the tap does not drop (STUN,
 * DTLS, RTCP, sampled RTP) is handed to werift as a `message` event with a copy of the bytes and
 * the sender's address, exactly as `node:dgram` would have. Sending stays with `node:dgram`.
 *
 * The descriptor is found from the socket's local port: `/proc/net/udp` gives the socket's inode,
 * `/proc/self/fd/*` the descriptor that links to `socket:[inode]`.
 *
 * The socket also leaves the runtime's own epoll instance (Deno's I/O driver registers every
 * socket it opens, and stopping the receive loop does not unregister it). While it is there,
 * every datagram that reaches the socket runs that instance's callback and wakes its thread, and
 * on loopback the kernel does that inside the *sender's* `sendmsg`: `perf` of the server at 300
 * players put 11 % of its CPU in `sock_def_readable` waking the players' runtimes, work a player
 * on another machine never costs the server (2 % once they left; bench/README.md).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { setKernelBuffer } from "../../src/media/native/udp-socket.ts";

/** What the fast path needs from a player. */
export interface Tapped {
  /** Sees a datagram first (with its arrival, ms since the epoch); true to drop it. */
  onDatagram(buf: Uint8Array, arrivedAt?: number): boolean;
}

type Emit = (this: object, event: string, ...rest: unknown[]) => boolean;

const VLEN = 64;
const SLOT = 2048;
/** A slot when the kernel may hand over a whole segmented send at once (UDP GRO). */
const GRO_SLOT = 65536;
const MSG_DONTWAIT = 0x40;
const EPOLLIN = 1;
const EPOLL_CTL_ADD = 1;
const EPOLL_CTL_DEL = 2;
const MAX_EVENTS = 256;
const CONTROL = 64;
const SOL_SOCKET = 1;
const SO_TIMESTAMPNS = 35;
const SOL_UDP = 17;
const UDP_GRO = 104;
/**
 * Kernel receive buffer asked for each player socket: ≈ 2 s of the bench's stream, so that a
 * player process that stops for a moment (a collection, a burst of joins) reads late instead of
 * losing datagrams — STUN responses among them — in its own socket (the default, 208 KiB, holds
 * ≈ 0.3 s). Past `net.core.rmem_max` as root (`setKernelBuffer`).
 */
export const PLAYER_RECEIVE_BUFFER = 2 * 1024 * 1024;

const SYMBOLS = {
  epoll_create1: { parameters: ["i32"], result: "i32" },
  epoll_ctl: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  epoll_wait: { parameters: ["i32", "buffer", "i32", "i32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  recvmmsg: { parameters: ["i32", "buffer", "u32", "i32", "pointer"], result: "i32" },
} as const;

/** The FFI receive loop of one process. */
export class FastRx {
  readonly #lib: Deno.DynamicLibrary<typeof SYMBOLS>;
  readonly #epfd: number;
  readonly #emit: Emit;
  readonly #byFd = new Map<number, { socket: object; player: Tapped }>();
  readonly #slot: number;
  readonly #gro: boolean;
  readonly #data: Uint8Array;
  readonly #names = new Uint8Array(new ArrayBuffer(VLEN * 16));
  readonly #iovs = new Uint8Array(new ArrayBuffer(VLEN * 16));
  readonly #msgs = new Uint8Array(new ArrayBuffer(VLEN * 64));
  readonly #control = new Uint8Array(new ArrayBuffer(VLEN * CONTROL));
  readonly #controlView = new DataView(this.#control.buffer);
  readonly #msgView: DataView;
  readonly #events = new Uint8Array(new ArrayBuffer(MAX_EVENTS * 12));
  readonly #eventsView = new DataView(this.#events.buffer);
  /** What the control messages of the message read last said. */
  readonly #found: Control = { segment: 0 };
  /** Messages the last `recvmmsg` filled, whose lengths it overwrote (reset before the next). */
  #used = 0;
  #timer?: ReturnType<typeof setInterval>;
  /** Datagrams read and wake-ups, for the report. */
  readonly stats = { datagrams: 0, wakeups: 0, calls: 0, coalesced: 0 };

  readonly #pollMs: number;

  private constructor(
    lib: Deno.DynamicLibrary<typeof SYMBOLS>,
    emit: Emit,
    gro: boolean,
    pollMs: number,
  ) {
    this.#lib = lib;
    this.#pollMs = pollMs;
    this.#emit = emit;
    this.#gro = gro;
    this.#slot = gro ? GRO_SLOT : SLOT;
    this.#data = new Uint8Array(new ArrayBuffer(VLEN * this.#slot));
    this.#epfd = lib.symbols.epoll_create1(0);
    if (this.#epfd < 0) throw new Error("epoll_create1 failed");
    const iov = new DataView(this.#iovs.buffer);
    this.#msgView = new DataView(this.#msgs.buffer);
    const data = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(this.#data)));
    const names = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(this.#names)));
    const iovs = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(this.#iovs)));
    const control = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(this.#control)));
    for (let i = 0; i < VLEN; i++) {
      iov.setBigUint64(i * 16, data + BigInt(i * this.#slot), true); // iov_base
      iov.setBigUint64(i * 16 + 8, BigInt(this.#slot), true); // iov_len
      const m = i * 64; // struct mmsghdr: msghdr (56 bytes) + msg_len (4) + padding
      this.#msgView.setBigUint64(m, names + BigInt(i * 16), true); // msg_name
      this.#msgView.setUint32(m + 8, 16, true); // msg_namelen
      this.#msgView.setBigUint64(m + 16, iovs + BigInt(i * 16), true); // msg_iov
      this.#msgView.setBigUint64(m + 24, 1n, true); // msg_iovlen
      this.#msgView.setBigUint64(m + 32, control + BigInt(i * CONTROL), true); // msg_control
      this.#msgView.setBigUint64(m + 40, BigInt(CONTROL), true); // msg_controllen
    }
  }

  /**
   * Opens libc, or returns undefined (not Linux x86-64/aarch64, or no `--allow-ffi`).
   * `emit` is `dgram.Socket.prototype.emit` as it was before any tap. With `gro`, each socket
   * takes a segmented send whole (`UDP_GRO`, see {@link FastRx.add}); the sockets are polled
   * every `pollMs` (default 20).
   */
  static open(emit: Emit, options: { gro?: boolean; pollMs?: number } = {}): FastRx | undefined {
    if (Deno.build.os !== "linux") return undefined;
    const pollMs = Math.max(1, options.pollMs ?? 20);
    try {
      return new FastRx(Deno.dlopen("libc.so.6", SYMBOLS), emit, options.gro ?? false, pollMs);
    } catch {
      return undefined;
    }
  }

  /**
   * Takes over receiving on `socket` (a bound IPv4 `node:dgram` socket); false if it cannot.
   *
   * With UDP GRO on (`open(…, { gro: true })`), a datagram sent as one segmented `sendmsg`
   * (`UDP_SEGMENT`) reaches the socket as one buffer with its segment size (Linux ≥ 5.0): the
   * kernel does not split it into one socket buffer per datagram on the way in. On loopback that
   * splitting and queueing runs on the *sender's* core, inside its `sendmsg`, where a player on
   * another machine never puts it (bench/README.md); the segments are handed to the player one
   * by one, as separate datagrams would be.
   */
  add(socket: object, player: Tapped): boolean {
    const fd = descriptorOf(socket);
    if (fd === undefined) return false;
    const event = new Uint8Array(12);
    const view = new DataView(event.buffer);
    view.setUint32(0, EPOLLIN, true);
    view.setBigUint64(4, BigInt(fd), true);
    if (this.#lib.symbols.epoll_ctl(this.#epfd, EPOLL_CTL_ADD, fd, event) !== 0) return false;
    const on = new Uint8Array(new Int32Array([1]).buffer);
    this.#lib.symbols.setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, on, 4);
    setKernelBuffer(this.#lib.symbols.setsockopt, fd, PLAYER_RECEIVE_BUFFER, "receive");
    // a kernel without UDP GRO (< 5.0) hands over each datagram: read them one by one
    if (this.#gro) this.#lib.symbols.setsockopt(fd, SOL_UDP, UDP_GRO, on, 4);
    stopDenoReceive(socket);
    this.#leaveRuntimePoll(fd);
    this.#byFd.set(fd, { socket, player });
    this.#timer ??= setInterval(() => this.#poll(), this.#pollMs);
    return true;
  }

  /**
   * Takes `fd` out of every other epoll instance of this process (the runtime's I/O driver; one
   * it was never in answers ENOENT). Sends still work: the runtime marked the socket writable
   * when its poll first reported it (ICE and DTLS have sent on it by now) and only waits again
   * after a send would block, which a loopback UDP socket with room in its buffer does not do.
   */
  #leaveRuntimePoll(fd: number): void {
    const none = new Uint8Array(12);
    for (const entry of Deno.readDirSync("/proc/self/fd")) {
      const epfd = Number(entry.name);
      if (epfd === this.#epfd) continue;
      try {
        if (Deno.readLinkSync(`/proc/self/fd/${entry.name}`) !== "anon_inode:[eventpoll]") continue;
      } catch {
        continue; // closed meanwhile
      }
      this.#lib.symbols.epoll_ctl(epfd, EPOLL_CTL_DEL, fd, none);
    }
  }

  /** Gives up `socket` (before it is closed, so that its descriptor number is not reused). */
  remove(socket: object): void {
    for (const [fd, entry] of this.#byFd) {
      if (entry.socket !== socket) continue;
      this.#lib.symbols.epoll_ctl(this.#epfd, EPOLL_CTL_DEL, fd, new Uint8Array(12));
      this.#byFd.delete(fd);
    }
  }

  /** Stops polling. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #poll(): void {
    const n = this.#lib.symbols.epoll_wait(this.#epfd, this.#events, MAX_EVENTS, 0);
    if (n <= 0) return;
    this.stats.wakeups++;
    const events = this.#eventsView;
    for (let i = 0; i < n; i++) this.#drain(events.getUint32(i * 12 + 4, true)); // fd < 2^32
  }

  #drain(fd: number): void {
    const entry = this.#byFd.get(fd);
    if (!entry) return;
    for (;;) {
      // the kernel rewrote the name and control lengths of the messages it filled: only those
      // are reset (no BigInt: the high half of msg_controllen stays 0)
      for (let i = 0; i < this.#used; i++) {
        this.#msgView.setUint32(i * 64 + 8, 16, true); // msg_namelen
        this.#msgView.setUint32(i * 64 + 40, CONTROL, true); // msg_controllen
      }
      const got = this.#lib.symbols.recvmmsg(fd, this.#msgs, VLEN, MSG_DONTWAIT, null);
      this.stats.calls++;
      this.#used = Math.max(got, 0);
      if (got <= 0) return;
      for (let i = 0; i < got; i++) {
        const len = Math.min(this.#msgView.getUint32(i * 64 + 56, true), this.#slot);
        const { arrivedAt, segment } = readControl(
          this.#msgView,
          this.#controlView,
          i,
          CONTROL,
          this.#found,
        );
        const step = segment > 0 ? segment : len;
        if (step < len) this.stats.coalesced++;
        const base = i * this.#slot;
        for (let at = 0; at < len; at += step) {
          const datagram = this.#data.subarray(base + at, base + Math.min(at + step, len));
          this.stats.datagrams++;
          if (entry.player.onDatagram(datagram, arrivedAt)) continue;
          this.#toWerift(entry.socket, datagram, i);
        }
      }
      if (got < VLEN) return;
    }
  }

  /** Hands `datagram` (of message `i`) to werift as `node:dgram` would. */
  #toWerift(socket: object, datagram: Uint8Array, i: number): void {
    const name = this.#names.subarray(i * 16, i * 16 + 16);
    const rinfo = {
      address: `${name[4]}.${name[5]}.${name[6]}.${name[7]}`,
      port: (name[2] << 8) | name[3],
      family: "IPv4",
      size: datagram.byteLength,
    };
    try {
      this.#emit.call(socket, "message", Buffer.from(datagram), rinfo);
    } catch {
      // werift's own handler logs and swallows its errors; nothing to do here
    }
  }
}

/** What {@link readControl} found in one message's control messages. */
export interface Control {
  /** The kernel's receive time (`SO_TIMESTAMPNS`), ms since the epoch, if it gave one. */
  arrivedAt?: number;
  /** The GRO segment size (`UDP_GRO`), 0 when the message is one datagram. */
  segment: number;
}

/**
 * Reads the control messages of message `i` of a `recvmmsg` call into `out`, and returns it:
 * `msgs` holds the 64-byte `struct mmsghdr`s (the kernel wrote each one's `msg_controllen`),
 * `view` the control buffers, `stride` bytes each (struct cmsghdr: 64-bit length, level, type,
 * then the data, 8-byte aligned).
 */
export function readControl(
  msgs: DataView,
  view: DataView,
  i: number,
  stride: number,
  out: Control,
): Control {
  out.arrivedAt = undefined;
  out.segment = 0;
  const start = i * stride;
  const end = start + Math.min(msgs.getUint32(i * 64 + 40, true), stride); // msg_controllen
  for (let c = start; c + 16 <= end;) {
    const length = view.getUint32(c, true);
    if (length < 16) break;
    const level = view.getInt32(c + 8, true);
    const type = view.getInt32(c + 12, true);
    if (level === SOL_SOCKET && type === SO_TIMESTAMPNS && length >= 32) {
      // struct timespec: 64-bit seconds and nanoseconds, read as 32-bit halves (no BigInt)
      const sec = view.getUint32(c + 16, true) + view.getUint32(c + 20, true) * 0x1_0000_0000;
      out.arrivedAt = sec * 1000 + view.getUint32(c + 24, true) / 1e6;
    } else if (level === SOL_UDP && type === UDP_GRO && length >= 20) {
      out.segment = view.getInt32(c + 16, true);
    }
    c += (length + 7) & ~7;
  }
  return out;
}

/** The file descriptor of a bound `node:dgram` socket, from its local port. */
export function descriptorOf(socket: object): number | undefined {
  let port: number;
  try {
    port = (socket as { address(): { port: number } }).address().port;
  } catch {
    return undefined;
  }
  let inode: string | undefined;
  for (const line of Deno.readTextFileSync("/proc/net/udp").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length > 9 && parseInt(f[1].split(":")[1], 16) === port) inode = f[9];
  }
  if (!inode) return undefined;
  const target = `socket:[${inode}]`;
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    try {
      if (Deno.readLinkSync(`/proc/self/fd/${entry.name}`) === target) return Number(entry.name);
    } catch {
      // closed meanwhile
    }
  }
  return undefined;
}

/** Stops Deno's receive loop on a `node:dgram` socket (its pending read still completes). */
function stopDenoReceive(socket: object): void {
  const state = Object.getOwnPropertySymbols(socket)
    .map((s) => (socket as Record<symbol, unknown>)[s])
    .find((v) => typeof v === "object" && v !== null && "handle" in v) as
      | { handle?: { recvStop?(): void } }
      | undefined;
  state?.handle?.recvStop?.();
}
