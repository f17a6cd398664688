/**
 * One WHEP load player: a real werift connection whose RTP is counted at the socket and mostly
 * dropped there (bench/load/players.ts describes the method).
 *
 * @module
 */
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
  opus,
  payloadKinds,
  readStamp,
  vp8,
  wallNow,
} from "./common.ts";
import { connected, del, post, weriftSockets } from "./signal.ts";
import type { FastRx } from "./fast-rx.ts";
import { SrtpUnprotector } from "./srtp-unprotect.ts";
import { receiverReport, type ReportClock, silenceReceiverLoop } from "./receiver-reports.ts";
import {
  addStats,
  type DelaySamples,
  kernelDrops,
  KEYFRAME_MIN_PACKETS,
  Stream,
  sumStreams,
  type WeriftStats,
} from "./rtp-stream.ts";

/** Most sequence numbers NACKed for one gap (a longer gap is not worth repairing). */
const MAX_NACK_GAP = 64;
/** The fields of a werift receiver that the player's own RTCP is sent with. */
type RtcpSide = { rtcpSsrc: number; dtlsTransport?: { sendRtcp(p: unknown[]): Promise<unknown> } };
/** Receive buffer per datagram once connected, bytes (see {@link LoadPlayer.join}). */
const RECV_BUFFER = 2048;
/** Where a sampled packet's payload is decrypted. */
const sampleBuffer = new Uint8Array(65_536);

/** What the players of one process share: their settings and the process's receive paths. */
export interface PlayerEnv {
  /** One packet in this many (and each SSRC's first) is decrypted for a delay sample. */
  sampleEvery: number;
  /** A join (POST to first RTP) fails after this long, ms. */
  joinTimeoutMs: number;
  /** NACK the gaps in the video sequence numbers. */
  nack: boolean;
  /** … still open this long after they were seen, ms. */
  nackDelayMs: number;
  /** Use candidates other than 127.0.0.1. */
  anyAddress: boolean;
  /** Players by socket: the datagram tap's routing table. */
  taps: WeakMap<object, LoadPlayer>;
  /** The FFI receive path, when in use. */
  fastRx?: FastRx;
  /** Where the delay samples go. */
  samples: DelaySamples;
  /** Players with open gaps; the process checks them every 5 ms. */
  gapped: Set<LoadPlayer>;
  /** Sends the players' receiver reports (else each receiver's werift loop does). */
  reports?: ReportClock;
}

/** One WHEP player. */
export class LoadPlayer {
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

  #env: PlayerEnv;

  /** Player `id` (with `token`, if any) of the process whose settings are `env`. */
  constructor(env: PlayerEnv, id: number, token: string | undefined) {
    this.#env = env;
    this.id = id;
    this.token = token;
    this.#sampleCounter = id % Math.max(1, this.#env.sampleEvery);
    this.pc = new RTCPeerConnection({
      ...clientIceConfig(this.#env.anyAddress),
      codecs: { audio: [opus()], video: [vp8()] },
    });
    for (const kind of ["audio", "video"] as const) {
      const t = this.pc.addTransceiver(kind, { direction: "recvonly" });
      this.receivers[kind] = t.receiver;
      // werift would this.#env.nack every packet it never sees; gaps are NACKed from the tap instead
      Object.defineProperty(t.receiver, "nackEnabled", { get: () => false });
      if (this.#env.reports) silenceReceiverLoop(t.receiver);
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
        anyAddress: this.#env.anyAddress,
        timeoutMs: this.#env.joinTimeoutMs,
        beforePost: () => {
          for (const socket of this.#sockets()) this.#env.taps.set(socket, this);
          this.postAt = performance.now();
        },
      });
      this.answeredAt = posted.answeredAt;
      this.sessionUrl = posted.sessionUrl;
      this.kinds = payloadKinds(posted.answer);
      const left = this.#env.joinTimeoutMs - (performance.now() - start);
      await connected(this.pc, Math.max(1, left));
      this.connectedAt = performance.now();
      this.#env.reports?.add(this);
      for (const socket of this.#sockets()) {
        if (this.#env.fastRx?.add(socket, this)) {
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
      const rest = this.#env.joinTimeoutMs - (performance.now() - start);
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

  /** The join's milestones, ms after the POST. */
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
    return weriftSockets(this.pc);
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
    // the kernel's arrival time when there is one (no clock read per datagram), else now
    const now = arrivedAt === undefined ? performance.now() : arrivedAt - performance.timeOrigin;
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
        if (delta > 1 && this.#env.nack && s.kind === "video") {
          this.#gap(ssrc, s.maxSeq, delta - 1, now);
        }
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
    const sample = first ||
      (this.#env.sampleEvery > 0 && ++this.#sampleCounter % this.#env.sampleEvery === 0);
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
      addStats(s.weriftStats, seq, timestamp, buf.byteLength - 12, arrivedAt ?? wallNow());
    }
    return true;
  }

  #weriftStats(ssrc: number, kind: Stream["kind"]): WeriftStats | undefined {
    if (kind !== "audio" && kind !== "video") return undefined;
    const receiver = this.receivers[kind] as unknown as {
      remoteStreams?: Record<number, WeriftStats>;
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
    this.#env.samples.add(ms, late);
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
    this.#env.gapped.add(this);
  }

  /** NACKs, one packet per SSRC, what has been missing for `--nack-delay` ms; once each. */
  nackDue(now: number): void {
    const due = new Map<number, number[]>();
    for (const [key, at] of this.#missing) {
      if (now - at < this.#env.nackDelayMs) continue;
      this.#missing.delete(key);
      const ssrc = Math.floor(key / 0x10000);
      const list = due.get(ssrc) ?? [];
      list.push(key % 0x10000);
      due.set(ssrc, list);
    }
    if (this.#missing.size === 0) this.#env.gapped.delete(this);
    const receiver = this.#rtcpSide();
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

  /** Cumulative counters, summed over the primary (audio and video) SSRCs. */
  counters(drops: Map<number, number>): Record<string, number | string | undefined> {
    return {
      id: this.id,
      ...sumStreams(this.streams.values()),
      ssrcs: this.streams.size,
      rtcpIn: this.rtcpIn,
      lostAfterMs: this.lostAt === undefined ? undefined : Math.round(this.lostAt - this.postAt),
      lostState: this.lostState,
      kernelDrops: kernelDrops(this.#sockets(), drops),
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

  /** Sends one receiver report for both receivers (see bench/load/receiver-reports.ts). */
  report(): void {
    const receivers = [this.receivers.video, this.receivers.audio].filter((r) => r !== undefined);
    const packet = receiverReport(receivers);
    const transport = this.#rtcpSide()?.dtlsTransport;
    if (packet && transport) transport.sendRtcp([packet]).catch(() => {});
  }

  /** What this player's RTCP (NACKs, receiver reports) goes out from: the video receiver's. */
  #rtcpSide(): RtcpSide | undefined {
    return this.receivers.video as unknown as RtcpSide | undefined;
  }

  /** Ends the session (DELETE) and closes the connection. */
  async close(): Promise<void> {
    this.#env.reports?.remove(this);
    for (const socket of this.#sockets()) this.#env.fastRx?.remove(socket);
    await del(this.sessionUrl, this.token);
    await this.pc.close().catch(() => {});
  }
}
