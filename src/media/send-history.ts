/**
 * Retransmission history sized by time for a werift sender. werift answers NACKs from the
 * last 128 packets it sent (under half a second of a 2.5 Mbit/s stream); a player far away
 * needs about a second. This keeps every packet the sender wrote for `maxAgeMs`, indexed by
 * its outgoing sequence number, and answers NACKs from it (wrapped in RTX when negotiated).
 *
 * Installed by patching one sender instance (its `rtpCache` field and `handleRtcpPacket`
 * method), not werift's prototype; `tests/integration/media_test.ts` covers it.
 *
 * @module
 */
import { type RTCRtpSender, type RtpPacket, wrapRtx } from "werift";
import { senderInternals } from "./werift/internals.ts";
import { answerNacks } from "./werift/patches.ts";

/** The default age of the history, ms. */
export const SEND_HISTORY_MS = 1000;

/** Packets sent, by sequence number, for a bounded time. */
export class SendHistory {
  #bySeq = new Map<number, { packet: RtpPacket; at: number }>();
  #order: number[] = [];
  #maxAgeMs: number;

  /** @param maxAgeMs how long a packet stays retransmittable. */
  constructor(maxAgeMs = SEND_HISTORY_MS) {
    this.#maxAgeMs = maxAgeMs;
  }

  /** Records a packet as sent now. */
  add(packet: RtpPacket): void {
    const now = performance.now();
    const seq = packet.header.sequenceNumber;
    if (!this.#bySeq.has(seq)) this.#order.push(seq);
    this.#bySeq.set(seq, { packet, at: now });
    while (this.#order.length > 0) {
      const oldest = this.#bySeq.get(this.#order[0]);
      if (oldest && now - oldest.at <= this.#maxAgeMs && this.#order.length <= 65_000) break;
      this.#bySeq.delete(this.#order.shift()!);
    }
  }

  /** The packet with that sequence number, if still held. */
  get(seq: number): RtpPacket | undefined {
    return this.#bySeq.get(seq)?.packet;
  }

  /** Number of packets held. */
  get size(): number {
    return this.#bySeq.size;
  }

  /** Makes `sender` record into this history and answer NACKs from it. */
  install(sender: RTCRtpSender): void {
    const s = senderInternals(sender);
    const record = (target: RtpPacket[]) =>
      new Proxy(target, {
        set: (array, key, value) => {
          if (typeof key === "string" && /^\d+$/.test(key)) this.add(value as RtpPacket);
          (array as unknown as Record<string | symbol, unknown>)[key] = value;
          return true;
        },
      });
    let cache = record([]);
    Object.defineProperty(s, "rtpCache", {
      configurable: true,
      get: () => cache,
      set: (fresh: RtpPacket[]) => { // werift resets it when a source is replaced
        cache = record(fresh);
      },
    });
    answerNacks(sender, (seq) => {
      let rtp = this.get(seq);
      if (!rtp) return false;
      if (s.rtxPayloadType !== undefined) {
        rtp = wrapRtx(rtp, s.rtxPayloadType, s.rtxSequenceNumber, s.rtxSsrc);
        s.rtxSequenceNumber = (s.rtxSequenceNumber + 1) & 0xffff;
      }
      s.retransmittedPacketsSent++;
      s.retransmittedBytesSent += rtp.payload.length;
      s.dtlsTransport.sendRtp(rtp.payload, rtp.header).catch(() => {});
      return true;
    });
  }
}
