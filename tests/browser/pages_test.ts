/**
 * The pages in a real browser (Debian's headless Chromium, fake camera and microphone), against a
 * real server: publish → watch, the two-way room, errors, and the home page.
 * Screenshots of each page in its live state go to tests/artifacts/.
 */
import assert from "node:assert/strict";
import { SignJWT } from "jose";
import type { Page } from "npm:puppeteer-core@25.16.0";
import { demoServer, TEST_SECRET, testServer } from "../helpers/server.ts";
import { metrics } from "../../src/metrics/counters.ts";
import { egressPath } from "../../src/media/send-path.ts";
import {
  browserTest,
  click,
  inboundVideo,
  launch,
  rtp,
  type RtpStats,
  screenshot,
  text,
  until,
} from "./browser.ts";

/** An element's box, as the page sees it (DOM types are not in the test's scope). */
type Box = { getBoundingClientRect(): { top: number; bottom: number } };

/** Waits until the page's inbound video has decoded more frames than before, returns it. */
async function framesRise(page: Page, what: string, more = 10): Promise<RtpStats> {
  const first = await until(async () => {
    const v = await inboundVideo(page);
    return v && (v.framesDecoded ?? 0) > 0 ? v : undefined;
  }, `${what}: first decoded frames`);
  return await until(async () => {
    const v = await inboundVideo(page);
    return v && (v.framesDecoded ?? 0) >= (first.framesDecoded ?? 0) + more ? v : undefined;
  }, `${what}: frames decoded rising`);
}

/** Waits until the inbound audio packets count rises. */
async function audioRises(page: Page, what: string): Promise<void> {
  const audio = async () => (await rtp(page, "inbound")).find((s) => s.kind === "audio");
  const first = await until(async () => {
    const a = await audio();
    return a && a.packets > 0 ? a : undefined;
  }, `${what}: audio packets`);
  await until(async () => {
    const a = await audio();
    return a && a.packets >= first.packets + 20 ? a : undefined;
  }, `${what}: audio packets rising`);
}

/** Waits until `viewer` decodes video of the size `sender` sends (one layer, no simulcast). */
async function sameSize(viewer: Page, sender: Page, what: string): Promise<string> {
  return await until(async () => {
    const sent = (await rtp(sender, "outbound")).find((s) => s.kind === "video");
    const got = await inboundVideo(viewer);
    if (!sent?.frameWidth || !got?.frameWidth) return undefined;
    return sent.frameWidth === got.frameWidth && sent.frameHeight === got.frameHeight
      ? `${got.frameWidth}x${got.frameHeight}`
      : undefined;
  }, `${what}: decoded size equal to the sent size`);
}

/** Waits until the page's own stats list shows `size` and a video and audio bitrate. */
async function statsShown(page: Page, size: string): Promise<void> {
  await until(async () => {
    const stats = await text(page, "#stats");
    return stats.includes(size) && /VP8 · [1-9]/.test(stats) && /opus · [1-9]/.test(stats);
  }, `stats showing ${size} on ${page.url().split("?")[0]}`);
}

/** The page's `data-phase` (watch and room pages). */
function phase(page: Page): Promise<string | undefined> {
  return page.$eval("body", (b) => (b as unknown as { dataset: { phase?: string } }).dataset.phase);
}

async function waitPhase(page: Page, wanted: string): Promise<void> {
  await page.waitForSelector(`body[data-phase="${wanted}"]`);
}

/** The fields of Chromium's `remote-outbound-rtp` stats the test reads. */
interface RemoteOutbound {
  type: string;
  kind: string;
  packetsSent: number;
  remoteTimestamp: number;
}

browserTest("publish page → watch page: waits for the host, decodes video and audio", async (t) => {
  const server = await testServer({ MAX_PARTICIPANTS: "4" });
  const chromium = await launch();
  try {
    const host = await server.token("alice", "live", "host");
    const guest = await server.token("bob", "live", "participant");
    const watch = await chromium.page();
    const publish = await chromium.page();

    await t.step("the watch page waits while the room is not open", async () => {
      await watch.goto(`${server.url}/watch.html?room=live&token=${guest}`);
      await waitPhase(watch, "waiting");
      assert.match(await text(watch, "#overlay"), /Waiting for the host/);
      await screenshot(watch, "watch-waiting");
    });

    await t.step("the publish page goes live (camera and microphone, VP8, 360p)", async () => {
      await publish.goto(
        `${server.url}/publish.html?room=live&token=${host}&quality=360&codec=VP8`,
      );
      await click(publish, "#go");
      await publish.waitForSelector('#status[data-state="live"]');
      assert.equal(server.rooms.sessions.counts().whip, 1);
      const sent = await until(async () => {
        const v = (await rtp(publish, "outbound")).find((s) => s.kind === "video");
        return v?.frameWidth ? v : undefined;
      }, "the publisher's first encoded frames");
      assert.equal(sent.frameWidth, 640);
      assert.equal(sent.frameHeight, 360);
    });

    await t.step(
      "the watch page plays: frames decode at the published size, audio arrives",
      async () => {
        const nativeBefore = metrics.egressPackets.get("native");
        await waitPhase(watch, "live");
        await framesRise(watch, "watch");
        if (egressPath(true).native) {
          // Chromium decodes what the native path protected (it offers AES-CM, werift prefers GCM)
          assert.ok(metrics.egressPackets.get("native") > nativeBefore, "native egress used");
          const cipher = await watch.evaluate(async () => {
            const stats = await (globalThis as unknown as {
              watchPage: {
                whep: {
                  pc: { getStats(): Promise<Map<string, { type: string; srtpCipher?: string }>> };
                };
              };
            }).watchPage.whep.pc.getStats();
            return [...stats.values()].find((s) => s.type === "transport")?.srtpCipher;
          });
          assert.match(String(cipher), /AES128_CM_HMAC_SHA1_80|AEAD_AES_128_GCM/);
          console.log(`Chromium player's SRTP cipher: ${cipher}`);
        }
        // Chromium reads the server's RTCP sender reports: its remote-outbound-rtp stats come
        // from nothing else, and their remote timestamp is the report's NTP time
        const report = await until(async () => {
          const remote = await watch.evaluate(async () => {
            const stats = await (globalThis as unknown as {
              watchPage: { whep: { pc: { getStats(): Promise<Map<string, RemoteOutbound>> } } };
            }).watchPage.whep.pc.getStats();
            return [...stats.values()].filter((s) => s.type === "remote-outbound-rtp");
          });
          return remote.find((s) => s.kind === "video" && s.packetsSent > 0);
        }, "a sender report from the server in Chromium's stats");
        assert.ok(
          Math.abs(report.remoteTimestamp - Date.now()) < 5000,
          `SR time ${new Date(report.remoteTimestamp).toISOString()}`,
        );
        const size = await sameSize(watch, publish, "watch");
        assert.equal(size, "640x360");
        await audioRises(watch, "watch");
        // the pages' own stats show it too, with a bitrate
        await statsShown(watch, "640×360");
        await statsShown(publish, "640×360");
        await screenshot(publish, "publish-live");
        await screenshot(watch, "watch-live");
      },
    );

    await t.step(
      "the live publish page: stats in view, no host token in a link for viewers",
      async () => {
        // at 1280×800 every stats row is above the fold
        const bottom = await publish.$$eval(
          "#stats dd",
          (dds) =>
            Math.max(
              ...dds.map((d) => (d as unknown as Box).getBoundingClientRect().bottom),
            ),
        );
        assert.ok(bottom > 0 && bottom <= 800, `last stats row ends at ${bottom} px`);
        // not in demo mode: the page says how to mint a viewer token, and links no token
        const hint = await text(publish, "#hint");
        assert.match(hint, /npx -y deno task token --role viewer --room live/);
        const hrefs = await publish.$$eval(
          "a",
          (as) => as.map((a) => (a as unknown as { href: string }).href),
        );
        assert.ok(
          !hrefs.some((h) => h.includes(host)),
          "no link carries the host's token",
        );
        // one label per thing: the overlay's status and the button differ
        assert.equal(await text(publish, "#cam"), "Turn camera off");
      },
    );

    await t.step("ICE restart on both sides (PATCH If-Match: *): media keeps flowing", async () => {
      const etag = server.rooms.sessions.all().find((s) => s.kind === "whip")!.etag;
      await publish.evaluate("publishPage.whip.restartIce()");
      await watch.evaluate("watchPage.whep.restartIce()");
      assert.equal(await publish.evaluate("publishPage.whip.iceRestarts"), 1);
      assert.equal(await watch.evaluate("watchPage.whep.iceRestarts"), 1);
      assert.notEqual(server.rooms.sessions.all().find((s) => s.kind === "whip")!.etag, etag);
      await publish.waitForSelector('#status[data-state="live"]');
      await framesRise(watch, "after ICE restart", 20);
      assert.deepEqual(server.rooms.sessions.counts(), { whip: 1, whep: 1 });
      assert.equal(await publish.evaluate("publishPage.whip.sessions"), 1, "no new POST");
    });

    await t.step("the publisher reconnects by itself when its session is dropped", async () => {
      const old = server.rooms.sessions.all().find((s) => s.kind === "whip")!;
      await fetch(`${server.url}/sessions/${old.id}`, {
        method: "DELETE",
        headers: { Authorization: `Bearer ${host}` },
      }).then((r) => r.body?.cancel());
      await until(
        async () => (await publish.evaluate("publishPage.whip.sessions")) === 2,
        "a new WHIP POST",
        25_000,
      );
      await publish.waitForSelector('#status[data-state="live"]');
      const now = server.rooms.sessions.all().find((s) => s.kind === "whip");
      assert.ok(now && now.id !== old.id);
      await framesRise(watch, "after the publisher reconnected", 20);
    });

    await t.step(
      "simulcast: the watch page offers the layers, and picking one plays it",
      async () => {
        await publish.bringToFront();
        await publish.select("#quality", "720"); // 3 layers: 320x180, 640x360, 1280x720
        await click(publish, "#simulcast"); // a new POST with three encodings
        await until(
          async () =>
            (await publish.evaluate("publishPage.whip?.sessions")) === 1 &&
            (await rtp(publish, "outbound")).filter((s) => s.kind === "video" && s.rid).length ===
              3,
          "three simulcast layers sent",
        );
        await publish.waitForSelector('#status[data-state="live"]');
        // Auto, then the layers the publisher sends, largest first, named by their height.
        // Chrome starts with the q layer and adds h and f as its bandwidth estimate grows.
        const labels = await until(
          async () => {
            const l = await watch.$$eval("#layer:not([hidden]) option", (os) =>
              os.map((o) => {
                const { value, textContent } = o as unknown as {
                  value: string;
                  textContent: string;
                };
                return `${value}=${textContent}`;
              }));
            return l.length >= 3 ? l : undefined;
          },
          "Auto and two layers or more in the picker",
          30_000,
        );
        assert.equal(labels[0], "=Auto");
        assert.equal(labels.at(-1), "q=180p");
        assert.match(labels[1], /^(f=720p|h=360p)$/);
        await watch.select("#layer", "q");
        await until(async () => (await inboundVideo(watch))?.frameWidth === 320, "the q layer");
        await framesRise(watch, "on the q layer");
        const [top, height] = labels[1].split(/=|p$/);
        await watch.select("#layer", top);
        await until(
          async () => (await inboundVideo(watch))?.frameHeight === Number(height),
          `the ${top} layer`,
        );
      },
    );

    await t.step("a phone-sized screen shows the player", async () => {
      await watch.setViewport({ width: 390, height: 844, isMobile: true, deviceScaleFactor: 1 });
      await watch.bringToFront();
      await statsShown(watch, "×");
      // the buttons sit below the picture, not on it
      const [video, mute] = await Promise.all(
        ["#video", "#mute"].map((sel) =>
          watch.$eval(sel, (e) => {
            const r = (e as unknown as Box).getBoundingClientRect();
            return { top: r.top, bottom: r.bottom };
          })
        ),
      );
      assert.ok(
        mute.top >= video.bottom,
        `Unmute at ${mute.top} px, video ends at ${video.bottom}`,
      );
      await screenshot(watch, "watch-phone");
    });
  } finally {
    await chromium.close();
    await server.shutdown();
  }
});

browserTest(
  "room page: host and participant see each other; ending the room ends both",
  async (t) => {
    const server = await testServer({ MAX_PARTICIPANTS: "4" });
    const chromium = await launch();
    try {
      const host = await server.token("hana", "call", "host");
      const guest = await server.token("gus", "call", "participant");
      const hostPage = await chromium.page();
      const guestPage = await chromium.page();

      await t.step("both join the call", async () => {
        await hostPage.goto(`${server.url}/room.html?room=call&token=${host}&quality=360`);
        await guestPage.goto(`${server.url}/room.html?room=call&token=${guest}&quality=360`);
        assert.equal(
          await hostPage.$eval("#end", (e) => (e as unknown as { hidden: boolean }).hidden),
          true,
        );
        await click(hostPage, "#join");
        await waitPhase(hostPage, "live");
        assert.equal(
          await hostPage.$eval("#end", (e) => (e as unknown as { hidden: boolean }).hidden),
          false,
          "the host has an End room button",
        );
        await click(guestPage, "#join");
        await waitPhase(guestPage, "live");
        assert.equal(
          await guestPage.$eval("#end", (e) => (e as unknown as { hidden: boolean }).hidden),
          true,
          "a participant has none",
        );
      });

      await t.step("each decodes the other's video, at the size the other sends", async () => {
        await hostPage.waitForSelector('.stage[data-publisher="gus"]');
        await guestPage.waitForSelector('.stage[data-publisher="hana"]');
        await framesRise(hostPage, "host sees guest");
        await framesRise(guestPage, "guest sees host");
        await sameSize(hostPage, guestPage, "host sees guest");
        await sameSize(guestPage, hostPage, "guest sees host");
        await audioRises(hostPage, "host hears guest");
        await audioRises(guestPage, "guest hears host");
        // 2 WHIP + 2 WHEP
        assert.deepEqual(server.rooms.sessions.counts(), { whip: 2, whep: 2 });
        await screenshot(hostPage, "room-host");
        await screenshot(guestPage, "room-guest");
      });

      await t.step(
        "tiles leave and come back live: the guest leaves, then joins again",
        async () => {
          await click(guestPage, "#leave");
          await waitPhase(guestPage, "left");
          await hostPage.waitForSelector('.stage[data-publisher="gus"]', { hidden: true });
          await until(
            () => JSON.stringify(server.rooms.sessions.counts()) === '{"whip":1,"whep":0}',
            "only the host's WHIP session left",
          );
          await click(guestPage, "#rejoin");
          await waitPhase(guestPage, "live");
          await hostPage.waitForSelector('.stage[data-publisher="gus"]');
          await guestPage.waitForSelector('.stage[data-publisher="hana"]');
          await framesRise(hostPage, "host sees guest again");
          await framesRise(guestPage, "guest sees host again");
        },
      );

      await t.step("ending the room ends both pages and every session", async () => {
        await click(hostPage, "#end"); // asks
        await click(hostPage, "#end"); // confirms
        await waitPhase(hostPage, "ended");
        await waitPhase(guestPage, "ended");
        assert.match(await text(hostPage, "#ended"), /The room has ended/);
        assert.match(await text(guestPage, "#ended"), /The room has ended/);
        await until(() => server.rooms.sessions.all().length === 0, "no session left");
        assert.equal(server.rooms.size, 0);
        assert.equal(await guestPage.$$eval(".stage", (els) => els.length), 0, "no tile left");
        await screenshot(guestPage, "room-ended");
      });
    } finally {
      await chromium.close();
      await server.shutdown();
    }
  },
);

browserTest("a bad token shows the error on the page", async (t) => {
  const server = await testServer();
  const chromium = await launch();
  try {
    const page = await chromium.page();

    await t.step("a token typed into the page stays out of the address bar", async () => {
      await page.goto(`${server.url}/watch.html`);
      await page.waitForSelector("#join:not([hidden])");
      await page.type("#room", "live");
      await page.type("#token", "typed-not-a-token");
      await click(page, "#join button[type=submit]");
      await page.waitForSelector('#error:not([hidden])[data-status="401"]');
      const url = new URL(page.url());
      assert.equal(url.searchParams.get("room"), "live");
      assert.equal(url.searchParams.get("token"), null, page.url());
    });

    await t.step("publish page without room and token: says what is missing", async () => {
      await page.goto(`${server.url}/publish.html`);
      await click(page, "#go");
      await page.waitForSelector("#error:not([hidden])");
      const message = await text(page, "#error");
      assert.match(message, /Room and token needed/);
      assert.doesNotMatch(message, /Something went wrong/);
      assert.match(await text(page, "#overlay"), /Not live/);
    });

    await t.step("watch page, a token that is not a JWT: 401 explained", async () => {
      await page.goto(`${server.url}/watch.html?room=live&token=not-a-token`);
      await page.waitForSelector('#error:not([hidden])[data-status="401"]');
      const message = await text(page, "#error");
      assert.match(message, /Invalid token/);
      assert.match(message, /token malformed/);
      await waitPhase(page, "error");
    });

    await t.step("publish page, an expired token: 401 explained", async () => {
      const now = Math.floor(Date.now() / 1000);
      const expired = await new SignJWT({ room: "live", role: "host" })
        .setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .setSubject("alice")
        .setIssuedAt(now - 7200)
        .setExpirationTime(now - 3600)
        .sign(new TextEncoder().encode(TEST_SECRET));
      await page.goto(`${server.url}/publish.html?room=live&token=${expired}`);
      assert.match(await text(page, "#who"), /expired/, "the token summary says so before");
      await click(page, "#go");
      await page.waitForSelector('#error:not([hidden])[data-status="401"]');
      assert.match(await text(page, "#error"), /Token expired/);
      assert.equal(server.rooms.sessions.all().length, 0);
      await screenshot(page, "publish-error");
    });

    await t.step("room page, a token for another room: 403 explained", async () => {
      const other = await server.token("gus", "elsewhere", "participant");
      await page.goto(`${server.url}/room.html?room=call&token=${other}`);
      await click(page, "#join");
      await page.waitForSelector('#error:not([hidden])[data-status="403"]');
      assert.match(await text(page, "#error"), /Not allowed/);
      assert.match(await text(page, "#error"), /elsewhere/);
      assert.equal(await phase(page), "error");
    });
  } finally {
    await chromium.close();
    await server.shutdown();
  }
});

browserTest("home page: links to the pages, and demo links in demo mode", async () => {
  const server = await demoServer({ HOST: "127.0.0.1", ICE_LOOPBACK: "true" });
  const chromium = await launch();
  try {
    const demo = server.demo;
    assert.ok(demo, "no JWT_SECRET: demo mode");
    const page = await chromium.page();
    await page.goto(`${server.url}/`);
    await page.waitForSelector("#demo:not([hidden])");
    const links = await page.$$eval(
      "a",
      (as) => as.map((a) => (a as unknown as { href: string }).href),
    );
    for (const p of ["publish.html", "watch.html", "room.html"]) {
      assert.ok(links.some((l) => l.endsWith(`/${p}`)), `a plain link to ${p}`);
    }
    const demoLinks = links.filter((l) => l.includes("token="));
    assert.equal(demoLinks.length, 4);
    assert.ok(demoLinks.some((l) => l.includes("publish.html") && l.includes(demo.hostToken)));
    assert.ok(
      demoLinks.some((l) => l.includes("watch.html") && l.includes(demo.viewerToken)),
      "the watch link carries the viewer token",
    );
    assert.ok(
      !demoLinks.some((l) => l.includes("watch.html") && l.includes(demo.hostToken)),
      "no watch link carries the host's token",
    );
    // a favicon, linked and at /favicon.ico
    const icon = await fetch(`${server.url}/favicon.ico`);
    assert.equal(icon.status, 200);
    assert.match(icon.headers.get("Content-Type") ?? "", /image\/svg\+xml/);
    await icon.body?.cancel();
    assert.equal(
      await page.$eval('link[rel="icon"]', (l) => l.getAttribute("href")),
      "favicon.svg",
    );
    // the demo's publish page links the viewer link for the audience
    const publish = await chromium.page();
    await publish.goto(`${server.url}/publish.html?room=demo&token=${demo.hostToken}`);
    await publish.waitForSelector("#viewer-link");
    const viewer = await publish.$eval(
      "#viewer-link",
      (a) => (a as unknown as { href: string }).href,
    );
    assert.ok(viewer.includes(demo.viewerToken) && !viewer.includes(demo.hostToken), viewer);
    await screenshot(page, "index");
    // the library is served as a JavaScript module, revalidated on every load (no build step)
    const lib = await fetch(`${server.url}/lib/whip-whep.js`);
    assert.match(lib.headers.get("Content-Type") ?? "", /javascript/);
    assert.equal(lib.headers.get("Cache-Control"), "no-cache");
    assert.match(await lib.text(), /export class WhipClient/);
  } finally {
    await chromium.close();
    await server.shutdown();
  }
});
