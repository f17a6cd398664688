/**
 * What the late-joiner tests share: a relay that republishes a room and never answers a PLI (as
 * OBS does), the in-page scripts that publish with Chromium and time a player's first decoded
 * frame, and the scenario that joins a player mid-GOP.
 *
 * Each leg is checked to carry media before anything is timed. On a loaded machine a leg can come
 * up dead: werift 0.25's DTLS client (the server's side of every session here) handles a server
 * flight 4 that the peer retransmitted while werift was slow to answer as a new one: it makes a
 * new ECDHE key pair and, if that happens after the peer's Finished (which it never verifies),
 * derives a second master secret, so its SRTP keys differ from the peer's and every packet of
 * the session fails authentication while both ends say "connected".
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  PictureLossIndication,
  RTCPeerConnection,
  RtcpPayloadSpecificFeedback,
  RTCRtpCodecParameters,
  type RtpPacket,
} from "werift";
import type { Page } from "npm:puppeteer-core@25.16.0";
import type { TestServer } from "../helpers/server.ts";
import { connected, OPUS, signal, VP8 } from "../helpers/clients.ts";
import { isKeyframeStart } from "../../src/media/keyframe.ts";
import type { CodecFamily } from "../../src/media/codecs.ts";
import { type Chromium, rtp, until } from "./browser.ts";

/** How long after the relay's only keyframe the player arrives. */
export const MID_GOP_MS = 3000;
/** Without the cache, no frame may decode this long after connecting. */
export const NO_FRAME_MS = 5000;
/** The published size. */
export const WIDTH = 640;
/** The published size. */
export const HEIGHT = 360;

/** The video codecs of the late-joiner tests. */
export type VideoFamily = Exclude<CodecFamily, "opus">;

const FEEDBACK = [
  { type: "nack" },
  { type: "nack", parameter: "pli" },
  { type: "ccm", parameter: "fir" },
];

/** The codec a werift client offers for `family` (H.264: packetization mode 1, `fmtp` extra). */
export function videoCodec(family: VideoFamily, fmtp = ""): RTCRtpCodecParameters {
  switch (family) {
    case "vp8":
      return VP8();
    case "h264":
      return new RTCRtpCodecParameters({
        mimeType: "video/H264",
        clockRate: 90000,
        payloadType: 102,
        rtcpFeedback: FEEDBACK,
        parameters: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f" +
          fmtp,
      });
    case "vp9":
      return new RTCRtpCodecParameters({
        mimeType: "video/VP9",
        clockRate: 90000,
        payloadType: 98,
        rtcpFeedback: FEEDBACK,
        parameters: "profile-id=0",
      });
    case "av1":
      return new RTCRtpCodecParameters({
        mimeType: "video/AV1",
        clockRate: 90000,
        payloadType: 45,
        rtcpFeedback: FEEDBACK,
      });
  }
}

/** The MIME type of a family, as Chromium names it. */
export const MIME: Record<VideoFamily, string> = {
  vp8: "video/VP8",
  h264: "video/H264",
  vp9: "video/VP9",
  av1: "video/AV1",
};

/** Counts keyframes by access unit: the first keyframe packet of each timestamp. */
export class KeyframeCounter {
  /** Keyframes seen. */
  keyframes = 0;
  /** Frames (marker bits) since the last keyframe. */
  frames = 0;
  /** When the last keyframe was seen (performance.now()). */
  keyframeAt?: number;
  /** H.264: the NAL units of the first keyframe's packets, e.g. `STAP-A 7 8`, `FU-A 5 start`. */
  readonly firstKeyframe: string[] = [];
  /** VP9: the spatial layers (SID) in the last keyframe's timestamp. */
  readonly keyframeLayers = new Set<number>();
  #lastKeyTs?: number;
  #lastTs?: number;
  #unit: string[] = [];

  constructor(readonly family: VideoFamily) {}

  /** Looks at one video packet. */
  see(packet: RtpPacket): void {
    const ts = packet.header.timestamp;
    if (isKeyframeStart(this.family, packet.payload) && ts !== this.#lastKeyTs) {
      this.#lastKeyTs = ts;
      this.keyframes++;
      this.frames = 0;
      this.keyframeLayers.clear();
      this.keyframeAt = performance.now();
    }
    if (this.family === "h264" && this.keyframes <= 1) {
      if (ts !== this.#lastTs) this.#unit = [];
      this.#unit.push(describeH264(packet.payload));
      if (ts === this.#lastKeyTs && this.firstKeyframe.length === 0 && packet.header.marker) {
        this.firstKeyframe.push(...this.#unit);
      }
    }
    if (this.family === "vp9" && ts === this.#lastKeyTs) {
      const sid = vp9SpatialLayer(packet.payload);
      if (sid !== undefined) this.keyframeLayers.add(sid);
    }
    this.#lastTs = ts;
    if (packet.header.marker) this.frames++;
  }
}

/** The spatial layer (SID) of a VP9 packet that starts a layer frame (B=1), if it says one. */
function vp9SpatialLayer(p: Uint8Array): number | undefined {
  if ((p[0] & 0x08) === 0) return undefined; // B: the start of a (layer) frame
  if ((p[0] & 0x20) === 0) return 0; // no layer indices
  const i = p[0] & 0x80 ? (p[1] & 0x80 ? 3 : 2) : 1; // after the PictureID
  return (p[i] >> 1) & 0x07;
}

/** The NAL units an H.264 packet carries, in words. */
function describeH264(p: Uint8Array): string {
  const type = p[0] & 0x1f;
  if (type === 28) {
    return `FU-A ${p[1] & 0x1f}${p[1] & 0x80 ? " start" : p[1] & 0x40 ? " end" : ""}`;
  }
  if (type !== 24) return String(type);
  const units: number[] = [];
  for (let i = 1; i + 2 < p.length; i += 2 + ((p[i] << 8) | p[i + 1])) units.push(p[i + 2] & 0x1f);
  return `STAP-A ${units.join(" ")}`;
}

/**
 * Plays a room with WHEP and republishes each packet to another room with WHIP, unchanged but
 * for what werift's sender sets (SSRC, payload type, its own header extensions). It never sends
 * a PLI or FIR, and ignores those it receives.
 */
export class Relay {
  /** WHIP, sendonly: the publisher of the `relay` room. */
  readonly out: RTCPeerConnection;
  /** WHEP, recvonly: the player of the `src` room. */
  readonly in: RTCPeerConnection;
  /** Packets republished. */
  readonly forwarded = { video: 0, audio: 0 };
  /** Keyframes (and frames since the last) republished. */
  readonly video: KeyframeCounter;
  /** PLIs and FIRs the server sent the relay, all ignored. */
  keyframeRequests = 0;

  constructor(readonly family: VideoFamily = "vp8") {
    const codecs = { audio: [OPUS()], video: [videoCodec(family)] };
    const options = { iceServers: [], iceUseIpv6: false, bundlePolicy: "max-bundle" as const };
    this.out = new RTCPeerConnection({ ...options, codecs });
    this.in = new RTCPeerConnection({ ...options, codecs });
    this.video = new KeyframeCounter(family);
    const senders = {
      audio: this.out.addTransceiver("audio", { direction: "sendonly" }).sender,
      video: this.out.addTransceiver("video", { direction: "sendonly" }).sender,
    };
    senders.video.onRtcp.subscribe((p) => {
      // payload-specific feedback: 1 PLI, 4 FIR
      const fmt = (p as { feedback?: { count?: number } }).feedback?.count;
      if (p.type === 206 && (fmt === 1 || fmt === 4)) this.keyframeRequests++;
    });
    this.in.addTransceiver("audio", { direction: "recvonly" });
    this.in.addTransceiver("video", { direction: "recvonly" });
    this.in.ontrack = ({ track }) => {
      const kind = track.kind as "audio" | "video";
      track.onReceiveRtp.subscribe((packet: RtpPacket) => {
        // the WHEP leg's extension ids mean nothing on the WHIP leg
        packet.header.extensions = [];
        packet.header.extension = false;
        // the server pads a frame's packets to one size (run-padding.ts); werift's parser took
        // the padding off but left the P bit, which werift's sender would write without bytes
        packet.header.padding = false;
        packet.header.paddingSize = 0;
        if (kind === "video") this.video.see(packet);
        this.forwarded[kind]++;
        senders[kind].sendRtp(packet).catch(() => {});
      });
    };
  }

  /** Asks the publisher of the played room for a keyframe (a PLI on the WHEP leg). */
  requestKeyframe(): void {
    const receiver = this.in.getTransceivers().find((t) => t.kind === "video")!.receiver;
    const mediaSsrc = receiver.tracks[0]?.ssrc;
    if (mediaSsrc === undefined) return;
    const pli = new PictureLossIndication({ senderSsrc: 1, mediaSsrc });
    receiver.dtlsTransport.sendRtcp([new RtcpPayloadSpecificFeedback({ feedback: pli })])
      .catch(() => {});
  }

  /** Keyframes republished. */
  get keyframes(): number {
    return this.video.keyframes;
  }

  /** Publishes to `whip` first (so nothing received is dropped), then plays `whep`. */
  async start(whip: string, whipToken: string, whep: string, whepToken: string): Promise<void> {
    await signal(this.out, whip, whipToken);
    await connected(this.out, 20_000);
    await signal(this.in, whep, whepToken);
    await connected(this.in, 20_000);
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.in.close(), this.out.close()]);
  }
}

/**
 * In the page: publishes the fake camera at WIDTH×HEIGHT with the WHIP client, codec `mime`, and
 * when given, the encoder's `scalabilityMode` (set at the transceiver's creation).
 */
export const PUBLISH = `async ({ endpoint, token, width, height, mime, scalabilityMode }) => {
  const { WhipClient } = await import("/lib/whip-whep.js");
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: true,
    video: { width: { ideal: width }, height: { ideal: height }, frameRate: { ideal: 30 } },
  });
  if (scalabilityMode) {
    const add = RTCPeerConnection.prototype.addTransceiver;
    RTCPeerConnection.prototype.addTransceiver = function (track, init = {}) {
      if ((track.kind ?? track) === "video") {
        const encodings = init.sendEncodings ?? [{}];
        init = { ...init, sendEncodings: encodings.map((e) => ({ ...e, scalabilityMode })) };
      }
      return add.call(this, track, init);
    };
  } else {
    // keep the resolution whatever the bandwidth: a size change would be a keyframe (with
    // "detail", Chromium 156 makes no VP9 encoder at all for a spatial scalability mode)
    stream.getVideoTracks()[0].contentHint = "detail";
  }
  const whip = new WhipClient(endpoint, { token, reconnect: false });
  globalThis.lateWhip = whip;
  await whip.publish(stream, { videoCodec: mime });
}`;

/**
 * In the page: plays with the WHEP client and records, on the page's clock, the start of the
 * POST, \`connectionState\` "connected", the first decoded frame (inbound-rtp framesDecoded,
 * read through the probe every 5 ms) and the first frame presented to the compositor
 * (requestVideoFrameCallback). Returns after the first decoded frame, or \`give\` ms after
 * connecting without one.
 */
export const PLAY = `async ({ endpoint, token, give }) => {
  const marks = {};
  const Traced = globalThis.RTCPeerConnection;
  globalThis.RTCPeerConnection = class extends Traced {
    constructor(config) {
      super(config);
      this.addEventListener("connectionstatechange", () => {
        if (this.connectionState === "connected") marks.connected ??= performance.now();
      });
    }
  };
  const nativeFetch = globalThis.fetch;
  globalThis.fetch = (input, init) => {
    if (init?.method === "POST" && String(input).includes("/whep/")) {
      marks.post ??= performance.now();
    }
    return nativeFetch(input, init);
  };
  const { WhepClient } = await import("/lib/whip-whep.js");
  const video = document.createElement("video");
  video.muted = true;
  video.autoplay = true;
  video.playsInline = true;
  video.width = 320;
  document.body.prepend(video);
  video.requestVideoFrameCallback((_now, meta) => {
    marks.presented = meta.presentationTime;
  });
  const whep = new WhepClient(endpoint, { token, reconnect: false, events: false });
  globalThis.lateWhep = whep;
  whep.addEventListener("track", (e) => {
    if (e.detail.kind === "video") video.srcObject = new MediaStream([e.detail]);
  });
  await whep.play();
  const started = performance.now();
  for (;;) {
    const v = (await __probe.rtp("inbound")).find((s) => s.kind === "video");
    if (v && v.framesDecoded > 0) {
      marks.decoded = performance.now();
      marks.framesDecoded = v.framesDecoded;
      marks.width = v.frameWidth;
      marks.height = v.frameHeight;
      break;
    }
    const now = performance.now();
    if (marks.connected !== undefined ? now > marks.connected + give : now > started + 20000) {
      marks.framesDecoded = v?.framesDecoded ?? 0;
      marks.videoPackets = v?.packets ?? 0;
      break;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  let codec;
  (await whep.pc.getStats()).forEach((s) => {
    if (s.type === "codec" && s.mimeType.startsWith("video/")) codec = s.mimeType;
  });
  marks.codec = codec;
  return marks;
}`;

/** In the page: Chromium's own freeze count of the played video (inbound-rtp). */
export const FREEZES = `async () => {
  let out = {};
  (await lateWhep.pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") {
      out = { count: s.freezeCount, seconds: s.totalFreezesDuration };
    }
  });
  return out;
}`;

/** What the player page recorded (page clock, ms). */
export interface Marks {
  post?: number;
  connected?: number;
  decoded?: number;
  presented?: number;
  framesDecoded?: number;
  videoPackets?: number;
  width?: number;
  height?: number;
  codec?: string;
}

/** Runs a page-side script (one of the above) with its argument. */
export function run<T>(page: Page, script: string, arg: unknown): Promise<T> {
  return page.evaluate(`(${script})(${JSON.stringify(arg)})`) as Promise<T>;
}

/** Video packets the server's publication in `room` received so far. */
export function ingested(server: TestServer, room: string): number {
  const s = server.rooms.sessions.all().find((s) => s.kind === "whip" && s.room === room);
  return s?.kind === "whip" ? s.media.stats.packets.video : 0;
}

/** Packets primed from the cache for the player of `room` (the first WHEP session there). */
export function primed(server: TestServer, room: string): number | undefined {
  const s = server.rooms.sessions.all().find((s) => s.kind === "whep" && s.room === room);
  return s?.kind === "whep" ? s.media.stats.primed : undefined;
}

/**
 * Said when a leg is up but carries nothing: the SFU, as DTLS client, can end a handshake with
 * SRTP keys its peer does not share (werift 0.25 re-derives them when a retransmitted server
 * flight 4 arrives late, on a loaded machine), and every packet then fails authentication.
 */
export const NOTHING =
  "connected, but nothing got through (SRTP the receiver cannot authenticate? see the module doc)";

/** `b - a`, or NaN. */
export const ms = (a?: number, b?: number) => (a !== undefined && b !== undefined ? b - a : NaN);

/** Sleeps. */
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Chromium publishes to `src` in `family`, the relay republishes it to `relay`, and once the
 * relay's only keyframe is {@link MID_GOP_MS} old, a Chromium player joins `relay` and times its
 * first frame.
 */
export async function lateJoin(
  chromium: Chromium,
  server: TestServer,
  relay: Relay,
  pages: Page[],
  scalabilityMode?: string,
): Promise<
  { marks: Marks; player: Page; publisher: Page; cachedFrames: number; keyframes: number }
> {
  const publisher = await chromium.page({ width: 640, height: 480 });
  pages.push(publisher);
  await publisher.goto(`${server.url}/`);
  await run(publisher, PUBLISH, {
    endpoint: "/whip/src",
    token: await server.token("camera", "src", "host"),
    width: WIDTH,
    height: HEIGHT,
    mime: MIME[relay.family],
    scalabilityMode,
  });
  await until(
    async () => {
      const v = (await rtp(publisher, "outbound")).find((s) => s.kind === "video");
      return v?.frameWidth ? v : undefined;
    },
    "the Chromium publisher's first encoded frames",
    30_000,
  );
  if (scalabilityMode) {
    // spatial layers come with the bandwidth estimate: the relay's join asks for the keyframe
    // it keeps (PLI) once every layer is up, so the key picture carries them all
    await until(
      async () => {
        const v = (await rtp(publisher, "outbound")).find((s) => s.kind === "video");
        return (v?.frameWidth ?? 0) >= WIDTH ? v : undefined;
      },
      `the Chromium publisher's top spatial layer (${WIDTH} wide)`,
      30_000,
    );
  }
  await until(() => ingested(server, "src") > 0, `room src: ${NOTHING}`, 20_000);

  await relay.start(
    `${server.url}/whip/relay`,
    await server.token("relay", "relay", "host"),
    `${server.url}/whep/src`,
    await server.token("relay", "src", "participant"),
  );
  await until(() => relay.forwarded.audio > 0, `room src → the relay: ${NOTHING}`, 20_000);
  await until(() => relay.keyframes > 0, "the relay's first keyframe", 20_000);
  if (scalabilityMode) {
    // that one came from the server's cache of room src, encoded before the bandwidth estimate
    // allowed more than the lowest layer: ask Chromium for one with every layer
    for (let attempt = 1; relay.video.keyframeLayers.size < 2; attempt++) {
      assert.ok(attempt <= 5, "no key picture with two spatial layers in 5 attempts");
      const before = relay.keyframes;
      relay.requestKeyframe();
      await until(() => relay.keyframes > before, "the keyframe asked for", 10_000);
      await sleep(300); // the picture's upper layers
    }
  }
  const expected = relay.keyframes;
  await sleep(MID_GOP_MS - (performance.now() - relay.video.keyframeAt!));
  assert.equal(relay.keyframes, expected, "Chromium sent no keyframe by itself: mid-GOP");
  assert.ok(relay.forwarded.video > 30, `deltas flow (${relay.forwarded.video} packets)`);
  assert.ok(ingested(server, "relay") > 0, `room relay: ${NOTHING}`);

  const player = await chromium.page();
  pages.push(player);
  await player.goto(`${server.url}/`);
  await player.bringToFront(); // a background tab is throttled
  const cachedFrames = relay.video.frames; // since the keyframe: what a cache holds now
  const marks = await run<Marks>(player, PLAY, {
    endpoint: "/whep/relay",
    token: await server.token("viewer", "relay", "participant"),
    give: NO_FRAME_MS,
  });
  assert.ok(marks.post !== undefined && marks.connected !== undefined, "the player connected");
  return { marks, player, publisher, cachedFrames, keyframes: expected };
}
