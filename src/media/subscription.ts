/**
 * A subscription: the media side of one WHEP session. It sends a feed's packets to one player,
 * rewritten per player (SSRC, payload type, sequence number and timestamp, by werift's sender),
 * answers the player's NACKs from the sender's history, and passes PLI / FIR up to the feed.
 *
 * @module
 */
import {
  RtcpPayloadSpecificFeedback,
  type RTCRtpCodecParameters,
  type RTCRtpSender,
  type RtpPacket,
  useAV1X,
  useH264,
  useOPUS,
  useVP8,
  useVP9,
} from "werift";
import { type Codec, inUse, type ParsedSdp } from "../sdp/offer.ts";
import { codecFamily, matchCodec, rtxFor, supportedCodecs } from "./codecs.ts";
import { type MediaOptions, Peer } from "./peer.ts";
import { setFmtpParameters } from "../sdp/fmtp.ts";
import type { Kind } from "./publication.ts";
import { DomainError } from "../errors.ts";

/** FIR's feedback message type (RFC 5104). */
const FIR = 4;

/** The sender fields werift sets once at negotiation; we change them when the source codec does. */
interface SenderInternals {
  codec?: RTCRtpCodecParameters;
  sendPrimaryCodec?: RTCRtpCodecParameters;
  rtxPayloadType?: number;
}

/** Counters of what a subscription sent. */
export interface SubscriptionStats {
  /** RTP packets handed to the sender, per kind. */
  packets: Record<Kind, number>;
  /** Keyframe requests (PLI or FIR) received from the player. */
  keyframeRequests: number;
}

/** The codecs a server offer lists when nothing is live yet (common payload types). */
export function serverOfferCodecs(): Record<Kind, Codec[]> {
  const from = (p: RTCRtpCodecParameters): Codec => codecOf(p);
  return {
    audio: [from(useOPUS({ payloadType: 111 }))],
    video: [
      from(useVP8({ payloadType: 96 })),
      from(useH264({ payloadType: 102 })),
      from(useVP9({ payloadType: 98 })),
      from(useAV1X({ payloadType: 45, mimeType: "video/AV1" })),
    ],
  };
}

/** werift codec parameters → our parsed `Codec`. */
export function codecOf(p: RTCRtpCodecParameters): Codec {
  const fmtp: Record<string, string> = {};
  for (const part of (p.parameters ?? "").split(";")) {
    const [k, v] = part.split("=");
    if (k?.trim()) fmtp[k.trim()] = (v ?? "").trim();
  }
  return {
    payloadType: p.payloadType,
    name: p.mimeType.split("/")[1],
    clockRate: p.clockRate,
    channels: p.channels,
    fmtp,
    fmtpLine: p.parameters,
    rtcpFeedback: p.rtcpFeedback.map((f) => ({ type: f.type, parameter: f.parameter })),
  };
}

/**
 * Chooses the codecs a player's offer is answered with. When the source is live, only the codec
 * it is in (406 `no-common-codec` if the player cannot take it); before that, every codec the
 * player offers that the server forwards, so that whatever the publisher picks can be sent.
 */
export function egressCodecs(
  offer: ParsedSdp,
  live: Partial<Record<Kind, Codec>> | undefined,
): Record<Kind, Codec[]> {
  const pick = (kind: Kind): Codec[] => {
    const section = offer.media.find((m) => m.kind === kind && inUse(m));
    if (!section) return [];
    const source = live?.[kind];
    if (!source) return supportedCodecs(kind, section.codecs);
    const match = matchCodec(source, section.codecs);
    if (!match) {
      throw new DomainError(
        "no-common-codec",
        `the publication's ${kind} is ${source.name}, which this offer does not accept`,
      );
    }
    const rtx = rtxFor(match, section.codecs);
    const answered = echoStereo(source, match);
    return rtx ? [answered, rtx] : [answered];
  };
  const codecs = { audio: pick("audio"), video: pick("video") };
  if (codecs.audio.length === 0 && codecs.video.length === 0) {
    throw new DomainError("no-common-codec", "the offer has no audio or video this server sends");
  }
  return codecs;
}

/**
 * Opus sent in stereo by the publisher is answered to the player with `stereo=1` and
 * `sprop-stereo=1`, so that browsers decode both channels.
 */
export function echoStereo(source: Codec, answered: Codec): Codec {
  if (codecFamily(source) !== "opus" || source.fmtp["stereo"] !== "1") return answered;
  const fmtp = { ...answered.fmtp, stereo: "1", "sprop-stereo": "1" };
  return {
    ...answered,
    fmtp,
    fmtpLine: Object.entries(fmtp).map(([k, v]) => (v === "" ? k : `${k}=${v}`)).join(";"),
  };
}

/** One player's connection and senders. */
export class Subscription {
  /** The connection to the player. */
  readonly peer: Peer;
  /** What was sent so far. */
  readonly stats: SubscriptionStats = { packets: { audio: 0, video: 0 }, keyframeRequests: 0 };
  /** Called when the player asks for a keyframe (PLI or FIR). */
  onKeyframeRequest: () => void = () => {};
  #senders: Partial<Record<Kind, { sender: RTCRtpSender; negotiated: RTCRtpCodecParameters[] }>> =
    {};
  #codecs: Record<Kind, Codec[]>;
  #sendCodec: Partial<Record<Kind, { source: Codec; target?: RTCRtpCodecParameters }>> = {};

  /** Creates the player's connection with the given codecs per kind. */
  constructor(options: MediaOptions, codecs: Record<Kind, Codec[]>, serverOffer = false) {
    this.#codecs = codecs;
    this.peer = new (class extends Peer {
      protected override beforeAnswer(): void {
        for (const t of this.pc.getTransceivers()) t.setDirection("sendonly");
      }
    })(options, codecs);
    if (serverOffer) {
      for (const kind of ["audio", "video"] as const) {
        if (codecs[kind].length) this.peer.pc.addTransceiver(kind, { direction: "sendonly" });
      }
    }
    this.peer.pc.connectionStateChange.subscribe((s) => {
      if (s === "connected") this.#bindSenders();
    });
  }

  /** Answers the player's offer. */
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
   * The source changed (a publisher started or reconnected): the next packets continue the
   * player's sequence numbers and timestamps instead of jumping to the new source's.
   */
  sourceChanged(): void {
    this.#sendCodec = {};
    for (const s of Object.values(this.#senders)) {
      s?.sender.replaceRTP({ sequenceNumber: 0, timestamp: 0 }, true);
    }
  }

  /** Sends one packet of the given kind, in the source codec `codec`. */
  send(kind: Kind, rtp: RtpPacket, codec: Codec): void {
    const entry = this.#senders[kind];
    if (!entry) return;
    let choice = this.#sendCodec[kind];
    if (choice?.source !== codec) {
      choice = { source: codec, target: this.#target(entry, codec) };
      this.#sendCodec[kind] = choice;
      if (choice.target) setSendCodec(entry.sender, choice.target, entry.negotiated);
    }
    if (!choice.target) return;
    this.stats.packets[kind]++;
    entry.sender.sendRtp(rtp).catch(() => {});
  }

  /** Ends the session. */
  close(): Promise<void> {
    return this.peer.close();
  }

  #target(
    entry: { negotiated: RTCRtpCodecParameters[] },
    codec: Codec,
  ): RTCRtpCodecParameters | undefined {
    const offered = entry.negotiated.map(codecOf);
    const match = matchCodec(codec, offered);
    return match && entry.negotiated.find((p) => p.payloadType === match.payloadType);
  }

  #bindSenders(): void {
    for (const t of this.peer.pc.getTransceivers()) {
      const kind = t.kind as Kind;
      if (this.#senders[kind] || (t.currentDirection ?? t.direction) === "inactive") continue;
      this.#senders[kind] = { sender: t.sender, negotiated: [...t.codecs] };
      t.sender.onRtcp.subscribe((packet) => {
        if (packet.type === RtcpPayloadSpecificFeedback.type) {
          const count = (packet as RtcpPayloadSpecificFeedback).feedback.count;
          if (count === FIR || count === 1) this.#keyframeRequested();
        }
      });
    }
    this.onKeyframeRequest();
  }

  #keyframeRequested(): void {
    this.stats.keyframeRequests++;
    this.onKeyframeRequest();
  }
}

/** Points werift's sender at another negotiated codec (and its RTX) of the same m-line. */
function setSendCodec(
  sender: RTCRtpSender,
  codec: RTCRtpCodecParameters,
  negotiated: RTCRtpCodecParameters[],
): void {
  const s = sender as unknown as SenderInternals;
  if (s.codec === codec) return;
  s.codec = codec;
  s.sendPrimaryCodec = codec;
  s.rtxPayloadType = negotiated.find((c) =>
    c.name.toLowerCase() === "rtx" && codecOf(c).fmtp.apt === String(codec.payloadType)
  )?.payloadType;
}
