/**
 * Pure codec logic: which offered codecs the SFU can forward, and which codec of a player's offer
 * can carry a publisher's packets unchanged (the SFU never transcodes).
 *
 * @module
 */

import type { Codec } from "../sdp/offer.ts";

/** The codec families the SFU forwards. */
export type CodecFamily = "opus" | "vp8" | "vp9" | "h264" | "av1";

const KIND: Record<CodecFamily, "audio" | "video"> = {
  opus: "audio",
  vp8: "video",
  vp9: "video",
  h264: "video",
  av1: "video",
};

/** An fmtp parameter, looked up case-insensitively (codecs built from werift keep the case). */
function param(c: Codec, key: string): string | undefined {
  if (c.fmtp[key] !== undefined) return c.fmtp[key];
  const found = Object.keys(c.fmtp).find((k) => k.toLowerCase() === key);
  return found === undefined ? undefined : c.fmtp[found];
}

/** The H.264 packetization mode; absent means 0 (RFC 6184 §8.1). */
function packetizationMode(c: Codec): string {
  return param(c, "packetization-mode") ?? "0";
}

/** The lower-cased H.264 `profile-level-id`, or `""`. */
function profileLevelId(c: Codec): string {
  return (param(c, "profile-level-id") ?? "").toLowerCase();
}

function isRtx(c: Codec): boolean {
  return c.name.toLowerCase() === "rtx";
}

/**
 * The family of a codec, or `undefined` when the SFU cannot forward it. Names compare
 * case-insensitively; Opus must be 48000/2; video must be 90000 Hz; H.264 needs
 * `packetization-mode=1` (absent means 0, which WebRTC stacks do not interoperate on); AV1 may
 * also be named `AV1X` (early Chrome).
 */
export function codecFamily(c: Codec): CodecFamily | undefined {
  const name = c.name.toLowerCase();
  if (name === "opus") return c.clockRate === 48000 && c.channels === 2 ? "opus" : undefined;
  if (c.clockRate !== 90000) return undefined;
  if (name === "vp8") return "vp8";
  if (name === "vp9") return "vp9";
  if (name === "av1" || name === "av1x") return "av1";
  if (name === "h264") return packetizationMode(c) === "1" ? "h264" : undefined;
  return undefined;
}

/**
 * The offered codecs the SFU can forward for a section of this kind, in the offer's order: the
 * primaries whose family is known, plus the `rtx` codecs whose `apt` names a kept primary. RED,
 * ULPFEC, FlexFEC, PCMU, G722, telephone-event and the like are dropped.
 */
export function supportedCodecs(kind: "audio" | "video", offered: Codec[]): Codec[] {
  const kept = new Set(
    offered.filter((c) => {
      const family = codecFamily(c);
      return family !== undefined && KIND[family] === kind;
    }).map((c) => c.payloadType),
  );
  return offered.filter((c) =>
    kept.has(c.payloadType) || (isRtx(c) && kept.has(Number(param(c, "apt") ?? NaN)))
  );
}

/**
 * The codec of a player's offer that can receive the source's packets as they are, or
 * `undefined`. Same family, never an `rtx`. H.264: same packetization mode, preferring an exact
 * `profile-level-id`, else the same `profile_idc` (first byte), else the first one; OBS always
 * writes `42e01f` whatever it really sends, so an exact profile cannot be required. VP9 prefers
 * the same `profile-id` and AV1 the same `profile` (both default to 0), else the first one.
 */
export function matchCodec(source: Codec, offered: Codec[]): Codec | undefined {
  const family = codecFamily(source);
  if (family === undefined) return undefined;
  const same = offered.filter((c) => !isRtx(c) && codecFamily(c) === family);
  const prefer = (...tests: ((c: Codec) => boolean)[]) => {
    for (const test of tests) {
      const found = same.find(test);
      if (found) return found;
    }
    return same[0];
  };
  switch (family) {
    case "h264": {
      // Both sides have packetization-mode=1 here: codecFamily() admits no other H.264.
      const plid = profileLevelId(source);
      return prefer(
        (c) => profileLevelId(c) === plid,
        (c) => plid !== "" && profileLevelId(c).slice(0, 2) === plid.slice(0, 2),
      );
    }
    case "vp9": {
      const profile = param(source, "profile-id") ?? "0";
      return prefer((c) => (param(c, "profile-id") ?? "0") === profile);
    }
    case "av1": {
      const profile = param(source, "profile") ?? "0";
      return prefer((c) => (param(c, "profile") ?? "0") === profile);
    }
    default:
      return same[0];
  }
}

/** The `rtx` codec whose `apt` is the primary's payload type, or `undefined`. */
export function rtxFor(primary: Codec, offered: Codec[]): Codec | undefined {
  return offered.find((c) => isRtx(c) && param(c, "apt") === String(primary.payloadType));
}

const DESCRIBED_PARAMS = ["packetization-mode", "profile-level-id", "profile-id", "profile", "apt"];

/**
 * A human description for error messages, e.g.
 * `video/H264 (packetization-mode=1, profile-level-id=42e01f)` or `audio/opus/48000/2`.
 */
export function describeCodec(c: Codec): string {
  const family = codecFamily(c);
  const kind = family ? KIND[family] : c.clockRate === 90000 ? "video" : "audio";
  let text = `${kind}/${c.name}`;
  if (kind === "audio") {
    text += `/${c.clockRate}${c.channels === undefined ? "" : `/${c.channels}`}`;
  }
  const params = DESCRIBED_PARAMS.flatMap((k) => {
    const value = param(c, k);
    return value === undefined ? [] : [`${k}=${value}`];
  });
  return params.length > 0 ? `${text} (${params.join(", ")})` : text;
}
