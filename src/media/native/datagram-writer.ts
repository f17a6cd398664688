/**
 * Sends a protected RTP packet (header, ciphertext, tag: three separate buffers gathered by the
 * kernel) with one synchronous libc `sendmsg` on the descriptor of the media socket werift
 * already uses, so the 5-tuple the player validated through ICE stays the same. Deno's
 * `node:dgram` send is an asynchronous operation plus a copy per datagram (≈ 12 µs here) and
 * reorders datagrams under load; this is one system call, in order.
 *
 * The descriptor is found by asking each open descriptor its bound address (`getsockname`).
 * The owner must stop using a descriptor before its socket closes.
 *
 * @module
 */
import type { Libc } from "./libs.ts";

const MSG_DONTWAIT = 0x40;
const AF_INET = 2;

/** Room for the header (12 bytes, CSRCs, extensions). */
export const HEADER_ROOM = 256;
/** Room for the ciphertext. */
export const PAYLOAD_ROOM = 64 * 1024;

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

/** The one scatter-gather writer of the process (the event loop is single-threaded). */
export class DatagramWriter {
  /** The RTP header of the packet being sent. */
  readonly header = new Uint8Array(new ArrayBuffer(HEADER_ROOM));
  /** Its ciphertext. */
  readonly ciphertext = new Uint8Array(new ArrayBuffer(PAYLOAD_ROOM));
  /** Its authentication tag. */
  readonly tag = new Uint8Array(new ArrayBuffer(32));
  readonly #libc: Libc;
  readonly #name = new Uint8Array(new ArrayBuffer(16));
  readonly #iov = new DataView(new ArrayBuffer(48));
  readonly #msg = new Uint8Array(new ArrayBuffer(56));

  /** @param libc the opened libc. */
  constructor(libc: Libc) {
    this.#libc = libc;
    const address = (buf: Uint8Array | DataView) =>
      BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf.buffer as ArrayBuffer)));
    const msg = new DataView(this.#msg.buffer);
    this.#iov.setBigUint64(0, address(this.header), true);
    this.#iov.setBigUint64(16, address(this.ciphertext), true);
    this.#iov.setBigUint64(32, address(this.tag), true);
    msg.setBigUint64(0, address(this.#name), true); // msg_name
    msg.setUint32(8, 16, true); // msg_namelen
    msg.setBigUint64(16, address(this.#iov), true); // msg_iov
    msg.setBigUint64(24, 3n, true); // msg_iovlen
  }

  /**
   * Sends `header[0, headerLength) ‖ ciphertext[0, payloadLength) ‖ tag[0, tagLength)` from
   * descriptor `fd` to `name` (a {@link sockaddrIn}); false when the kernel refused (full
   * buffer, closed socket).
   */
  send(
    fd: number,
    name: Uint8Array,
    headerLength: number,
    payloadLength: number,
    tagLength: number,
  ): boolean {
    this.#name.set(name);
    const iov = this.#iov;
    iov.setUint32(8, headerLength, true);
    iov.setUint32(24, payloadLength, true);
    iov.setUint32(40, tagLength, true);
    return this.#libc.sendmsg(fd, this.#msg, MSG_DONTWAIT) ===
      headerLength + payloadLength + tagLength;
  }

  /** The packet as one new buffer (for transports without a descriptor, such as TURN). */
  concat(headerLength: number, payloadLength: number, tagLength: number): Uint8Array {
    const out = new Uint8Array(headerLength + payloadLength + tagLength);
    out.set(this.header.subarray(0, headerLength));
    out.set(this.ciphertext.subarray(0, payloadLength), headerLength);
    out.set(this.tag.subarray(0, tagLength), headerLength + payloadLength);
    return out;
  }
}

const SOL_SOCKET = 1;
const SO_TYPE = 3;
const SOCK_DGRAM = 2;
const F_GETFD = 1;
/** Descriptor numbers scanned past the last open one before giving up. */
const SCAN_GAP = 1024;

const known = new Map<string, number>();

/**
 * The descriptor of this process's IPv4 UDP socket bound to `address:port`, if there is one:
 * the descriptors are asked with `getsockname` (Deno does not expose them, and reading
 * `/proc/self/fd` would need `--allow-all`). A descriptor found before is checked again first.
 */
export function descriptorOfUdpSocket(
  libc: Libc,
  address: string,
  port: number,
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
