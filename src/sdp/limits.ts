/**
 * Caps on the size of an offer or answer, checked while it is parsed, before anything is built
 * for it: WHIP and WHEP carry at most one audio and one video track (RFC 9725 §4.2, the WHEP
 * draft), and an offer with hundreds of m-lines, candidates, payload types or simulcast layers —
 * well under the body limit — would otherwise make werift allocate for each (200 m-lines cost
 * ~25 MB). Each cap is far above what real clients send (tests/fixtures/: Chromium's play offer,
 * the largest, has 205 lines, 34 payload types on its video m-line and 16 candidates at most).
 *
 * @module
 */
import { DomainError } from "../errors.ts";

/** The caps, all generous for real clients. */
export const SDP_LIMITS = {
  /** Lines of the whole SDP (Chromium: ~205). */
  lines: 1500,
  /** m-lines, in use or not (WHIP/WHEP: audio and video, and room for a rejected one or two). */
  mediaSections: 4,
  /** Audio m-lines in use (port ≠ 0 or `a=bundle-only`). */
  audio: 1,
  /** Video m-lines in use. */
  video: 1,
  /** `a=candidate` lines per m-line (libwebrtc m106: 16). */
  candidatesPerSection: 32,
  /** `a=candidate` lines in the whole SDP. */
  candidates: 64,
  /** Payload types on one m-line (Chromium: 34 for video with H264 profiles, AV1, RTX, RED). */
  payloadTypesPerSection: 64,
  /** `a=rid` lines per m-line (OBS: 4, browsers: 3). */
  ridsPerSection: 4,
  /** `a=extmap` lines per m-line (Chromium: ~14). */
  extmapsPerSection: 32,
} as const;

/** An SDP over one of the caps: 422 with a detail naming the cap. */
export class SdpLimitError extends DomainError {
  /** @param detail what is over which cap. */
  constructor(detail: string) {
    super("unprocessable", detail);
    this.name = "SdpLimitError";
  }
}

/** Throws {@link SdpLimitError} when `count` is over `limit`. */
export function checkCount(count: number, limit: number, what: string): void {
  if (count > limit) {
    throw new SdpLimitError(`the SDP has more than ${limit} ${what}, the limit`);
  }
}
