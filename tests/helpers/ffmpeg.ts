/**
 * A real H.264 encoder for the tests: Debian's ffmpeg with libx264 encodes a test pattern and
 * sends it as RTP (`-f rtp`) to a UDP port on loopback, and a werift WHIP publisher in the test
 * process republishes it, never answering a PLI (as OBS does). ffmpeg's RTP muxer aggregates the
 * small NAL units of an access unit (AUD, SPS, PPS, SEI) in a STAP-A; the publisher sends each
 * in a packet of its own instead (the packetization of OBS's libdatachannel and of GStreamer),
 * and for `sprop` drops none because x264 writes the parameter sets out of band only
 * (`-flags +global_header`): the offer signals them in `sprop-parameter-sets`.
 *
 * @module
 */
import dgram from "node:dgram";
import { Buffer } from "node:buffer";
import {
  RTCPeerConnection,
  RTCRtpCodecParameters,
  type RTCRtpSender,
  RtpHeader,
  RtpPacket,
} from "werift";
import { connected, OPUS, signal } from "./clients.ts";
import { forEachParameterSet, NAL, nalTypes } from "../../src/media/h264.ts";

/** The ffmpeg the tests run (from PATH: Debian's, with libx264). */
export const FFMPEG = "ffmpeg";

/** Throws, naming the install command, when ffmpeg is missing: such a test fails, never skips. */
export async function requireFfmpeg(): Promise<void> {
  try {
    const { success } = await new Deno.Command(FFMPEG, { args: ["-version"], stdout: "null" })
      .output();
    if (success) return;
  } catch {
    // not installed
  }
  throw new Error(`${FFMPEG} is missing: apt-get install ffmpeg (the H.264 tests need libx264)`);
}

/** How x264 delivers its parameter sets. */
export type ParameterSets = "in-band" | "sprop";

/** x264 arguments: baseline, a keyframe every `gop` frames and only then (no scene cuts). */
function x264Args(parameterSets: ParameterSets, gop: number): string[] {
  return [
    ...["-c:v", "libx264", "-profile:v", "baseline", "-preset", "veryfast"],
    ...["-tune", "zerolatency", "-pix_fmt", "yuv420p", "-bf", "0", "-g", String(gop)],
    ...(parameterSets === "in-band"
      ? ["-x264-params", "scenecut=0:aud=1:repeat-headers=1"] // AUD, SPS, PPS with each IDR
      : ["-x264-params", "scenecut=0", "-flags", "+global_header"]), // SPS, PPS out of band
  ];
}

function input(width: number, height: number): string[] {
  return ["-f", "lavfi", "-i", `testsrc2=size=${width}x${height}:rate=30`];
}

/** The `sprop-parameter-sets` ffmpeg's SDP gives for these settings (a one-frame run). */
async function spropOf(args: string[], width: number, height: number): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "sfu-ffmpeg-" });
  try {
    const sdp = `${dir}/out.sdp`;
    const out = await new Deno.Command(FFMPEG, {
      args: [
        ...["-hide_banner", "-loglevel", "error", ...input(width, height), "-frames:v", "1"],
        ...args,
        ...["-f", "rtp", "-sdp_file", sdp, "rtp://127.0.0.1:9"],
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(`ffmpeg: ${new TextDecoder().decode(out.stderr)}`);
    const m = /sprop-parameter-sets=([^;\s]+)/.exec(await Deno.readTextFile(sdp));
    if (!m) throw new Error("ffmpeg's SDP has no sprop-parameter-sets");
    return m[1];
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Options of {@link X264Publisher}. */
export interface X264Options {
  /** In-band (AUD, SPS, PPS in their own packets before each IDR) or only in the offer. */
  parameterSets: ParameterSets;
  /** Frames between keyframes (default 600: 20 s at 30 fps). */
  gop?: number;
  /** Picture size (default 640×360). */
  width?: number;
  /** Picture size. */
  height?: number;
}

/**
 * ffmpeg/x264 → RTP on loopback → a werift WHIP publisher (H.264 + a silent Opus track, so a
 * player's connection can be seen to carry media while no video frame decodes).
 */
export class X264Publisher {
  /** The WHIP connection. */
  readonly pc: RTCPeerConnection;
  /** What was republished. */
  readonly sent = { video: 0, audio: 0, keyframes: 0, framesSinceKeyframe: 0 };
  /** SPS / PPS NAL units republished in-band. */
  parameterSetsInBand = 0;
  /** When the last keyframe was republished (performance.now()). */
  keyframeAt?: number;
  /** The NAL units of each packet of the first keyframe's access unit, e.g. `9`, `7`, `FU-A 5`. */
  readonly firstKeyframe: string[] = [];
  /** PLIs and FIRs received, all ignored. */
  keyframeRequests = 0;
  /** The `sprop-parameter-sets` offered, for `sprop`. */
  sprop?: string;
  readonly #options: Required<X264Options>;
  readonly #video: RTCRtpSender;
  readonly #audio: RTCRtpSender;
  #socket?: dgram.Socket;
  #ffmpeg?: Deno.ChildProcess;
  #audioTimer?: ReturnType<typeof setInterval>;
  #seq = 1000;
  #keyTs?: number;

  /** Checks ffmpeg and, for `sprop`, asks it for the parameter sets its settings produce. */
  static async create(options: X264Options): Promise<X264Publisher> {
    await requireFfmpeg();
    const o = { gop: 600, width: 640, height: 360, ...options };
    const sprop = o.parameterSets === "sprop"
      ? await spropOf(x264Args(o.parameterSets, o.gop), o.width, o.height)
      : undefined;
    return new X264Publisher(o, sprop);
  }

  private constructor(options: Required<X264Options>, sprop?: string) {
    this.#options = options;
    this.sprop = sprop;
    let fmtp = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f";
    if (sprop) fmtp += `;sprop-parameter-sets=${sprop}`;
    const codec = new RTCRtpCodecParameters({
      mimeType: "video/H264",
      clockRate: 90000,
      payloadType: 102,
      rtcpFeedback: [
        { type: "nack" },
        { type: "nack", parameter: "pli" },
        { type: "ccm", parameter: "fir" },
      ],
      parameters: fmtp,
    });
    this.pc = new RTCPeerConnection({
      iceServers: [],
      iceUseIpv6: false,
      bundlePolicy: "max-bundle",
      codecs: { audio: [OPUS()], video: [codec] },
    });
    this.#audio = this.pc.addTransceiver("audio", { direction: "sendonly" }).sender;
    this.#video = this.pc.addTransceiver("video", { direction: "sendonly" }).sender;
    this.#video.onRtcp.subscribe((p) => {
      const fmt = (p as { feedback?: { count?: number } }).feedback?.count;
      if (p.type === 206 && (fmt === 1 || fmt === 4)) this.keyframeRequests++;
    });
  }

  /** Publishes to `endpoint`, then starts ffmpeg (its first packet is the first IDR). */
  async publish(endpoint: string, token: string): Promise<void> {
    const { parameterSets, gop, width, height } = this.#options;
    const args = x264Args(parameterSets, gop);
    await signal(this.pc, endpoint, token);
    await connected(this.pc, 20_000);

    const socket = dgram.createSocket("udp4");
    this.#socket = socket;
    await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
    socket.on("message", (datagram: Uint8Array) => this.#fromFfmpeg(datagram));
    this.#ffmpeg = new Deno.Command(FFMPEG, {
      args: [
        ...["-hide_banner", "-loglevel", "error", "-re", ...input(width, height), "-t", "120"],
        ...args,
        ...["-f", "rtp", `rtp://127.0.0.1:${socket.address().port}?pkt_size=1200`],
      ],
      stdin: "null",
      stdout: "null",
      stderr: "inherit",
    }).spawn();
    let audioSeq = 5000;
    let audioTs = 0;
    this.#audioTimer = setInterval(() => {
      // an Opus silence frame (TOC 0xf8: CELT fullband 20 ms), every 20 ms
      const header = new RtpHeader({
        payloadType: 111,
        sequenceNumber: audioSeq++ & 0xffff,
        timestamp: (audioTs += 960) >>> 0,
        ssrc: 0x5678,
      });
      this.#audio.sendRtp(new RtpPacket(header, Buffer.from([0xf8, 0xff, 0xfe]))).catch(() => {});
      this.sent.audio++;
    }, 20);
  }

  /** One RTP packet from ffmpeg: republished as it is, or a STAP-A as one packet per unit. */
  #fromFfmpeg(datagram: Uint8Array): void {
    const rtp = RtpPacket.deSerialize(Buffer.from(datagram));
    const { timestamp, marker } = rtp.header;
    const payload = rtp.payload;
    const units: Uint8Array[] = [];
    if ((payload[0] & 0x1f) === NAL.STAP_A) {
      for (let i = 1; i + 2 < payload.length;) {
        const size = (payload[i] << 8) | payload[i + 1];
        units.push(payload.subarray(i + 2, i + 2 + size));
        i += 2 + size;
      }
    } else units.push(payload);
    units.forEach((unit, i) => {
      const types = nalTypes(unit);
      forEachParameterSet(unit, () => this.parameterSetsInBand++);
      if ((types & (1 << NAL.IDR)) !== 0 && timestamp !== this.#keyTs) {
        this.#keyTs = timestamp;
        this.sent.keyframes++;
        this.sent.framesSinceKeyframe = 0;
        this.keyframeAt = performance.now();
      }
      if (this.sent.keyframes === 1 && timestamp === this.#keyTs || this.sent.keyframes === 0) {
        if (this.firstKeyframe.length < 12) this.firstKeyframe.push(describe(unit));
      }
      const last = i === units.length - 1;
      const header = new RtpHeader({
        payloadType: 102,
        sequenceNumber: this.#seq++ & 0xffff,
        timestamp,
        ssrc: 0x1234,
        marker: last && marker,
      });
      this.#video.sendRtp(new RtpPacket(header, Buffer.from(unit))).catch(() => {});
      this.sent.video++;
    });
    if (marker) this.sent.framesSinceKeyframe++;
  }

  /** Stops ffmpeg and closes the connection. */
  async close(): Promise<void> {
    clearInterval(this.#audioTimer);
    try {
      this.#ffmpeg?.kill("SIGKILL");
    } catch {
      // already gone
    }
    await this.#ffmpeg?.status;
    this.#socket?.close();
    await this.pc.close();
  }
}

function describe(unit: Uint8Array): string {
  const type = unit[0] & 0x1f;
  if (type === NAL.FU_A) {
    const s = unit[1] & 0x80 ? " start" : unit[1] & 0x40 ? " end" : "";
    return `FU-A ${unit[1] & 0x1f}${s}`;
  }
  return String(type);
}
