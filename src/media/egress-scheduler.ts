/**
 * The egress scheduler of the native send path: one instance per server (created at start by
 * server.ts when send-path.ts decided on the native path, passed to the media plane in
 * `MediaOptions.egress`), owning what the players'
 * connections share — the datagram batch, the queue of connections with packets waiting, the
 * batch deadline, the sender-report schedule and the descriptors found for werift's sockets.
 *
 * It is the one owner of when queued packets leave ({@link EgressScheduler.flush}): when a
 * packet's fan-out is done and the publisher's socket holds nothing more
 * ({@link EgressScheduler.settle}, called by the publication), when the oldest packet has
 * waited {@link BATCH_DEADLINE_MS}, when a connection's queue is full, and when priming sends a
 * paced batch of the keyframe cache.
 *
 * @module
 */
import type { RTCRtpSender } from "werift";
import type { Libc, Libcrypto } from "./native/libs.ts";
import { BATCH_SLOTS, DatagramBatch } from "./native/datagram-batch.ts";
import { type EgressShared, PeerEgress } from "./egress.ts";
import { QUEUED_COUNTS } from "./egress-counters.ts";
import { ReportSchedule } from "./sender-reports.ts";
import { IngressProbe } from "./ingress-probe.ts";
import { type IceConnection, senderInternals } from "./werift/internals.ts";
import { useNativeSrtcp } from "./werift/srtcp.ts";

/**
 * The oldest queued packet waits at most this long for the rest of a burst, ms: checked at each
 * packet's fan-out, and by a timer when no packet follows. (Deno's `node:dgram` reads a busy
 * socket in one turn of the event loop, so the timer alone would fire late.)
 */
export const BATCH_DEADLINE_MS = 5;

/** The opened native libraries. */
export interface Libraries {
  /** libc's symbols. */
  libc: Libc;
  /** libcrypto's symbols. */
  crypto: Libcrypto;
}

/** Something that knows whether more input is already waiting (a publisher's socket). */
export interface InputProbe {
  /** True when a datagram is waiting to be read. */
  waiting(): boolean;
}

/**
 * The native send path's shared state: one per server. Creating it puts werift's SRTCP on
 * OpenSSL (werift/srtcp.ts, a prototype patch: once per process).
 */
export class EgressScheduler implements EgressShared {
  /** The native libraries. */
  readonly libraries: Libraries;
  /** The batch every connection's flush writes into (the event loop is single-threaded). */
  readonly batch: DatagramBatch;
  /** Scratch of a flush: which queued packets are done. */
  readonly taken: Uint8Array = new Uint8Array(BATCH_SLOTS);
  /** Sender reports of every stream, on one timer. */
  readonly reports: ReportSchedule = new ReportSchedule();
  /** Descriptors of werift's UDP sockets found so far, by `address:port`. */
  readonly sockets: Map<string, number> = new Map();
  readonly #peers = new WeakMap<object, PeerEgress>();
  /** Connections with packets queued, in the order they were queued. */
  readonly #queued: PeerEgress[] = [];
  /** When the oldest queued packet was queued (`performance.now()`). */
  #oldest = 0;
  #deadline?: ReturnType<typeof setTimeout>;
  readonly #onDeadline = () => this.flush();

  /** @param libraries the opened libc and libcrypto */
  constructor(libraries: Libraries) {
    this.libraries = libraries;
    this.batch = new DatagramBatch(libraries.libc, QUEUED_COUNTS);
    useNativeSrtcp();
  }

  /**
   * The native path for `sender`'s connection, once DTLS is done, or undefined when it cannot
   * be used (an SRTP profile not handled here).
   */
  peerFor(sender: RTCRtpSender): PeerEgress | undefined {
    const dtls = senderInternals(sender).dtlsTransport;
    const known = this.#peers.get(dtls);
    if (known) return known;
    const peer = PeerEgress.create(this, dtls);
    if (peer) this.#peers.set(dtls, peer);
    return peer;
  }

  /** Forgets a closed connection's egress. */
  forget(dtls: object): void {
    this.#peers.delete(dtls);
  }

  /** The probe of a publisher's ICE connection (does its socket hold more?). */
  probe(connection: IceConnection): IngressProbe {
    return new IngressProbe(this.libraries.libc, this.sockets, connection);
  }

  /** Called by a connection when its first packet is queued: it is sent by the next flush. */
  queued(peer: PeerEgress): void {
    if (this.#queued.length === 0) this.#oldest = performance.now();
    this.#queued.push(peer);
    this.#deadline ??= setTimeout(this.#onDeadline, BATCH_DEADLINE_MS);
  }

  /**
   * Called by a connection whose queue is full: sends that queue now, with what the batch
   * holds (the others wait).
   */
  full(peer: PeerEgress): void {
    peer.flush(performance.now());
    this.batch.sendQueued();
  }

  /**
   * Called when a packet's fan-out is done, at `now` (`performance.now()`): sends the queues
   * unless `source` says more input is already waiting (the rest of a burst) and the oldest
   * queued packet has waited less than {@link BATCH_DEADLINE_MS}; the packet that finds the
   * socket empty then sends them all.
   */
  settle(source: InputProbe | undefined, now: number): void {
    if (this.#queued.length === 0) return;
    if (now - this.#oldest < BATCH_DEADLINE_MS && (this.inputPending() || source?.waiting())) {
      return;
    }
    this.flush();
  }

  /**
   * Whether datagrams already read from the kernel wait to be handled (the shared media port's
   * batch reader sets it: transport/udp-mux.ts); they count as "more input waiting".
   */
  inputPending: () => boolean = () => false;

  /** Sends every connection's queue now: into the shared batch, then `sendmmsg`. */
  flush(): void {
    if (this.#deadline !== undefined) {
      clearTimeout(this.#deadline);
      this.#deadline = undefined;
    }
    const queued = this.#queued;
    if (queued.length === 0) return;
    const now = performance.now();
    for (let i = 0; i < queued.length; i++) queued[i].flush(now);
    queued.length = 0;
    this.batch.sendQueued();
  }

  /** Stops the timers (server shutdown); queued packets are dropped with their connections. */
  close(): void {
    clearTimeout(this.#deadline);
    this.#deadline = undefined;
    this.#queued.length = 0;
    this.reports.close();
  }
}
