/**
 * What the kernel-ceiling bench needs from libc beyond the send path's bindings
 * (src/media/native/libs.ts): plain non-blocking UDP sockets on 127.0.0.1 (`socket`, `bind`),
 * and the calling thread's CPU time (`getrusage(RUSAGE_THREAD)`, µs resolution).
 *
 * @module
 */
import type { Libc } from "../../src/media/native/libs.ts";
import { setKernelBuffer, sockaddrIn } from "../../src/media/native/udp-socket.ts";

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  getrusage: { parameters: ["i32", "buffer"], result: "i32" },
} as const;

const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const RUSAGE_THREAD = 1;

/** Bench-only libc symbols, opened once. */
let lib: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;
function sym() {
  lib ??= Deno.dlopen("libc.so.6", SYMBOLS);
  return lib.symbols;
}

/** A bound UDP socket: its descriptor and port. */
export interface RawSocket {
  /** The descriptor. */
  fd: number;
  /** The port it is bound to on 127.0.0.1. */
  port: number;
}

/**
 * Opens a non-blocking UDP socket bound to 127.0.0.1 on a free port, with `bytes` of kernel
 * buffer in `direction` (the `…FORCE` option as root, past `rmem_max` / `wmem_max`).
 */
export function udpSocket(libc: Libc, bytes: number, direction: "send" | "receive"): RawSocket {
  const s = sym();
  const fd = s.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (fd < 0) throw new Error("socket() failed");
  if (s.bind(fd, sockaddrIn("127.0.0.1", 0)!, 16) !== 0) throw new Error("bind() failed");
  setKernelBuffer(libc.setsockopt, fd, bytes, direction);
  const name = new Uint8Array(16);
  const length = new Uint8Array(new Uint32Array([16]).buffer);
  if (libc.getsockname(fd, name, length) !== 0) throw new Error("getsockname() failed");
  return { fd, port: (name[2] << 8) | name[3] };
}

/** Closes a descriptor opened by {@link udpSocket}. */
export function closeSocket(fd: number): void {
  sym().close(fd);
}

/** The calling thread's user and system CPU time, µs (`getrusage(RUSAGE_THREAD)`). */
export function threadCpu(): { user: number; system: number } {
  const r = new BigInt64Array(18); // struct rusage: two timevals, then 14 longs
  sym().getrusage(RUSAGE_THREAD, new Uint8Array(r.buffer));
  return {
    user: Number(r[0]) * 1e6 + Number(r[1]),
    system: Number(r[2]) * 1e6 + Number(r[3]),
  };
}
