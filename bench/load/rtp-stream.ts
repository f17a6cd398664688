/**
 * What a load player counts per SSRC from the clear RTP header (RFC 3550 A.1), the delay
 * samples of a player process, and the kernel's drop counters of its sockets.
 *
 * @module
 */

/** A frame with at least this many packets is one of the publisher's keyframes (24 vs 9). */
export const KEYFRAME_MIN_PACKETS = 16;
/** Most delay samples kept between two snapshots. */
export const MAX_DELAY_SAMPLES = 500_000;

/** One SSRC's reception state (RFC 3550 A.1, without probation). */
export class Stream {
  kind: "audio" | "video" | "rtx" | "unknown";
  base: number;
  maxSeq: number;
  cycles = 0;
  received = 0;
  /** Packets older than the highest so far: reordered or retransmitted. */
  late = 0;
  /** Packets whose sequence number had already arrived (within the last 65,536). */
  duplicates = 0;
  /** One bit per sequence number: arrived since the highest sequence number passed it. */
  seen = new Uint8Array(8192);
  bytes = 0;
  frameTs = -1;
  framePackets = 0;
  keyframes = 0;
  /** werift's receive statistics for this SSRC, once they exist. */
  weriftStats?: WeriftStats;

  /** A stream whose first packet had sequence number `seq`. */
  constructor(kind: Stream["kind"], seq: number) {
    this.kind = kind;
    this.base = seq;
    this.maxSeq = seq;
    this.mark(seq);
  }

  /** Marks `seq` as arrived; true if it already had. */
  mark(seq: number): boolean {
    const bit = 1 << (seq & 7);
    const had = (this.seen[seq >> 3] & bit) !== 0;
    this.seen[seq >> 3] |= bit;
    return had;
  }

  /** Forgets the sequence numbers after `from`, `count` of them (the window moves on). */
  clear(from: number, count: number): void {
    for (let i = 1; i <= count; i++) {
      const seq = (from + i) & 0xffff;
      this.seen[seq >> 3] &= ~(1 << (seq & 7));
    }
  }

  /** The highest sequence number, extended with its cycles. */
  get extendedMax(): number {
    return this.cycles + this.maxSeq;
  }

  /** Packets expected since the first (RFC 3550 A.3). */
  get expected(): number {
    return this.extendedMax - this.base + 1;
  }
}

/** werift's receive statistics of one SSRC (`StreamStatistics`, the source of its receiver reports). */
export interface WeriftStats {
  base_seq?: number;
  max_seq?: number;
  cycles: number;
  packets_received: number;
  bytesReceived: number;
  headerBytesReceived: number;
  lastPacketReceivedTimestamp?: number;
  clockRate: number;
  jitter_q4: number;
  last_arrival?: number;
  last_timestamp?: number;
}

/**
 * Adds one packet to werift's statistics exactly as its `StreamStatistics.add` does, but with
 * the packet's arrival time given (`arrivedAt`, ms since the epoch: the kernel's), where werift
 * reads the clock twice per packet (`Date.now()`, `performance.now()`) and truncates with
 * `parseInt` of a string: a third of a player's per-packet cost, and, read when a poll drains
 * the socket rather than at arrival, the jitter in the receiver reports would include the poll.
 */
export function addStats(
  st: WeriftStats,
  seq: number,
  timestamp: number,
  payloadLength: number,
  arrivedAt: number,
): void {
  const inOrder = st.max_seq === undefined || uint16Gt(seq, st.max_seq);
  st.packets_received++;
  st.bytesReceived += payloadLength;
  st.headerBytesReceived += 12;
  st.lastPacketReceivedTimestamp = arrivedAt;
  if (st.base_seq === undefined) st.base_seq = seq;
  if (!inOrder) return;
  const arrival = Math.floor((arrivedAt / 1000) * st.clockRate);
  if (st.max_seq !== undefined && seq < st.max_seq) st.cycles += 1 << 16;
  st.max_seq = seq;
  if (timestamp !== st.last_timestamp && st.packets_received > 1) {
    const diff = Math.abs(
      arrival - (st.last_arrival ?? 0) - (timestamp - (st.last_timestamp ?? 0)),
    );
    st.jitter_q4 += diff - ((st.jitter_q4 + 8) >> 4);
  }
  st.last_arrival = arrival;
  st.last_timestamp = timestamp;
}

/** werift's `uint16Gt`: `a` is after `b` in sequence-number order. */
function uint16Gt(a: number, b: number): boolean {
  const half = 32768;
  return (a < b && b - a > half) || (a > b && a - b < half);
}

/** The one-way delay samples (ms) of all players of a process, since the last snapshot. */
export class DelaySamples {
  /** Packets that arrived in order. */
  delays: number[] = [];
  /** … packets that arrived after a later one of their stream (reordered, retransmitted). */
  lateDelays: number[] = [];
  /** Samples not kept (over {@link MAX_DELAY_SAMPLES}). */
  dropped = 0;

  /** Keeps one sample. */
  add(ms: number, late: boolean): void {
    if (this.delays.length + this.lateDelays.length >= MAX_DELAY_SAMPLES) this.dropped++;
    else (late ? this.lateDelays : this.delays).push(ms);
  }

  /** The samples since the last call, and how many were not kept; starts over. */
  take(): { delays: number[]; lateDelays: number[]; dropped: number } {
    const out = { delays: this.delays, lateDelays: this.lateDelays, dropped: this.dropped };
    this.delays = [];
    this.lateDelays = [];
    this.dropped = 0;
    return out;
  }
}

/** Kernel receive drops by local UDP port, from `/proc/net/udp` (IPv4). */
export function socketDrops(): Map<number, number> {
  const out = new Map<number, number>();
  try {
    for (const line of Deno.readTextFileSync("/proc/net/udp").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 13) continue;
      const port = parseInt(f[1].split(":")[1], 16);
      out.set(port, (out.get(port) ?? 0) + Number(f[f.length - 1]));
    }
  } catch {
    // not Linux
  }
  return out;
}

/** The kernel's receive drops at `sockets` (Node-style UDP sockets), from {@link socketDrops}. */
export function kernelDrops(sockets: object[], drops: Map<number, number>): number {
  let sum = 0;
  for (const socket of sockets) {
    try {
      sum += drops.get((socket as unknown as { address(): { port: number } }).address().port) ??
        0;
    } catch {
      // closed
    }
  }
  return sum;
}

/** A player's counters summed over its primary (audio and video) SSRCs; `other` the rest. */
export function sumStreams(streams: Iterable<Stream>): Record<string, number> {
  let expected = 0,
    received = 0,
    late = 0,
    duplicates = 0,
    bytes = 0,
    video = 0,
    audio = 0,
    keyframes = 0,
    other = 0;
  for (const s of streams) {
    if (s.kind === "audio" || s.kind === "video") {
      expected += s.expected;
      received += s.received;
      late += s.late;
      duplicates += s.duplicates;
      keyframes += s.keyframes;
      if (s.kind === "video") video += s.received;
      else audio += s.received;
    } else {
      other += s.received;
    }
    bytes += s.bytes;
  }
  return { expected, received, late, duplicates, bytes, video, audio, other, keyframes };
}
