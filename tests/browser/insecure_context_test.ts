/**
 * A page opened over plain http from another machine (as a phone on the LAN opens it) is not a
 * secure context: the browser hides `navigator.mediaDevices`. The publish and room pages must say
 * so in words (HTTPS or localhost, and where the README explains it), not fail with "Cannot read
 * properties of undefined (reading 'getUserMedia')". No real network: Chromium maps the name
 * `sfu.test` to 127.0.0.1 (`--host-resolver-rules`), which it does not count as a secure origin.
 *
 * @module
 */
import assert from "node:assert/strict";
import { demoServer } from "../helpers/server.ts";
import { browserTest, click, launch, screenshot, text } from "./browser.ts";

browserTest(
  "plain http from another name: the pages explain why the camera is missing",
  async (t) => {
    const server = await demoServer({ ICE_LOOPBACK: "true" });
    const chromium = await launch(["--host-resolver-rules=MAP sfu.test 127.0.0.1"]);
    const errors: string[] = [];
    try {
      const demo = server.demo!;
      const base = `http://sfu.test:${new URL(server.url).port}`;
      const page = await chromium.page({ width: 390, height: 844, isMobile: true });
      page.on("pageerror", (e) => errors.push(String(e)));

      await t.step("publish page: a sentence at once, and again on Go live", async () => {
        await page.goto(`${base}/publish.html?room=demo&token=${demo.hostToken}`);
        assert.equal(await page.evaluate("globalThis.isSecureContext"), false);
        await page.waitForSelector("#error:not([hidden])");
        const message = await text(page, "#error");
        assert.match(message, /The camera needs HTTPS/);
        assert.match(message, /HTTPS/);
        assert.match(message, /localhost/);
        assert.match(message, /README/);
        assert.doesNotMatch(message, /Cannot read properties|getUserMedia/);
        await click(page, "#go");
        await new Promise((r) => setTimeout(r, 300));
        assert.match(await text(page, "#error"), /The camera needs HTTPS/);
        await screenshot(page, "publish-insecure-phone");
      });

      await t.step(
        "the demo's tokens are not handed to that page (not this machine's name)",
        async () => {
          const status = await page.evaluate(
            "fetch('/demo.json').then((r) => r.status)",
          );
          assert.equal(status, 403);
          // so the publish page offers no viewer link but says how to mint a viewer token
          assert.match(await text(page, "#hint"), /--role viewer/);
        },
      );

      await t.step("room page: the same sentence in the lobby and on Join", async () => {
        await page.goto(`${base}/room.html?room=demo&token=${demo.participantToken}`);
        await page.waitForSelector("#error:not([hidden])");
        assert.match(await text(page, "#error"), /The camera needs HTTPS/);
        await click(page, "#join");
        await new Promise((r) => setTimeout(r, 300));
        assert.match(await text(page, "#error"), /The camera needs HTTPS/);
        assert.equal(server.rooms.sessions.all().length, 0, "nothing was posted");
      });

      assert.deepEqual(errors, [], "no uncaught error in the pages");
    } finally {
      await chromium.close();
      await server.shutdown();
    }
  },
);
