/**
 * A publication: the audio and video a WHIP session receives, as RTP handed to one sink
 * (the {@link Feed} of its identity), with keyframe requests sent back to the publisher.
 *
 * @module
 */
import type { RTCRtpReceiver, RtpPacket } from "werift";
import { type Codec, inUse, type ParsedSdp } from "../sdp/offer.ts";
import { type CodecFamily, codecFamily, rtxFor, supportedCodecs } from "./codecs.ts";
import { isKeyframeStart } from "./keyframe.ts";
import { type MediaOptions, Peer } from "./peer.ts";
import { DomainError } from "../errors.ts";

/** Audio or video. */
export type Kind = "audio" | "video";

/** Receives every RTP packet of a publication, with the kind and the codec it is in. */
export type RtpSink = (kind: Kind, rtp: RtpPacket, codec: Codec, keyframe: boolean) => void;

/** Counters of what a publication received. */
export interface PublicationStats {
  /** RTP packets received, per kind. */
  packets: Record<Kind, number>;
  /** Keyframes received (first packets of). */
  keyframes: number;
  /** Keyframe requests (PLI) sent to the publisher. */
  keyframeRequests: number;
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
  /** What was received so far. */
  readonly stats: PublicationStats = {
    packets: { audio: 0, video: 0 },
    keyframes: 0,
    keyframeRequests: 0,
  };
  #sink?: RtpSink;
  #video?: { receiver: RTCRtpReceiver; ssrc?: number };
  #keyframeWanted = false;
  #families: Map<number, { codec: Codec; kind: Kind; family?: CodecFamily }> = new Map();

  /** Sets up the connection for a publisher whose offer was parsed as `offer`. */
  constructor(options: MediaOptions, offer: ParsedSdp) {
    const codecs = ingestCodecs(offer);
    this.codecs = { audio: codecs.audio[0], video: codecs.video[0] };
    for (const kind of ["audio", "video"] as const) {
      const primary = codecs[kind][0];
      if (primary) {
        this.#families.set(primary.payloadType, {
          codec: primary,
          kind,
          family: codecFamily(primary),
        });
      }
    }
    this.peer = new Peer(options, codecs);
    this.peer.pc.ontrack = ({ track, receiver }) => {
      if (track.kind === "video" && !this.#video) this.#video = { receiver, ssrc: track.ssrc };
      track.onReceiveRtp.subscribe((rtp) => this.#receive(rtp));
    };
  }

  /** Answers the publisher's offer (the SDP string it was parsed from). */
  answer(offer: string): Promise<string> {
    return this.peer.answer(offer);
  }

  /** Sends every packet from now on to `sink` (one sink at a time). */
  setSink(sink: RtpSink | undefined): void {
    this.#sink = sink;
  }

  /**
   * Asks the publisher for a keyframe (PLI). Callers rate-limit. Before the first video packet
   * (DTLS not up yet, SSRC maybe unknown) the request waits for that packet.
   */
  requestKeyframe(): void {
    const v = this.#video;
    if (!v?.ssrc || this.stats.packets.video === 0) {
      this.#keyframeWanted = true;
      return;
    }
    this.stats.keyframeRequests++;
    v.receiver.sendRtcpPLI(v.ssrc).catch(() => {});
  }

  /** Ends the session. */
  close(): Promise<void> {
    this.#sink = undefined;
    return this.peer.close();
  }

  #receive(rtp: RtpPacket): void {
    const entry = this.#families.get(rtp.header.payloadType);
    if (!entry) return; // RTX and anything not negotiated: werift repairs, we forward primaries
    if (entry.kind === "video" && this.#video && !this.#video.ssrc) {
      this.#video.ssrc = rtp.header.ssrc;
    }
    this.stats.packets[entry.kind]++;
    const keyframe = entry.kind === "video" && entry.family !== undefined &&
      isKeyframeStart(entry.family, rtp.payload);
    if (keyframe) this.stats.keyframes++;
    if (this.#keyframeWanted && entry.kind === "video") {
      this.#keyframeWanted = false;
      if (!keyframe) this.requestKeyframe();
    }
    // The publisher's header extension ids mean nothing on the players' legs.
    rtp.header.extensions = [];
    this.#sink?.(entry.kind, rtp, entry.codec, keyframe);
  }
}
