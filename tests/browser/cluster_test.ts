/**
 * Cluster mode in a real browser: Debian's headless Chromium (fake camera), Debian's
 * redis-server and three server processes (A, B, C) sharing it.
 *
 * - The publish page on A (host token) goes live; the watch page on C (an edge pulling from A)
 *   decodes its frames.
 * - A room opened on A (`PUT /rooms/{room}`) is published into through B by a participant's
 *   publish page: the page's WHIP POST goes to B (same origin as the page), B relays it to A,
 *   and the answer's `Location` names A. The page's trickle PATCHes and its DELETE then go to A
 *   directly, cross-origin with `Authorization`: they must get through (CORS, and the page's
 *   Content-Security-Policy) with no error in the page's console. The watch page on C with
 *   `?publisher=` plays that participant.
 *
 * It was quarantined once: an edge's Chromium player sometimes decoded nothing. Two causes, both
 * gone: the edge republished what it pulled over a second WebRTC leg into itself, whose first
 * packets (the origin's cached keyframe) were lost before that leg was up; and the keyframe it
 * then asked for never reached the origin (werift routed the PLI of its own offers to a
 * receiver). The edge now feeds its players from the pull itself (`media/pull.ts`), and the
 * server reads keyframe requests at the transport (`media/keyframe-request.ts`).
 *
 * @module
 */
import assert from "node:assert/strict";
import type { HTTPRequest, HTTPResponse, Page } from "npm:puppeteer-core@25.16.0";
import { startRedis } from "../helpers/redis.ts";
import { startNode } from "../helpers/cluster.ts";
import { call } from "../helpers/clients.ts";
import type { ServerProcess } from "../helpers/process.ts";
import { browserTest, type Chromium, click, framesRise, launch, until } from "./browser.ts";

/** What a page did on the network and said in its console. */
interface Journal {
  /** Every response: method, URL, status. */
  responses: { method: string; url: string; status: number }[];
  /** Every request that failed (network error, CORS, CSP): method, URL, reason. */
  failed: { method: string; url: string; reason: string }[];
  /** Every console message and page error, as `type: text`. */
  console: string[];
}

/** Starts recording the page's responses, failed requests and console. */
function journal(page: Page): Journal {
  const j: Journal = { responses: [], failed: [], console: [] };
  page.on("response", (r: HTTPResponse) => {
    j.responses.push({ method: r.request().method(), url: r.url(), status: r.status() });
  });
  page.on("requestfailed", (r: HTTPRequest) => {
    j.failed.push({ method: r.method(), url: r.url(), reason: r.failure()?.errorText ?? "?" });
  });
  page.on("console", (m) => j.console.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => j.console.push(`pageerror: ${e}`));
  return j;
}

/** `http://127.0.0.1:PORT` of a URL. */
const originOf = (url: string) => new URL(url).origin;

/** Console lines about CORS, CSP or a blocked connection. */
const blocked = (j: Journal) =>
  j.console.filter((l) =>
    /CORS|Access-Control|Content Security Policy|Refused to connect|ERR_BLOCKED|ERR_FAILED/i.test(l)
  );

/** The page's WHIP or WHEP session URL (absolute), once it has one. */
function sessionUrl(page: Page, client: "publishPage.whip" | "watchPage.whep"): Promise<string> {
  return until<string>(
    async () => (await page.evaluate(`globalThis.${client}?.location ?? ""`)) as string,
    `${client}: a session URL`,
  );
}

browserTest(
  "cluster in Chromium: publish on A, watch on C; publish through B into A's room",
  async (t) => {
    const redis = await startRedis();
    const nodes: ServerProcess[] = [];
    let chromium: Chromium | undefined;
    try {
      const logLevel = Deno.env.get("LOG_LEVEL") ?? "warn";
      nodes.push(
        ...await Promise.all(
          ["a", "b", "c"].map((id) => startNode(id, redis.url, { LOG_LEVEL: logLevel })),
        ),
      );
      const [a, b, c] = nodes;
      chromium = await launch();

      await t.step("the publish page on A goes live; the watch page on C decodes", async () => {
        const room = "browser-a";
        const host = await a.token("alice", room, "host");
        const viewer = await a.token("viewer", room, "viewer");
        const publish = await chromium!.page();
        const watch = await chromium!.page();
        try {
          await publish.goto(
            `${a.url}/publish.html?room=${room}&token=${host}&quality=360&codec=VP8`,
          );
          await click(publish, "#go");
          await publish.waitForSelector('#status[data-state="live"]');
          assert.equal(originOf(await sessionUrl(publish, "publishPage.whip")), originOf(a.url));

          await watch.goto(`${c.url}/watch.html?room=${room}&token=${viewer}`);
          await watch.waitForSelector('body[data-phase="live"]');
          assert.equal(
            originOf(await sessionUrl(watch, "watchPage.whep")),
            originOf(c.url),
            "C serves the player itself (an edge), it does not send it to A",
          );
          await framesRise(watch, "watch on C", 20, 40_000);
          const metrics = await (await fetch(`${c.url}/metrics`)).text();
          assert.match(metrics, /sfu_cluster_rooms\{role="edge"\} 1/, "C is an edge");
        } finally {
          await watch.close();
          await publish.close();
        }
      });

      const room = "browser-b";
      const host = await a.token("alice", room, "host");
      const guest = await a.token("guest", room, "participant");
      const viewer = await a.token("viewer", room, "viewer");
      const publish = await chromium.page();
      const log = journal(publish);
      let session = "";

      await t.step("a participant's page publishes through B into the room A holds", async () => {
        const opened = await call(`${a.url}/rooms/${room}`, host, { method: "PUT" });
        assert.equal(opened.status, 201, "the room opens on A");
        await opened.body?.cancel();

        await publish.goto(
          `${b.url}/publish.html?room=${room}&token=${guest}&quality=360&codec=VP8`,
        );
        await click(publish, "#go");
        await publish.waitForSelector('#status[data-state="live"]');
        session = await sessionUrl(publish, "publishPage.whip");
        const post = log.responses.find((r) => r.method === "POST" && r.url.includes("/whip/"));
        assert.ok(post, `the page's WHIP POST: ${JSON.stringify(log.responses)}`);
        assert.equal(originOf(post.url), originOf(b.url), "the page POSTs to B");
        assert.equal(post.status, 201);
        assert.equal(originOf(session), originOf(a.url), "the session lives on A");
        // the publication starts with its first media, just after the page says live
        let view: unknown;
        await until(
          async () => {
            view = await (await call(`${a.url}/rooms/${room}`, host)).json();
            return (view as { publications: { publisher: string }[] }).publications
              .some((p) => p.publisher === "guest");
          },
          "the guest's publication on A",
          5000,
        ).catch(() => {});
        assert.ok(
          (view as { publications: { publisher: string }[] }).publications
            .some((p) => p.publisher === "guest"),
          `A has the guest's publication: ${JSON.stringify(view)}`,
        );
      });

      await t.step("the watch page on C plays that participant (?publisher=guest)", async () => {
        const watch = await chromium!.page();
        try {
          await watch.goto(`${c.url}/watch.html?room=${room}&token=${viewer}&publisher=guest`);
          await watch.waitForSelector('body[data-phase="live"]');
          assert.equal(originOf(await sessionUrl(watch, "watchPage.whep")), originOf(c.url));
          await framesRise(watch, "watch on C of the guest", 20, 40_000);
        } finally {
          await watch.close();
        }
      });

      await t.step(
        "the page's trickle PATCH reaches A cross-origin, with no CORS or CSP error",
        async () => {
          // the page trickles its candidates right after the answer: wait for the PATCH to end
          await until(
            () =>
              log.responses.some((r) => r.method === "PATCH") ||
              log.failed.some((r) => r.method === "PATCH") ||
              blocked(log).length > 0,
            "the page's trickle PATCH (answered, failed or blocked)",
            5000,
          ).catch(() => {});
          // CORS on A, for the page's origin (B): the preflight of a PATCH with Authorization
          const preflight = await fetch(session, {
            method: "OPTIONS",
            headers: {
              Origin: originOf(b.url),
              "Access-Control-Request-Method": "PATCH",
              "Access-Control-Request-Headers": "authorization,content-type,if-match",
            },
          });
          await preflight.body?.cancel();
          assert.ok(preflight.ok, `preflight status ${preflight.status}`);
          assert.match(
            preflight.headers.get("access-control-allow-origin") ?? "",
            /\*|127\.0\.0\.1/,
          );
          assert.match(preflight.headers.get("access-control-allow-methods") ?? "", /PATCH/);
          assert.match(
            preflight.headers.get("access-control-allow-headers") ?? "",
            /authorization/i,
          );
          const patches = log.responses.filter((r) => r.method === "PATCH");
          const context = JSON.stringify({ patches, failed: log.failed, console: blocked(log) });
          assert.deepEqual(blocked(log), [], `no CORS/CSP error in the console: ${context}`);
          // Chromium's DevTools protocol reports a preflighted cross-origin request twice: once
          // answered, once "net::ERR_ABORTED" (the request object it replaced); only a request
          // with no answer at all is a failure
          const answered = (r: { method: string; url: string }) =>
            log.responses.some((x) => x.method === r.method && x.url === r.url);
          assert.deepEqual(
            log.failed.filter((r) => originOf(r.url) === originOf(a.url) && !answered(r)),
            [],
            `no failed request to A: ${context}`,
          );
          assert.ok(patches.length > 0, `a PATCH was answered: ${context}`);
          for (const p of patches) {
            assert.equal(p.url, session, "PATCH on the session URL, on A");
            assert.equal(p.status, 204, `PATCH answered 204: ${context}`);
          }
        },
      );

      await t.step("stopping the page DELETEs its session on A", async () => {
        await click(publish, "#stop");
        await until(
          () =>
            log.responses.some((r) => r.method === "DELETE") ||
            log.failed.some((r) => r.method === "DELETE"),
          "the page's DELETE",
          5000,
        ).catch(() => {});
        const context = JSON.stringify({ failed: log.failed, console: blocked(log) });
        const del = log.responses.find((r) => r.method === "DELETE");
        assert.ok(del, `the DELETE was answered: ${context}`);
        assert.equal(del.url, session);
        assert.ok(del.status === 200 || del.status === 204, `DELETE status ${del.status}`);
        const view = await (await call(`${a.url}/rooms/${room}`, host)).json();
        assert.ok(
          !view.publications.some((p: { publisher: string }) => p.publisher === "guest"),
          `the guest's publication is gone on A at once: ${JSON.stringify(view)}`,
        );
      });
      await publish.close();
    } finally {
      await chromium?.close();
      await Promise.all(nodes.map((n) => n.stop()));
      await redis.stop();
      if (Deno.env.get("LOG_LEVEL")) {
        for (const [i, n] of nodes.entries()) console.log(`--- node ${"abc"[i]}\n${n.output()}`);
      }
    }
  },
);
