/**
 * What the load processes share: the stream shape, the send timestamp embedded in each payload,
 * the line protocol between the ramp and its child processes, loopback-only werift settings,
 * RTP header parsing and small statistics helpers.
 *
 * @module
 */
import { RTCRtpCodecParameters } from "werift";

/** The stream every publisher sends (BENCH-NOTES shape). */
export const STREAM = {
  /** Video frames per second. */
  fps: 30,
  /** A keyframe every this many frames (2 s), and whenever a PLI or FIR arrives. */
  gopFrames: 60,
  /** Packets of a delta frame. */
  deltaPackets: 9,
  /** Packets of a keyframe. */
  keyPackets: 24,
  /** Video RTP payload bytes: with the 12-byte header, werift's header extension and the SRTP tag, about 1,200 bytes on the wire. */
  videoPayload: 1164,
  /** Opus packet interval, ms. */
  audioIntervalMs: 20,
  /** Opus payload bytes (48 kbit/s). */
  audioPayload: 120,
} as const;

/** Nominal packets per second of the stream: video (≈ 277.5) and audio (50). */
export const NOMINAL_PPS = {
  video: (STREAM.fps / STREAM.gopFrames) *
    (STREAM.keyPackets + (STREAM.gopFrames - 1) * STREAM.deltaPackets),
  audio: 1000 / STREAM.audioIntervalMs,
};

/** Where the send timestamp sits in each payload: after the VP8 descriptor and the keyframe header. */
export const STAMP_OFFSET = 12;
/** The magic before the timestamp ("WLB1"). */
export const STAMP_MAGIC = 0x574c4231;

/** Milliseconds since the epoch, sub-millisecond; comparable between processes of one machine. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Writes the magic and the send time (ms since the epoch, float64) into `payload`. */
export function stamp(payload: Uint8Array, at = wallNow()): void {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  view.setUint32(STAMP_OFFSET, STAMP_MAGIC);
  view.setFloat64(STAMP_OFFSET + 4, at);
}

/** The send time a payload carries, or undefined. */
export function readStamp(payload: Uint8Array): number | undefined {
  if (payload.byteLength < STAMP_OFFSET + 12) return undefined;
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  if (view.getUint32(STAMP_OFFSET) !== STAMP_MAGIC) return undefined;
  return view.getFloat64(STAMP_OFFSET + 4);
}

/** VP8 as the load clients offer it (NACK, PLI, FIR; no RTX). */
export function vp8(): RTCRtpCodecParameters {
  return new RTCRtpCodecParameters({
    mimeType: "video/VP8",
    clockRate: 90000,
    payloadType: 96,
    rtcpFeedback: [{ type: "nack" }, { type: "nack", parameter: "pli" }, {
      type: "ccm",
      parameter: "fir",
    }],
  });
}

/** Opus stereo 48 kHz. */
export function opus(): RTCRtpCodecParameters {
  return new RTCRtpCodecParameters({
    mimeType: "audio/opus",
    clockRate: 48000,
    channels: 2,
    payloadType: 111,
  });
}

/**
 * werift settings for a client whose only socket is bound to 127.0.0.1 and whose only candidate
 * is 127.0.0.1 (with `anyAddress`, werift's defaults: every IPv4 interface).
 */
export function clientIceConfig(anyAddress: boolean) {
  return anyAddress ? { iceServers: [], iceUseIpv6: false } : {
    iceServers: [],
    iceUseIpv4: false,
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ["127.0.0.1"],
    iceInterfaceAddresses: { udp4: "127.0.0.1", udp6: "" },
  };
}

/** Keeps only the candidates on 127.0.0.1 (RFC 8445 lines `a=candidate:… <ip> <port> …`). */
export function loopbackCandidatesOnly(sdp: string): string {
  return sdp.split("\r\n").filter((line) => {
    if (!line.startsWith("a=candidate:")) return true;
    const parts = line.slice("a=candidate:".length).split(" ");
    return parts[4] === "127.0.0.1";
  }).join("\r\n");
}

/** Payload type → kind (`audio`, `video`, `rtx`) from an SDP's rtpmap lines. */
export function payloadKinds(sdp: string): Map<number, "audio" | "video" | "rtx"> {
  const kinds = new Map<number, "audio" | "video" | "rtx">();
  let media: "audio" | "video" | undefined;
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith("m=")) {
      media = line.startsWith("m=audio")
        ? "audio"
        : line.startsWith("m=video")
        ? "video"
        : undefined;
      continue;
    }
    const m = /^a=rtpmap:(\d+) ([^/]+)\//.exec(line);
    if (m && media) kinds.set(Number(m[1]), m[2].toLowerCase() === "rtx" ? "rtx" : media);
  }
  return kinds;
}

/** RFC 7983 demultiplexing of the first byte, plus RFC 5761 RTP/RTCP by the second. */
export function classify(b0: number, b1: number): "stun" | "dtls" | "rtp" | "rtcp" | "other" {
  if (b0 < 4) return "stun";
  if (b0 >= 20 && b0 < 64) return "dtls";
  if (b0 >= 128 && b0 < 192) return b1 >= 192 && b1 <= 223 ? "rtcp" : "rtp";
  return "other";
}

/** A message from a child process to the ramp: one line `@@ {json}` on stdout. */
export const LINE_PREFIX = "@@ ";

/** Writes one protocol message to stdout. */
export function emit(message: unknown): void {
  Deno.stdout.writeSync(new TextEncoder().encode(LINE_PREFIX + JSON.stringify(message) + "\n"));
}

/** Reads protocol commands (one JSON object per line) from stdin; resolves at EOF. */
export async function readCommands(handle: (cmd: Record<string, unknown>) => void): Promise<void> {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of Deno.stdin.readable) {
    buffered += decoder.decode(chunk, { stream: true });
    let nl;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (line) handle(JSON.parse(line));
    }
  }
}

/** Exits the process after `seconds` whatever happens (a last safety net; unref'd). */
export function lifetimeLimit(seconds: number): void {
  const t = setTimeout(() => {
    console.error(`${Deno.args[0] ?? "load process"}: lifetime limit of ${seconds} s reached`);
    Deno.exit(3);
  }, seconds * 1000);
  unrefTimer(t);
}

/** Lets the process exit while `timer` is pending (Node-style timer objects or ids). */
export function unrefTimer(timer: ReturnType<typeof setTimeout>): void {
  const t = timer as unknown as { unref?: () => void };
  if (typeof t.unref === "function") t.unref();
  else Deno.unrefTimer(timer as unknown as number);
}

/** Percentile (0..100) of sorted values by linear interpolation; undefined when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  if (sorted.length === 1) return sorted[0];
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

/** Waits `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Races `p` against a deadline, rejecting with `what` after `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}
