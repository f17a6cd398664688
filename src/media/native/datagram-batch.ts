/**
 * Sends protected RTP packets with as few system calls as the kernel allows: a run of packets
 * of one size to one destination (the last of a run may be shorter) is one message with UDP
 * generic segmentation offload (`UDP_SEGMENT`, Linux ≥ 4.18), which the kernel splits into the
 * same datagrams it would have sent one by one; and the runs of many destinations (every
 * player of a flush) are queued ({@link DatagramBatch.queue}) and go out in one `sendmmsg`
 * ({@link DatagramBatch.submit}, native/send-mmsg.ts). A system call costs this machine's VM
 * ≈ 4 µs, as much as the kernel's own work for three datagrams (bench/README.md, "Kernel
 * ceiling"). When a route refuses segmentation (no checksum offload, a path MTU below the
 * segment size) the run is sent datagram by datagram and its owner is told, so it stops asking.
 *
 * Each packet occupies a slot: header, ciphertext and tag are three scatter-gather parts, so a
 * payload is encrypted straight into its slot and nothing is copied before the kernel's copy.
 * Slot 0 is never queued: it is the scratch of a packet sent at once ({@link DatagramBatch.send}).
 *
 * @module
 */
import type { Libc } from "./libs.ts";
import { addressOf, MultiSend, setPointer } from "./send-mmsg.ts";

/** Packets of one message (the kernel's limit of segments per send is 64). */
export const BATCH_SLOTS = 64;
/**
 * Slots of the egress path's batch: the queues of several players, sent in one `sendmmsg`
 * (≈ 110 players' delta frames, ≈ 40 players' keyframes; a fuller batch is submitted first).
 */
export const POOL_SLOTS = 1024;
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

/** What a {@link DatagramBatch.send} did. */
export interface BatchResult {
  /** Datagrams the kernel took. */
  sent: number;
  /** System calls made. */
  calls: number;
  /** True when a segmented send was refused but datagram-by-datagram sends went through. */
  segmentationRefused: boolean;
}

/** Told when its queued run was refused segmented and went out datagram by datagram. */
export interface RunOwner {
  /** The route refused a segmented send (the datagrams went out one by one). */
  segmentationRefused(): void;
}

/** What a {@link DatagramBatch.submit} did. */
export interface SubmitResult {
  /** Datagrams the kernel took. */
  sent: number;
  /** Datagrams queued that the kernel did not take. */
  dropped: number;
  /** System calls made. */
  calls: number;
}

/** The process's one batch of slots (the event loop is single-threaded). */
export class DatagramBatch {
  /** Slots in all. */
  readonly slots: number;
  /** Per slot: room for the RTP header. */
  readonly headers: Uint8Array[] = [];
  /** Per slot: room for the ciphertext ({@link SLOT_PAYLOAD} bytes). */
  readonly ciphertexts: Uint8Array[] = [];
  /** Per slot: room for the authentication tag. */
  readonly tags: Uint8Array[] = [];
  /** Per slot: the datagram's length, set by {@link setLengths}. */
  readonly #lengths: Int32Array;
  readonly #libc: Libc;
  readonly #iov: DataView;
  readonly #iovAddress: number;
  readonly #msg = new Uint8Array(new ArrayBuffer(56));
  readonly #msgView: DataView;
  readonly #name = new Uint8Array(new ArrayBuffer(16));
  readonly #control = new DataView(new ArrayBuffer(24));
  readonly #controlAddress: number;
  readonly #result: BatchResult = { sent: 0, calls: 0, segmentationRefused: false };
  readonly #submitted: SubmitResult = { sent: 0, dropped: 0, calls: 0 };
  readonly #totals: SubmitResult = { sent: 0, dropped: 0, calls: 0 };
  // the queue: slots [1, #used) are taken; its messages, one per run, all from descriptor #fd
  #used = 1;
  #fd = -1;
  #multi?: MultiSend;
  readonly #runs: {
    first: number;
    end: number;
    size: number;
    name?: Uint8Array;
    owner?: RunOwner;
  }[] = [];
  #runCount = 0;
  readonly #onRefused = (i: number) => this.#refused(i);

  /**
   * @param libc the opened libc
   * @param slots slots in all ({@link BATCH_SLOTS} for one destination at a time,
   *   {@link POOL_SLOTS} for the egress path's queue)
   */
  constructor(libc: Libc, slots = BATCH_SLOTS) {
    this.#libc = libc;
    this.slots = slots;
    this.#lengths = new Int32Array(slots);
    const headers = new ArrayBuffer(HEADER_ROOM * slots);
    const ciphertexts = new ArrayBuffer(SLOT_PAYLOAD * slots);
    const tags = new ArrayBuffer(TAG_ROOM * slots);
    const iov = new ArrayBuffer(48 * slots);
    this.#iov = new DataView(iov);
    this.#iovAddress = addressOf(iov);
    for (let k = 0; k < slots; k++) {
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
   * The first of `count` free slots of the queue (`count` ≤ {@link BATCH_SLOTS}), to be
   * filled and then queued from descriptor `fd` ({@link queue}) or given back
   * ({@link release}). When the queue has no room, or holds messages of another descriptor,
   * what it holds is sent first (counted in the next {@link submit}'s result).
   */
  reserve(count: number, fd: number): number {
    if (this.#used + count > this.slots || (this.#runCount > 0 && fd !== this.#fd)) this.#send();
    const first = this.#used;
    this.#used += count;
    return first;
  }

  /** Gives back the slots from `first` on (reserved, then not queued). */
  release(first: number): void {
    if (first >= 1 && first < this.#used) this.#used = first;
  }

  /**
   * Queues slots `[first, first + count)` for `name` (a 16-byte `sockaddr_in`) from descriptor
   * `fd` (the one given to {@link reserve}): one message per run of equal length (segmented
   * when `segment` is true), sent by the next {@link submit}.
   */
  queue(
    fd: number,
    name: Uint8Array,
    first: number,
    count: number,
    segment: boolean,
    owner?: RunOwner,
  ): void {
    this.#fd = fd;
    // a message per run: never more than the slots
    const multi = this.#multi ??= new MultiSend(this.slots, this.#libc);
    const end = first + count;
    let start = first;
    while (start < end) {
      const stop = this.#runEnd(start, end, segment);
      const size = stop - start > 1 ? this.#lengths[start] : 0;
      multi.add(name, this.#iovAddress + 48 * start, 3 * (stop - start), size);
      const run = this.#runs[this.#runCount] ??= { first: 0, end: 0, size: 0 };
      run.first = start;
      run.end = stop;
      run.size = size;
      run.name = name;
      run.owner = owner;
      this.#runCount++;
      start = stop;
    }
  }

  /**
   * Sends every queued message in one `sendmmsg` (more when the kernel stops part way); a
   * segmented run it refuses goes out datagram by datagram and its owner is told. The queue is
   * empty afterwards. The result counts this call and the sends a full queue made since the
   * last one; the object is reused by the next call.
   */
  submit(): SubmitResult {
    this.#send();
    const totals = this.#totals;
    const result = this.#submitted;
    result.sent = totals.sent;
    result.dropped = totals.dropped;
    result.calls = totals.calls;
    totals.sent = totals.dropped = totals.calls = 0;
    return result;
  }

  /** Sends the queue; adds to the totals. */
  #send(): void {
    const count = this.#runCount;
    if (count > 0) {
      const totals = this.#totals;
      const multi = this.#multi!;
      const callsBefore = multi.stats.calls;
      multi.flush(this.#fd, this.#onRefused);
      totals.calls += multi.stats.calls - callsBefore;
      const runs = this.#runs;
      for (let i = 0; i < count; i++) {
        const run = runs[i];
        const sent = run.size >= 0 ? run.end - run.first : -1 - run.size;
        totals.sent += sent;
        totals.dropped += run.end - run.first - sent;
        run.owner = undefined;
        run.name = undefined;
      }
    }
    this.#runCount = 0;
    this.#used = 1;
  }

  /**
   * Queued run `i` was refused: a segmented one is sent datagram by datagram. Its `size` then
   * holds −1 − the datagrams that went out (for {@link #send}'s count).
   */
  #refused(i: number): void {
    const run = this.#runs[i];
    let alone = 0;
    if (run.end - run.first > 1) {
      this.#name.set(run.name!);
      for (let k = run.first; k < run.end; k++) {
        this.#totals.calls++;
        if (this.#sendRun(this.#fd, k, k + 1, 0) === this.#lengths[k]) alone++;
      }
      if (alone === run.end - run.first && run.size > 0) run.owner?.segmentationRefused();
    }
    run.size = -1 - alone;
  }

  /** The end of the run that starts at slot `start` (before `end`). */
  #runEnd(start: number, end: number, segment: boolean): number {
    const lengths = this.#lengths;
    const size = lengths[start];
    let stop = start + 1;
    if (!segment) return stop;
    let total = size;
    while (stop < end && lengths[stop] === size && total + size <= BATCH_BYTES) {
      total += size;
      stop++;
    }
    // the last segment of a send may be shorter than the others
    if (stop < end && lengths[stop] < size && total + lengths[stop] <= BATCH_BYTES) stop++;
    return stop;
  }

  /**
   * Sends slots `[0, count)` from descriptor `fd` to `name` (a 16-byte `sockaddr_in`) at once,
   * in order, runs of equal length segmented in one call each when `segment` is true. The
   * result object is reused by the next call.
   */
  send(fd: number, name: Uint8Array, count: number, segment: boolean): BatchResult {
    this.#name.set(name);
    const result = this.#result;
    result.sent = 0;
    result.calls = 0;
    result.segmentationRefused = false;
    const lengths = this.#lengths;
    let start = 0;
    while (start < count) {
      const size = lengths[start];
      const end = this.#runEnd(start, count, segment);
      let total = 0;
      for (let k = start; k < end; k++) total += lengths[k];
      result.calls++;
      if (this.#sendRun(fd, start, end, end - start > 1 ? size : 0) === total) {
        result.sent += end - start;
      } else if (end - start > 1) {
        // refused as a whole (no segmentation on this route, or a full buffer): one by one
        let alone = 0;
        for (let k = start; k < end; k++) {
          result.calls++;
          if (this.#sendRun(fd, k, k + 1, 0) === lengths[k]) alone++;
        }
        result.sent += alone;
        if (alone === end - start) result.segmentationRefused = true;
      }
      start = end;
    }
    return result;
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
