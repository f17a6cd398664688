/**
 * The pages over HTTPS (`TLS_CERT_FILE` / `TLS_KEY_FILE`, a self-signed certificate made by the
 * `openssl` CLI): Chromium, told to accept the certificate as a phone's user would by hand, opens
 * the publish page at `https://127.0.0.1`. The page is a secure context (the camera is allowed and
 * the "needs HTTPS" sentence stays hidden), goes live, and the watch page plays it over the same
 * origin.
 *
 * @module
 */
import assert from "node:assert/strict";
import { testServer } from "../helpers/server.ts";
import { browserTest, click, inboundVideo, launch, screenshot, until } from "./browser.ts";

/** A self-signed certificate for 127.0.0.1 in a temp folder. */
async function selfSigned(): Promise<{ dir: string; cert: string; key: string }> {
  const dir = await Deno.makeTempDir({ prefix: "sfu-tls-" });
  const cert = `${dir}/cert.pem`, key = `${dir}/key.pem`;
  const { code, stderr } = await new Deno.Command("openssl", {
    args: [
      ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
      ...["-days", "1", "-subj", "/CN=localhost"],
      ...["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
      ...["-keyout", key, "-out", cert],
    ],
    stdout: "null",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  return { dir, cert, key };
}

browserTest("https: the publish page is a secure context, goes live, and plays", async (t) => {
  const files = await selfSigned();
  const server = await testServer({ TLS_CERT_FILE: files.cert, TLS_KEY_FILE: files.key });
  const chromium = await launch(["--ignore-certificate-errors"]);
  const errors: string[] = [];
  try {
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const host = await server.token("alice", "tls", "host");
    const guest = await server.token("bob", "tls", "participant");
    const publish = await chromium.page();
    publish.on("pageerror", (e) => errors.push(String(e)));

    await t.step("the publish page over https is a secure context, no HTTPS warning", async () => {
      await publish.goto(`${server.url}/publish.html?room=tls&token=${host}&quality=360&codec=VP8`);
      assert.equal(await publish.evaluate("location.protocol"), "https:");
      assert.equal(await publish.evaluate("window.isSecureContext"), true);
      assert.equal(
        await publish.evaluate("typeof navigator.mediaDevices?.getUserMedia"),
        "function",
      );
      assert.equal(await publish.$eval("#error", (e) => (e as unknown as Hidden).hidden), true);
    });

    await t.step("it goes live", async () => {
      await click(publish, "#go");
      await publish.waitForSelector('#status[data-state="live"]');
      assert.equal(server.rooms.sessions.counts().whip, 1);
      assert.equal(await publish.$eval("#error", (e) => (e as unknown as Hidden).hidden), true);
      await screenshot(publish, "publish-live-https");
    });

    await t.step("the watch page plays it over https", async () => {
      const watch = await chromium.page();
      watch.on("pageerror", (e) => errors.push(String(e)));
      await watch.goto(`${server.url}/watch.html?room=tls&token=${guest}`);
      await watch.waitForSelector('body[data-phase="live"]');
      await until(async () => {
        const video = await inboundVideo(watch);
        return video && (video.framesDecoded ?? 0) > 5 ? video : undefined;
      }, "decoded frames on the watch page");
    });

    assert.deepEqual(errors, [], "no uncaught error in the pages");
  } finally {
    await chromium.close();
    await server.shutdown();
    await Deno.remove(files.dir, { recursive: true });
  }
});

/** An element's `hidden` (DOM types are not in the test's scope). */
type Hidden = { hidden: boolean };
