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
  /** Whether werift's receive statistics for this SSRC exist yet. */
  weriftStats?: { add(p: unknown): void };

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

/** What a fake packet needs for werift's `StreamStatistics.add` (reused, never retained). */
export const statsPacket = {
  header: { sequenceNumber: 0, timestamp: 0, serializeSize: 12 },
  payload: { length: 0 },
};

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
