/**
 * The fast egress path: RTP to one player written without werift's per-packet sender work.
 * For each packet the header is written in place into one scratch buffer (SSRC, payload type,
 * sequence number and timestamp rewritten; the player's mid and abs-send-time extensions), the
 * payload is encrypted straight from the source packet with an OpenSSL context kept per SRTP
 * session, and the three parts go out in one synchronous `sendmsg` on werift's own socket — no
 * clone, no promise, no copy (src/media/native/). werift still does ICE, DTLS, RTCP and the
 * sender reports, which read the counters kept here.
 *
 * Retransmissions (NACK) are answered from a ring of the last second of packets sent, in RTX
 * when negotiated. A player whose selected pair has no local descriptor (TURN, TCP) gets the
 * same protected packet through werift's connection.
 *
 * Used when {@link PeerEgress.for} returns one (Linux, `--allow-ffi`, libcrypto, an SRTP
 * profile handled here); otherwise the subscription keeps werift's sender.
 *
 * @module
 */
import type { RTCRtpSender, RtpPacket } from "werift";
import { type Native, openNative } from "./native/libs.ts";
import { SrtpProtector } from "./native/srtp-protect.ts";
import { DatagramWriter, descriptorOfUdpSocket, sockaddrIn } from "./native/datagram-writer.ts";
import { answerNacks, SEND_HISTORY_MS } from "./send-history.ts";

const MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid";
const ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time";
/** Seconds between the NTP epoch (1900) and the Unix epoch. */
const NTP_UNIX_OFFSET = 2_208_988_800;

interface SrtpContext {
  srtpSessionKey: Uint8Array;
  srtpSessionSalt: Uint8Array;
  srtpSessionAuthTag: Uint8Array;
}

interface Pair {
  remoteAddr: [string, number];
  protocol: {
    transport?: { closed?: boolean; socket?: { address(): { address: string; port: number } } };
  };
}

interface Connection {
  nominated?: Pair;
  canSendApplicationData(): boolean;
  send(data: Uint8Array): Promise<void>;
}

interface DtlsTransport {
  srtp?: { localContext?: SrtpContext };
  dtls?: { srtp?: { srtpProfile?: number } };
  iceTransport: { connection: Connection };
}

interface SenderInternals {
  ssrc: number;
  rtxSsrc: number;
  rtxPayloadType?: number;
  mid?: string;
  headerExtensions: { uri: string; id: number }[];
  packetCount: number;
  octetCount: number;
  rtpTimestamp: number;
  ntpTimestamp: bigint;
  retransmittedPacketsSent: number;
  retransmittedBytesSent: number;
  stopped: boolean;
  dtlsTransport: DtlsTransport;
  runRtcp(): void;
}

/** What {@link PeerEgress.send} did with a packet. */
export type Sent = 0 | 1 | 2;
/** Dropped: no consent, closed, or the kernel's buffer was full. */
export const NOT_SENT = 0;
/** Sent with `sendmsg` on the connection's socket. */
export const SENT_BY_SOCKET = 1;
/** Protected here, sent through werift's ICE connection (TURN, TCP, no descriptor found). */
export const SENT_BY_WERIFT = 2;

/** The opened native libraries. */
type Libraries = Extract<Native, { ok: true }>;

let writer: DatagramWriter | undefined;
const peers = new WeakMap<object, PeerEgress>();

/** What the process's egress path is, for the log, `/metrics` and the README. */
export function egressPath(enabled: boolean): { native: boolean; reason?: string } {
  if (!enabled) return { native: false, reason: "FAST_EGRESS=off" };
  const native = openNative();
  return native.ok ? { native: true } : { native: false, reason: native.reason };
}

/** The SRTP session and route of one player connection, shared by its audio and video. */
export class PeerEgress {
  readonly #dtls: DtlsTransport;
  readonly #writer: DatagramWriter;
  #srtp?: object;
  #protector?: SrtpProtector;
  #pair?: Pair;
  #fd = -1;
  #name?: Uint8Array;
  #closed = false;
  readonly #native: Libraries;

  private constructor(dtls: DtlsTransport, w: DatagramWriter, native: Libraries) {
    this.#dtls = dtls;
    this.#writer = w;
    this.#native = native;
  }

  /**
   * The fast path for `sender`'s connection, once DTLS is done, or undefined when it cannot be
   * used (no native libraries, an SRTP profile not handled here).
   */
  static for(sender: RTCRtpSender): PeerEgress | undefined {
    const native = openNative();
    if (!native.ok) return undefined;
    const dtls = (sender as unknown as SenderInternals).dtlsTransport;
    const known = peers.get(dtls);
    if (known) return known;
    writer ??= new DatagramWriter(native.libc);
    const peer = new PeerEgress(dtls, writer, native);
    if (!peer.#rekey()) return undefined;
    peers.set(dtls, peer);
    return peer;
  }

  /** The shared scratch buffers the caller writes the header into. */
  get writer(): DatagramWriter {
    return this.#writer;
  }

  /**
   * Protects and sends the packet whose header is in `writer.header[0, headerLength)`:
   * {@link SENT_BY_SOCKET} (`sendmsg`), {@link SENT_BY_WERIFT} (through werift's ICE connection:
   * TURN, TCP or a socket not found), or {@link NOT_SENT} (no consent, closed, buffer full).
   */
  send(headerLength: number, payload: Uint8Array, ssrc: number, roc: number, seq: number): Sent {
    const dtls = this.#dtls;
    if (this.#closed) return NOT_SENT;
    if (dtls.srtp !== this.#srtp && !this.#rekey()) return NOT_SENT;
    const connection = dtls.iceTransport.connection;
    if (!connection.canSendApplicationData()) return NOT_SENT;
    if (connection.nominated !== this.#pair) this.#route(connection.nominated);
    const w = this.#writer;
    const protector = this.#protector!;
    if (!protector.protect(w.header, headerLength, payload, w.ciphertext, w.tag, ssrc, roc, seq)) {
      return NOT_SENT;
    }
    const tagLength = protector.tagLength;
    if (this.#fd >= 0 && !this.#pair!.protocol.transport?.closed) {
      const sent = w.send(this.#fd, this.#name!, headerLength, payload.length, tagLength);
      return sent ? SENT_BY_SOCKET : NOT_SENT;
    }
    connection.send(w.concat(headerLength, payload.length, tagLength)).catch(() => {});
    return SENT_BY_WERIFT;
  }

  /** Frees the cipher contexts; later sends are dropped. */
  close(): void {
    this.#closed = true;
    this.#protector?.close();
    this.#protector = undefined;
    this.#fd = -1;
    peers.delete(this.#dtls);
  }

  #rekey(): boolean {
    const context = this.#dtls.srtp?.localContext;
    const profile = this.#dtls.dtls?.srtp?.srtpProfile;
    if (!context || profile === undefined) return false;
    const protector = SrtpProtector.create(this.#native.crypto, {
      profile,
      key: context.srtpSessionKey,
      salt: context.srtpSessionSalt,
      authKey: context.srtpSessionAuthTag,
    });
    if (!protector) return false;
    this.#protector?.close();
    this.#protector = protector;
    this.#srtp = this.#dtls.srtp;
    return true;
  }

  #route(pair: Pair | undefined): void {
    this.#pair = pair;
    this.#fd = -1;
    this.#name = undefined;
    const socket = pair?.protocol.transport?.socket;
    if (!pair || !socket) return;
    const name = sockaddrIn(pair.remoteAddr[0], pair.remoteAddr[1]);
    let local: { address: string; port: number };
    try {
      local = socket.address();
    } catch {
      return;
    }
    const fd = name && descriptorOfUdpSocket(this.#native.libc, local.address, local.port);
    if (fd === undefined) return;
    this.#fd = fd;
    this.#name = name;
  }
}

/** Rollover counter of one outgoing SSRC (RFC 3711 §3.3.1), from the sequence numbers sent. */
export class Rollover {
  #highest = -1;
  #roc = 0;

  /** The ROC of `seq`, advancing the state when `seq` is the newest. */
  of(seq: number): number {
    if (this.#highest < 0) {
      this.#highest = seq;
      return 0;
    }
    const ahead = (seq - this.#highest) & 0xffff;
    if (ahead !== 0 && ahead < 0x8000) {
      if (seq < this.#highest) this.#roc = (this.#roc + 1) >>> 0;
      this.#highest = seq;
      return this.#roc;
    }
    return seq > this.#highest ? (this.#roc - 1) >>> 0 : this.#roc;
  }
}

/** One sender's stream to a player on the fast path. */
export class EgressStream {
  readonly #peer: PeerEgress;
  readonly #sender: SenderInternals;
  /** Header extension block written after the 12-byte header (empty for none). */
  readonly #extensions: Uint8Array;
  /** Offset of abs-send-time's 3 bytes inside the header, or -1. */
  readonly #absAt: number;
  readonly #media = new Rollover();
  readonly #rtx = new Rollover();
  #rtxSeq = Math.floor(Math.random() * 0x10000);
  #seqOffset = 0;
  #tsOffset = 0;
  #lastSeq = -1;
  #lastTs = 0;
  #pendingStep = 0;
  #sentAtMs = 0;
  #started = false;
  // the last second of packets, by outgoing sequence number
  readonly #mask: number;
  readonly #ringPayload: (Uint8Array | undefined)[];
  /** Per slot: sequence number, timestamp, marker | payload type, time sent (one cache line). */
  readonly #ring: Float64Array;

  /**
   * @param peer the connection's fast path
   * @param sender werift's sender (its SSRCs, extensions and RTCP)
   * @param ringSize packets kept for retransmission (a power of two, ≥ a second's worth)
   */
  constructor(peer: PeerEgress, sender: RTCRtpSender, ringSize = 2048) {
    this.#peer = peer;
    const s = sender as unknown as SenderInternals;
    this.#sender = s;
    const { block, absAt } = extensionBlock(s);
    this.#extensions = block;
    this.#absAt = absAt < 0 ? -1 : 12 + absAt;
    this.#mask = ringSize - 1;
    this.#ringPayload = new Array(ringSize);
    this.#ring = new Float64Array(ringSize * 4).fill(-1);
    // werift's sender reports pair ntpTimestamp with rtpTimestamp: the wall-clock time of the
    // last packet sent here, converted only when a report is written
    let written = 0n;
    Object.defineProperty(s, "ntpTimestamp", {
      configurable: true,
      get: () => this.#sentAtMs > 0 ? ntpOf(this.#sentAtMs) : written,
      set: (value: bigint) => {
        written = value;
      },
    });
    answerNacks(sender, (seq) => this.#retransmit(seq));
  }

  /** The next packet continues the sequence numbers, its timestamp `step` ticks after the last. */
  continueWith(step: number): void {
    this.#pendingStep = step;
  }

  /** Sends `rtp` with payload type `payloadType`; `now` is `performance.now()`. */
  send(rtp: RtpPacket, payloadType: number, now: number): Sent {
    const s = this.#sender;
    if (s.stopped) return NOT_SENT;
    const header = rtp.header;
    if (this.#pendingStep > 0) {
      if (this.#lastSeq >= 0) {
        this.#seqOffset = (this.#lastSeq + 1 - header.sequenceNumber) & 0xffff;
        this.#tsOffset = (this.#lastTs + this.#pendingStep - header.timestamp) >>> 0;
      }
      this.#pendingStep = 0;
    }
    const seq = (header.sequenceNumber + this.#seqOffset) & 0xffff;
    const ts = (header.timestamp + this.#tsOffset) >>> 0;
    this.#lastSeq = seq;
    this.#lastTs = ts;
    this.#sentAtMs = now;
    const payload = rtp.payload;
    const meta = (header.marker ? 0x80 : 0) | payloadType;
    const i = seq & this.#mask;
    this.#ringPayload[i] = payload;
    const ring = this.#ring;
    ring[4 * i] = seq;
    ring[4 * i + 1] = ts;
    ring[4 * i + 2] = meta;
    ring[4 * i + 3] = now;
    const length = this.#writeHeader(meta, seq, ts, s.ssrc, now);
    const sent = this.#peer.send(length, payload, s.ssrc, this.#media.of(seq), seq);
    if (sent === NOT_SENT) return sent;
    s.packetCount = (s.packetCount + 1) >>> 0;
    s.octetCount += payload.length;
    s.rtpTimestamp = ts;
    if (!this.#started) {
      this.#started = true;
      s.runRtcp();
    }
    return sent;
  }

  /** Answers a NACK for outgoing `seq` from the ring; false when it is gone or too old. */
  #retransmit(seq: number): boolean {
    const i = seq & this.#mask;
    const payload = this.#ringPayload[i];
    const now = performance.now();
    const ring = this.#ring;
    if (ring[4 * i] !== seq || !payload || now - ring[4 * i + 3] > SEND_HISTORY_MS) {
      return false;
    }
    const s = this.#sender;
    const meta = ring[4 * i + 2];
    const ts = ring[4 * i + 1];
    let sent: Sent;
    if (s.rtxPayloadType !== undefined) {
      // RFC 4588: original sequence number, then the original payload
      const body = new Uint8Array(payload.length + 2);
      body[0] = seq >>> 8;
      body[1] = seq & 0xff;
      body.set(payload, 2);
      const rtxSeq = this.#rtxSeq;
      this.#rtxSeq = (rtxSeq + 1) & 0xffff;
      const length = this.#writeHeader(
        (meta & 0x80) | s.rtxPayloadType,
        rtxSeq,
        ts,
        s.rtxSsrc,
        now,
      );
      sent = this.#peer.send(length, body, s.rtxSsrc, this.#rtx.of(rtxSeq), rtxSeq);
    } else {
      const length = this.#writeHeader(meta, seq, ts, s.ssrc, now);
      sent = this.#peer.send(length, payload, s.ssrc, this.#media.of(seq), seq);
    }
    if (sent === NOT_SENT) return false;
    s.retransmittedPacketsSent++;
    s.retransmittedBytesSent += payload.length;
    return true;
  }

  /** Writes the header into the shared scratch buffer; returns its length. */
  #writeHeader(meta: number, seq: number, ts: number, ssrc: number, now: number): number {
    const h = this.#peer.writer.header;
    const ext = this.#extensions;
    h[0] = ext.length > 0 ? 0x90 : 0x80;
    h[1] = meta;
    h[2] = seq >>> 8;
    h[3] = seq & 0xff;
    h[4] = ts >>> 24;
    h[5] = (ts >>> 16) & 0xff;
    h[6] = (ts >>> 8) & 0xff;
    h[7] = ts & 0xff;
    h[8] = ssrc >>> 24;
    h[9] = (ssrc >>> 16) & 0xff;
    h[10] = (ssrc >>> 8) & 0xff;
    h[11] = ssrc & 0xff;
    if (ext.length === 0) return 12;
    h.set(ext, 12);
    const at = this.#absAt;
    if (at > 0) {
      // abs-send-time: 6.18 fixed-point seconds, 24 bits (the NTP epoch is a multiple of 64 s)
      const abs = Math.floor(((performance.timeOrigin + now) / 1000) * 262_144) & 0xffffff;
      h[at] = abs >>> 16;
      h[at + 1] = (abs >>> 8) & 0xff;
      h[at + 2] = abs & 0xff;
    }
    return 12 + ext.length;
  }
}

/**
 * The header extension block werift's sender would write for this sender: mid (when it has
 * one) and abs-send-time (value filled per packet), by id, one-byte form (RFC 8285) or
 * two-byte form when an id is above 14.
 */
function extensionBlock(s: SenderInternals): { block: Uint8Array; absAt: number } {
  const elements: { id: number; data: Uint8Array; abs: boolean }[] = [];
  for (const e of s.headerExtensions ?? []) {
    if (e.uri === MID_URI && s.mid) {
      elements.push({ id: e.id, data: new TextEncoder().encode(s.mid), abs: false });
    } else if (e.uri === ABS_SEND_TIME_URI) {
      elements.push({ id: e.id, data: new Uint8Array(3), abs: true });
    }
  }
  if (elements.length === 0) return { block: new Uint8Array(0), absAt: -1 };
  elements.sort((a, b) => a.id - b.id);
  const twoByte = elements.some((e) => e.id > 14 || e.data.length > 16);
  const bytes: number[] = [];
  let absAt = -1;
  for (const e of elements) {
    if (twoByte) bytes.push(e.id, e.data.length);
    else bytes.push((e.id << 4) | (e.data.length - 1));
    if (e.abs) absAt = 4 + bytes.length;
    bytes.push(...e.data);
  }
  while (bytes.length % 4) bytes.push(0);
  const words = bytes.length / 4;
  const profile = twoByte ? [0x10, 0x00] : [0xbe, 0xde];
  return {
    block: new Uint8Array([...profile, words >>> 8, words & 0xff, ...bytes]),
    absAt,
  };
}

/** The 64-bit NTP time of `performance.now()` value `ms`. */
function ntpOf(ms: number): bigint {
  const unix = (performance.timeOrigin + ms) / 1000;
  const seconds = Math.floor(unix);
  const fraction = Math.floor((unix - seconds) * 0x1_0000_0000);
  return (BigInt(seconds + NTP_UNIX_OFFSET) << 32n) | BigInt(fraction);
}
