/**
 * A subscription: the media side of one WHEP session. It sends a feed's packets to one player,
 * rewritten per player (SSRC, payload type, sequence number and timestamp: by the native path of
 * egress.ts when it can open, else by werift's sender), primes a new player from the keyframe
 * cache, starts video only at a keyframe after a source or layer change (sequence numbers and
 * timestamps continue across it), answers NACKs from a 1 s history, passes PLI / FIR to the feed.
 *
 * @module
 */
import {
  type RTCRtpCodecParameters,
  type RTCRtpSender,
  type RtpPacket,
  useAbsSendTime,
} from "werift";
import type { Codec } from "../sdp/offer.ts";
import { playerCodec, rtxOf } from "./egress-codecs.ts";
import { type MediaOptions, Peer } from "./peer.ts";
import { setFmtpParameters } from "../sdp/fmtp.ts";
import type { Kind, Publication } from "./publication.ts";
import type { LayerInfo } from "./layer.ts";
import { chooseLayer } from "./layer-choice.ts";
import { SendHistory } from "./send-history.ts";
import type { PeerEgress } from "./egress.ts";
import type { EgressScheduler } from "./egress-scheduler.ts";
import { EgressStream } from "./egress-stream.ts";
import { metrics } from "../metrics/counters.ts";
import { senderInternals } from "./werift/internals.ts";
import { setSendCodec } from "./werift/patches.ts";
import { Emitter } from "../events.ts";
import { asksKeyframeOf } from "./keyframe-request.ts";
import { trace } from "./trace.ts";
import { Replay } from "./replay.ts";

/** RTP clock rates, for timestamp continuity across a source switch. */
const CLOCK: Record<Kind, number> = { audio: 48_000, video: 90_000 };
/** How often an automatic player's layer is reconsidered, ms. */
const LAYER_CHECK_MS = 1000;

/** Per-packet counters of `/metrics`, looked up once. */
const COUNTED = {
  audio: { packets: metrics.packetsOut.cell("audio"), bytes: metrics.bytesOut.cell("audio") },
  video: { packets: metrics.packetsOut.cell("video"), bytes: metrics.bytesOut.cell("video") },
};
const EGRESS = {
  werift: metrics.egressPackets.cell("werift"),
  dropped: metrics.egressDropped.cell(),
};

/** Counters of what a subscription sent. */
export interface SubscriptionStats {
  /** RTP packets handed to the sender, per kind. */
  packets: Record<Kind, number>;
  /** Packets sent from the keyframe cache when the player started. */
  primed: number;
}

/** One kind's sender: what a forwarded packet reads per player is here (one object, one miss). */
interface SenderEntry {
  sender: RTCRtpSender;
  negotiated: RTCRtpCodecParameters[];
  /** The native path to the player, or undefined for werift's sender (with its history). */
  fast?: EgressStream;
  /** The source codec the target was chosen for (undefined: choose at the next packet). */
  source?: Codec;
  /** The player's codec for {@link source}, when it negotiated one. */
  target?: RTCRtpCodecParameters;
  /** Continue sequence numbers and timestamps at the next packet (new source or layer). */
  continuity: boolean;
  lastSentAt: number;
  /** RTP packets handed to the sender. */
  packets: number;
}

/** One player's connection and senders. */
export class Subscription {
  /** The connection to the player. */
  readonly peer: Peer;
  #primed = 0;
  /**
   * The player needs a keyframe of a layer (PLI, FIR, start, layer switch); undefined: the
   * layer is not chosen yet. Listeners are removed when the subscription closes.
   */
  readonly keyframeRequests: Emitter<string | undefined> = new Emitter();
  #codecs: Record<Kind, Codec[]>;
  #egress?: EgressScheduler;
  #peerEgress?: PeerEgress;
  #source?: Publication;
  // layers: the one sent, the one awaited (switch at its keyframe), the one pinned; keyframe wait
  #current?: string;
  #pending?: string;
  #pinned?: string;
  #waiting = true;
  #timer?: ReturnType<typeof setInterval>;
  /** Creation time until the first packet is sent (the join-time histogram). */
  #startedAt?: number = performance.now();
  /** The keyframe cache's replay to the player, while it runs (live video queues behind it). */
  #replay?: Replay;
  #audio?: SenderEntry;
  #video?: SenderEntry;

  /** What was sent so far. */
  get stats(): SubscriptionStats {
    const packets = { audio: this.#audio?.packets ?? 0, video: this.#video?.packets ?? 0 };
    return { packets, primed: this.#primed };
  }

  /** Creates the player's connection with the given codecs per kind. */
  constructor(options: MediaOptions, codecs: Record<Kind, Codec[]>, serverOffer = false) {
    this.#codecs = codecs;
    this.#egress = options.debugLoss?.outbound ? undefined : options.egress;
    this.peer = new (class extends Peer {
      protected override beforeAnswer(): void {
        for (const t of this.pc.getTransceivers()) t.setDirection("sendonly");
      }
    })(options, codecs, { video: [useAbsSendTime()] });
    if (serverOffer) {
      for (const kind of ["audio", "video"] as const) {
        if (codecs[kind].length) this.peer.pc.addTransceiver(kind, { direction: "sendonly" });
      }
    }
    this.peer.pc.connectionStateChange.subscribe((s) => {
      if (s === "connected") this.#bindSenders();
    });
  }

  /** Answers the player's offer (Opus stereo echoed when the publication sends stereo). */
  async answer(offer: string): Promise<string> {
    const answer = await this.peer.answer(offer);
    const opus = this.#codecs.audio[0];
    if (opus?.fmtp["stereo"] !== "1") return answer;
    return setFmtpParameters(answer, opus.payloadType, { stereo: "1", "sprop-stereo": "1" });
  }

  /** Creates the server's offer (server-offer mode). */
  offer(): Promise<string> {
    return this.peer.offer();
  }

  /**
   * A publication became the source (at subscribe, or when the publisher started or
   * reconnected): video waits for a keyframe of the chosen layer, taken from the cache when it
   * has one, and sequence numbers and timestamps continue the player's.
   */
  attach(source: Publication): void {
    this.#source = source;
    for (const entry of [this.#audio, this.#video]) {
      if (entry) [entry.source, entry.target, entry.continuity] = [undefined, undefined, true];
    }
    this.#stopPriming();
    this.#current = chooseLayer(source.layerInfo(), this.#estimate(), this.#pinned);
    this.#pending = undefined;
    this.#waiting = true;
    clearInterval(this.#timer);
    this.#timer = source.simulcast
      ? setInterval(() => this.#reconsider(), LAYER_CHECK_MS)
      : undefined;
    this.#prime();
  }

  /** The source went away; the player stays, waiting for the next one. */
  detach(): void {
    this.#source = undefined;
    this.#stopPriming();
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** The source's layers (for the WHEP `layers` event). */
  layers(): LayerInfo[] {
    return this.#source?.layerInfo() ?? [];
  }

  /** The video m-line's index in the player's SDP (keys the WHEP `layers` event). */
  get videoMediaId(): string {
    const transceivers = this.peer.pc.getTransceivers();
    const index = transceivers.findIndex((t) => t.kind === "video");
    return String(index < 0 ? 0 : index);
  }

  /**
   * Pins a layer (WHEP layer extension), or returns to automatic choice with `undefined`.
   * Returns false when the source has no such layer; before a source, the pin waits for one.
   */
  selectLayer(rid: string | undefined): boolean {
    if (rid !== undefined && this.#source && !this.#source.layers.has(rid)) return false;
    this.#pinned = rid;
    this.#reconsider();
    return true;
  }

  /**
   * Sends one packet of the given kind, in the source codec `codec`, from layer `rid`, that
   * arrived at `now` (`performance.now()`).
   */
  send(
    kind: Kind,
    rtp: RtpPacket,
    codec: Codec,
    keyframe: boolean,
    rid = "",
    now = performance.now(),
  ): void {
    const entry = this.#entry(kind);
    if (!entry) return;
    if (kind === "video") {
      let start = false;
      if (keyframe && rid === this.#pending) {
        this.#current = rid;
        this.#pending = undefined;
        this.#waiting = false;
        entry.continuity = true;
        start = true;
      } else if (keyframe && rid === this.#current && (this.#waiting || this.#replay?.running)) {
        // a replay still going when the next keyframe comes live has fallen behind: what is
        // left of it is older than this keyframe, so the player starts here, without a gap
        if (this.#replay?.running) {
          entry.continuity = true;
          metrics.replaysCut.inc("keyframe");
        }
        this.#waiting = false;
        start = true;
      }
      if (rid !== this.#current || this.#waiting) return;
      if (start) {
        this.#startAtKeyframe(entry, rtp, codec, rid, now);
        return;
      }
      if (this.#replay?.running) {
        if (!this.#replay.queue(rtp)) {
          // too far behind and no keyframe came to end it: the player waits for one
          this.#waiting = true;
          entry.continuity = true; // the player's sequence numbers go on without a gap
          metrics.replaysCut.inc("behind");
          this.keyframeRequests.emit(rid);
        }
        return;
      }
    }
    this.#forward(kind, entry, rtp, codec, now);
  }

  /**
   * Starts video at a live keyframe with its whole access unit: the cache restarted at `rtp`
   * and holds the packets of its timestamp that came before it (H.264 parameter sets in packets
   * of their own, or put in front by the cache when the publisher sends them only out of band).
   */
  #startAtKeyframe(entry: SenderEntry, rtp: RtpPacket, codec: Codec, rid: string, now: number) {
    const unit = this.#source?.layers.get(rid)?.cache.packets() ?? [];
    const packets = unit[unit.length - 1] === rtp ? unit : [rtp];
    // a switch while the old layer's cache is still replayed: the rest of it is obsolete, and
    // the continuity rebase is the new keyframe's
    this.#stopPriming();
    for (const p of packets) this.#forward("video", entry, p, codec, now);
  }

  /** Ends the session. */
  close(): Promise<void> {
    this.detach();
    this.#stopPriming();
    this.#peerEgress?.close();
    this.keyframeRequests.clear();
    return this.peer.close();
  }

  #forward(kind: Kind, entry: SenderEntry, rtp: RtpPacket, codec: Codec, now: number): void {
    if (entry.source !== codec) {
      const target = playerCodec(codec, entry.negotiated);
      entry.source = codec;
      entry.target = target;
      if (target) setSendCodec(entry.sender, target, rtxOf(target, entry.negotiated));
    }
    const target = entry.target;
    if (!target) return;
    if (entry.continuity) {
      entry.continuity = false;
      if (entry.lastSentAt > 0) {
        // Timestamps advance by the wall-clock time the switch took, as the player expects.
        const step = Math.max(1, Math.round(((now - entry.lastSentAt) * CLOCK[kind]) / 1000));
        if (entry.fast) entry.fast.continueWith(step);
        else entry.sender.replaceRTP(rtp.header, true, step);
      }
    }
    entry.lastSentAt = now;
    if (this.#startedAt !== undefined) {
      metrics.joinSeconds.observe((now - this.#startedAt) / 1000);
      this.#startedAt = undefined;
    }
    entry.packets++;
    const counted = COUNTED[kind];
    counted.packets.n++;
    counted.bytes.n += rtp.payload.length;
    if (!entry.fast) {
      EGRESS.werift.n++;
      entry.sender.sendRtp(rtp).catch(() => {});
      return;
    }
    // queued on the connection; the feed sends the queues when the packet's fan-out is done
    if (!entry.fast.send(rtp, target.payloadType, target.clockRate, now)) EGRESS.dropped.n++;
  }

  /** Replays the layer's keyframe cache (replay.ts); or asks for a keyframe when it is empty. */
  #prime(): void {
    const video = this.#video;
    const source = this.#source;
    if (!video || !source || !this.#waiting) return;
    const rid = this.#current ?? "";
    const cached = source.layers.get(rid)?.cache.packets() ?? [];
    const codec = source.codecs.video;
    if (cached.length === 0 || !codec) {
      metrics.keyframeCache.inc("miss");
      this.keyframeRequests.emit(rid);
      return;
    }
    metrics.keyframeCache.inc("hit");
    this.#waiting = false;
    this.#primed += cached.length;
    this.#replay = new Replay(cached, codec, {
      forward: (rtp, c) => this.#forward("video", video, rtp, c, performance.now()),
      flush: () => this.#egress?.flush(),
    });
    trace("rtp.first", { tag: "whep", kind: "video", cached: cached.length });
  }

  #stopPriming(): void {
    this.#replay?.stop();
    this.#replay = undefined;
  }

  /** Re-chooses the layer; a change waits for the new layer's keyframe (requested now). */
  #reconsider(): void {
    const source = this.#source;
    if (!source) return;
    const target = chooseLayer(source.layerInfo(), this.#estimate(), this.#pinned);
    if (target === undefined || target === this.#current) {
      this.#pending = undefined;
      return;
    }
    if (target === this.#pending) return;
    this.#pending = target;
    if (this.#waiting) { // nothing sent yet: switch at once, prime from the cache
      this.#current = target;
      this.#pending = undefined;
      this.#prime();
      return;
    }
    this.keyframeRequests.emit(target);
  }

  /** The player's receiver-estimated maximum bitrate (REMB), bit/s. */
  #estimate(): number | undefined {
    const sender = this.#video?.sender;
    const remb = Number(sender ? senderInternals(sender).receiverEstimatedMaxBitrate : 0n);
    return remb > 0 ? remb : undefined;
  }

  #entry(kind: Kind): SenderEntry | undefined {
    return kind === "video" ? this.#video : this.#audio;
  }

  #bindSenders(): void {
    for (const t of this.peer.pc.getTransceivers()) {
      const kind = t.kind as Kind;
      if (this.#entry(kind) || (t.currentDirection ?? t.direction) === "inactive") continue;
      if (this.#egress) this.#peerEgress ??= this.#egress.peerFor(t.sender);
      let fast: EgressStream | undefined;
      if (this.#peerEgress) {
        fast = new EgressStream(this.#peerEgress, t.sender, kind === "video" ? 2048 : 128);
      } else new SendHistory().install(t.sender);
      const entry: SenderEntry = {
        sender: t.sender,
        negotiated: [...t.codecs],
        fast,
        source: undefined,
        target: undefined,
        continuity: false,
        lastSentAt: 0,
        packets: 0,
      };
      if (kind === "video") this.#video = entry;
      else this.#audio = entry;
      // read at the transport (see keyframe-request.ts: werift's routing can lose them)
      t.sender.dtlsTransport.onRtcp.subscribe((packet) => {
        if (!asksKeyframeOf(packet, t.sender.ssrc)) return;
        metrics.plisReceived.inc();
        this.keyframeRequests.emit(this.#current);
      });
    }
    this.#prime();
  }
}
