/**
 * `sendmmsg` (Linux ≥ 3.0): several messages, each to its own destination, in one system call.
 * Each message is a `msghdr` with its own `sockaddr_in`, its own scatter-gather list and, when
 * it carries a run of equal-size datagrams, its own `UDP_SEGMENT` control message (UDP GSO, the
 * same one datagram-batch.ts sets), so one call can carry several players' segmented runs from
 * one shared socket. The egress batch (datagram-batch.ts) queues every player's runs of a flush
 * here and sends them in as few calls as the vector allows; bench:kernel times it.
 *
 * The caller owns the memory its scatter-gather lists point to and keeps it alive until
 * {@link MultiSend.flush} returns.
 *
 * @module
 */

import type { Libc } from "./libs.ts";

const MSG_DONTWAIT = 0x40;
const SOL_UDP = 17;
const UDP_SEGMENT = 103;
const TWO_32 = 0x1_0000_0000;
/** `struct mmsghdr`: a 56-byte `msghdr`, the 4-byte `msg_len`, padding. */
const MMSG = 64;
/** `CMSG_SPACE(sizeof(uint16_t))`. */
const CONTROL = 24;
/** The kernel's most messages per call (`UIO_MAXIOV`). */
export const MAX_MESSAGES = 1024;

/** The address of a buffer's first byte, as a number (addresses fit in 53 bits). */
export function addressOf(buffer: ArrayBuffer | Uint8Array): number {
  return Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buffer)));
}

/** Writes a 64-bit little-endian address without a BigInt. */
export function setPointer(view: DataView, at: number, address: number): void {
  view.setUint32(at, address % TWO_32, true);
  view.setUint32(at + 4, Math.floor(address / TWO_32), true);
}

/** A vector of up to `capacity` messages, filled with {@link add}, sent with {@link flush}. */
export class MultiSend {
  readonly #libc: Libc;
  readonly #capacity: number;
  readonly #msgs: Uint8Array;
  readonly #view: DataView;
  readonly #names: Uint8Array;
  readonly #control: DataView;
  readonly #controlAddress: number[] = [];
  #count = 0;
  /** System calls made and messages the kernel took, since construction. */
  readonly stats = { calls: 0, messages: 0 };

  /**
   * @param libc the opened libc
   * @param capacity messages per call at most (≤ {@link MAX_MESSAGES})
   */
  constructor(libc: Libc, capacity = 64) {
    if (capacity < 1 || capacity > MAX_MESSAGES) throw new RangeError(`capacity ${capacity}`);
    this.#libc = libc;
    this.#capacity = capacity;
    this.#msgs = new Uint8Array(new ArrayBuffer(MMSG * capacity));
    this.#view = new DataView(this.#msgs.buffer);
    this.#names = new Uint8Array(new ArrayBuffer(16 * capacity));
    this.#control = new DataView(new ArrayBuffer(CONTROL * capacity));
    const names = addressOf(this.#names.buffer as ArrayBuffer);
    const control = addressOf(this.#control.buffer as ArrayBuffer);
    for (let i = 0; i < capacity; i++) {
      setPointer(this.#view, MMSG * i, names + 16 * i); // msg_name
      this.#view.setUint32(MMSG * i + 8, 16, true); // msg_namelen
      // cmsghdr: cmsg_len = CMSG_LEN(2) = 18, SOL_UDP, UDP_SEGMENT, then the u16 size
      this.#control.setUint32(CONTROL * i, 18, true);
      this.#control.setInt32(CONTROL * i + 8, SOL_UDP, true);
      this.#control.setInt32(CONTROL * i + 12, UDP_SEGMENT, true);
      this.#controlAddress[i] = control + CONTROL * i;
    }
  }

  /** Messages added and not yet sent. */
  get length(): number {
    return this.#count;
  }

  /**
   * Adds one message to `name` (a 16-byte `sockaddr_in`) made of the `iovCount` iovecs at
   * `iovAddress`; with `segmentSize` > 0 the kernel splits it into datagrams of that size (the
   * last may be shorter). False when the vector is full (flush first).
   */
  add(name: Uint8Array, iovAddress: number, iovCount: number, segmentSize: number): boolean {
    const i = this.#count;
    if (i === this.#capacity) return false;
    this.#names.set(name, 16 * i);
    const v = this.#view;
    const m = MMSG * i;
    setPointer(v, m + 16, iovAddress); // msg_iov
    v.setUint32(m + 24, iovCount, true); // msg_iovlen
    if (segmentSize > 0) {
      this.#control.setUint16(CONTROL * i + 16, segmentSize, true);
      setPointer(v, m + 32, this.#controlAddress[i]); // msg_control
      v.setUint32(m + 40, CONTROL, true); // msg_controllen
    } else {
      setPointer(v, m + 32, 0);
      v.setUint32(m + 40, 0, true);
    }
    this.#count = i + 1;
    return true;
  }

  /**
   * Sends the messages added, from descriptor `fd`, without blocking; returns how many the
   * kernel took (the rest are dropped: a full socket buffer). The vector is empty afterwards.
   */
  flush(fd: number): number {
    const count = this.#count;
    if (count === 0) return 0;
    let done = 0;
    while (done < count) {
      const n = this.send(fd, done);
      if (n <= 0) break;
      done += n;
    }
    this.#count = 0;
    return done;
  }

  /**
   * One `sendmmsg` of the messages added from the `from`-th on, from descriptor `fd`, without
   * blocking: how many the kernel took (a message it refused ends the call; the first one
   * refused: 0). The messages stay added until {@link clear} or {@link flush}.
   */
  send(fd: number, from: number): number {
    const count = this.#count;
    if (from >= count) return 0;
    const msgs = from === 0 ? this.#msgs : this.#msgs.subarray(MMSG * from);
    this.stats.calls++;
    const n = this.#libc.sendmmsg(fd, msgs, count - from, MSG_DONTWAIT);
    if (n <= 0) return 0;
    this.stats.messages += n;
    return n;
  }

  /** The destination of the `i`-th message added (a view of the vector's copy). */
  nameOf(i: number): Uint8Array {
    return this.#names.subarray(16 * i, 16 * i + 16);
  }

  /** Forgets the messages added. */
  clear(): void {
    this.#count = 0;
  }
}
