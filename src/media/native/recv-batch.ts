/**
 * Drains a UDP socket's queue with `recvmmsg` (64 datagrams per call, non-blocking) into one
 * preallocated buffer. The shared media port (transport/udp-mux.ts) calls it each time Deno's
 * `node:dgram` hands it a datagram: Deno reads one datagram per asynchronous operation, at most
 * one per turn of the event loop, and with every session on one socket a turn that fans out a
 * keyframe to hundreds of players let the queue grow faster than it was read (the ramp at 250
 * players: p50 delay 530 ms). Reading what is waiting at once keeps the shared socket as fast
 * as many sockets were, and a datagram is read exactly once whichever reader takes it.
 *
 * @module
 */
import type { Libc } from "./libs.ts";

const VLEN = 64;
/** Bytes per datagram slot (WebRTC datagrams stay under the path MTU). */
const SLOT = 2048;
const MSG_DONTWAIT = 0x40;
/** Datagrams read per wake-up at most (the rest waits for the next one: no starvation). */
const MAX_PER_DRAIN = 512;

/** Receives the drained datagrams (the bytes are only valid during the call). */
export type Deliver = (data: Uint8Array, address: string, port: number) => void;

/** A `recvmmsg` reader with its buffers. */
export class RecvBatch {
  readonly #libc: Libc;
  readonly #data = new Uint8Array(new ArrayBuffer(VLEN * SLOT));
  readonly #names = new Uint8Array(new ArrayBuffer(VLEN * 16));
  readonly #iovs = new Uint8Array(new ArrayBuffer(VLEN * 16));
  readonly #msgs = new Uint8Array(new ArrayBuffer(VLEN * 64));
  readonly #view = new DataView(this.#msgs.buffer);
  #used = VLEN;
  /** Datagrams of the current batch not yet handed over (the egress scheduler asks). */
  remaining = 0;
  /** Datagrams read and calls made (for tests and metrics). */
  readonly stats = { datagrams: 0, calls: 0 };

  /** Sets up the message headers once (pointers into the buffers above). */
  constructor(libc: Libc) {
    this.#libc = libc;
    const address = (b: Uint8Array) => BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(b)));
    const data = address(this.#data);
    const names = address(this.#names);
    const iovs = address(this.#iovs);
    const iov = new DataView(this.#iovs.buffer);
    for (let i = 0; i < VLEN; i++) {
      iov.setBigUint64(i * 16, data + BigInt(i * SLOT), true); // iov_base
      iov.setBigUint64(i * 16 + 8, BigInt(SLOT), true); // iov_len
      const m = i * 64; // struct mmsghdr: msghdr (56 bytes) + msg_len (4) + padding
      this.#view.setBigUint64(m, names + BigInt(i * 16), true); // msg_name
      this.#view.setBigUint64(m + 16, iovs + BigInt(i * 16), true); // msg_iov
      this.#view.setBigUint64(m + 24, 1n, true); // msg_iovlen
    }
  }

  /** Reads what `fd` holds now (up to {@link MAX_PER_DRAIN}) and hands each datagram over. */
  drain(fd: number, deliver: Deliver): void {
    let total = 0;
    while (total < MAX_PER_DRAIN) {
      for (let i = 0; i < this.#used; i++) this.#view.setUint32(i * 64 + 8, 16, true); // namelen
      const got = this.#libc.recvmmsg(fd, this.#msgs, VLEN, MSG_DONTWAIT, null);
      this.stats.calls++;
      this.#used = Math.max(got, 0);
      if (got <= 0) return;
      total += got;
      this.stats.datagrams += got;
      const names = this.#names;
      for (let i = 0; i < got; i++) {
        this.remaining = got - i - 1;
        const length = Math.min(this.#view.getUint32(i * 64 + 56, true), SLOT);
        const n = i * 16;
        if (names[n] !== 2) continue; // AF_INET only
        deliver(
          this.#data.subarray(i * SLOT, i * SLOT + length),
          `${names[n + 4]}.${names[n + 5]}.${names[n + 6]}.${names[n + 7]}`,
          (names[n + 2] << 8) | names[n + 3],
        );
      }
      if (got < VLEN) return;
    }
  }
}
