/**
 * Connections (issue 15.1, 15.2, 15.7) against the server as its own process, started with the
 * flags of `deno task start`:
 *
 * - an idle-connection flood past the descriptor limit (`prlimit --nofile=1024:1024`, 1,100 idle
 *   connections): the process stays up, a live publisher → player pair keeps ≥ 95 % of its video
 *   packets, `/healthz` answers once the flood is gone; then bursts of 200-m-line offers are
 *   refused (4xx) while the same media flows;
 * - slowloris (one header byte at a time) and silent connections are closed within the header
 *   timeout;
 * - event streams are capped per identity, per client address and per server;
 * - the pages carry their security headers;
 * - without FFI (descriptor limit unknown, 1024 assumed) under `--nofile=300`, a flood makes
 *   `accept` fail with EMFILE: the process stays up, a connection opened before is served on, and
 *   the listener accepts again within seconds once the flood is gone.
 *
 * Bounded: three server processes, about 30 s in all.
 */
import assert from "node:assert/strict";
import { Player, Publisher, until } from "../helpers/clients.ts";
import { spawnServer } from "../helpers/process.ts";
import { oversizedOffer } from "./arbitraries.ts";

const fixture = (name: string): string =>
  Deno.readTextFileSync(new URL(`../fixtures/${name}`, import.meta.url));

/** Video packets the player got over the ones the publisher sent during `ms`. */
async function delivered(pub: Publisher, player: Player, ms: number): Promise<number> {
  const sent = pub.sent.video;
  const received = player.received.video;
  await new Promise((r) => setTimeout(r, ms));
  // Packets in flight at either end of the window: compare after a short settle.
  const sentIn = pub.sent.video - sent;
  await new Promise((r) => setTimeout(r, 300));
  const receivedIn = player.received.video - received;
  return Math.min(1, receivedIn / (sentIn + 9)); // +9: the settle's ~3 frames
}

async function status(url: string, init?: RequestInit): Promise<number> {
  const res = await fetch(url, init);
  await res.body?.cancel();
  return res.status;
}

/** One keep-alive GET on a raw connection; the response head and body as text. */
async function get(conn: Deno.Conn, path: string): Promise<string> {
  await conn.write(new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`));
  const buf = new Uint8Array(4096);
  let text = "";
  while (!/\r\n\r\n[\s\S]*\}/.test(text)) {
    const n = await conn.read(buf);
    if (n === null) break;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  return text;
}

/** Whether the server closed `conn` (EOF or reset) within `ms`. */
async function closedWithin(conn: Deno.Conn, ms: number): Promise<boolean> {
  const buf = new Uint8Array(4096);
  const deadline = performance.now() + ms;
  for (;;) {
    const left = deadline - performance.now();
    if (left <= 0) return false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const result = await Promise.race([
      conn.read(buf).then((n) => n, () => null),
      new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), left)),
    ]);
    clearTimeout(timer);
    if (result === "timeout") return false;
    if (result === null) return true; // EOF or reset
    // A 408 answer before the close counts as closing: read on to EOF.
  }
}

Deno.test("an idle-connection flood at 1024 descriptors: no crash, media flows, 200-m-line offers refused", async () => {
  const server = await spawnServer({ MAX_PARTICIPANTS: "10" }, 1024);
  const flood: Deno.Conn[] = [];
  const pub = new Publisher();
  const player = new Player();
  try {
    const host = await server.token("host", "flood");
    await pub.publish(`${server.url}/whip/flood`, host);
    pub.start(30);
    await player.play(`${server.url}/whep/flood`, host);
    await until(() => player.received.video > 60, "video before the flood", 10_000);

    // A kept-alive connection opened before the flood must be served during it.
    const port = Number(new URL(server.url).port);
    const kept = await Deno.connect({ hostname: "127.0.0.1", port });
    assert.match(await get(kept, "/healthz"), /^HTTP\/1.1 200 /);

    // 1,100 idle connections: past the HTTP cap (half the 1,024 descriptors) and past the
    // descriptor limit itself. None sends a byte.
    let refusedAtConnect = 0;
    const window = delivered(pub, player, 5000);
    for (let i = 0; i < 1100; i++) {
      try {
        flood.push(await Deno.connect({ hostname: "127.0.0.1", port }));
      } catch {
        refusedAtConnect++;
      }
    }
    const during = await get(kept, "/healthz");
    kept.close();
    assert.match(during, /^HTTP\/1.1 200 /, "a connection from before the flood, during it");
    const share = await window;
    assert.ok(server.running(), `the server exited during the flood:\n${server.output()}`);
    assert.ok(share >= 0.95, `the player got ${(share * 100).toFixed(1)} % of the video`);
    console.log(
      `flood: ${flood.length} connected (${refusedAtConnect} refused at connect), ` +
        `player got ${(share * 100).toFixed(1)} %`,
    );
    assert.match(server.output(), /http connection refused: at the connection limit/);
    for (const conn of flood.splice(0)) conn.close();
    let health = 0;
    const end = performance.now() + 5000;
    while (health !== 200 && performance.now() < end) {
      health = await status(`${server.url}/healthz`).catch(() => 0);
      if (health !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(health, 200, "/healthz after the flood");

    // Bursts of 200-m-line offers (~20 KiB each, under the body limit) while media flows.
    const guest = await server.token("guest", "flood", "participant");
    const big = oversizedOffer(fixture("obs-style-publish.sdp"), { kind: "m-lines", count: 200 });
    assert.ok(big.length < 64 * 1024);
    const burstWindow = delivered(pub, player, 4000);
    const statuses: number[] = [];
    for (let burst = 0; burst < 5; burst++) {
      statuses.push(
        ...await Promise.all(
          Array.from({ length: 40 }, () =>
            status(`${server.url}/whip/flood`, {
              method: "POST",
              headers: { Authorization: `Bearer ${guest}`, "Content-Type": "application/sdp" },
              body: big,
            })),
        ),
      );
    }
    const burstShare = await burstWindow;
    assert.ok(statuses.every((s) => s >= 400 && s < 500), `statuses: ${[...new Set(statuses)]}`);
    assert.ok(
      burstShare >= 0.95,
      `the player got ${(burstShare * 100).toFixed(1)} % in the bursts`,
    );
    assert.ok(server.running(), server.output());
  } finally {
    for (const conn of flood) conn.close();
    await Promise.all([pub.close(), player.close()]);
    await server.stop();
  }
});

Deno.test("slowloris and silent connections are closed within the header timeout; event streams are capped; pages carry security headers", async (t) => {
  const server = await spawnServer({
    HTTP_HEADERS_TIMEOUT: "2",
    SSE_MAX_PER_IDENTITY: "3",
    SSE_MAX_PER_ADDRESS: "5",
    SSE_MAX_STREAMS: "6",
    MAX_PARTICIPANTS: "10",
    FRAME_ANCESTORS: "'self' https://embed.example",
  });
  const port = Number(new URL(server.url).port);
  try {
    await t.step("slowloris and silent connections closed within 2 s (+1 s)", async () => {
      const slow: Deno.Conn[] = [];
      const silent: Deno.Conn[] = [];
      for (let i = 0; i < 20; i++) {
        slow.push(await Deno.connect({ hostname: "127.0.0.1", port }));
        silent.push(await Deno.connect({ hostname: "127.0.0.1", port }));
      }
      const request = new TextEncoder().encode(
        `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ${"a".repeat(200)}`,
      );
      let i = 0;
      const drip = setInterval(() => {
        for (const conn of slow) conn.write(request.subarray(i, i + 1)).catch(() => {});
        i++;
      }, 100);
      const started = performance.now();
      try {
        const closed = await Promise.all([...slow, ...silent].map((c) => closedWithin(c, 3000)));
        const took = performance.now() - started;
        assert.equal(closed.filter(Boolean).length, 40, `closed: ${closed.filter(Boolean).length}`);
        console.log(`slowloris: 40 connections closed in ${took.toFixed(0)} ms`);
      } finally {
        clearInterval(drip);
        for (const conn of [...slow, ...silent]) {
          try {
            conn.close();
          } catch { /* already closed */ }
        }
      }
      assert.equal(await status(`${server.url}/healthz`), 200);
    });

    await t.step("event streams: per identity, per address, per server", async () => {
      const host = await server.token("host", "sse");
      assert.equal(
        await status(`${server.url}/rooms/sse`, {
          method: "PUT",
          headers: { Authorization: `Bearer ${host}` },
        }),
        201,
      );
      const guest = await server.token("guest", "sse", "participant");
      const open: Response[] = [];
      const follow = (token: string, localAddress?: string) =>
        fetch(`${server.url}/rooms/sse/events`, {
          headers: { Authorization: `Bearer ${token}` },
          client: localAddress ? Deno.createHttpClient({ localAddress }) : undefined,
        });
      try {
        for (let i = 0; i < 3; i++) open.push(await follow(guest));
        assert.deepEqual(open.map((r) => r.status), [200, 200, 200]);
        const fourth = await follow(guest);
        assert.equal(fourth.status, 429, "fourth stream of one identity");
        assert.ok(fourth.headers.get("Retry-After"));
        assert.equal(fourth.headers.get("Content-Type"), "application/problem+json");
        await fourth.body?.cancel();
        // Another identity, same address: 2 more fit under the address's 5.
        for (let i = 0; i < 2; i++) open.push(await follow(host));
        const sixth = await follow(host);
        assert.equal(sixth.status, 429, "sixth stream of one address");
        await sixth.body?.cancel();
        // Another address: the server's 6th fits, the 7th does not (503).
        const other = await server.token("other", "sse", "participant");
        open.push(await follow(other, "127.0.0.2"));
        assert.equal(open.at(-1)!.status, 200);
        const seventh = await follow(other, "127.0.0.3");
        assert.equal(seventh.status, 503, "seventh stream on the server");
        await seventh.body?.cancel();
        // A closed stream gives its slot back.
        await open.shift()!.body?.cancel();
        await until(() => false, "slot release", 300).catch(() => {});
        const again = await follow(guest);
        assert.equal(again.status, 200, "a stream after one closed");
        open.push(again);
      } finally {
        for (const res of open) await res.body?.cancel().catch(() => {});
      }
    });

    await t.step("pages: CSP with frame-ancestors, nosniff, Referrer-Policy", async () => {
      for (const path of ["/", "/watch.html", "/lib/whip-whep.js"]) {
        const res = await fetch(`${server.url}${path}`);
        await res.body?.cancel();
        assert.equal(res.status, 200, path);
        const csp = res.headers.get("Content-Security-Policy") ?? "";
        assert.match(csp, /default-src 'self'/, `${path}: ${csp}`);
        assert.match(csp, /script-src 'self'/, `${path}: ${csp}`);
        assert.match(csp, /frame-ancestors 'self' https:\/\/embed\.example/, `${path}: ${csp}`);
        assert.equal(res.headers.get("X-Content-Type-Options"), "nosniff", path);
        assert.equal(res.headers.get("Referrer-Policy"), "no-referrer", path);
        assert.equal(res.headers.get("X-Frame-Options"), null, path);
      }
    });
    assert.ok(server.running(), server.output());
  } finally {
    await server.stop();
  }
});

Deno.test("accept failing with EMFILE (no FFI, 300 descriptors): no exit, and the listener comes back", async () => {
  const server = await spawnServer({}, 300, { ffi: false });
  const port = Number(new URL(server.url).port);
  const flood: Deno.Conn[] = [];
  try {
    const kept = await Deno.connect({ hostname: "127.0.0.1", port });
    assert.match(await get(kept, "/healthz"), /^HTTP\/1.1 200 /);
    for (let i = 0; i < 400; i++) {
      try {
        flood.push(await Deno.connect({ hostname: "127.0.0.1", port }));
      } catch {
        break;
      }
    }
    await new Promise((r) => setTimeout(r, 1000));
    assert.ok(server.running(), `the server exited at EMFILE:\n${server.output()}`);
    assert.match(await get(kept, "/healthz"), /^HTTP\/1.1 200 /, "kept-alive, during the flood");
    kept.close();
    for (const conn of flood.splice(0)) conn.close();
    const since = performance.now();
    let health = 0;
    while (health !== 200 && performance.now() - since < 8000) {
      health = await status(`${server.url}/healthz`, { signal: AbortSignal.timeout(1000) })
        .catch(() => 0);
    }
    assert.equal(health, 200, "/healthz after the flood");
    console.log(`EMFILE: accepting again ${(performance.now() - since).toFixed(0)} ms after`);
  } finally {
    for (const conn of flood) conn.close();
    await server.stop();
  }
});
