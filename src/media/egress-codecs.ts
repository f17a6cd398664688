/**
 * Which codecs a player is answered (or offered) with: the publication's when it is live,
 * every forwardable codec the player offers before that; the player's codec (and its RTX) for a
 * source codec; plus the werift ⇄ SDP codec bridge.
 *
 * @module
 */
import { type RTCRtpCodecParameters, useAV1X, useH264, useOPUS, useVP8, useVP9 } from "werift";
import { type Codec, inUse, type ParsedSdp } from "../sdp/offer.ts";
import { codecFamily, matchCodec, rtxFor, supportedCodecs } from "./codecs.ts";
import type { Kind } from "./publication.ts";
import { DomainError } from "../errors.ts";

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

/** The player's codec for source codec `codec` among what it negotiated, if any. */
export function playerCodec(
  codec: Codec,
  negotiated: RTCRtpCodecParameters[],
): RTCRtpCodecParameters | undefined {
  const match = matchCodec(codec, negotiated.map(codecOf));
  return match && negotiated.find((p) => p.payloadType === match.payloadType);
}

/** The negotiated RTX of `codec` among `negotiated`, if any. */
export function rtxOf(
  codec: RTCRtpCodecParameters,
  negotiated: RTCRtpCodecParameters[],
): RTCRtpCodecParameters | undefined {
  return negotiated.find((c) =>
    c.name.toLowerCase() === "rtx" && codecOf(c).fmtp.apt === String(codec.payloadType)
  );
}
