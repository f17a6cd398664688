/**
 * One WHIP publisher, as its own process: a paced synthetic VP8 + Opus stream (BENCH-NOTES
 * shape: 30 fps, 9 packets per delta frame and 24 per keyframe, a keyframe every 2 s and on every
 * PLI or FIR, Opus every 20 ms, ≈ 2.6 Mbit/s) with the send time in every payload.
 *
 * Driven by the ramp over stdin/stdout (one JSON object per line): it prints `ready` once
 * connected, answers `snapshot` with its counters, and stops on `stop` or when stdin closes.
 *
 * ```sh
 * deno run -A bench/load/publisher.ts --whip URL [--token T] [--any-address] [--max-seconds S]
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Buffer } from "node:buffer";
import {
  RTCPeerConnection,
  RtcpPayloadSpecificFeedback,
  RtcpTransportLayerFeedback,
  type RTCRtpTransceiver,
  RtpHeader,
  RtpPacket,
} from "werift";
import {
  clientIceConfig,
  emit,
  lifetimeLimit,
  opus,
  readCommands,
  stamp,
  STREAM,
  vp8,
  wallNow,
} from "./common.ts";
import { connected, del, post } from "./signal.ts";
import { loopLag } from "../../src/metrics/loop-lag.ts";
// The server's werift patches, for the same werift here: above all, no fallback STUN server
// (the load clients must talk to 127.0.0.1 only).
import "../../src/media/werift/patches.ts";

/** Runs the publisher with the command line `argv` until `stop` or the end of stdin. */
export async function main(argv: string[]): Promise<void> {
  const { values: args } = parseArgs({
    args: argv.filter((a) => a !== "--"),
    options: {
      whip: { type: "string" },
      token: { type: "string" },
      "any-address": { type: "boolean", default: false },
      "max-seconds": { type: "string", default: "3600" },
    },
  });
  if (!args.whip) {
    console.error("publisher: --whip URL is required");
    Deno.exit(2);
  }
  lifetimeLimit(Number(args["max-seconds"]));
  const lag = loopLag();

  /** Counters reported on `snapshot`. */
  const counters = {
    video: 0,
    audio: 0,
    bytes: 0,
    frames: 0,
    keyframes: 0,
    keyframesOnRequest: 0,
    plis: 0,
    firs: 0,
    nacks: 0,
    lateFrames: 0,
  };

  const pc = new RTCPeerConnection({
    ...clientIceConfig(args["any-address"]),
    codecs: { audio: [opus()], video: [vp8()] },
  });
  const audio: RTCRtpTransceiver = pc.addTransceiver("audio", { direction: "sendonly" });
  const video: RTCRtpTransceiver = pc.addTransceiver("video", { direction: "sendonly" });
  let keyframeRequested = false;
  video.sender.onRtcp.subscribe((p) => {
    if (p.type === RtcpPayloadSpecificFeedback.type) {
      const fmt = (p as RtcpPayloadSpecificFeedback).feedback.count;
      if (fmt === 1) counters.plis++;
      if (fmt === 4) counters.firs++;
      if (fmt === 1 || fmt === 4) keyframeRequested = true;
    } else if (p.type === RtcpTransportLayerFeedback.type) {
      counters.nacks++;
    }
  });

  /** Payload templates: VP8 descriptor (S bit on a frame's first packet) and frame header. */
  function template(first: boolean, keyframe: boolean): Uint8Array {
    const p = new Uint8Array(2 * STREAM.videoPayload).fill(0xab);
    p[0] = first ? 0x10 : 0x00;
    // VP8 frame tag (P bit 0 = keyframe, show_frame), then a keyframe's start code and 640×360
    if (first) {
      p.set(
        keyframe
          ? [0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01]
          : [0x11, 0x02, 0x00],
        1,
      );
    }
    return p;
  }
  const TEMPLATES = {
    keyFirst: template(true, true),
    deltaFirst: template(true, false),
    rest: template(false, false),
  };
  const AUDIO = new Uint8Array(STREAM.audioPayload).fill(0xfc);

  const seq = {
    video: Math.floor(Math.random() * 30000),
    audio: Math.floor(Math.random() * 30000),
  };
  const ts = {
    video: Math.floor(Math.random() * 2 ** 30),
    audio: Math.floor(Math.random() * 2 ** 30),
  };
  const SSRC = { video: 0x1000_0001, audio: 0x1000_0002 };

  /**
   * The payload sizes of a frame's packets, as libwebrtc's packetizer splits a frame "about
   * equally": the frame's size varies by up to half a packet either way, the first packets get
   * ⌊size / count⌋ bytes and the last (size mod count) one byte more. (Equal sizes everywhere
   * would flatter the server's segmented sends: this gives two runs per frame.)
   */
  function frameSizes(count: number): number[] {
    const total = count * STREAM.videoPayload +
      Math.round((Math.random() - 0.5) * STREAM.videoPayload);
    const base = Math.floor(total / count);
    const larger = total % count;
    return Array.from({ length: count }, (_, i) => (i < count - larger ? base : base + 1));
  }

  function sendVideoFrame(keyframe: boolean): void {
    const count = keyframe ? STREAM.keyPackets : STREAM.deltaPackets;
    const sizes = frameSizes(count);
    const at = wallNow();
    for (let i = 0; i < count; i++) {
      const t = i === 0 ? (keyframe ? TEMPLATES.keyFirst : TEMPLATES.deltaFirst) : TEMPLATES.rest;
      const payload = Buffer.allocUnsafe(sizes[i]);
      payload.set(t.subarray(0, sizes[i]));
      stamp(payload, at);
      const header = new RtpHeader({
        payloadType: 96,
        sequenceNumber: seq.video,
        timestamp: ts.video,
        ssrc: SSRC.video,
        marker: i === count - 1,
      });
      seq.video = (seq.video + 1) & 0xffff;
      video.sender.sendRtp(new RtpPacket(header, payload)).catch(() => {});
      counters.video++;
      counters.bytes += payload.byteLength + 12;
    }
    ts.video = (ts.video + 90000 / STREAM.fps) >>> 0;
    counters.frames++;
    if (keyframe) counters.keyframes++;
  }

  function sendAudio(): void {
    const payload = Buffer.allocUnsafe(AUDIO.byteLength);
    payload.set(AUDIO);
    stamp(payload);
    const header = new RtpHeader({
      payloadType: 111,
      sequenceNumber: seq.audio,
      timestamp: ts.audio,
      ssrc: SSRC.audio,
      marker: false,
    });
    seq.audio = (seq.audio + 1) & 0xffff;
    ts.audio = (ts.audio + 48 * STREAM.audioIntervalMs) >>> 0;
    audio.sender.sendRtp(new RtpPacket(header, payload)).catch(() => {});
    counters.audio++;
    counters.bytes += payload.byteLength + 12;
  }

  let running = false;
  let timer: ReturnType<typeof setTimeout> | undefined;

  /** Frame k is due at start + k/fps, Opus packet j at start + 20 j ms; late ones go at once. */
  function startPacing(): void {
    running = true;
    const start = performance.now();
    const frameMs = 1000 / STREAM.fps;
    let frame = 0;
    let audioPacket = 0;
    const tick = () => {
      if (!running) return;
      const now = performance.now();
      let sentFrames = 0;
      while (start + frame * frameMs <= now) {
        if (sentFrames === 1) counters.lateFrames++;
        const key = frame % STREAM.gopFrames === 0 || keyframeRequested;
        if (key && frame % STREAM.gopFrames !== 0) counters.keyframesOnRequest++;
        keyframeRequested = false;
        sendVideoFrame(key);
        frame++;
        sentFrames++;
      }
      while (start + audioPacket * STREAM.audioIntervalMs <= now) {
        sendAudio();
        audioPacket++;
      }
      const next = Math.min(start + frame * frameMs, start + audioPacket * STREAM.audioIntervalMs);
      timer = setTimeout(tick, Math.max(0, next - performance.now()));
    };
    tick();
  }

  let sessionUrl: string | undefined;
  let stopping = false;
  async function stop(code = 0): Promise<never> {
    if (!stopping) {
      stopping = true;
      running = false;
      clearTimeout(timer);
      await del(sessionUrl, args.token);
      await pc.close().catch(() => {});
    }
    Deno.exit(code);
  }

  try {
    const t0 = performance.now();
    const posted = await post(pc, args.whip, args.token, {
      anyAddress: args["any-address"],
      timeoutMs: 10_000,
    });
    sessionUrl = posted.sessionUrl;
    await connected(pc, 10_000);
    emit({
      ev: "ready",
      postMs: posted.answeredAt - posted.sentAt,
      connectMs: performance.now() - t0,
      sessionUrl,
    });
    startPacing();
  } catch (e) {
    emit({ ev: "error", message: (e as Error).message });
    await stop(1);
  }

  await readCommands((cmd) => {
    if (cmd.cmd === "snapshot") {
      emit({
        ev: "snapshot",
        tag: cmd.tag,
        at: wallNow(),
        counters: { ...counters },
        lag: lag.snapshot(),
      });
    } else if (cmd.cmd === "stop") {
      stop(0);
    }
  });
  await stop(0);
}

if (import.meta.main) await main(Deno.args);
