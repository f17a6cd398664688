/**
 * Recording a Chromium publisher (issue 20): Chromium publishes its fake camera and microphone
 * in VP8, then H.264 (OpenH264), then AV1 (libaom), the host records ~10 s through the API, and
 * the WebM file is checked with ffprobe (both streams, durations within 5 % of the time recorded,
 * audio packets at least 95 % of those Chromium sent meanwhile) and decoded by ffmpeg without an
 * error; then the publish page lists it with a download link that fetches the same bytes.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { testServer } from "../helpers/server.ts";
import { call } from "../helpers/clients.ts";
import { browserTest, launch, rtp, until } from "./browser.ts";
import { MIME, PUBLISH, run, type VideoFamily } from "./late-joiner.ts";
import { decodeErrors, finalised, probe } from "../integration/recording_media.ts";

const RECORD_MS = 10_000;

for (const family of ["vp8", "h264", "av1"] as VideoFamily[]) {
  browserTest(`recording Chromium's ${MIME[family]} + Opus: ffprobe and ffmpeg agree`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "sfu-rec-browser-" });
    const server = await testServer({ RECORDINGS_DIR: dir });
    const chromium = await launch();
    const room = `rec-${family}`;
    try {
      const token = await server.token("host", room);
      const page = await chromium.page();
      await page.goto(`${server.url}/`);
      await run(page, PUBLISH, {
        endpoint: `${server.url}/whip/${room}`,
        token,
        width: 640,
        height: 360,
        mime: MIME[family],
      });
      const audioSent = async () =>
        (await rtp(page, "outbound")).find((s) => s.kind === "audio")?.packets ?? 0;
      await until(async () => (await audioSent()) > 50, "Chromium sending audio");
      const base = `${server.url}/rooms/${room}/recordings`;
      const post = await call(base, token, { method: "POST" });
      assert.equal(post.status, 201);
      const { id } = await post.json();
      const list = async () => (await (await call(base, token)).json()).recordings[0];
      const live = await until(async () => {
        const r = await list();
        return r.state === "recording" ? r : undefined;
      }, "the recording's first keyframe");
      const sentBefore = await audioSent();
      await new Promise((r) => setTimeout(r, RECORD_MS));
      const sentAfter = await audioSent();
      const stopped = await call(`${base}/${id}`, token, { method: "DELETE" });
      assert.equal(stopped.status, 200);
      const view = await stopped.json();
      assert.equal(view.state, "done");
      assert.equal(view.codecs.video.toLowerCase(), family);
      const path = join(dir, room, view.name);
      const recorded = (Date.parse(view.endedAt) - Date.parse(live.startedAt)) / 1000;
      const probed = await probe(path);
      assert.equal(probed.streams.video?.codec, family);
      assert.equal(probed.streams.audio?.codec, "opus");
      for (const kind of ["audio", "video"]) {
        const span = probed.streams[kind].span;
        assert.ok(Math.abs(span - recorded) / recorded < 0.05, `${kind}: ${span} s of ${recorded}`);
      }
      const sent = sentAfter - sentBefore;
      assert.ok(
        probed.streams.audio.packets >= 0.95 * sent,
        `${probed.streams.audio.packets} audio packets of ${sent}`,
      );
      assert.equal(await decodeErrors(path), "");
      assert.ok(await finalised(path));

      // the publish page lists it with a download link, which saves the same bytes
      const publish = await chromium.page();
      await publish.goto(`${server.url}/publish.html?room=${room}&token=${token}`);
      const link = await until(
        () =>
          publish.$eval("#recordings a.download", (a) => a.getAttribute("href")).catch(() => ""),
        "the download link",
      );
      assert.equal(link, `/rooms/${room}/recordings/${id}`);
      const size = await publish.evaluate(
        async (href: string, token: string) => {
          const r = await fetch(href, { headers: { Authorization: `Bearer ${token}` } });
          return r.ok && r.headers.get("Content-Type") === "video/webm"
            ? (await r.blob()).size
            : -1;
        },
        link,
        token,
      );
      assert.equal(size, (await Deno.stat(path)).size);
    } finally {
      await chromium.close();
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  });
}
