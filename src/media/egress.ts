/**
 * The native egress path: RTP to players without werift's per-packet sender work. A packet for a
 * player is queued on the player's connection ({@link PeerEgress.enqueue}: a few numbers and a
 * reference, no copy); the queues are sent by the server's egress scheduler (egress-scheduler.ts)
 * when the fan-out of the packet that arrived last is done and the publisher's socket holds nothing
 * more, so a burst that arrives together (a keyframe from OBS or ffmpeg) leaves together, and a
 * packet that arrives alone leaves at once. Sending a queue: each header is written, each payload
 * encrypted straight from the source packet with the connection's OpenSSL context, and runs of
 * packets of one size are queued as one segmented message on werift's own socket; every player's
 * messages of a flush go to the kernel together in `sendmmsg` calls (native/datagram-batch.ts).
 * Sender reports go out here too (written by sender-reports.ts from the counters the streams keep:
 * egress-stream.ts); werift keeps ICE, DTLS and the RTCP that comes in.
 *
 * A player whose selected pair has no local descriptor (TURN, TCP) gets the same protected
 * packets through werift's connection. Used when the server chose the native path
 * (send-path.ts) and `EgressScheduler.peerFor` returns one (an SRTP profile handled here);
 * otherwise the subscription keeps werift's sender.
 *
 * @module
 */
import { SrtpProtector } from "./native/srtp-protect.ts";
import {
  BATCH_BYTES,
  BATCH_SLOTS,
  type DatagramBatch,
  type RouteOwner,
  SLOT_PAYLOAD,
} from "./native/datagram-batch.ts";
import { pairSocket } from "./ice-socket.ts";
import { padToRuns, writePadded } from "./run-padding.ts";
import type { DtlsTransportInternals, IcePair } from "./werift/internals.ts";
import type { ReportSchedule, ReportTask } from "./sender-reports.ts";
import type { Libc, Libcrypto } from "./native/libs.ts";
import { COUNTED } from "./egress-counters.ts";
import { Emitter } from "../events.ts";

/** Segmented sends refused on a route before it is sent datagram by datagram for good. */
const REFUSALS_TOLERATED = 3;
/**
 * A flush reads keys, route and ICE consent from werift at most this often, ms: a new key, a
 * new route or lost consent is seen this late at most (consent lasts 30 s, RFC 7675).
 */
const READY_CHECK_MS = 20;
/** Header and tag bytes reckoned per queued packet (12-byte header, extensions, tag). */
const PACKET_OVERHEAD = 64;

/** What {@link PeerEgress.sendNow} did with a packet. */
export type Sent = 0 | 1 | 2;
/** Dropped: no consent, closed, or the kernel's buffer was full. */
export const NOT_SENT = 0;
/** Sent with `sendmsg` on the connection's socket. */
export const SENT_BY_SOCKET = 1;
/** Protected here, sent through werift's ICE connection (TURN, TCP, no descriptor found). */
export const SENT_BY_WERIFT = 2;

/** A stream whose packets wait in a connection's queue: it writes their headers at send time. */
export interface QueuedStream {
  /** The SSRC of its queued packets. */
  readonly ssrc: number;
  /** Writes a queued packet's header into `h`; returns its length. */
  writeHeader(h: Uint8Array, meta: number, seq: number, ts: number, now: number): number;
}

/**
 * What the connections of one server share, owned by its egress scheduler
 * (egress-scheduler.ts): the batch, a flush's scratch, the libraries, the sender-report
 * schedule, the descriptors found, and the queue of connections with packets waiting.
 */
export interface EgressShared {
  /** The batch every connection's flush writes into. */
  readonly batch: DatagramBatch;
  /** Scratch of a flush: which queued packets are done. */
  readonly taken: Uint8Array;
  /** The native libraries. */
  readonly libraries: { libc: Libc; crypto: Libcrypto };
  /** Sender reports of every stream. */
  readonly reports: ReportSchedule;
  /** Descriptors of werift's UDP sockets found so far. */
  readonly sockets: Map<string, number>;
  /** A connection's first packet was queued: flush it with the others. */
  queued(peer: PeerEgress): void;
  /** A connection's queue is full: send that queue now. */
  full(peer: PeerEgress): void;
  /** A connection closed. */
  forget(dtls: object): void;
}

/** Scratch of a flush (the event loop is single-threaded): one stream's queued packets, in order. */
const ORDER = new Int32Array(BATCH_SLOTS);
/** Scratch of a flush: the padding of each packet of {@link ORDER}. */
const PADS = new Uint8Array(BATCH_SLOTS);

/** The SRTP session, route and send queue of one player connection (its audio and video). */
export class PeerEgress implements RouteOwner {
  readonly #dtls: DtlsTransportInternals;
  readonly #scheduler: EgressShared;
  readonly #batch: DatagramBatch;
  #srtp?: object;
  #protector?: SrtpProtector;
  #pair?: IcePair;
  /** The pair's local transport (werift marks it `closed` when it closes the socket). */
  #transport?: { closed?: boolean };
  /** When a flush last read werift's state (`performance.now()`), and whether it was ready. */
  #checkedAt = -Infinity;
  #checked = false;
  #fd = -1;
  #name?: Uint8Array;
  #closed = false;
  #refusals = 0;
  /** The connection's egress closed: emitted once, then every listener is removed. */
  readonly closed: Emitter<void> = new Emitter();
  // the queue: streams, payloads, and per packet marker | payload type, seq, timestamp, ROC
  readonly #streams: QueuedStream[] = [];
  readonly #payloads: Uint8Array[] = [];
  readonly #numbers = new Float64Array(BATCH_SLOTS * 4);
  #count = 0;
  #bytes = 0;

  private constructor(scheduler: EgressShared, dtls: DtlsTransportInternals) {
    this.#dtls = dtls;
    this.#scheduler = scheduler;
    this.#batch = scheduler.batch;
  }

  /**
   * The native path of the connection of DTLS transport `dtls`, once DTLS is done, or undefined
   * when it cannot be used (an SRTP profile not handled here). Made by the egress scheduler's
   * `peerFor`, which keeps one per connection.
   */
  static create(scheduler: EgressShared, dtls: DtlsTransportInternals): PeerEgress | undefined {
    const peer = new PeerEgress(scheduler, dtls);
    return peer.#rekey() ? peer : undefined;
  }

  /** Where {@link sendNow}'s caller writes the header: slot 0 (what is queued is sent first). */
  get scratchHeader(): Uint8Array {
    const b = this.#batch;
    if (b.queued > 0) b.sendQueued();
    return b.headers[0];
  }

  /**
   * Queues one packet of `stream` (see {@link QueuedStream}); sent by the scheduler's next
   * flush, or first, when the queue is full, the scheduler sends the queue (`full`).
   */
  enqueue(
    stream: QueuedStream,
    meta: number,
    seq: number,
    ts: number,
    roc: number,
    payload: Uint8Array,
  ): void {
    if (this.#closed) return;
    const length = payload.length;
    if (length > SLOT_PAYLOAD) {
      COUNTED.dropped.n++; // longer than any datagram werift reads: cannot have come from a peer
      return;
    }
    if (this.#count === BATCH_SLOTS || this.#bytes + length + PACKET_OVERHEAD > BATCH_BYTES) {
      this.#scheduler.full(this);
    }
    const k = this.#count++;
    this.#bytes += length + PACKET_OVERHEAD;
    this.#streams[k] = stream;
    this.#payloads[k] = payload;
    const numbers = this.#numbers;
    numbers[4 * k] = meta;
    numbers[4 * k + 1] = seq;
    numbers[4 * k + 2] = ts;
    numbers[4 * k + 3] = roc;
    if (k === 0) this.#scheduler.queued(this);
  }

  /**
   * Protects the queued packets into the shared batch and queues them there (runs of one size as
   * one segmented message), for the scheduler to send with every player's; called by the
   * scheduler only: its flush, and when {@link enqueue} found the queue full.
   */
  flush(now: number): void {
    const count = this.#count;
    if (count === 0) return;
    this.#count = 0;
    this.#bytes = 0;
    if (!this.#readyAt(now)) {
      COUNTED.dropped.n += count;
      return;
    }
    const b = this.#batch;
    const base = b.reserve(this.#fd, count);
    const protector = this.#protector!;
    const tagLength = protector.tagLength;
    const numbers = this.#numbers;
    // stream by stream (each in its own order): a burst's video stays one run of one size
    // when an audio packet arrived in the middle of it, and a frame's packets that differ by a
    // byte (libwebrtc's split) are padded to one size, one segmented send (run-padding.ts)
    const streams = this.#streams;
    const payloads = this.#payloads;
    const taken = this.#scheduler.taken.fill(0, 0, count);
    let ready = base;
    for (let first = 0; first < count; first++) {
      if (taken[first]) continue;
      const stream = streams[first];
      let m = 0;
      for (let k = first; k < count; k++) {
        if (taken[k] || streams[k] !== stream) continue;
        taken[k] = 1;
        ORDER[m++] = k;
      }
      padToRuns(payloads, ORDER, m, PADS);
      for (let j = 0; j < m; j++) {
        const k = ORDER[j];
        const payload = payloads[k];
        const seq = numbers[4 * k + 1];
        const h = b.headers[ready];
        const length = stream.writeHeader(h, numbers[4 * k], seq, numbers[4 * k + 2], now);
        const roc = numbers[4 * k + 3];
        const ciphertext = b.ciphertexts[ready];
        let plain = payload;
        let size = payload.length;
        const pad = PADS[j];
        if (pad > 0) {
          size = writePadded(ciphertext, payload, pad); // encrypted in place
          plain = ciphertext;
          h[0] |= 0x20; // P
        }
        if (
          !protector.protect(
            h,
            length,
            plain,
            ciphertext,
            b.tags[ready],
            stream.ssrc,
            roc,
            seq,
            size,
          )
        ) {
          COUNTED.dropped.n++;
          continue;
        }
        b.setLengths(ready++, length, size, tagLength);
      }
    }
    if (ready === base) return;
    if (this.#bySocket()) {
      const segment = this.#refusals < REFUSALS_TOLERATED;
      b.queue(this.#fd, this.#name!, base, ready - base, segment, this);
      return;
    }
    const connection = this.#dtls.iceTransport.connection;
    for (let k = base; k < ready; k++) connection.send(b.concat(k)).catch(() => {});
    COUNTED.nativeSrtp.n += ready - base;
  }

  /** The batch found this route refusing a segmented send ({@link REFUSALS_TOLERATED}: no more). */
  segmentationRefused(): void {
    this.#refusals++;
  }

  /**
   * Protects and sends at once the packet whose header is in `scratchHeader[0, headerLength)`
   * (retransmissions): {@link SENT_BY_SOCKET}, {@link SENT_BY_WERIFT} or {@link NOT_SENT}.
   */
  sendNow(headerLength: number, payload: Uint8Array, ssrc: number, roc: number, seq: number): Sent {
    if (payload.length > SLOT_PAYLOAD || !this.#ready()) return NOT_SENT;
    const b = this.#batch;
    const protector = this.#protector!;
    if (
      !protector.protect(
        b.headers[0],
        headerLength,
        payload,
        b.ciphertexts[0],
        b.tags[0],
        ssrc,
        roc,
        seq,
      )
    ) {
      return NOT_SENT;
    }
    b.setLengths(0, headerLength, payload.length, protector.tagLength);
    if (this.#bySocket()) return this.#sendFirstSlot() ? SENT_BY_SOCKET : NOT_SENT;
    this.#dtls.iceTransport.connection.send(b.concat(0)).catch(() => {});
    return SENT_BY_WERIFT;
  }

  /**
   * Protects the compound RTCP packet `rtcp` with werift's SRTCP session (its index) and sends
   * it at once; false when it could not be sent.
   */
  sendRtcp(rtcp: Uint8Array): boolean {
    if (!this.#ready()) return false;
    if (this.#batch.queued > 0) this.#batch.sendQueued(); // its first slot is written below
    const dtls = this.#dtls;
    const srtcp = dtls.srtcp?.encrypt(rtcp);
    if (!srtcp || srtcp.length > SLOT_PAYLOAD) return false;
    if (this.#bySocket()) {
      const b = this.#batch;
      b.ciphertexts[0].set(srtcp);
      b.setLengths(0, 0, srtcp.length, 0);
      if (!this.#sendFirstSlot()) return false;
    } else {
      dtls.iceTransport.connection.send(srtcp).catch(() => {});
    }
    // werift's transport counters (its stats), as its own sendRtcp keeps them
    dtls.bytesSent += srtcp.length;
    dtls.packetsSent++;
    return true;
  }

  /** Sender reports for `task` on the scheduler's timer, until the connection's egress closes. */
  scheduleReports(task: ReportTask): void {
    if (this.#closed) return;
    this.closed.on(this.#scheduler.reports.schedule(task));
  }

  /** Frees the cipher contexts; later packets are dropped. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.closed.emit();
    this.closed.clear();
    this.#count = 0;
    this.#protector?.close();
    this.#protector = undefined;
    this.#fd = -1;
    this.#scheduler.forget(this.#dtls);
  }

  /** The route has a descriptor of a socket werift has not closed (else: werift's connection). */
  #bySocket(): boolean {
    return this.#fd >= 0 && !this.#transport?.closed;
  }

  /** One `sendmsg` of the batch's first slot (free between flushes); true when it went out. */
  #sendFirstSlot(): boolean {
    COUNTED.calls.n++;
    return this.#batch.send(this.#fd, this.#name!, 1, false).sent === 1;
  }

  /**
   * {@link #ready} for a flush at `now`, reading werift's state at most every
   * {@link READY_CHECK_MS}: the dozen objects behind it are a cache miss each for every player
   * of every burst (≈ 0.3 µs per forwarded packet at 500 players). Closing is seen at once
   * (ours, and the socket's: {@link #bySocket} reads it at each send).
   */
  #readyAt(now: number): boolean {
    if (this.#closed) return false;
    if (now - this.#checkedAt < READY_CHECK_MS) return this.#checked;
    this.#checkedAt = now;
    return this.#checked = this.#ready();
  }

  /** Keys and route are current and ICE consent holds. */
  #ready(): boolean {
    if (this.#closed) return false;
    const dtls = this.#dtls;
    if (dtls.srtp !== this.#srtp && !this.#rekey()) return false;
    const connection = dtls.iceTransport.connection;
    if (!connection.canSendApplicationData()) return false;
    if (connection.nominated !== this.#pair) this.#route(connection.nominated);
    return true;
  }

  #rekey(): boolean {
    const context = this.#dtls.srtp?.localContext;
    const profile = this.#dtls.dtls?.srtp?.srtpProfile;
    if (!context || profile === undefined) return false;
    const protector = SrtpProtector.create(this.#scheduler.libraries.crypto, {
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

  #route(pair: IcePair | undefined): void {
    this.#pair = pair;
    this.#transport = pair?.protocol.transport;
    this.#refusals = 0;
    const socket = pairSocket(this.#scheduler.libraries.libc, this.#scheduler.sockets, pair);
    this.#fd = socket?.fd ?? -1;
    this.#name = socket?.name;
  }
}
