/**
 * Sends a batch of protected RTP packets to one destination with as few system calls as the
 * kernel allows: a run of packets of one size (the last of a run may be shorter) goes out in
 * one `sendmsg` with UDP generic segmentation offload (`UDP_SEGMENT`, Linux ≥ 4.18), which the
 * kernel splits into the same datagrams it would have sent one by one. On loopback this
 * measured 1.2 µs per datagram against 4.6 µs for one `sendto` each (the same 24 × 1,200-byte
 * bursts to 100 sockets; bench/README.md). When a route refuses segmentation (no checksum
 * offload, a path MTU below the segment size) the run is sent datagram by datagram and the
 * caller is told, so it stops asking.
 *
 * Each packet occupies a slot: header, ciphertext and tag are three scatter-gather parts, so a
 * payload is encrypted straight into its slot and nothing is copied before the kernel's copy.
 *
 * Several players' queues share one batch: each flush {@link DatagramBatch.reserve}s slots,
 * writes its packets there and {@link DatagramBatch.queue}s its runs as messages, each with its
 * destination; {@link DatagramBatch.sendQueued} sends them all with `sendmmsg`
 * (send-mmsg.ts). On this VM a system call costs more than the kernel's work for a datagram:
 * one Opus packet to 600 players cost 3.51 µs of the sending core per datagram with one
 * `sendmsg` each, 1.21 µs with 64 per `sendmmsg`; a 9-packet frame 0.64 against 0.20 µs per
 * datagram (bench:kernel with GRO receivers, 2026-12-05).
 *
 * @module
 */
import type { Libc } from "./libs.ts";
import { addressOf, MultiSend, setPointer } from "./send-mmsg.ts";

/** Packets of one player's queue (the kernel's limit of segments per send is 64). */
export const BATCH_SLOTS = 64;
/** Slots of the batch shared by the players' queues of one flush (two full queues). */
export const SHARED_SLOTS = 2 * BATCH_SLOTS;
/**
 * Largest payload a slot holds: more than any datagram werift's sockets read (8 KiB,
 * werift/patches.ts); a longer one is dropped.
 */
export const SLOT_PAYLOAD = 8192 + 2;
/** Largest UDP payload of one send (65,535 − IPv4 and UDP headers). */
export const BATCH_BYTES = 65_507;

const HEADER_ROOM = 256;
const TAG_ROOM = 32;
const MSG_DONTWAIT = 0x40;
const SOL_UDP = 17;
const UDP_SEGMENT = 103;

/** The owner of a queued message: told when its route refused a segmented send. */
export interface RouteOwner {
  /** A segmented send was refused but the datagrams went out one by one. */
  segmentationRefused(): void;
}

/** Counters {@link DatagramBatch.sendQueued} adds to: datagrams sent, dropped, system calls. */
export interface QueuedCounts {
  /** Datagrams the kernel took. */
  sent: { n: number };
  /** Datagrams refused (a full buffer, a closed descriptor). */
  dropped: { n: number };
  /** System calls made. */
  calls: { n: number };
}

/** What a {@link DatagramBatch.send} did. */
export interface BatchResult {
  /** Datagrams the kernel took. */
  sent: number;
  /** System calls made. */
  calls: number;
  /** True when a segmented send was refused but datagram-by-datagram sends went through. */
  segmentationRefused: boolean;
}

/** The process's one batch of slots (the event loop is single-threaded). */
export class DatagramBatch {
  /** Per slot: room for the RTP header. */
  readonly headers: Uint8Array[] = [];
  /** Per slot: room for the ciphertext ({@link SLOT_PAYLOAD} bytes). */
  readonly ciphertexts: Uint8Array[] = [];
  /** Per slot: room for the authentication tag. */
  readonly tags: Uint8Array[] = [];
  /** Per slot: the datagram's length, set by {@link setLengths}. */
  readonly #lengths = new Int32Array(SHARED_SLOTS);
  readonly #libc: Libc;
  readonly #iov: DataView;
  readonly #iovAddress: number;
  readonly #msg = new Uint8Array(new ArrayBuffer(56));
  readonly #msgView: DataView;
  readonly #name = new Uint8Array(new ArrayBuffer(16));
  readonly #control = new DataView(new ArrayBuffer(24));
  readonly #controlAddress: number;
  readonly #result: BatchResult = { sent: 0, calls: 0, segmentationRefused: false };
  readonly #counts?: QueuedCounts;
  // the queued messages: one per run, each with its first slot, its end and its owner
  readonly #multi: MultiSend;
  readonly #first = new Int32Array(SHARED_SLOTS);
  readonly #end = new Int32Array(SHARED_SLOTS);
  readonly #owners: (RouteOwner | undefined)[] = [];
  /** Slots in use by queued messages, from 0. */
  #used = 0;
  /** Descriptor the queued messages go out from. */
  #fd = -1;
  /** Bytes of the run {@link #runEnd} found last. */
  #runBytes = 0;

  /**
   * @param libc the opened libc
   * @param counts where {@link sendQueued} counts what it did (the `/metrics` cells)
   */
  constructor(libc: Libc, counts?: QueuedCounts) {
    this.#libc = libc;
    this.#counts = counts;
    this.#multi = new MultiSend(libc, SHARED_SLOTS);
    const headers = new ArrayBuffer(HEADER_ROOM * SHARED_SLOTS);
    const ciphertexts = new ArrayBuffer(SLOT_PAYLOAD * SHARED_SLOTS);
    const tags = new ArrayBuffer(TAG_ROOM * SHARED_SLOTS);
    const iov = new ArrayBuffer(48 * SHARED_SLOTS);
    this.#iov = new DataView(iov);
    this.#iovAddress = addressOf(iov);
    for (let k = 0; k < SHARED_SLOTS; k++) {
      this.headers.push(new Uint8Array(headers, HEADER_ROOM * k, HEADER_ROOM));
      this.ciphertexts.push(new Uint8Array(ciphertexts, SLOT_PAYLOAD * k, SLOT_PAYLOAD));
      this.tags.push(new Uint8Array(tags, TAG_ROOM * k, TAG_ROOM));
      setPointer(this.#iov, 48 * k, addressOf(headers) + HEADER_ROOM * k);
      setPointer(this.#iov, 48 * k + 16, addressOf(ciphertexts) + SLOT_PAYLOAD * k);
      setPointer(this.#iov, 48 * k + 32, addressOf(tags) + TAG_ROOM * k);
    }
    // cmsghdr: cmsg_len = CMSG_LEN(2) = 18, cmsg_level, cmsg_type, then the u16 segment size
    this.#control.setUint32(0, 18, true);
    this.#control.setInt32(8, SOL_UDP, true);
    this.#control.setInt32(12, UDP_SEGMENT, true);
    this.#controlAddress = addressOf(this.#control.buffer as ArrayBuffer);
    this.#msgView = new DataView(this.#msg.buffer);
    setPointer(this.#msgView, 0, addressOf(this.#name.buffer as ArrayBuffer)); // msg_name
    this.#msgView.setUint32(8, 16, true); // msg_namelen
  }

  /** Records slot `k`'s three lengths (header, ciphertext, tag). */
  setLengths(k: number, header: number, payload: number, tag: number): void {
    const iov = this.#iov;
    iov.setUint32(48 * k + 8, header, true);
    iov.setUint32(48 * k + 24, payload, true);
    iov.setUint32(48 * k + 40, tag, true);
    this.#lengths[k] = header + payload + tag;
  }

  /**
   * Sends slots `[0, count)` from descriptor `fd` to `name` (a 16-byte `sockaddr_in`), in order,
   * runs of equal length segmented in one call when `segment` is true. The result object is
   * reused by the next call.
   */
  send(fd: number, name: Uint8Array, count: number, segment: boolean): BatchResult {
    this.#name.set(name);
    const result = this.#reset();
    const lengths = this.#lengths;
    let start = 0;
    while (start < count) {
      const end = this.#runEnd(start, count, segment);
      const size = lengths[start];
      result.calls++;
      if (this.#sendRun(fd, start, end, end - start > 1 ? size : 0) === this.#runBytes) {
        result.sent += end - start;
      } else if (end - start > 1) {
        // refused as a whole (no segmentation on this route, or a full buffer): one by one
        result.calls += end - start;
        const alone = this.#alone(fd, start, end);
        if (alone === end - start) result.segmentationRefused = true;
        result.sent += alone;
      }
      start = end;
    }
    return result;
  }

  /**
   * Where the next flush writes `count` packets from `fd`: the first of `count` free slots. The
   * messages queued so far are sent first when there is no room for them, or when they go out
   * from another descriptor.
   */
  reserve(fd: number, count: number): number {
    if (this.#multi.length > 0 && (this.#used + count > SHARED_SLOTS || fd !== this.#fd)) {
      this.sendQueued();
    }
    return this.#used;
  }

  /**
   * Queues slots `[start, start + count)` (written after {@link reserve} returned `start`) to
   * `name` from `fd`: one message per run of one size (segmented when `segment` is true), sent
   * by the next {@link sendQueued}; `owner` is told if its route refuses segmentation.
   */
  queue(
    fd: number,
    name: Uint8Array,
    start: number,
    count: number,
    segment: boolean,
    owner: RouteOwner,
  ): void {
    this.#fd = fd;
    const multi = this.#multi;
    const lengths = this.#lengths;
    const stop = start + count;
    let first = start;
    while (first < stop) {
      const end = this.#runEnd(first, stop, segment);
      const i = multi.length;
      multi.add(
        name,
        this.#iovAddress + 48 * first,
        3 * (end - first),
        end - first > 1 ? lengths[first] : 0,
      );
      this.#first[i] = first;
      this.#end[i] = end;
      this.#owners[i] = owner;
      first = end;
    }
    this.#used = stop;
  }

  /** Datagrams queued and not yet sent. */
  get queued(): number {
    return this.#used;
  }

  /**
   * Sends the queued messages with `sendmmsg`, in order; a message the kernel refuses goes out
   * datagram by datagram (its owner is told when that worked for a segmented one). Returns the
   * datagrams the kernel took, and adds to the counters; the batch is empty afterwards.
   */
  sendQueued(): number {
    const multi = this.#multi;
    const count = multi.length;
    const datagrams = this.#used;
    const fd = this.#fd;
    let sent = 0;
    let calls = 0;
    let i = 0;
    while (i < count) {
      calls++;
      const n = multi.send(fd, i);
      for (let k = i; k < i + n; k++) sent += this.#end[k] - this.#first[k];
      i += n;
      if (i === count) break;
      // message i refused as a whole (no segmentation on its route, a full buffer): one by one
      const first = this.#first[i];
      const end = this.#end[i];
      this.#name.set(multi.nameOf(i));
      calls += end - first;
      const alone = this.#alone(fd, first, end);
      if (alone === end - first && end - first > 1) this.#owners[i]!.segmentationRefused();
      sent += alone;
      i++;
    }
    multi.clear();
    this.#owners.fill(undefined, 0, count);
    this.#used = 0;
    const counts = this.#counts;
    if (counts) {
      counts.sent.n += sent;
      counts.dropped.n += datagrams - sent;
      counts.calls.n += calls;
    }
    return sent;
  }

  #reset(): BatchResult {
    const result = this.#result;
    result.sent = 0;
    result.calls = 0;
    result.segmentationRefused = false;
    return result;
  }

  /**
   * The end of the run that starts at slot `start` (before `stop`); its bytes are left in
   * {@link #runBytes}.
   */
  #runEnd(start: number, stop: number, segment: boolean): number {
    const lengths = this.#lengths;
    const size = lengths[start];
    let end = start + 1;
    let total = size;
    if (segment) {
      while (end < stop && lengths[end] === size && total + size <= BATCH_BYTES) {
        total += size;
        end++;
      }
      // the last segment of a send may be shorter than the others
      if (end < stop && lengths[end] < size && total + lengths[end] <= BATCH_BYTES) {
        total += lengths[end];
        end++;
      }
    }
    this.#runBytes = total;
    return end;
  }

  /** Sends slots `[start, end)` one `sendmsg` each to the current name; how many went. */
  #alone(fd: number, start: number, end: number): number {
    let alone = 0;
    for (let k = start; k < end; k++) {
      if (this.#sendRun(fd, k, k + 1, 0) === this.#lengths[k]) alone++;
    }
    return alone;
  }

  /** The datagram of slot `k` as one new buffer (for transports without a descriptor). */
  concat(k: number): Uint8Array {
    const iov = this.#iov;
    const h = iov.getUint32(48 * k + 8, true);
    const p = iov.getUint32(48 * k + 24, true);
    const t = iov.getUint32(48 * k + 40, true);
    const out = new Uint8Array(h + p + t);
    out.set(this.headers[k].subarray(0, h));
    out.set(this.ciphertexts[k].subarray(0, p), h);
    out.set(this.tags[k].subarray(0, t), h + p);
    return out;
  }

  /** One `sendmsg` of slots `[start, end)`, segmented at `segmentSize` when it is not 0. */
  #sendRun(fd: number, start: number, end: number, segmentSize: number): number {
    const msg = this.#msgView;
    setPointer(msg, 16, this.#iovAddress + 48 * start); // msg_iov
    msg.setUint32(24, 3 * (end - start), true); // msg_iovlen
    if (segmentSize > 0) {
      this.#control.setUint16(16, segmentSize, true);
      setPointer(msg, 32, this.#controlAddress); // msg_control
      msg.setUint32(40, 24, true); // msg_controllen = CMSG_SPACE(2)
    } else {
      setPointer(msg, 32, 0);
      msg.setUint32(40, 0, true);
    }
    return this.#libc.sendmsg(fd, this.#msg, MSG_DONTWAIT);
  }
}
