/**
 * The kernel-ceiling bench's receivers with UDP GRO on (`--gro`): each socket takes a segmented
 * send whole (`UDP_GRO`, Linux ≥ 5.0), as the ramp's players do by default
 * (bench/load/fast-rx.ts), so the sending core no longer splits each send into datagrams and
 * queues each. Counts datagrams, not messages: a message of `n` bytes with a GRO segment size `s`
 * in its control message (read as the players read it: fast-rx.ts `readControl`) held ⌈n / s⌉.
 *
 * @module
 */
import type { Libc } from "../../src/media/native/libs.ts";
import { type Control, readControl } from "../load/fast-rx.ts";

const VLEN = 64;
const SLOT = 65536;
const CONTROL = 32;
const MSG_DONTWAIT = 0x40;
const SOL_UDP = 17;
const UDP_GRO = 104;

/** Turns GRO on for `fd`; false when the kernel refuses. */
export function enableGro(libc: Libc, fd: number): boolean {
  return libc.setsockopt(fd, SOL_UDP, UDP_GRO, new Uint8Array(new Int32Array([1]).buffer), 4) === 0;
}

/** A `recvmmsg` reader of GRO sockets, counting datagrams. */
export class GroDrain {
  readonly #libc: Libc;
  readonly #msgs = new Uint8Array(new ArrayBuffer(VLEN * 64));
  readonly #view = new DataView(this.#msgs.buffer);
  readonly #control = new DataView(new ArrayBuffer(VLEN * CONTROL));
  readonly #found: Control = { segment: 0 };
  /** Datagrams read (segments counted one by one), and the messages they came in. */
  readonly stats = { datagrams: 0, messages: 0 };
  /** Kept alive: the kernel writes into them. */
  readonly #buffers: Uint8Array[];

  /** Sets up the message headers once. */
  constructor(libc: Libc) {
    this.#libc = libc;
    const data = new Uint8Array(new ArrayBuffer(VLEN * SLOT));
    const iovs = new Uint8Array(new ArrayBuffer(VLEN * 16));
    this.#buffers = [data, iovs];
    const address = (b: ArrayBuffer) => BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(b)));
    const iov = new DataView(iovs.buffer);
    for (let i = 0; i < VLEN; i++) {
      iov.setBigUint64(i * 16, address(data.buffer) + BigInt(i * SLOT), true); // iov_base
      iov.setBigUint64(i * 16 + 8, BigInt(SLOT), true); // iov_len
      const m = i * 64;
      this.#view.setBigUint64(m + 16, address(iovs.buffer) + BigInt(i * 16), true); // msg_iov
      this.#view.setBigUint64(m + 24, 1n, true); // msg_iovlen
      const control = address(this.#control.buffer as ArrayBuffer) + BigInt(i * CONTROL);
      this.#view.setBigUint64(m + 32, control, true); // msg_control
    }
  }

  /** Reads what `fd` holds now. */
  drain(fd: number): void {
    for (;;) {
      for (let i = 0; i < VLEN; i++) this.#view.setUint32(i * 64 + 40, CONTROL, true);
      const got = this.#libc.recvmmsg(fd, this.#msgs, VLEN, MSG_DONTWAIT, null);
      if (got <= 0) return;
      this.stats.messages += got;
      for (let i = 0; i < got; i++) {
        const length = this.#view.getUint32(i * 64 + 56, true);
        const { segment } = readControl(this.#view, this.#control, i, CONTROL, this.#found);
        this.stats.datagrams += segment > 0 ? Math.ceil(length / segment) : 1;
      }
      if (got < VLEN) return;
    }
  }
}
