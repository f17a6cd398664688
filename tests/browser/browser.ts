/**
 * Drives Debian's headless Chromium (fake camera and microphone) with puppeteer-core for the
 * browser tests, and a probe injected in every page that reads `getStats()` of every
 * `RTCPeerConnection` the page creates, independently of the page's own code.
 *
 * @module
 */
import puppeteer, { type Browser, type Page } from "npm:puppeteer-core@25.16.0";

/** Debian's Chromium. */
export const CHROMIUM = "/usr/bin/chromium";

/** Where screenshots go (gitignored). */
export const ARTIFACTS = new URL("../artifacts/", import.meta.url);

const present = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();

/**
 * `Deno.test` for a test that needs Chromium. Without `/usr/bin/chromium` it is reported as
 * ignored (naming the install command), unless `CI` is set: then it runs and fails.
 */
export function browserTest(name: string, fn: (t: Deno.TestContext) => Promise<void>): void {
  const skip = !present && !Deno.env.get("CI");
  Deno.test({
    name: skip ? `${name} (ignored: no ${CHROMIUM}; apt-get install chromium)` : name,
    ignore: skip,
    // Puppeteer itself (pipe transport, browser closed in each test's finally) leaves nothing
    // behind. The server does, after its shutdown(), for reasons outside these tests: the SSE
    // handlers' 15 s keep-alive timers are not cleared when a stream ends (routes/rooms.ts,
    // routes/whep-extensions.ts), werift's SRTP ciphers (node:crypto) are never closed, and
    // the metrics loop-lag sampler's interval outlives the app. So no sanitizers here.
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async (t) => {
      if (!present) {
        throw new Error(`${CHROMIUM} is missing: apt-get install chromium (CI requires it)`);
      }
      await fn(t);
    },
  });
}

/** A launched browser and its profile directory. */
export interface Chromium {
  /** The browser. */
  browser: Browser;
  /** A new page with the probe, a viewport and short timeouts. */
  page(viewport?: { width: number; height: number; isMobile?: boolean }): Promise<Page>;
  /** Closes the browser and removes its profile. */
  close(): Promise<void>;
}

/**
 * Launches headless Chromium with a fresh profile and the fake media devices; `extraArgs` are
 * added to its command line (e.g. `--host-resolver-rules=…`).
 */
export async function launch(extraArgs: string[] = []): Promise<Chromium> {
  const profile = await Deno.makeTempDir({ prefix: "sfu-chromium-" });
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    pipe: true,
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
    args: [
      "--headless=new",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--use-fake-device-for-media-stream",
      "--use-fake-ui-for-media-stream",
      "--allow-loopback-in-peer-connection",
      "--disable-features=WebRtcHideLocalIpsWithMdns",
      `--user-data-dir=${profile}`,
      ...extraArgs,
    ],
  });
  const probe = await Deno.readTextFile(new URL("./probe.js", import.meta.url));
  return {
    browser,
    async page(viewport = { width: 1280, height: 800 }) {
      const page = await browser.newPage();
      page.setDefaultTimeout(15_000);
      await page.setViewport({ ...viewport, deviceScaleFactor: 1 });
      await page.evaluateOnNewDocument(probe);
      page.on("pageerror", (e) => console.error(`[page error] ${page.url()}: ${e}`));
      page.on("console", (m) => {
        if (m.type() === "error" && !/Failed to load resource/.test(m.text())) {
          console.error(`[console] ${page.url().split("?")[0]}: ${m.text()}`);
        }
      });
      return page;
    },
    async close() {
      try {
        await browser.close();
      } finally {
        await Deno.remove(profile, { recursive: true }).catch(() => {});
      }
    },
  };
}

/** One RTP stream as the probe reports it. */
export interface RtpStats {
  /** `audio` or `video`. */
  kind: string;
  /** Which connection of the page (creation order). */
  pc: number;
  /** inbound: decoded video frames. */
  framesDecoded?: number;
  /** inbound: packets received; outbound: packets sent. */
  packets: number;
  /** Frame size, when video. */
  frameWidth?: number;
  /** Frame size, when video. */
  frameHeight?: number;
  /** outbound: simulcast rid. */
  rid?: string;
}

/** The inbound or outbound RTP streams of every open connection of the page. */
export function rtp(page: Page, direction: "inbound" | "outbound"): Promise<RtpStats[]> {
  return page.evaluate(`__probe.rtp(${JSON.stringify(direction)})`) as Promise<RtpStats[]>;
}

/** The inbound video stream of the page (the first one), or undefined. */
export async function inboundVideo(page: Page): Promise<RtpStats | undefined> {
  return (await rtp(page, "inbound")).find((s) => s.kind === "video");
}

/** Polls `check` every 250 ms until it returns a truthy value, or fails after `ms`. */
export async function until<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  what: string,
  ms = 15_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${last})` : ""}`);
}

/**
 * Clicks `selector` after bringing the page to the front: in a background tab Chromium runs no
 * animation frames, and puppeteer's click waits for one.
 */
export async function click(page: Page, selector: string): Promise<void> {
  await page.bringToFront();
  await page.click(selector);
}

/** The page's visible text. */
export function text(page: Page, selector = "body"): Promise<string> {
  return page.$eval(selector, (el) => (el as unknown as { innerText: string }).innerText);
}

/** Writes a PNG of the page to tests/artifacts/NAME.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await Deno.mkdir(ARTIFACTS, { recursive: true });
  const path = new URL(`${name}.png`, ARTIFACTS).pathname as `${string}.png`;
  // a background tab paints nothing: bring it to the front and let it paint fresh frames
  await page.bringToFront();
  await page.evaluate(
    "new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(r, 300))))",
  );
  await page.screenshot({ path, fullPage: true });
}

/** Waits until the page's inbound video has decoded `more` frames more than its first ones. */
export async function framesRise(
  page: Page,
  what: string,
  more = 10,
  firstWithinMs = 15_000,
): Promise<number> {
  const first = await until(
    async () => {
      const v = await inboundVideo(page);
      return v && (v.framesDecoded ?? 0) > 0 ? v.framesDecoded! : undefined;
    },
    `${what}: first decoded frames`,
    firstWithinMs,
  );
  return await until(async () => {
    const v = await inboundVideo(page);
    return v && (v.framesDecoded ?? 0) >= first + more ? v.framesDecoded! : undefined;
  }, `${what}: frames decoded rising`);
}
