/**
 * Issue 3's first check with real decoded video: a player joining mid-GOP against a publisher
 * that ignores PLI decodes its first frame within 300 ms, and the keyframe cache is what does it.
 *
 * The publisher that ignores PLI (as OBS does) is a relay in this process: headless Chromium
 * publishes its fake camera (VP8) to room `src`; a werift client plays `src` with WHEP and
 * republishes every RTP packet it receives to room `relay` with WHIP, and never asks for a
 * keyframe nor answers a PLI / FIR. Chromium's encoder makes keyframes only when asked (or on a
 * resolution change, which `contentHint = "detail"` rules out), so after the first keyframe the
 * relay sends deltas only. Three seconds later a second Chromium page plays `relay` with WHEP
 * and times its first decoded frame, once against a server with the cache (the default) and
 * once against one with `KEYFRAME_CACHE_BYTES=0`, where no frame may decode at all.
 *
 * Each leg is checked to carry media before anything is timed. On a loaded machine a leg can come
 * up dead: werift 0.25's DTLS client (the server's side of every session here) handles a server
 * flight 4 that the peer retransmitted while werift was slow to answer as a new one: it makes a
 * new ECDHE key pair and, if that happens after the peer's Finished (which it never verifies),
 * derives a second master secret, so its SRTP keys differ from the peer's and every packet of
 * the session fails authentication while both ends say "connected".
 */
import assert from "node:assert/strict";
import { RTCPeerConnection, type RtpPacket } from "werift";
import type { Page } from "puppeteer-core";
import { type TestServer, testServer } from "../helpers/server.ts";
import { connected, OPUS, signal, VP8 } from "../helpers/clients.ts";
import { isKeyframeStart } from "../../src/media/keyframe.ts";
import { browserTest, type Chromium, inboundVideo, launch, rtp, until } from "./browser.ts";

/** How long after the relay's only keyframe the player arrives. */
const MID_GOP_MS = 3000;
/** The property measured: connected → first decoded frame, with the cache. */
const FIRST_FRAME_MS = 300;
/** Without the cache, no frame may decode this long after connecting. */
const NO_FRAME_MS = 5000;
/** The published size. */
const WIDTH = 640;
const HEIGHT = 360;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Plays a room with WHEP and republishes each packet to another room with WHIP, unchanged but
 * for what werift's sender sets (SSRC, payload type, its own header extensions). It never sends
 * a PLI or FIR, and ignores those it receives.
 */
class Relay {
  /** WHIP, sendonly: the publisher of the `relay` room. */
  readonly out = new RTCPeerConnection({
    iceServers: [],
    iceUseIpv6: false,
    bundlePolicy: "max-bundle",
    codecs: { audio: [OPUS()], video: [VP8()] },
  });
  /** WHEP, recvonly: the player of the `src` room. */
  readonly in = new RTCPeerConnection({
    iceServers: [],
    iceUseIpv6: false,
    bundlePolicy: "max-bundle",
    codecs: { audio: [OPUS()], video: [VP8()] },
  });
  /** Packets republished; video frames (marker bits) and keyframes among them. */
  readonly forwarded = { video: 0, audio: 0, frames: 0, keyframes: 0 };
  /** When the last keyframe was republished (performance.now()). */
  keyframeAt?: number;
  /** PLIs and FIRs the server sent the relay, all ignored. */
  keyframeRequests = 0;

  constructor() {
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
        if (kind === "video" && isKeyframeStart("vp8", packet.payload)) {
          this.forwarded.keyframes++;
          this.forwarded.frames = 0;
          this.keyframeAt = performance.now();
        }
        if (kind === "video" && packet.header.marker) this.forwarded.frames++;
        this.forwarded[kind]++;
        senders[kind].sendRtp(packet).catch(() => {});
      });
    };
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

/** In the page: publishes the fake camera, VP8 at WIDTH×HEIGHT, with the WHIP client. */
const PUBLISH = `async ({ endpoint, token, width, height }) => {
  const { WhipClient } = await import("/lib/whip-whep.js");
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: true,
    video: { width: { ideal: width }, height: { ideal: height }, frameRate: { ideal: 30 } },
  });
  // keep the resolution whatever the bandwidth: a size change would be a keyframe
  stream.getVideoTracks()[0].contentHint = "detail";
  const whip = new WhipClient(endpoint, { token, reconnect: false });
  globalThis.lateWhip = whip;
  await whip.publish(stream, { videoCodec: "video/VP8" });
}`;

/**
 * In the page: plays with the WHEP client and records, on the page's clock, the start of the
 * POST, \`connectionState\` "connected", the first decoded frame (inbound-rtp framesDecoded,
 * read through the probe every 5 ms) and the first frame presented to the compositor
 * (requestVideoFrameCallback). Returns after the first decoded frame, or \`give\` ms after
 * connecting without one.
 */
const PLAY = `async ({ endpoint, token, give }) => {
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
      break;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  return marks;
}`;

/** In the page: Chromium's own freeze count of the played video (inbound-rtp). */
const FREEZES = `async () => {
  let out = {};
  (await lateWhep.pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") {
      out = { count: s.freezeCount, seconds: s.totalFreezesDuration };
    }
  });
  return out;
}`;

/** What the player page recorded (page clock, ms). */
interface Marks {
  post?: number;
  connected?: number;
  decoded?: number;
  presented?: number;
  framesDecoded?: number;
  width?: number;
  height?: number;
}

/** Runs a page-side script (one of the above) with its argument. */
function run<T>(page: Page, script: string, arg: unknown): Promise<T> {
  return page.evaluate(`(${script})(${JSON.stringify(arg)})`) as Promise<T>;
}

/**
 * Chromium publishes to `src`, the relay republishes it to `relay`, and once the relay's only
 * keyframe is {@link MID_GOP_MS} old, a Chromium player joins `relay` and times its first frame.
 */
async function lateJoin(
  chromium: Chromium,
  server: TestServer,
  relay: Relay,
  pages: Page[],
): Promise<{ marks: Marks; player: Page; publisher: Page; cachedFrames: number }> {
  const publisher = await chromium.page({ width: 640, height: 480 });
  pages.push(publisher);
  await publisher.goto(`${server.url}/`);
  await run(publisher, PUBLISH, {
    endpoint: "/whip/src",
    token: await server.token("camera", "src", "host"),
    width: WIDTH,
    height: HEIGHT,
  });
  await until(
    async () => {
      const v = (await rtp(publisher, "outbound")).find((s) => s.kind === "video");
      return v?.frameWidth ? v : undefined;
    },
    "the Chromium publisher's first encoded frames",
    30_000,
  );
  await until(() => ingested(server, "src") > 0, `room src: ${NOTHING}`, 20_000);

  await relay.start(
    `${server.url}/whip/relay`,
    await server.token("relay", "relay", "host"),
    `${server.url}/whep/src`,
    await server.token("relay", "src", "participant"),
  );
  await until(() => relay.forwarded.audio > 0, `room src → the relay: ${NOTHING}`, 20_000);
  await until(() => relay.forwarded.keyframes > 0, "the relay's first keyframe", 20_000);
  await sleep(MID_GOP_MS - (performance.now() - relay.keyframeAt!));
  assert.equal(relay.forwarded.keyframes, 1, "Chromium sent no keyframe by itself: mid-GOP");
  assert.ok(relay.forwarded.video > 30, `deltas flow (${relay.forwarded.video} packets)`);
  assert.ok(ingested(server, "relay") > 0, `room relay: ${NOTHING}`);

  const player = await chromium.page();
  pages.push(player);
  await player.goto(`${server.url}/`);
  await player.bringToFront(); // a background tab is throttled
  const cachedFrames = relay.forwarded.frames; // since the keyframe: what a cache holds now
  const marks = await run<Marks>(player, PLAY, {
    endpoint: "/whep/relay",
    token: await server.token("viewer", "relay", "participant"),
    give: NO_FRAME_MS,
  });
  assert.ok(marks.post !== undefined && marks.connected !== undefined, "the player connected");
  return { marks, player, publisher, cachedFrames };
}

/** Video packets the server's publication in `room` received so far. */
function ingested(server: TestServer, room: string): number {
  const s = server.rooms.sessions.all().find((s) => s.kind === "whip" && s.room === room);
  return s?.kind === "whip" ? s.media.stats.packets.video : 0;
}

/**
 * Said when a leg is up but carries nothing: the SFU, as DTLS client, can end a handshake with
 * SRTP keys its peer does not share (werift 0.25 re-derives them when a retransmitted server
 * flight 4 arrives late, on a loaded machine), and every packet then fails authentication.
 */
const NOTHING =
  "connected, but nothing got through (SRTP the receiver cannot authenticate? see the module doc)";

const ms = (a?: number, b?: number) => (a !== undefined && b !== undefined ? b - a : NaN);

browserTest(
  "late joiner mid-GOP, publisher ignoring PLI: real VP8 decodes at once from the keyframe cache",
  async (t) => {
    const chromium = await launch();
    try {
      await t.step(
        `with the cache: the first frame decodes within ${FIRST_FRAME_MS} ms of connecting`,
        async () => {
          const server = await testServer();
          const relay = new Relay();
          const pages: Page[] = [];
          try {
            const { marks, player, publisher, cachedFrames } = await lateJoin(
              chromium,
              server,
              relay,
              pages,
            );
            const postToFrame = ms(marks.post, marks.decoded);
            const connectedToFrame = ms(marks.connected, marks.decoded);
            const egress = server.rooms.sessions.all().find((s) =>
              s.kind === "whep" && s.room === "relay"
            );
            console.log(
              `  cache on: WHEP POST → first decoded frame ${postToFrame.toFixed(0)} ms, ` +
                `connected → first decoded frame ${connectedToFrame.toFixed(0)} ms ` +
                `(presented ${ms(marks.connected, marks.presented).toFixed(0)} ms), ` +
                `${marks.framesDecoded} frame(s) at ${marks.width}x${marks.height}; ` +
                `${egress?.kind === "whep" ? egress.media.stats.primed : "?"} packets primed`,
            );
            if (marks.decoded === undefined) {
              const audio = (await rtp(player, "inbound")).find((s) => s.kind === "audio");
              assert.fail(
                audio?.packets
                  ? `no frame decoded in ${NO_FRAME_MS} ms, though audio arrives`
                  : `the player: ${NOTHING}`,
              );
            }
            assert.ok(
              connectedToFrame < FIRST_FRAME_MS,
              `first frame ${connectedToFrame.toFixed(0)} ms after connecting`,
            );
            assert.ok(egress?.kind === "whep" && egress.media.stats.primed > 0, "primed");
            const firstAt = performance.now();

            // The replayed deltas decode (about ten times real time, so in well under the
            // time they cover), then live frames follow: no freeze after the first frame.
            const replayed = await until(
              async () => {
                const v = await inboundVideo(player);
                return v && (v.framesDecoded ?? 0) >= cachedFrames ? v : undefined;
              },
              `the ${cachedFrames} frames since the keyframe decoded`,
              15_000,
            );
            const replayMs = performance.now() - firstAt; // an upper bound: polled every 250 ms
            assert.ok(
              replayMs < MID_GOP_MS,
              `the replay caught up with live: ${cachedFrames} frames decoded in ` +
                `${replayMs.toFixed(0)} ms, faster than the ${MID_GOP_MS} ms they cover`,
            );
            const live = await until(
              async () => {
                const v = await inboundVideo(player);
                return v && (v.framesDecoded ?? 0) >= (replayed.framesDecoded ?? 0) + 20
                  ? v
                  : undefined;
              },
              "20 more (live) frames decoded",
              15_000,
            );
            const sent = (await rtp(publisher, "outbound")).find((s) => s.kind === "video");
            assert.equal(sent?.frameWidth, WIDTH);
            assert.equal(live.frameWidth, sent?.frameWidth, "decoded at the published width");
            assert.equal(live.frameHeight, sent?.frameHeight);
            assert.equal(relay.forwarded.keyframes, 1, "and all from the one keyframe");
            const freezes = await run<{ count?: number; seconds?: number }>(player, FREEZES, {});
            console.log(
              `  cache on: the ${cachedFrames} frames since the keyframe decoded within ` +
                `${replayMs.toFixed(0)} ms (polled) of the first (${
                  (MID_GOP_MS / 1000).toFixed(0)
                }+ s ` +
                `of video), ${live.framesDecoded} frames by now, ${freezes.count} freeze(s) ` +
                `(${freezes.seconds} s) by Chromium's count; the relay ignored ` +
                `${relay.keyframeRequests} keyframe request(s)`,
            );
          } finally {
            await Promise.allSettled(pages.map((p) => p.close()));
            await relay.close();
            await server.shutdown();
          }
        },
      );

      await t.step(
        `without (KEYFRAME_CACHE_BYTES=0): no frame decodes in ${NO_FRAME_MS / 1000} s`,
        async () => {
          const server = await testServer({ KEYFRAME_CACHE_BYTES: "0" });
          const relay = new Relay();
          const pages: Page[] = [];
          try {
            const { marks, player } = await lateJoin(chromium, server, relay, pages);
            const connectedAfter = ms(marks.post, marks.connected).toFixed(0);
            console.log(
              `  cache off: WHEP POST → connected ${connectedAfter} ms, then ` +
                `${marks.framesDecoded} frame(s) decoded in the next ${NO_FRAME_MS} ms; ` +
                `the relay ignored ${relay.keyframeRequests} keyframe request(s)`,
            );
            // not a dead connection (which would decode nothing either): audio plays
            const audio = (await rtp(player, "inbound")).find((s) => s.kind === "audio");
            assert.ok((audio?.packets ?? 0) > 0, `the player: ${NOTHING}`);
            assert.equal(marks.decoded, undefined, "no frame decoded");
            assert.equal(marks.framesDecoded ?? 0, 0);
            assert.ok(relay.keyframeRequests > 0, "the server asked the relay for a keyframe");
            assert.equal(relay.forwarded.keyframes, 1, "which never came");
          } finally {
            await Promise.allSettled(pages.map((p) => p.close()));
            await relay.close();
            await server.shutdown();
          }
        },
      );
    } finally {
      await chromium.close();
    }
  },
);
