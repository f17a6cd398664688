/**
 * Issue 13: a player joining mid-GOP against a publisher that ignores PLI decodes its first frame
 * within 500 ms of connecting for every codec Chromium encodes, not only VP8, because the keyframe
 * cache starts at a whole, decodable keyframe however it is packetized:
 *
 * - H.264 from Chromium (OpenH264, packetized by libwebrtc): SPS and PPS in a STAP-A, then the
 *   IDR in FU-A fragments; the old cache restarted at the IDR's first fragment and threw the
 *   parameter sets away.
 * - VP9 from Chromium (libvpx): a keyframe over many packets, with its scalability structure.
 *   Once more with spatial layers (`scalabilityMode` L3T3, which Chromium runs as L2T3 at this
 *   size): the key picture's layers share its timestamp. (Chromium 156 makes no VP9 encoder at
 *   all for a spatial mode with `contentHint = "detail"`, which the other cases set.)
 * - AV1 from Chromium (libaom): the sequence header in the first packet (N bit), then the rest.
 *
 * The scenario is late_joiner_test.ts's (late-joiner.ts): Chromium publishes to `src`, a werift
 * relay in this process republishes `src` to `relay` and ignores every PLI, and a second Chromium
 * page plays `relay` once the relay's only keyframe is three seconds old. Each codec runs once
 * against a server with the cache and once with `KEYFRAME_CACHE_BYTES=0`, where no frame may
 * decode (so the first figure is the cache's doing).
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Page } from "npm:puppeteer-core@25.16.0";
import { testServer } from "../helpers/server.ts";
import { browserTest, launch, rtp } from "./browser.ts";
import {
  lateJoin,
  MIME,
  ms,
  NO_FRAME_MS,
  NOTHING,
  primed,
  Relay,
  type VideoFamily,
} from "./late-joiner.ts";

/** The property measured: connected → first decoded frame, with the cache. */
const FIRST_FRAME_MS = 500;

/** The cases: a codec, and for VP9 once more with spatial layers (L3T3: Chromium makes L2T3). */
const CASES: { family: VideoFamily; svc?: string }[] = [
  { family: "h264" },
  { family: "vp9" },
  { family: "vp9", svc: "L3T3" },
  { family: "av1" },
];

for (const { family, svc } of CASES) {
  browserTest(
    `late joiner mid-GOP, publisher ignoring PLI: Chromium's ${MIME[family]}${
      svc ? ` with spatial layers (${svc})` : ""
    } decodes within ${FIRST_FRAME_MS} ms from the keyframe cache`,
    async (t) => {
      const chromium = await launch();
      try {
        await t.step("with the cache", () => withCache(chromium, family, svc));
        await t.step(
          "without (KEYFRAME_CACHE_BYTES=0): no frame",
          () => without(chromium, family, svc),
        );
      } finally {
        await chromium.close();
      }
    },
  );
}

async function withCache(
  chromium: Awaited<ReturnType<typeof launch>>,
  family: VideoFamily,
  svc?: string,
) {
  const server = await testServer();
  const relay = new Relay(family);
  const pages: Page[] = [];
  try {
    const { marks, player, cachedFrames, keyframes } = await lateJoin(
      chromium,
      server,
      relay,
      pages,
      svc,
    );
    const layers = [...relay.video.keyframeLayers].sort();
    if (svc) {
      console.log(`  vp9 ${svc}: the key picture's spatial layers as sent: ${layers.join(", ")}`);
    }
    if (family === "h264") {
      console.log(
        `  h264: the keyframe as Chromium sent it: [${relay.video.firstKeyframe.join(", ")}]`,
      );
    }
    const connectedToFrame = ms(marks.connected, marks.decoded);
    console.log(
      `  ${family}${svc ? ` ${svc}` : ""}, cache on: connected → first decoded frame ${
        connectedToFrame.toFixed(0)
      } ms ` +
        `(POST → frame ${ms(marks.post, marks.decoded).toFixed(0)} ms), ` +
        `${marks.framesDecoded} frame(s) at ${marks.width}x${marks.height}, ${marks.codec}; ` +
        `${primed(server, "relay")} packets primed, ` +
        `${cachedFrames} frames since the keyframe; the relay ignored ` +
        `${relay.keyframeRequests} keyframe request(s)`,
    );
    if (marks.decoded === undefined) {
      const audio = (await rtp(player, "inbound")).find((s) => s.kind === "audio");
      assert.fail(
        audio?.packets
          ? `no frame decoded in ${NO_FRAME_MS} ms, though audio arrives ` +
            `(${marks.videoPackets} video packets)`
          : `the player: ${NOTHING}`,
      );
    }
    assert.equal(marks.codec, MIME[family], "played in the publisher's codec");
    assert.ok(
      connectedToFrame < FIRST_FRAME_MS,
      `first frame ${connectedToFrame.toFixed(0)} ms after connecting`,
    );
    assert.ok((primed(server, "relay") ?? 0) > 0, "primed from the cache");
    assert.equal(relay.keyframes, keyframes, "no keyframe since the player's join");
    if (svc) assert.ok(layers.length >= 2, "several spatial layers in the key picture's timestamp");
  } finally {
    await Promise.allSettled(pages.map((p) => p.close()));
    await relay.close();
    await server.shutdown();
  }
}

async function without(
  chromium: Awaited<ReturnType<typeof launch>>,
  family: VideoFamily,
  svc?: string,
) {
  const server = await testServer({ KEYFRAME_CACHE_BYTES: "0" });
  const relay = new Relay(family);
  const pages: Page[] = [];
  try {
    const { marks, player, keyframes } = await lateJoin(chromium, server, relay, pages, svc);
    console.log(
      `  ${family}${
        svc ? ` ${svc}` : ""
      }, cache off: ${marks.framesDecoded} frame(s) decoded in the ${NO_FRAME_MS} ms ` +
        `after connecting; the relay ignored ${relay.keyframeRequests} keyframe request(s)`,
    );
    const audio = (await rtp(player, "inbound")).find((s) => s.kind === "audio");
    assert.ok((audio?.packets ?? 0) > 0, `the player: ${NOTHING}`);
    assert.equal(marks.decoded, undefined, "no frame decoded");
    assert.ok(relay.keyframeRequests > 0, "the server asked the relay for a keyframe");
    assert.equal(relay.keyframes, keyframes, "which never came");
  } finally {
    await Promise.allSettled(pages.map((p) => p.close()));
    await relay.close();
    await server.shutdown();
  }
}
