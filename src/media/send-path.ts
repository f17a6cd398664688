/**
 * Which path RTP to players takes, decided here and nowhere else: **native** (egress.ts: header
 * rewritten in place, OpenSSL SRTP, `sendmsg` on werift's sockets) when it is wanted
 * (`FAST_EGRESS=auto`, the user-facing name) and libc and libcrypto open, else **werift**
 * (werift's `RTCRtpSender`). The server decides once at start ({@link decideSendPath}), creates
 * the native path's scheduler (egress-scheduler.ts) when it is native and hands it to the media
 * plane in `MediaOptions.egress`: its presence is the choice.
 *
 * @module
 */
import { type Libc, type Libcrypto, openNative } from "./native/libs.ts";

/** The send path decided: native with the opened libraries, or werift's sender and why. */
export type SendPath =
  | { name: "native"; libraries: { libc: Libc; crypto: Libcrypto } }
  | { name: "werift"; reason: string };

/** Decides the send path (`wanted`: `FAST_EGRESS=auto`). */
export function decideSendPath(wanted: boolean): SendPath {
  if (!wanted) return { name: "werift", reason: "FAST_EGRESS=off" };
  const native = openNative();
  if (!native.ok) return { name: "werift", reason: native.reason };
  return { name: "native", libraries: { libc: native.libc, crypto: native.crypto } };
}

/** {@link decideSendPath} as a flag and a reason (the tests skip native cases by it). */
export function egressPath(wanted: boolean): { native: boolean; reason?: string } {
  const path = decideSendPath(wanted);
  return path.name === "native" ? { native: true } : { native: false, reason: path.reason };
}

/** The start line that says which path runs. */
export function describeSendPath(path: SendPath): string {
  return path.name === "native"
    ? "media egress: native (OpenSSL SRTP + sendmmsg on the media sockets)"
    : `media egress: werift's sender (native path off: ${path.reason})`;
}
