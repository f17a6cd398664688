/**
 * Many WHEP players in one process, cheap enough that one load core outlasts the server.
 *
 * Each player is a real werift peer connection (ICE, DTLS, SRTP keys, consent freshness, RTCP
 * receiver reports), but its RTP is counted at the socket from the clear part of the SRTP
 * packet (RFC 3711 leaves the 12-byte RTP header unencrypted) and, mostly, dropped there:
 *
 * - every datagram reaching a player's socket goes through {@link LoadPlayer.onDatagram} first:
 *   during the handshake through a wrapped `dgram.Socket.prototype.emit`, and once connected
 *   (`--rx ffi`, the default on Linux) read straight from the socket with libc `recvmmsg`
 *   (bench/load/fast-rx.ts), Deno's own receive loop stopped, arrival times from the kernel;
 *   STUN, DTLS and RTCP (RFC 7983, RFC 5761) go on to werift untouched;
 * - RTP is counted per SSRC, RFC 3550 style (extended highest sequence − base + 1 − received),
 *   and its frame structure gives the keyframes (a frame of ≥ 16 packets with one RTP timestamp
 *   is one of the publisher's 24-packet keyframes);
 * - one packet in `--sample-every` (and each SSRC's first) goes on to werift, which decrypts it;
 *   its payload carries the publisher's send time, giving one one-way delay sample (socket
 *   arrival − send). Sampling is spread over every player, so the delay percentiles cover
 *   every position in the server's fan-out order, not just a few privileged players;
 * - the packets dropped before werift are still added to werift's receive statistics, so the
 *   receiver reports the server gets are right; werift's own NACK generator is off (it would
 *   see only the samples) and a gap in the clear video sequence numbers is NACKed here, once,
 *   if it is still open `--nack-delay` ms later (20: reordering tolerance, as receivers have;
 *   Deno's `node:dgram` sends reorder bursts);
 * - the kernel's drop counter of each player socket (`/proc/net/udp`) tells the load's own
 *   losses (a receive buffer that overflowed because this process was late) from the server's.
 *
 * Driven by the ramp over stdin/stdout (JSON lines): `add` joins players, `snapshot` returns
 * cumulative counters and the delay samples since the previous snapshot, `stop` DELETEs every
 * session and exits (so does the end of stdin).
 *
 * ```sh
 * deno run -A bench/load/players.ts --whep URL [--sample-every 20] [--nack-delay 20] [--no-nack]
 *   [--rx ffi|dgram] [--concurrency 6] [--join-timeout 20] [--any-address]
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import dgram from "node:dgram";
import {
  GenericNack,
  RTCPeerConnection,
  RtcpTransportLayerFeedback,
  type RTCRtpReceiver,
  type RtpPacket,
} from "werift";
import {
  classify,
  clientIceConfig,
  emit,
  lifetimeLimit,
  opus,
  payloadKinds,
  readCommands,
  readStamp,
  sleep,
  vp8,
  wallNow,
} from "./common.ts";
import { connected, del, post } from "./signal.ts";
import { loopLag } from "../../src/metrics/loop-lag.ts";
// The server's werift patches, for the same werift here: above all, no fallback STUN server
// (the load clients must talk to 127.0.0.1 only).
import "../../src/media/werift-patches.ts";
import { FastRx } from "./fast-rx.ts";
import { SrtpUnprotector } from "./srtp-unprotect.ts";
import { useNativeSrtcp } from "../../src/media/srtcp-native.ts";

const { values: args } = parseArgs({
  args: Deno.args.filter((a) => a !== "--"),
  options: {
    whep: { type: "string" },
    "sample-every": { type: "string", default: "20" },
    "any-address": { type: "boolean", default: false },
    "no-nack": { type: "boolean", default: false },
    "nack-delay": { type: "string", default: "20" },
    rx: { type: "string", default: "ffi" },
    "join-timeout": { type: "string", default: "20" },
    "max-seconds": { type: "string", default: "3600" },
    concurrency: { type: "string", default: "6" },
  },
});
if (!args.whep) {
  console.error("players: --whep URL is required");
  Deno.exit(2);
}
const SAMPLE_EVERY = Math.max(0, Number(args["sample-every"]));
const JOIN_TIMEOUT_MS = Number(args["join-timeout"]) * 1000;
const NACK = !args["no-nack"];
const NACK_DELAY_MS = Number(args["nack-delay"]);
/** A frame with at least this many packets is one of the publisher's keyframes (24 vs 9). */
const KEYFRAME_MIN_PACKETS = 16;
/** Most delay samples kept between two snapshots. */
const MAX_DELAY_SAMPLES = 500_000;
/** Most sequence numbers NACKed for one gap (a longer gap is not worth repairing). */
const MAX_NACK_GAP = 64;
/** Receive buffer per datagram once connected, bytes (see {@link LoadPlayer.join}). */
const RECV_BUFFER = 2048;
/** Where a sampled packet's payload is decrypted. */
const sampleBuffer = new Uint8Array(65_536);
lifetimeLimit(Number(args["max-seconds"]));
const lag = loopLag();

/** One SSRC's reception state (RFC 3550 A.1, without probation). */
class Stream {
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

  get extendedMax(): number {
    return this.cycles + this.maxSeq;
  }

  get expected(): number {
    return this.extendedMax - this.base + 1;
  }
}

/** What a fake packet needs for werift's `StreamStatistics.add` (reused, never retained). */
const statsPacket = {
  header: { sequenceNumber: 0, timestamp: 0, serializeSize: 12 },
  payload: { length: 0 },
};

/** Players by socket: the datagram tap's routing table. */
const taps = new WeakMap<object, LoadPlayer>();

/** Wraps every dgram socket of this process so that a player's datagrams pass its tap first. */
function installTap(): Emit {
  const proto = dgram.Socket.prototype as unknown as { emit: Emit };
  const original = proto.emit;
  proto.emit = function (event: string, ...rest: unknown[]): boolean {
    if (event === "message") {
      const player = taps.get(this);
      if (player && player.onDatagram(rest[0] as Uint8Array)) return true;
    }
    return original.call(this, event, ...rest);
  };
  return original;
}
type Emit = (this: object, event: string, ...rest: unknown[]) => boolean;
const originalEmit = installTap();

/** The FFI receive path (`--rx ffi`, the default), when libc can be opened. */
const fastRx = args.rx === "ffi" ? FastRx.open(originalEmit) : undefined;
// the players' RTCP (receiver reports out, the server's sender reports in) on OpenSSL, as the
// server's is: werift builds a node:crypto cipher per RTCP packet (a load cost, not the server's)
if (fastRx) useNativeSrtcp();
if (args.rx === "ffi" && !fastRx) {
  console.error("players: the FFI receive path is not available here: using node:dgram");
}

/** The delay samples (ms) since the last snapshot, all players of this process. */
let delays: number[] = [];
/** … of packets that arrived after a later one of their stream (reordered, retransmitted). */
let lateDelays: number[] = [];
let delaysDropped = 0;

/** Players with open gaps; checked every 5 ms. */
const gapped = new Set<LoadPlayer>();
if (NACK) {
  setInterval(() => {
    if (gapped.size === 0) return;
    const now = performance.now();
    for (const p of gapped) p.nackDue(now);
  }, 5);
}

/** Kernel receive drops by local UDP port, from `/proc/net/udp` (IPv4). */
function socketDrops(): Map<number, number> {
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

/** One WHEP player. */
class LoadPlayer {
  readonly id: number;
  readonly token?: string;
  readonly pc: RTCPeerConnection;
  sessionUrl?: string;
  streams = new Map<number, Stream>();
  kinds = new Map<number, "audio" | "video" | "rtx">();
  receivers: Partial<Record<"audio" | "video", RTCRtpReceiver>> = {};
  /** performance.now() marks of the join. */
  postAt = 0;
  answeredAt?: number;
  connectedAt?: number;
  firstRtpAt?: number;
  firstVideoAt?: number;
  firstKeyframeAt?: number;
  rtcpIn = 0;
  /** When and how a connected player stopped being connected. */
  lostAt?: number;
  lostState?: string;
  nackPackets = 0;
  nackSeqs = 0;
  sampled = 0;
  decrypted = 0;
  /** Sampled packets that failed SRTP authentication here (never measured). */
  authFailures = 0;
  #keys?: object;
  #srtp?: SrtpUnprotector;
  /** How this player's datagrams are read once connected. */
  rx: "ffi" | "dgram" = "dgram";
  #sampleCounter: number;
  #pending = new Map<number, number>();
  /** Keys of pending samples that arrived out of order. */
  #pendingLate = new Set<number>();
  /** Missing video packets (ssrc × 65536 + seq) → when the gap was seen. */
  #missing = new Map<number, number>();
  #firstRtp?: () => void;

  constructor(id: number, token: string | undefined) {
    this.id = id;
    this.token = token;
    this.#sampleCounter = id % Math.max(1, SAMPLE_EVERY);
    this.pc = new RTCPeerConnection({
      ...clientIceConfig(args["any-address"]),
      codecs: { audio: [opus()], video: [vp8()] },
    });
    for (const kind of ["audio", "video"] as const) {
      const t = this.pc.addTransceiver(kind, { direction: "recvonly" });
      this.receivers[kind] = t.receiver;
      // werift would NACK every packet it never sees; gaps are NACKed from the tap instead
      Object.defineProperty(t.receiver, "nackEnabled", { get: () => false });
    }
    this.pc.connectionStateChange.subscribe((state) => {
      if (state !== "connected" && this.connectedAt !== undefined) {
        this.lostAt ??= performance.now();
        this.lostState ??= state;
      }
    });
    this.pc.ontrack = ({ track }) => {
      track.onReceiveRtp.subscribe((rtp: RtpPacket) => this.#decrypted(rtp));
    };
  }

  /** Joins: offer, POST, answer, ICE + DTLS, first RTP. Never throws; returns what happened. */
  async join(endpoint: string): Promise<Record<string, unknown>> {
    const start = performance.now();
    const firstRtp = new Promise<void>((r) => (this.#firstRtp = r));
    try {
      const posted = await post(this.pc, endpoint, this.token, {
        anyAddress: args["any-address"],
        timeoutMs: JOIN_TIMEOUT_MS,
        beforePost: () => {
          for (const socket of this.#sockets()) taps.set(socket, this);
          this.postAt = performance.now();
        },
      });
      this.answeredAt = posted.answeredAt;
      this.sessionUrl = posted.sessionUrl;
      this.kinds = payloadKinds(posted.answer);
      const left = JOIN_TIMEOUT_MS - (performance.now() - start);
      await connected(this.pc, Math.max(1, left));
      this.connectedAt = performance.now();
      for (const socket of this.#sockets()) {
        if (fastRx?.add(socket, this)) {
          this.rx = "ffi";
          continue;
        }
        // Deno's node:dgram allocates a buffer of this size for every datagram it receives
        // (64 KiB by default): after the DTLS handshake nothing larger than an RTP packet
        // comes, and 2 KiB instead of 64 KiB per packet takes most of the garbage collection
        // away. (It does not change the kernel's SO_RCVBUF.)
        try {
          (socket as { setRecvBufferSize?(n: number): void }).setRecvBufferSize?.(RECV_BUFFER);
        } catch {
          // not supported: keep the default
        }
      }
      const rest = JOIN_TIMEOUT_MS - (performance.now() - start);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        firstRtp,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error("no RTP in time")), Math.max(1, rest));
        }),
      ]).finally(() => clearTimeout(timer));
      return { id: this.id, ok: true, ...this.joinTimes() };
    } catch (e) {
      return { id: this.id, ok: false, error: (e as Error).message, ...this.joinTimes() };
    }
  }

  joinTimes(): Record<string, number | undefined> {
    const since = (t?: number) => (t === undefined ? undefined : t - this.postAt);
    return {
      postMs: since(this.answeredAt),
      connectMs: since(this.connectedAt),
      firstRtpMs: since(this.firstRtpAt),
      firstVideoMs: since(this.firstVideoAt),
    };
  }

  /** The UDP sockets werift opened for this connection. */
  #sockets(): object[] {
    const out: object[] = [];
    for (const transport of this.pc.iceTransports) {
      const connection = (transport as unknown as {
        connection: { protocols: { transport?: { socket?: object } }[] };
      }).connection;
      for (const protocol of connection.protocols) {
        if (protocol.transport?.socket) out.push(protocol.transport.socket);
      }
    }
    return out;
  }

  /**
   * Sees every datagram first. Returns true to drop it (counted RTP that is not sampled),
   * false to hand it to werift.
   */
  onDatagram(buf: Uint8Array, arrivedAt?: number): boolean {
    if (buf.byteLength < 12) return false;
    const type = classify(buf[0], buf[1]);
    if (type === "rtcp") {
      this.rtcpIn++;
      return false;
    }
    if (type !== "rtp") return false;
    const now = performance.now();
    const pt = buf[1] & 0x7f;
    const seq = (buf[2] << 8) | buf[3];
    const timestamp = ((buf[4] << 24) | (buf[5] << 16) | (buf[6] << 8) | buf[7]) >>> 0;
    const ssrc = ((buf[8] << 24) | (buf[9] << 16) | (buf[10] << 8) | buf[11]) >>> 0;
    let s = this.streams.get(ssrc);
    let first = false;
    let outOfOrder = false;
    if (!s) {
      s = new Stream(this.kinds.get(pt) ?? "unknown", seq);
      this.streams.set(ssrc, s);
      first = true;
    } else {
      const delta = (seq - s.maxSeq) & 0xffff;
      if (delta === 0 || delta >= 0x8000) {
        s.late++; // duplicate, reordered or retransmitted
        outOfOrder = true;
        if (s.mark(seq)) s.duplicates++;
        if (this.#missing.size > 0) this.#missing.delete(ssrc * 0x10000 + seq);
      } else {
        if (seq < s.maxSeq) s.cycles += 0x10000;
        if (delta > 1 && NACK && s.kind === "video") this.#gap(ssrc, s.maxSeq, delta - 1, now);
        s.clear(s.maxSeq, delta);
        s.mark(seq);
        s.maxSeq = seq;
      }
    }
    s.received++;
    s.bytes += buf.byteLength;
    if (this.firstRtpAt === undefined) {
      this.firstRtpAt = now;
      this.#firstRtp?.();
    }
    if (s.kind === "video") {
      this.firstVideoAt ??= now;
      if (timestamp !== s.frameTs) {
        if (s.framePackets >= KEYFRAME_MIN_PACKETS) s.keyframes++;
        s.frameTs = timestamp;
        s.framePackets = 0;
      }
      s.framePackets++;
      if (s.framePackets === KEYFRAME_MIN_PACKETS) this.firstKeyframeAt ??= now;
    }
    const sample = first || (SAMPLE_EVERY > 0 && ++this.#sampleCounter % SAMPLE_EVERY === 0);
    const native = sample && !first && s.weriftStats ? this.#unprotector() : undefined;
    if (native) {
      // decrypted here (OpenSSL), not by werift: see bench/load/srtp-unprotect.ts
      const roc = (s.cycles - (outOfOrder && seq > s.maxSeq ? 0x10000 : 0)) / 0x10000;
      const length = native.unprotect(buf, roc, sampleBuffer);
      this.sampled++;
      if (length < 0) this.authFailures++;
      else {
        this.decrypted++;
        const sent = readStamp(sampleBuffer.subarray(0, length));
        if (sent !== undefined) this.#delay((arrivedAt ?? wallNow()) - sent, outOfOrder);
      }
    } else if (sample) {
      this.sampled++;
      if (this.#pending.size > 1000) {
        this.#pending.clear();
        this.#pendingLate.clear();
      }
      this.#pending.set(ssrc * 0x10000 + seq, arrivedAt ?? wallNow());
      if (outOfOrder) this.#pendingLate.add(ssrc * 0x10000 + seq);
      return false;
    }
    // keep werift's receiver statistics (and so its receiver reports) whole
    s.weriftStats ??= this.#weriftStats(ssrc, s.kind);
    if (s.weriftStats) {
      statsPacket.header.sequenceNumber = seq;
      statsPacket.header.timestamp = timestamp;
      statsPacket.payload.length = buf.byteLength - 12;
      s.weriftStats.add(statsPacket);
    }
    return true;
  }

  #weriftStats(ssrc: number, kind: Stream["kind"]): { add(p: unknown): void } | undefined {
    if (kind !== "audio" && kind !== "video") return undefined;
    const receiver = this.receivers[kind] as unknown as {
      remoteStreams?: Record<number, { add(p: unknown): void }>;
    };
    return receiver?.remoteStreams?.[ssrc];
  }

  /** The SRTP session's unprotector, made (again) when werift's keys change. */
  #unprotector(): SrtpUnprotector | undefined {
    const dtls = (this.receivers.video as unknown as {
      dtlsTransport?: {
        srtp?: { remoteContext?: Record<string, Uint8Array> };
        dtls?: { srtp?: { srtpProfile?: number } };
      };
    })?.dtlsTransport;
    const context = dtls?.srtp?.remoteContext;
    const profile = dtls?.dtls?.srtp?.srtpProfile;
    if (!context || profile === undefined) return undefined;
    if (this.#keys !== context) {
      this.#keys = context;
      this.#srtp = SrtpUnprotector.create({
        profile,
        key: context.srtpSessionKey,
        salt: context.srtpSessionSalt,
        authKey: context.srtpSessionAuthTag,
      });
    }
    return this.#srtp;
  }

  #delay(ms: number, late: boolean): void {
    if (delays.length + lateDelays.length >= MAX_DELAY_SAMPLES) delaysDropped++;
    else (late ? lateDelays : delays).push(ms);
  }

  #decrypted(rtp: RtpPacket): void {
    this.decrypted++;
    const key = rtp.header.ssrc * 0x10000 + rtp.header.sequenceNumber;
    const arrived = this.#pending.get(key);
    if (arrived === undefined) return;
    this.#pending.delete(key);
    const sent = readStamp(rtp.payload);
    if (sent === undefined) return;
    this.#delay(arrived - sent, this.#pendingLate.delete(key));
  }

  /** Notes the sequence numbers of a gap; {@link nackDue} NACKs those still missing later. */
  #gap(ssrc: number, from: number, count: number, now: number): void {
    const n = Math.min(count, MAX_NACK_GAP);
    for (let i = 1; i <= n; i++) this.#missing.set(ssrc * 0x10000 + ((from + i) & 0xffff), now);
    gapped.add(this);
  }

  /** NACKs, one packet per SSRC, what has been missing for `--nack-delay` ms; once each. */
  nackDue(now: number): void {
    const due = new Map<number, number[]>();
    for (const [key, at] of this.#missing) {
      if (now - at < NACK_DELAY_MS) continue;
      this.#missing.delete(key);
      const ssrc = Math.floor(key / 0x10000);
      const list = due.get(ssrc) ?? [];
      list.push(key % 0x10000);
      due.set(ssrc, list);
    }
    if (this.#missing.size === 0) gapped.delete(this);
    const receiver = this.receivers.video as unknown as {
      rtcpSsrc: number;
      dtlsTransport?: { sendRtcp(p: unknown[]): Promise<unknown> };
    };
    if (!receiver?.dtlsTransport) return;
    for (const [ssrc, lost] of due) {
      const packet = new RtcpTransportLayerFeedback({
        feedback: new GenericNack({ senderSsrc: receiver.rtcpSsrc, mediaSourceSsrc: ssrc, lost }),
      });
      this.nackPackets++;
      this.nackSeqs += lost.length;
      receiver.dtlsTransport.sendRtcp([packet]).catch(() => {});
    }
  }

  /** Local UDP ports of this player's sockets. */
  ports(): number[] {
    const out: number[] = [];
    for (const socket of this.#sockets()) {
      try {
        out.push((socket as unknown as { address(): { port: number } }).address().port);
      } catch {
        // closed
      }
    }
    return out;
  }

  /** Cumulative counters, summed over the primary (audio and video) SSRCs. */
  counters(drops: Map<number, number>): Record<string, number | string | undefined> {
    let kernelDrops = 0;
    for (const port of this.ports()) kernelDrops += drops.get(port) ?? 0;
    let expected = 0,
      received = 0,
      late = 0,
      duplicates = 0,
      bytes = 0,
      video = 0,
      audio = 0,
      keyframes = 0,
      other = 0;
    for (const s of this.streams.values()) {
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
    return {
      id: this.id,
      expected,
      received,
      late,
      duplicates,
      bytes,
      video,
      audio,
      other,
      keyframes,
      ssrcs: this.streams.size,
      rtcpIn: this.rtcpIn,
      lostAfterMs: this.lostAt === undefined ? undefined : Math.round(this.lostAt - this.postAt),
      lostState: this.lostState,
      kernelDrops,
      nackPackets: this.nackPackets,
      nackSeqs: this.nackSeqs,
      ffi: this.rx === "ffi" ? 1 : 0,
      sampled: this.sampled,
      decrypted: this.decrypted,
      authFailures: this.authFailures,
      state: ["new", "connecting", "connected", "disconnected", "failed", "closed"].indexOf(
        this.pc.connectionState,
      ),
    };
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets()) fastRx?.remove(socket);
    await del(this.sessionUrl, this.token);
    await this.pc.close().catch(() => {});
  }
}

const players: LoadPlayer[] = [];

/** Joins `list` with at most `--concurrency` joins in flight. */
async function add(list: { id: number; token?: string }[], endpoint: string) {
  const results: Record<string, unknown>[] = [];
  let next = 0;
  const worker = async () => {
    while (next < list.length) {
      const { id, token } = list[next++];
      const player = new LoadPlayer(id, token);
      players.push(player);
      results.push(await player.join(endpoint));
    }
  };
  const n = Math.max(1, Math.min(Number(args.concurrency), list.length));
  await Promise.all(Array.from({ length: n }, worker));
  return results;
}

let stopping = false;
async function stop(code = 0): Promise<never> {
  if (!stopping) {
    stopping = true;
    const all = Promise.allSettled(players.map((p) => p.close()));
    await Promise.race([all, sleep(8000)]);
  }
  Deno.exit(code);
}

await readCommands((cmd) => {
  if (cmd.cmd === "add") {
    const list = cmd.players as { id: number; token?: string }[];
    add(list, (cmd.whep as string | undefined) ?? args.whep!).then((results) =>
      emit({ ev: "joined", tag: cmd.tag, results })
    );
  } else if (cmd.cmd === "snapshot") {
    const drops = socketDrops();
    const out = delays;
    delays = [];
    const outLate = lateDelays;
    lateDelays = [];
    const dropped = delaysDropped;
    delaysDropped = 0;
    emit({
      ev: "snapshot",
      tag: cmd.tag,
      at: wallNow(),
      players: players.map((p) => p.counters(drops)),
      delays: out.map((d) => Math.round(d * 1000) / 1000),
      lateDelays: outLate.map((d) => Math.round(d * 1000) / 1000),
      delaysDropped: dropped,
      lag: lag.snapshot(),
      rx: fastRx ? { mode: "ffi", ...fastRx.stats } : { mode: "dgram" },
    });
  } else if (cmd.cmd === "stop") {
    stop(0);
  }
});
await stop(0);
