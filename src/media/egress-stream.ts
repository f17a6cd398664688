/**
 * One sender's stream to a player on the native egress path (egress.ts): the sequence number
 * and timestamp rewriting with its continuity rules (republish, layer switch), the player's
 * header extensions (mid, abs-send-time), the SRTP rollover counter, the packet and octet
 * counters (our sender reports, sender-reports.ts, are written from them; werift's sender gets
 * them at each report, for its stats), and a ring of the
 * last second of packets to answer NACKs, in RTX when negotiated: numbers only (the packets are
 * in the process's one store, packet-store.ts, so a forwarded packet writes no pointer per player).
 *
 * @module
 */
import type { RTCRtpSender, RtpPacket } from "werift";
import { Buffer } from "node:buffer";
import { NOT_SENT, type PeerEgress, type QueuedStream, type Sent } from "./egress.ts";
import { SEND_HISTORY_MS } from "./send-history.ts";
import { PACKETS } from "./packet-store.ts";
import { answerNacks } from "./werift/patches.ts";
import { type SenderInternals, senderInternals } from "./werift/internals.ts";
import {
  compactNtp,
  ntpOfWallClock,
  REPORTS,
  type ReportTask,
  writeSenderReport,
} from "./sender-reports.ts";

const MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid";
const ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time";

/** Numbers per slot of a stream's NACK ring. */
const SLOT = 5;

/** Room for a sender report with an SDES CNAME of up to 255 bytes. */
const REPORT_ROOM = 28 + 8 + 256;

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

/** One sender's stream to a player on the native path. */
export class EgressStream implements QueuedStream, ReportTask {
  readonly #peer: PeerEgress;
  readonly #sender: SenderInternals;
  readonly #ssrc: number;
  // what was sent (werift's sender gets them at each report: a forwarded packet writes only to
  // this object, not to werift's too, one cache miss less per player)
  #packets = 0;
  #octets = 0;
  /** werift's sender stopped (seen at a report; the connection's flush checks its state too). */
  #stopped = false;
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
  #cname?: Uint8Array;
  #clockRate = 90_000;
  // the last second of packets, by outgoing sequence number
  readonly #mask: number;
  /**
   * Per slot: sequence number, timestamp, marker | payload type, time sent, the packet's
   * position in {@link PACKETS}.
   */
  readonly #ring: Float64Array;

  /**
   * @param peer the connection's native path
   * @param sender werift's sender (its SSRCs, extensions and RTCP)
   * @param ringSize packets kept for retransmission (a power of two, ≥ a second's worth)
   */
  constructor(peer: PeerEgress, sender: RTCRtpSender, ringSize = 2048) {
    this.#peer = peer;
    const s = senderInternals(sender);
    this.#sender = s;
    this.#ssrc = s.ssrc;
    const { block, absAt } = extensionBlock(s);
    this.#extensions = block;
    this.#absAt = absAt < 0 ? -1 : 12 + absAt;
    this.#mask = ringSize - 1;
    this.#ring = new Float64Array(ringSize * SLOT).fill(-1);
    answerNacks(sender, (seq) => this.#retransmit(seq));
  }

  /** The media SSRC (the queued packets' SSRC). */
  get ssrc(): number {
    return this.#ssrc;
  }

  /** The next packet continues the sequence numbers, its timestamp `step` ticks after the last. */
  continueWith(step: number): void {
    this.#pendingStep = step;
  }

  /**
   * Queues `rtp` with payload type `payloadType` (of clock rate `clockRate`) on the connection's
   * batch (sent when the batch is flushed: egress.ts); `now` is `performance.now()`. False when
   * the sender stopped.
   */
  send(rtp: RtpPacket, payloadType: number, clockRate: number, now: number): boolean {
    if (this.#stopped) return false;
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
    this.#clockRate = clockRate;
    const payload = rtp.payload;
    const meta = (header.marker ? 0x80 : 0) | payloadType;
    const i = SLOT * (seq & this.#mask);
    const ring = this.#ring;
    ring[i] = seq;
    ring[i + 1] = ts;
    ring[i + 2] = meta;
    ring[i + 3] = now;
    ring[i + 4] = PACKETS.add(rtp, now);
    this.#peer.enqueue(this, meta, seq, ts, this.#media.of(seq), payload);
    this.#packets = (this.#packets + 1) >>> 0;
    this.#octets += payload.length;
    if (!this.#started) {
      // sender reports from here on (werift's sender would start its own loop at its first
      // packet; its loop is never started on this path)
      this.#started = true;
      this.#peer.scheduleReports(this); // until the connection's egress closes
    }
    return true;
  }

  /**
   * Sends a sender report (sender-reports.ts) once the stream has sent a packet, and keeps
   * werift's fields that turn the player's receiver reports into a round-trip time. The
   * report's NTP time is the time of writing and its RTP timestamp the last packet's, advanced
   * by the time since at the clock rate (RFC 3550 §6.4.1), as mediasoup and Pion do: two reports
   * never carry the same NTP time, so a receiver report's LSR names exactly one of them, and
   * while the publisher is away the reports keep the timeline the continuity rules resume on
   * (subscription.ts). Scheduled from the first packet on, cancelled when the connection closes
   * (`PeerEgress.closed`); false once the sender stopped.
   */
  report(now: number): boolean {
    const s = this.#sender;
    if (s.stopped) {
      this.#stopped = true;
      return false;
    }
    s.packetCount = this.#packets;
    s.octetCount = this.#octets;
    s.rtpTimestamp = this.#lastTs;
    const ntp = ntpOfWallClock(performance.timeOrigin + now);
    const elapsed = Math.max(0, now - this.#sentAtMs);
    this.#cname ??= new TextEncoder().encode(s.cname ?? "");
    const out = REPORT;
    const length = writeSenderReport(out, {
      ssrc: this.#ssrc,
      ntp,
      rtpTimestamp: (this.#lastTs + Math.round((elapsed * this.#clockRate) / 1000)) >>> 0,
      packetCount: this.#packets,
      octetCount: this.#octets,
      cname: this.#cname,
    });
    if (!this.#peer.sendRtcp(out.subarray(0, length))) {
      REPORTS.unsent.n++;
      return true;
    }
    REPORTS.sent.n++;
    s.lastSRtimestamp = compactNtp(ntp.seconds, ntp.fraction);
    s.lastSentSRTimestamp = Date.now() / 1000;
    return true;
  }

  /** Answers a NACK for outgoing `seq` from the ring, at once; false when gone or too old. */
  #retransmit(seq: number): boolean {
    const i = SLOT * (seq & this.#mask);
    const now = performance.now();
    const ring = this.#ring;
    if (ring[i] !== seq || now - ring[i + 3] > SEND_HISTORY_MS) return false;
    const payload = PACKETS.get(ring[i + 4])?.payload;
    if (!payload) return false;
    const s = this.#sender;
    const meta = ring[i + 2];
    const ts = ring[i + 1];
    const h = this.#peer.scratchHeader;
    let sent: Sent;
    if (s.rtxPayloadType !== undefined) {
      // RFC 4588: original sequence number, then the original payload
      const body = new Uint8Array(payload.length + 2);
      body[0] = seq >>> 8;
      body[1] = seq & 0xff;
      body.set(payload, 2);
      const rtxSeq = this.#rtxSeq;
      this.#rtxSeq = (rtxSeq + 1) & 0xffff;
      const length = this.#write(h, (meta & 0x80) | s.rtxPayloadType, rtxSeq, ts, s.rtxSsrc, now);
      sent = this.#peer.sendNow(length, body, s.rtxSsrc, this.#rtx.of(rtxSeq), rtxSeq);
    } else {
      const length = this.#write(h, meta, seq, ts, this.#ssrc, now);
      sent = this.#peer.sendNow(length, payload, this.#ssrc, this.#media.of(seq), seq);
    }
    if (sent === NOT_SENT) return false;
    s.retransmittedPacketsSent++;
    s.retransmittedBytesSent += payload.length;
    return true;
  }

  /** Writes a queued packet's header into `h` at send time; returns its length. */
  writeHeader(h: Uint8Array, meta: number, seq: number, ts: number, now: number): number {
    return this.#write(h, meta, seq, ts, this.#ssrc, now);
  }

  #write(h: Uint8Array, meta: number, seq: number, ts: number, ssrc: number, now: number): number {
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

/** Where reports are written (the event loop is single-threaded); werift's SRTCP wants a Buffer. */
const REPORT = Buffer.alloc(REPORT_ROOM);

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
