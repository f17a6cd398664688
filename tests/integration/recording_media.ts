/**
 * Test support for the recording tests: a real VP8 + Opus publisher (ffmpeg's libvpx and libopus
 * → RTP on loopback → a werift WHIP publisher), the server started by the real `deno task start`
 * (optionally under a file-size limit), the room's event stream, and ffprobe / ffmpeg checks of
 * a recorded file.
 *
 * @module
 */
import dgram from "node:dgram";
import { Buffer } from "node:buffer";
import assert from "node:assert/strict";
import { RTCPeerConnection, RtpHeader, RtpPacket } from "werift";
import { connected, OPUS, signal, VP8 } from "../helpers/clients.ts";
import { FFMPEG, requireFfmpeg } from "../helpers/ffmpeg.ts";
import { awaitListening } from "../helpers/process.ts";
import { mintToken } from "../../src/auth/tokens.ts";

/** The project's root folder. */
export const ROOT = new URL("../../", import.meta.url).pathname;

/** ffmpeg (libvpx VP8 or VP9, libopus) → RTP → a werift WHIP publisher, with what it sent. */
export class VpxPublisher {
  /** The WHIP connection. */
  readonly pc: RTCPeerConnection;
  /** Audio packets republished (when, `Date.now()`, and their RTP timestamps), video packets. */
  readonly sent = { audio: [] as { at: number; ts: number }[], video: 0 };
  #sockets: dgram.Socket[] = [];
  #ffmpeg?: Deno.ChildProcess;

  #codec: "vp8" | "vp9";

  /** Creates the connection (sendonly audio + video), video in VP8 or VP9 (payload type 96). */
  constructor(codec: "vp8" | "vp9" = "vp8") {
    this.#codec = codec;
    const video = VP8();
    if (codec === "vp9") video.mimeType = "video/VP9";
    this.pc = new RTCPeerConnection({
      iceServers: [],
      iceUseIpv6: false,
      bundlePolicy: "max-bundle",
      codecs: { audio: [OPUS()], video: [video] },
    });
    this.pc.addTransceiver("audio", { direction: "sendonly" });
    this.pc.addTransceiver("video", { direction: "sendonly" });
  }

  /**
   * Publishes to `endpoint`, then starts ffmpeg: a keyframe every `gop` frames at 30 fps, video
   * at `bitrate` (ffmpeg's notation) in a picture of `size`.
   */
  async publish(
    endpoint: string,
    token: string,
    { gop = 15, bitrate = "300k", size = "320x240" } = {},
  ): Promise<void> {
    await requireFfmpeg();
    await signal(this.pc, endpoint, token);
    await connected(this.pc, 20_000);
    const [audio, video] = this.pc.getTransceivers().map((t) => t.sender);
    const port = async (onPacket: (rtp: RtpPacket) => void) => {
      const socket = dgram.createSocket("udp4");
      this.#sockets.push(socket);
      await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
      socket.on("message", (d: Uint8Array) => onPacket(RtpPacket.deSerialize(Buffer.from(d))));
      return socket.address().port;
    };
    const republish = (sender: typeof audio, pt: number, ssrc: number) => (rtp: RtpPacket) => {
      if (rtp.header.payloadType >= 72 && rtp.header.payloadType <= 76) return; // RTCP
      const { sequenceNumber, timestamp, marker } = rtp.header;
      const header = new RtpHeader({ payloadType: pt, sequenceNumber, timestamp, marker, ssrc });
      sender.sendRtp(new RtpPacket(header, rtp.payload)).catch(() => {});
      if (pt === 111) this.sent.audio.push({ at: Date.now(), ts: timestamp });
      else this.sent.video++;
    };
    const videoPort = await port(republish(video, 96, 0x1234));
    const audioPort = await port(republish(audio, 111, 0x5678));
    this.#ffmpeg = new Deno.Command(FFMPEG, {
      args: [
        ...["-hide_banner", "-loglevel", "error", "-re"],
        ...["-f", "lavfi", "-i", `testsrc2=size=${size}:rate=30`],
        ...["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "600"],
        ...["-map", "0:v", "-c:v", this.#codec === "vp9" ? "libvpx-vp9" : "libvpx"],
        ...["-deadline", "realtime", "-cpu-used", "8", "-strict", "experimental"],
        ...["-b:v", bitrate, "-g", String(gop), "-keyint_min", String(gop)],
        ...["-f", "rtp", `rtp://127.0.0.1:${videoPort}?pkt_size=1200`],
        ...["-map", "1:a", "-c:a", "libopus", "-b:a", "48k", "-ac", "2"],
        ...["-f", "rtp", `rtp://127.0.0.1:${audioPort}?pkt_size=1200`],
      ],
      stdin: "null",
      stdout: "null",
      stderr: "inherit",
    }).spawn();
  }

  /** Audio packets republished between two times (`Date.now()`). */
  audioBetween(from: number, to: number): number {
    return this.sent.audio.filter((p) => p.at >= from && p.at <= to).length;
  }

  /**
   * Seconds of media (by the audio's RTP clock) republished between two times: wall-clock time
   * when ffmpeg keeps up with `-re`, less when a busy machine slows its encoder.
   */
  mediaSecondsBetween(from: number, to: number): number {
    const ts = this.sent.audio.filter((p) => p.at >= from && p.at <= to).map((p) => p.ts);
    return ts.length ? (Math.max(...ts) - Math.min(...ts) + 960) / 48_000 : 0;
  }

  /** Stops ffmpeg and closes the connection. */
  async close(): Promise<void> {
    try {
      this.#ffmpeg?.kill("SIGKILL");
    } catch {
      // gone
    }
    await this.#ffmpeg?.status;
    for (const s of this.#sockets) s.close();
    await this.pc.close();
  }
}

/** A server started as `deno task start` does it. */
export interface TaskServer {
  /** Base URL. */
  url: string;
  /** Mints a token. */
  token(sub: string, room: string, role?: "host" | "participant" | "viewer"): Promise<string>;
  /** Its output so far. */
  output(): string;
  /** Sends `signal` and waits for the exit status (SIGKILL after 10 s). */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

const TASK_SECRET = "recording-test-secret-0123456789-abcdefgh";

/**
 * Runs `deno task start` (its permissions computed from the environment) with `env`; when
 * `fileSizeLimit` is given, `deno run` with the task's flags under `prlimit --fsize=`, SIGXFSZ
 * ignored so that a write past the limit fails (EFBIG) instead of killing the process.
 */
export async function startTask(
  env: Record<string, string>,
  fileSizeLimit?: number,
): Promise<TaskServer> {
  // `deno task` does not pass an ignored SIGXFSZ on to the server: under a file-size limit the
  // server runs with the flags the task computes for RECORDINGS_DIR, written out here.
  const dir = env.RECORDINGS_DIR;
  const run = [
    ...[Deno.execPath(), "run", "--no-prompt", "--lock=deno.lock"],
    ...[`--allow-read=static,deno.json,${dir}`, `--allow-write=${dir}`, "--allow-net"],
    ...["--allow-env", "--allow-sys=networkInterfaces,hostname", "--allow-ffi", "src/main.ts"],
  ];
  const argv = fileSizeLimit === undefined
    ? [Deno.execPath(), "task", "start"]
    : ["sh", "-c", 'trap "" XFSZ; exec "$@"', "sh", "prlimit", `--fsize=${fileSizeLimit}`, ...run];
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    cwd: ROOT,
    env: {
      PORT: "0",
      HOST: "127.0.0.1",
      UDP_PORT: "0",
      TCP_PORT: "0",
      JWT_SECRET: TASK_SECRET,
      LOG_LEVEL: "info",
      ICE_LOOPBACK: "true",
      ...env,
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const { url, output, exited } = await awaitListening(child, 60_000, "deno task start");
  const secret = new TextEncoder().encode(TASK_SECRET);
  return {
    url,
    token: (sub, room, role = "host") => mintToken(secret, { sub, room, role, ttlSeconds: 600 }),
    output,
    async stop(signal: Deno.Signal = "SIGTERM") {
      // `deno task` passes SIGTERM on to the server, not SIGKILL: a crash is the server's own
      const below = descendants(child.pid);
      if (!exited()) {
        if (signal === "SIGKILL") { for (const pid of below.reverse()) kill(pid, "SIGKILL"); }
        child.kill(signal);
      }
      const timer = setTimeout(() => !exited() && child.kill("SIGKILL"), 10_000);
      const status = await child.status;
      clearTimeout(timer);
      for (const pid of below) kill(pid, "SIGKILL"); // nothing may outlive the test
      return status;
    },
  };
}

/** The processes below `pid` (children first, then theirs), from /proc. */
function descendants(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
      const text = Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/children`);
      for (const kid of text.trim().split(/\s+/).filter(Boolean).map(Number)) {
        out.push(kid, ...descendants(kid));
      }
    }
  } catch {
    // gone
  }
  return out;
}

function kill(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(pid, signal);
  } catch {
    // gone
  }
}

/** A room's event stream, collected. */
export class RoomEvents {
  /** Events so far: name and data. */
  readonly events: { event: string; data: Record<string, unknown> }[] = [];
  #abort = new AbortController();
  #done?: Promise<void>;

  /** Opens `GET /rooms/{room}/events`. */
  async open(base: string, room: string, token: string): Promise<void> {
    const response = await fetch(`${base}/rooms/${encodeURIComponent(room)}/events`, {
      headers: { Authorization: `Bearer ${token}` },
      signal: this.#abort.signal,
    });
    assert.equal(response.status, 200);
    this.#done = (async () => {
      let buffer = "";
      const decoder = new TextDecoder();
      for await (const chunk of response.body!) {
        buffer += decoder.decode(chunk);
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1] ?? "message";
          const data = /^data: (.*)$/m.exec(block)?.[1];
          this.events.push({ event, data: data ? JSON.parse(data) : {} });
        }
      }
    })().catch(() => {});
  }

  /** The events named `name`. */
  named(name: string): Record<string, unknown>[] {
    return this.events.filter((e) => e.event === name).map((e) => e.data);
  }

  /** Closes the stream. */
  async close(): Promise<void> {
    this.#abort.abort();
    await this.#done;
  }
}

/** What ffprobe sees in a file: per stream, its codec, packets and time span (s). */
export interface Probed {
  /** Container duration, s (NaN when absent). */
  duration: number;
  /** Streams by type. */
  streams: Record<
    string,
    { codec: string; packets: number; span: number; gap: number; monotonic: boolean }
  >;
}

/** Runs ffprobe on `path`. */
export async function probe(path: string): Promise<Probed> {
  const out = await new Deno.Command("ffprobe", {
    args: [
      ...["-v", "error", "-of", "json", "-show_entries", "format=duration"],
      ...["-show_entries", "stream=index,codec_name,codec_type"],
      ...["-show_entries", "packet=stream_index,pts_time,duration_time", path],
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const json = JSON.parse(new TextDecoder().decode(out.stdout));
  const streams: Probed["streams"] = {};
  for (const s of json.streams) {
    const packets = json.packets.filter((p: { stream_index: number }) =>
      p.stream_index === s.index
    );
    const starts = packets.map((p: { pts_time: string }) => Number(p.pts_time));
    const ends = packets.map((p: { pts_time: string; duration_time?: string }) =>
      Number(p.pts_time) + Number(p.duration_time ?? 0)
    );
    let gap = 0;
    let monotonic = true;
    for (let i = 1; i < starts.length; i++) {
      gap = Math.max(gap, starts[i] - starts[i - 1]);
      if (starts[i] < starts[i - 1]) monotonic = false;
    }
    streams[s.codec_type] = {
      codec: s.codec_name,
      packets: packets.length,
      span: packets.length ? Math.max(...ends) - Math.min(...starts) : 0,
      gap,
      monotonic,
    };
  }
  return { duration: Number(json.format?.duration), streams };
}

/**
 * The null muxer's complaint about a variable frame rate, not about the file: Debian's ffmpeg
 * 5.1 encodes `-f null` output in a time base of 1/r_frame_rate, guessed from the first frames,
 * so when a WebRTC encoder raises its frame rate later (Chromium starts at 20 fps and climbs to
 * 30 as its bandwidth estimate grows) two frames land on one tick. ffmpeg says the same of a VFR
 * WebM it wrote itself (testsrc at 20 fps, then 30 fps, `-fps_mode vfr`).
 */
const VFR_TICK =
  /\[null @ 0x[0-9a-f]+\] Application provided invalid, non monotonically increasing dts to muxer in stream \d+: (\d+) >= \1$/;

/**
 * What `ffmpeg -v error -i FILE -f null -` prints (nothing for a clean file), without the
 * {@link VFR_TICK} lines.
 */
export async function decodeErrors(path: string): Promise<string> {
  const out = await new Deno.Command(FFMPEG, {
    args: ["-v", "error", "-i", path, "-f", "null", "-"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const lines: string[] = [];
  let tick = false; // ffmpeg folds repeats of a line into "Last message repeated n times"
  for (const line of new TextDecoder().decode(out.stderr).split("\n")) {
    if (line.trim() === "") continue;
    if (VFR_TICK.test(line) || (tick && /^\s*Last message repeated \d+ times$/.test(line))) {
      tick = true;
      continue;
    }
    tick = false;
    lines.push(line);
  }
  return lines.join("\n") + (out.success ? "" : " (exit failure)");
}

/** True when the file's header holds a Duration and the file a Cues element (finalised). */
export async function finalised(path: string): Promise<boolean> {
  const bytes = await Deno.readFile(path);
  const has = (seq: number[], from = 0, to = bytes.length) => {
    outer: for (let i = from; i + seq.length <= to; i++) {
      for (let j = 0; j < seq.length; j++) if (bytes[i + j] !== seq[j]) continue outer;
      return true;
    }
    return false;
  };
  return has([0x44, 0x89, 0x88], 0, 300) && has([0x1c, 0x53, 0xbb, 0x6b]);
}
