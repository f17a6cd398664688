/**
 * The UDP socket helpers of the native paths: the `sockaddr_in` of an IPv4 address, a socket's
 * kernel buffer past the system's cap when allowed, and the descriptor of one of this process's
 * UDP sockets, found by its bound address (`getsockname` over the open descriptors: Deno does
 * not expose them, and reading `/proc/self/fd` would need `--allow-all`). The owner must stop
 * using a descriptor before its socket closes.
 *
 * @module
 */
import type { Libc } from "./libs.ts";

const AF_INET = 2;

/** Builds the 16-byte `sockaddr_in` of an IPv4 address, or undefined for anything else. */
export function sockaddrIn(address: string, port: number): Uint8Array | undefined {
  const parts = address.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) < 256)) {
    return undefined;
  }
  const name = new Uint8Array(16);
  name[0] = AF_INET; // sa_family, little-endian u16
  name[2] = port >>> 8; // sin_port, network order
  name[3] = port & 0xff;
  for (let i = 0; i < 4; i++) name[4 + i] = Number(parts[i]);
  return name;
}

const SOL_SOCKET = 1;
const SO_TYPE = 3;
const SO_SNDBUF = 7;
const SO_RCVBUF = 8;
const SO_SNDBUFFORCE = 32;
const SO_RCVBUFFORCE = 33;
const SOCK_DGRAM = 2;
const F_GETFD = 1;
/** Descriptor numbers scanned past the last open one before giving up. */
const SCAN_GAP = 1024;

/** libc's `setsockopt` (the send path's binding, or another library's). */
export type SetSockopt = (
  fd: number,
  level: number,
  name: number,
  value: Uint8Array,
  length: number,
) => number;

/**
 * Asks for `bytes` of kernel buffer on `fd` in `direction`: past `net.core.rmem_max` /
 * `wmem_max` with `CAP_NET_ADMIN` (`SO_RCVBUFFORCE` / `SO_SNDBUFFORCE`, root), else up to them
 * (`SO_RCVBUF` / `SO_SNDBUF`). Best effort: the kernel says what it granted (`getsockopt`).
 */
export function setKernelBuffer(
  setsockopt: SetSockopt,
  fd: number,
  bytes: number,
  direction: "send" | "receive",
): void {
  const value = new Uint8Array(new Int32Array([bytes]).buffer);
  const [force, plain] = direction === "send"
    ? [SO_SNDBUFFORCE, SO_SNDBUF]
    : [SO_RCVBUFFORCE, SO_RCVBUF];
  if (setsockopt(fd, SOL_SOCKET, force, value, 4) !== 0) {
    setsockopt(fd, SOL_SOCKET, plain, value, 4);
  }
}

/**
 * The descriptor of this process's IPv4 UDP socket bound to `address:port`, if there is one:
 * the descriptors are asked with `getsockname` (Deno does not expose them, and reading
 * `/proc/self/fd` would need `--allow-all`). A descriptor found before (in `known`, by
 * `address:port`: the egress scheduler's) is checked again first.
 */
export function descriptorOfUdpSocket(
  libc: Libc,
  address: string,
  port: number,
  known: Map<string, number>,
): number | undefined {
  const want = sockaddrIn(address, port);
  if (!want) return undefined;
  const key = `${address}:${port}`;
  const name = new Uint8Array(16);
  const type = new Uint8Array(4); // int, little-endian
  const length = new Uint8Array(4); // socklen_t, little-endian
  const matches = (fd: number) => {
    length[0] = 16;
    if (libc.getsockname(fd, name, length) !== 0 || length[0] !== 16) return false;
    length[0] = 4;
    if (libc.getsockopt(fd, SOL_SOCKET, SO_TYPE, type, length) !== 0) return false;
    if (type[0] !== SOCK_DGRAM) return false;
    for (let i = 0; i < 8; i++) if (name[i] !== want[i]) return false;
    return true;
  };
  const cached = known.get(key);
  if (cached !== undefined && matches(cached)) return cached;
  known.delete(key);
  for (let fd = 0, gap = 0; gap < SCAN_GAP; fd++) {
    if (libc.fcntl(fd, F_GETFD, 0) < 0) {
      gap++;
      continue;
    }
    gap = 0;
    if (matches(fd)) {
      known.set(key, fd);
      return fd;
    }
  }
  return undefined;
}
