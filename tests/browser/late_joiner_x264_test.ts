/**
 * Issue 13 with a real broadcast encoder: ffmpeg/libx264 with a long GOP (a keyframe every
 * 600 frames, 20 s, and never on request) republished over WHIP by a werift publisher that
 * ignores PLI (tests/helpers/ffmpeg.ts). A Chromium player that joins three seconds after the
 * only keyframe decodes its first frame within 500 ms of connecting:
 *
 * - parameter sets in-band, each NAL unit in a packet of its own: AUD, SPS, PPS, SEI, then the
 *   IDR in two slices, each in FU-A fragments (x264 `aud=1:repeat-headers=1`, sliced threads);
 * - parameter sets only out of band: x264 writes none in the stream (`+global_header`) and the
 *   WHIP offer signals them in `sprop-parameter-sets`; the cache puts them in front of the IDR.
 *
 * Each runs once against a server with the cache and once with `KEYFRAME_CACHE_BYTES=0`, where
 * no frame may decode. Needs ffmpeg: without it the test fails (requireFfmpeg).
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Page } from "npm:puppeteer-core@25.16.0";
import { testServer } from "../helpers/server.ts";
import { until as poll } from "../helpers/clients.ts";
import { type ParameterSets, requireFfmpeg, X264Publisher } from "../helpers/ffmpeg.ts";
import { browserTest, type Chromium, launch, rtp, until } from "./browser.ts";
import {
  ingested,
  type Marks,
  MID_GOP_MS,
  ms,
  NO_FRAME_MS,
  NOTHING,
  PLAY,
  primed,
  run,
  sleep,
} from "./late-joiner.ts";

/** The property measured: connected → first decoded frame, with the cache. */
const FIRST_FRAME_MS = 500;

/** Publishes x264 to room `x264` and joins a Chromium player mid-GOP. */
async function lateJoin(
  chromium: Chromium,
  cacheBytes: string | undefined,
  parameterSets: ParameterSets,
) {
  const server = await testServer(
    cacheBytes === undefined ? {} : { KEYFRAME_CACHE_BYTES: cacheBytes },
  );
  const publisher = await X264Publisher.create({ parameterSets });
  const pages: Page[] = [];
  try {
    await publisher.publish(`${server.url}/whip/x264`, await server.token("x264", "x264", "host"));
    await poll(() => publisher.sent.keyframes > 0, "x264's first keyframe", 20_000);
    await poll(() => ingested(server, "x264") > 0, `the publisher: ${NOTHING}`, 10_000);
    await sleep(MID_GOP_MS - (performance.now() - publisher.keyframeAt!));
    assert.equal(publisher.sent.keyframes, 1, "mid-GOP: x264 made one keyframe so far");
    if (parameterSets === "sprop") {
      assert.equal(publisher.parameterSetsInBand, 0, "no SPS / PPS in the stream");
    } else assert.ok(publisher.parameterSetsInBand >= 2, "SPS and PPS in the stream");

    const player = await chromium.page();
    pages.push(player);
    await player.goto(`${server.url}/`);
    await player.bringToFront();
    const cachedFrames = publisher.sent.framesSinceKeyframe;
    const marks = await run<Marks>(player, PLAY, {
      endpoint: "/whep/x264",
      token: await server.token("viewer", "x264", "participant"),
      give: NO_FRAME_MS,
    });
    assert.ok(marks.connected !== undefined, "the player connected");
    // audio (a silent Opus track) shows the connection carries media, when no frame decodes
    const audio = await until(
      async () => (await rtp(player, "inbound")).find((s) => s.kind === "audio" && s.packets > 0),
      `the player: ${NOTHING}`,
      5000,
    ).catch(() => undefined);
    const decoded = marks.decoded === undefined ? undefined : await until(
      async () => (await rtp(player, "inbound")).find((s) => s.kind === "video" && s.frameWidth),
      "the decoded frames' size",
      5000,
    );
    const primedPackets = primed(server, "x264");
    return {
      marks,
      audioPackets: audio?.packets ?? 0,
      cachedFrames,
      primedPackets,
      publisher,
      size: `${decoded?.frameWidth}x${decoded?.frameHeight}`,
    };
  } finally {
    await Promise.allSettled(pages.map((p) => p.close()));
    await publisher.close();
    await server.shutdown();
  }
}

for (const parameterSets of ["in-band", "sprop"] as const) {
  browserTest(
    `late joiner mid-GOP, ffmpeg/x264 ignoring PLI, parameter sets ${parameterSets}: the first ` +
      `frame decodes within ${FIRST_FRAME_MS} ms`,
    async (t) => {
      await requireFfmpeg();
      const chromium = await launch();
      try {
        await t.step("with the cache", async () => {
          const { marks, audioPackets, cachedFrames, primedPackets, publisher, size } =
            await lateJoin(
              chromium,
              undefined,
              parameterSets,
            );
          const connectedToFrame = ms(marks.connected, marks.decoded);
          console.log(
            `  x264 ${parameterSets}: first keyframe sent as [${
              publisher.firstKeyframe.join(", ")
            }]${publisher.sprop ? `, sprop-parameter-sets=${publisher.sprop}` : ""}`,
          );
          console.log(
            `  x264 ${parameterSets}, cache on: connected → first decoded frame ` +
              `${connectedToFrame.toFixed(0)} ms (POST → frame ` +
              `${ms(marks.post, marks.decoded).toFixed(0)} ms), ${marks.framesDecoded} frame(s) ` +
              `(${size}), ${marks.codec}; ${primedPackets} ` +
              `packets primed, ${cachedFrames} frames since the keyframe; ` +
              `${publisher.keyframeRequests} keyframe request(s) ignored`,
          );
          assert.ok(audioPackets > 0, `the player: ${NOTHING}`);
          assert.ok(marks.decoded !== undefined, `no frame decoded in ${NO_FRAME_MS} ms`);
          assert.equal(marks.codec, "video/H264");
          assert.equal(size, "640x360", "decoded at the published size");
          assert.ok(
            connectedToFrame < FIRST_FRAME_MS,
            `first frame ${connectedToFrame.toFixed(0)} ms after connecting`,
          );
          assert.equal(publisher.sent.keyframes, 1, "from the one keyframe x264 made");
        });
        await t.step("without (KEYFRAME_CACHE_BYTES=0): no frame", async () => {
          const { marks, audioPackets, publisher } = await lateJoin(chromium, "0", parameterSets);
          console.log(
            `  x264 ${parameterSets}, cache off: ${marks.framesDecoded} frame(s) decoded in the ` +
              `${NO_FRAME_MS} ms after connecting; ${publisher.keyframeRequests} keyframe ` +
              `request(s) ignored`,
          );
          assert.ok(audioPackets > 0, `the player: ${NOTHING}`);
          assert.equal(marks.decoded, undefined, "no frame decoded");
          assert.ok(publisher.keyframeRequests > 0, "the server asked for a keyframe");
          assert.equal(publisher.sent.keyframes, 1, "which never came");
        });
      } finally {
        await chromium.close();
      }
    },
  );
}
