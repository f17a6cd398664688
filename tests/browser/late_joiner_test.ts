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
 * Each leg is checked to carry media before anything is timed (see late-joiner.ts).
 */
import assert from "node:assert/strict";
import type { Page } from "npm:puppeteer-core@25.16.0";
import { testServer } from "../helpers/server.ts";
import { browserTest, inboundVideo, launch, rtp, until } from "./browser.ts";
import {
  FREEZES,
  lateJoin,
  MID_GOP_MS,
  ms,
  NO_FRAME_MS,
  NOTHING,
  Relay,
  run,
  WIDTH,
} from "./late-joiner.ts";

/** The property measured: connected → first decoded frame, with the cache. */
const FIRST_FRAME_MS = 300;

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
            assert.equal(relay.keyframes, 1, "and all from the one keyframe");
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
            assert.equal(relay.keyframes, 1, "which never came");
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
