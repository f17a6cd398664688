/**
 * Edits of `a=fmtp` lines in a description werift wrote. werift copies the remote offer's
 * format parameters into its answer; where the server must say something else (Opus stereo),
 * the answer is edited before it is returned.
 *
 * @module
 */
import type { Codec } from "./offer.ts";
import { decodeSpropParameterSets } from "../media/h264.ts";

/**
 * The H.264 parameter sets (SPS, PPS NAL units) an offer signals out of band in
 * `sprop-parameter-sets` (RFC 6184 §8.1), or none.
 */
export function spropParameterSets(codec: Codec): Uint8Array[] {
  const key = Object.keys(codec.fmtp).find((k) => k.toLowerCase() === "sprop-parameter-sets");
  return key === undefined ? [] : decodeSpropParameterSets(codec.fmtp[key]);
}

/** Sets `params` on the `a=fmtp` line of `payloadType` (adding the line if there is none). */
export function setFmtpParameters(
  sdp: string,
  payloadType: number,
  params: Record<string, string>,
): string {
  const eol = sdp.includes("\r\n") ? "\r\n" : "\n";
  const lines = sdp.split(/\r?\n/);
  const index = lines.findIndex((l) => l.startsWith(`a=fmtp:${payloadType} `));
  const merge = (existing: string) => {
    const map = new Map<string, string>();
    for (const part of existing.split(";")) {
      const at = part.indexOf("=");
      const k = at < 0 ? part : part.slice(0, at);
      const v = at < 0 ? "" : part.slice(at + 1);
      if (k.trim()) map.set(k.trim(), v.trim());
    }
    for (const [k, v] of Object.entries(params)) map.set(k, v);
    return [...map].map(([k, v]) => (v === "" ? k : `${k}=${v}`)).join(";");
  };
  if (index >= 0) {
    lines[index] = `a=fmtp:${payloadType} ${
      merge(lines[index].slice(`a=fmtp:${payloadType} `.length))
    }`;
  } else {
    const rtpmap = lines.findIndex((l) => l.startsWith(`a=rtpmap:${payloadType} `));
    if (rtpmap < 0) return sdp;
    lines.splice(rtpmap + 1, 0, `a=fmtp:${payloadType} ${merge("")}`);
  }
  return lines.join(eol);
}
