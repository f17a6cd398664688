/**
 * A publication: the audio and video a WHIP session receives, handed packet by packet to one
 * sink (the {@link Feed} of its identity), with keyframe requests sent back to the publisher.
 * Video is kept per layer (one, or one per simulcast rid), each with its keyframe cache.
 *
 * @module
 */
import type { RTCRtpReceiver, RtpPacket } from "werift";
import { type Codec, inUse, type ParsedSdp } from "../sdp/offer.ts";
import { type CodecFamily, codecFamily, rtxFor, supportedCodecs } from "./codecs.ts";
import { KEY } from "./keyframe.ts";
import { type LayerInfo, VideoLayer } from "./layer.ts";
import { type MediaOptions, Peer } from "./peer.ts";
import { answerSimulcast } from "../sdp/simulcast.ts";
import { DomainError } from "../errors.ts";
import { Emitter } from "../events.ts";
import { metrics } from "../metrics/counters.ts";
import type { IngressProbe } from "./ingress-probe.ts";
import type { EgressScheduler } from "./egress-scheduler.ts";
import { receiverConnection } from "./werift/internals.ts";

/** Audio or video. */
export type Kind = "audio" | "video";

/**
 * The packet port of a publication: receives every RTP packet, with its kind, codec, whether it
 * starts a keyframe, for video the layer it belongs to, and when it arrived
 * (`performance.now()`). Not an event: one receiver (the feed), called once per packet on the
 * hot path, so a direct call rather than an `Emitter` (no listener set, no try/catch per packet).
 */
export type RtpSink = (
  kind: Kind,
  rtp: RtpPacket,
  codec: Codec,
  keyframe: boolean,
  layer?: VideoLayer,
  now?: number,
) => void;

/** Counters of what a publication received. */
export interface PublicationStats {
  /** RTP packets received, per kind. */
  packets: Record<Kind, number>;
}

/**
 * Chooses the one codec per kind that a publisher's offer will be answered with: the first
 * forwardable one in the publisher's order (its preference), with its RTX.
 * Throws `no-common-codec` when neither audio nor video has one.
 */
export function ingestCodecs(offer: ParsedSdp): Record<Kind, Codec[]> {
  const pick = (kind: Kind): Codec[] => {
    const section = offer.media.find((m) => m.kind === kind && inUse(m));
    if (!section) return [];
    const primary = supportedCodecs(kind, section.codecs).find((c) => codecFamily(c));
    if (!primary) return [];
    const rtx = rtxFor(primary, section.codecs);
    return rtx ? [primary, rtx] : [primary];
  };
  const codecs = { audio: pick("audio"), video: pick("video") };
  if (codecs.audio.length === 0 && codecs.video.length === 0) {
    throw new DomainError(
      "no-common-codec",
      "the offer has no codec this server forwards (Opus, VP8, VP9, H264 with packetization-mode=1, AV1)",
    );
  }
  return codecs;
}

/** The media side of one WHIP session. */
export class Publication {
  /** The connection to the publisher. */
  readonly peer: Peer;
  /** The codec of each kind this publication is in. */
  readonly codecs: Partial<Record<Kind, Codec>>;
  /** Video layers by rid ("" without simulcast). */
  readonly layers: Map<string, VideoLayer> = new Map();
  /** What was received so far. */
  readonly stats: PublicationStats = {
    packets: { audio: 0, video: 0 },
  };
  #offer: ParsedSdp;
  #sink?: RtpSink;
  #receiver?: RTCRtpReceiver;
  /** Layers that arrive over connections of their own (a pull's extra layers), by rid. */
  #layerReceivers = new Map<string, RTCRtpReceiver>();
  #layerPeers: Peer[] = [];
  /** When the last RTP packet arrived (`performance.now()`), if one did. */
  lastPacketAt?: number;
  #wanted = new Set<string>();
  #payloadTypes = new Map<number, { codec: Codec; kind: Kind; family?: CodecFamily }>();
  #probe?: IngressProbe;
  /** The native send path's scheduler (told when a packet's fan-out is done), if chosen. */
  #egress?: EgressScheduler;
  /**
   * Emitted once, at the first packet players can start from: the first packet of a video
   * keyframe, or the first audio packet when the publication has no video. It is emitted before
   * that packet reaches the packet port, so a port a listener sets receives it. A listener added
   * later is not called: check {@link mediaStarted} first. Listeners are removed after it, and
   * when the publication closes.
   */
  readonly mediaStart: Emitter<void> = new Emitter();
  #mediaStarted = false;

  /**
   * Sets up the connection for a publisher whose offer was parsed as `offer`; or, for a pull
   * (pull.ts), takes `pulled.peer`, whose answer from the other server is `offer`, with the
   * video layers `pulled.rids` (the first one arrives over that peer, see {@link addLayer}).
   */
  constructor(options: MediaOptions, offer: ParsedSdp, pulled?: { peer: Peer; rids: string[] }) {
    this.#offer = offer;
    this.#egress = options.egress;
    const codecs = ingestCodecs(offer);
    this.codecs = { audio: codecs.audio[0], video: codecs.video[0] };
    for (const kind of ["audio", "video"] as const) {
      const primary = codecs[kind][0];
      if (primary) {
        this.#payloadTypes.set(primary.payloadType, {
          codec: primary,
          kind,
          family: codecFamily(primary),
        });
      }
    }
    const video = offer.media.find((m) => m.kind === "video" && inUse(m));
    const rids = pulled?.rids ??
      video?.rids.filter((r) => r.direction === "send").map((r) => r.id) ?? [];
    for (const rid of rids.length ? rids : [""]) {
      this.layers.set(rid, new VideoLayer(rid, options.keyframeCacheBytes, codecs.video[0]));
    }
    this.peer = pulled?.peer ?? new Peer(options, codecs);
    const pulledRid = pulled?.rids[0];
    this.peer.pc.ontrack = ({ track, receiver }) => {
      this.#probe ??= this.#probeFor(receiver);
      if (track.kind !== "video") {
        track.onReceiveRtp.subscribe((rtp) => this.#receive(rtp, ""));
        return;
      }
      this.#receiver = receiver;
      const tracks = receiver.tracks.length ? receiver.tracks : [track];
      for (const t of tracks) {
        const rid = pulledRid ?? t.rid ?? "";
        t.onReceiveRtp.subscribe((rtp) => this.#receive(rtp, rid));
      }
    };
  }

  /**
   * A pull's further video layer: `peer` (not yet answered) receives layer `rid` only. When it
   * ends, the publication's own connection is closed too (its session ends).
   */
  addLayer(peer: Peer, rid: string): void {
    this.#layerPeers.push(peer);
    peer.ended.on(() => void this.peer.close());
    peer.pc.ontrack = ({ track, receiver }) => {
      if (track.kind !== "video") return;
      this.#layerReceivers.set(rid, receiver);
      track.onReceiveRtp.subscribe((rtp) => this.#receive(rtp, rid));
    };
  }

  /** Answers the publisher's offer (the SDP string it was parsed from), every layer accepted. */
  async answer(offer: string): Promise<string> {
    return answerSimulcast(this.#offer, await this.peer.answer(offer));
  }

  /** True when the publisher sends simulcast. */
  get simulcast(): boolean {
    return this.layers.size > 1;
  }

  /** The video layers, highest bitrate first. */
  layerInfo(): LayerInfo[] {
    return [...this.layers.values()].map((l) => l.info()).sort((a, b) => b.bitrate - a.bitrate);
  }

  /**
   * Connects the packet port: every packet from now on goes to `sink` (one at a time; undefined
   * disconnects). See {@link RtpSink} for why this is not an event.
   */
  setSink(sink: RtpSink | undefined): void {
    this.#sink = sink;
  }

  /**
   * Asks the publisher for a keyframe (PLI) on one layer, or on every layer. Callers
   * rate-limit. Before a layer's first packet (DTLS not up, SSRC unknown) the request waits
   * for that packet.
   */
  requestKeyframe(rid?: string): void {
    for (const layer of rid === undefined ? this.layers.values() : [this.layers.get(rid)]) {
      if (!layer) continue;
      const receiver = this.#layerReceivers.get(layer.rid) ?? this.#receiver;
      if (layer.ssrc === undefined || !receiver) {
        this.#wanted.add(layer.rid);
        continue;
      }
      metrics.plisSent.inc();
      receiver.sendRtcpPLI(layer.ssrc).catch(() => {});
    }
  }

  /** True once the publication's media started (see {@link mediaStart}). */
  get mediaStarted(): boolean {
    return this.#mediaStarted;
  }

  /** Ends the session. */
  close(): Promise<void> {
    this.#sink = undefined;
    this.mediaStart.clear();
    const peers = [this.peer, ...this.#layerPeers];
    return Promise.all(peers.map((p) => p.close())).then(() => {});
  }

  #probeFor(receiver: RTCRtpReceiver): IngressProbe | undefined {
    return this.#egress?.probe(receiverConnection(receiver));
  }

  #startMedia(): void {
    this.#mediaStarted = true;
    this.mediaStart.emit();
    this.mediaStart.clear();
  }

  #receive(rtp: RtpPacket, rid: string): void {
    const entry = this.#payloadTypes.get(rtp.header.payloadType);
    if (!entry) return; // RTX and anything not negotiated: werift repairs, we forward primaries
    this.stats.packets[entry.kind]++;
    metrics.packetsIn.inc(entry.kind);
    metrics.bytesIn.inc(entry.kind, rtp.payload.length);
    // The publisher's header extension ids mean nothing on the players' legs.
    rtp.header.extensions = [];
    // werift's parser took the publisher's RTP padding off the payload but left the P bit,
    // and werift's sender writes that bit without the bytes: a player would cut the payload.
    rtp.header.padding = false;
    rtp.header.paddingSize = 0;
    if (entry.kind === "audio") {
      if (!this.#mediaStarted && !this.codecs.video) this.#startMedia();
      this.#fanOut("audio", rtp, entry.codec, false);
      return;
    }
    const layer = this.layers.get(rid) ?? this.layers.values().next().value!;
    const flags = layer.cache.classify(rtp); // H.264: an IDR access unit's first IDR packet
    const keyframe = (flags & KEY) !== 0;
    if (keyframe && !this.#mediaStarted) this.#startMedia(); // before the cache holds it
    layer.receive(rtp, flags);
    if (this.#wanted.delete(layer.rid) && !keyframe) this.requestKeyframe(layer.rid);
    this.#fanOut("video", rtp, entry.codec, keyframe, layer);
  }

  /**
   * Hands a packet to the sink; then the players' send queues go out unless the rest of a
   * burst is already waiting on the publisher's socket (the egress scheduler decides).
   */
  #fanOut(kind: Kind, rtp: RtpPacket, codec: Codec, keyframe: boolean, layer?: VideoLayer) {
    const sink = this.#sink;
    if (!sink) return;
    const now = performance.now(); // one clock read per packet, not one per player
    this.lastPacketAt = now;
    sink(kind, rtp, codec, keyframe, layer, now);
    this.#egress?.settle(this.#probe, now);
  }
}
