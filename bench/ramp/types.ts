/**
 * What the ramp gathers: the snapshots of the load processes and the server, and the result of
 * a step.
 *
 * @module
 */
import type { LagSnapshot } from "../../src/metrics/loop-lag.ts";
import type { CoreTime } from "../load/proc.ts";

/** One player's cumulative counters, as its load process reports them. */
export interface PlayerCounters {
  id: number;
  expected: number;
  received: number;
  late: number;
  duplicates?: number;
  bytes: number;
  video: number;
  audio: number;
  keyframes: number;
  nackPackets: number;
  nackSeqs: number;
  kernelDrops: number;
  /** Sampled packets that failed SRTP authentication at the player. */
  authFailures?: number;
  ffi?: number;
  state: number;
}

/** A player process's `snapshot` answer. */
export interface ProcSnapshot {
  at: number;
  rx?: { mode: string; datagrams?: number; wakeups?: number; calls?: number };
  players: PlayerCounters[];
  delays: number[];
  lateDelays?: number[];
  lag: LagSnapshot;
}

/** The publisher's `snapshot` answer. */
export interface PublisherSnapshot {
  at: number;
  counters: Record<string, number>;
  lag: LagSnapshot;
}

/** Everything read at one end of a hold. */
export interface Snapshot {
  uptime: number;
  serverCpu?: number;
  /** CPU seconds of the server core's `ksoftirqd` (receive work its sends left to it). */
  softirqdCpu?: number;
  cores: Map<string, CoreTime>;
  loadCpu: number;
  /** CPU seconds of the player processes alone. */
  playersCpu: number;
  metrics?: string;
  publisher: PublisherSnapshot;
  procs: ProcSnapshot[];
}

/** Everything measured for one step. */
export interface StepResult {
  n: number;
  joined: number;
  joinFailures: number;
  joinErrors: string[];
  joinMs: { p50?: number; p95?: number; max?: number };
  postMs: { p50?: number; p95?: number };
  holdSeconds: number;
  server: {
    /**
     * The server's CPU: its process (every thread) plus its core's `ksoftirqd`, the kernel's
     * receive work for the server's sends that the kernel deferred to that thread.
     */
    cpuPct?: number;
    /** The server process alone (`/proc/PID/stat`). */
    processCpuPct?: number;
    /** Its core's `ksoftirqd`. */
    ksoftirqdPct?: number;
    rssMiB?: number;
    threads?: number;
    lagP50Ms?: number;
    lagP99Ms?: number;
    lagMeanMs?: number;
    corePct?: number;
    /** RTP packets the server says it sent in the hold (`sfu_rtp_packets_sent_total`). */
    sentPackets?: number;
    /** Of which retransmissions (`sfu_retransmissions_total`). */
    retransmissions?: number;
    /** Server CPU per packet it sent, µs. */
    usPerPacket?: number;
    /** Datagrams per `sendmsg` of the native path (segmented runs to one player). */
    datagramsPerCall?: number;
    /** Softirq time on the server's core (network work not charged to the process), %. */
    softirqPct?: number;
    /** What other processes used of the server's core (busy − server − softirq), %. */
    othersOnCorePct?: number;
  };
  load: {
    corePct?: number;
    /** CPU of every load process (publisher, players, this one), % of a core. */
    processesCpuPct: number;
    /** CPU of the player processes, µs per packet they received. */
    playersUsPerPacket?: number;
    /** Players reading their sockets through FFI recvmmsg (the rest use node:dgram). */
    ffiPlayers?: number;
    /** FFI receive wake-ups per second (all player processes). */
    ffiWakeupsPerSecond?: number;
    othersOnCorePct?: number;
    playerLagP99Ms?: number;
  };
  publisher: {
    pps: number;
    videoPps: number;
    audioPps: number;
    mbps: number;
    plis: number;
    keyframes: number;
    keyframesOnRequest: number;
    lateFrames: number;
    lagP99Ms?: number;
  };
  delivery: {
    expectedPackets: number;
    receivedPackets: number;
    deliveredPct: number;
    lossPct: number;
    late: number;
    /** Packets that arrived twice (retransmitted after arriving, or sent twice). */
    duplicates: number;
    keyframesPerPlayer: number;
    nackPackets: number;
    nackSeqs: number;
    /** Datagrams the kernel dropped at the players' sockets (the load was late). */
    loadDrops: number;
    /** Delay samples that failed SRTP authentication (must be 0). */
    authFailures: number;
    ppsPerPlayer: number;
    notConnected: number;
    /** The counters of (up to 5 of) the players not connected at the end of the hold. */
    notConnectedPlayers?: Record<string, unknown>[];
  };
  delay: {
    samples: number;
    p50?: number;
    p90?: number;
    p99?: number;
    max?: number;
    /** The samples of packets that arrived in order. */
    inOrder: { samples: number; p50?: number; p99?: number };
    /** The samples of packets that arrived after a later one (reordered or retransmitted). */
    outOfOrder: { samples: number; p50?: number; p99?: number };
  };
  holds: boolean;
  failed: string[];
  loadBound: boolean;
  /** Holds measured for this step (a failure during noise from other processes is retried). */
  attempts?: number;
  /** Seconds waited before the last hold for other processes to calm down. */
  waitedSeconds?: number;
  /** A bisection step on a fresh server, after the ramp. */
  refinement?: boolean;
}
