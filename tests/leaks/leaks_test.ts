/**
 * No leaks: 1,000 publish / play / delete cycles leave file descriptors, UDP sockets, timers
 * and RSS back at their baseline. The server runs in this process (so its timers can be
 * counted); every client is closed in its cycle, so what remains is the server's.
 *
 * 900 cycles are signalling only (WHIP and WHEP POSTs with real offers from
 * `tests/fixtures/`, then DELETE: the server creates and destroys peer connections, binds
 * and frees sockets, starts and stops timers); 100 are full werift sessions with ICE, DTLS,
 * SRTP and media, ended half by DELETE and half by the peer vanishing (SESSION_TIMEOUT).
 */
import assert from "node:assert/strict";

// Count live timers: installed before the server's modules load (dynamic imports below).
type Id = ReturnType<typeof setTimeout>;
type Timer = (fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => Id;
const live = new Set<Id>();
const g = globalThis as unknown as Record<string, unknown>;
const st = g.setTimeout as Timer;
const si = g.setInterval as Timer;
const ct = g.clearTimeout as (id?: Id) => void;
const ci = g.clearInterval as (id?: Id) => void;
g.setTimeout = ((fn, ms, ...args) => {
  const id = st(() => {
    live.delete(id);
    fn(...args);
  }, ms);
  live.add(id);
  return id;
}) as Timer;
g.setInterval = ((fn, ms, ...args) => {
  const id = si(fn, ms, ...args);
  live.add(id);
  return id;
}) as Timer;
g.clearTimeout = (id?: Id) => {
  if (id !== undefined) live.delete(id);
  ct(id);
};
g.clearInterval = (id?: Id) => {
  if (id !== undefined) live.delete(id);
  ci(id);
};

const { testServer } = await import("../helpers/server.ts");
const { call, Player, Publisher } = await import("../helpers/clients.ts");
const { mallocLiveMiB, mallocTrim } = await import("../helpers/malloc.ts");

const CYCLES = 1000;
const CONNECTED_EVERY = 10;
const fixture = (name: string) =>
  Deno.readTextFileSync(new URL(`../fixtures/${name}`, import.meta.url));
const publishOffer = fixture("chromium-publish.sdp");
const playOffer = fixture("chromium-play.sdp");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Snapshot {
  fds: number;
  sockets: number;
  timers: number;
  rssMiB: number;
  heapMiB: number;
}

/** Full GCs, then the allocator's free pages back to the system: what is left is live. */
async function settle() {
  for (let i = 0; i < 3; i++) {
    (globalThis as { gc?: () => void }).gc?.();
    await sleep(50);
  }
  mallocTrim();
}

async function snapshot(): Promise<Snapshot> {
  await settle();
  let fds = 0;
  let sockets = 0;
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    fds++;
    try {
      if (Deno.readLinkSync(`/proc/self/fd/${entry.name}`).startsWith("socket:")) sockets++;
    } catch { /* closed meanwhile */ }
  }
  return {
    fds,
    sockets,
    timers: live.size,
    rssMiB: Math.round(Deno.memoryUsage().rss / 1024 / 1024),
    heapMiB: Math.round(Deno.memoryUsage().heapUsed / 1024 / 1024),
  };
}

Deno.test({
  name: "1,000 publish / play / delete cycles leave no descriptors, sockets or timers behind",
  // werift keeps module-level timers and the HTTP client keeps pooled connections between the
  // cycles: the assertions below compare counts, the sanitizers would only see noise.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const server = await testServer({ MAX_PARTICIPANTS: "2", SESSION_TIMEOUT: "3" });
    try {
      const host = await server.token("host", "leak");
      const guest = await server.token("guest", "leak", "participant");
      const SDP = { "Content-Type": "application/sdp" };
      const cycle = async (i: number) => {
        if (i % CONNECTED_EVERY !== 0) {
          const pub = await call(`${server.url}/whip/leak`, host, {
            method: "POST",
            headers: SDP,
            body: publishOffer,
          });
          await pub.body?.cancel();
          const play = await call(`${server.url}/whep/leak`, guest, {
            method: "POST",
            headers: SDP,
            body: playOffer,
          });
          await play.body?.cancel();
          assert.equal(pub.status, 201);
          assert.equal(play.status, 201);
          for (const res of [play, pub]) {
            const url = new URL(res.headers.get("Location")!, server.url).href;
            await call(url, host, { method: "DELETE" }).then((r) => r.body?.cancel());
          }
          return;
        }
        const publisher = new Publisher();
        const player = new Player();
        try {
          await publisher.publish(`${server.url}/whip/leak`, host);
          await player.play(`${server.url}/whep/leak`, guest);
          for (let f = 0; f < 5; f++) publisher.sendFrame(f === 0);
          await sleep(50);
          if (i % (2 * CONNECTED_EVERY) === 0) {
            for (const c of [player, publisher]) {
              await call(c.session!.url, host, { method: "DELETE" }).then((r) => r.body?.cancel());
            }
          }
        } finally {
          await Promise.all([publisher.close(), player.close()]);
        }
      };
      for (let i = 1; i <= 20; i++) await cycle(i); // warm-up: modules, pools, JIT
      await sleep(4000);
      const before = await snapshot();
      // MiB after every 100th cycle, settled (full GCs, malloc_trim): RSS and live malloc.
      const rss: number[] = [];
      const native: number[] = [];
      for (let i = 1; i <= CYCLES; i++) {
        await cycle(i);
        if (i % 100 !== 0) continue;
        await settle();
        rss.push(Math.round(Deno.memoryUsage().rss / 1024 / 1024));
        native.push(mallocLiveMiB());
      }
      await sleep(4000); // vanished peers end after SESSION_TIMEOUT (3 s)
      const after = await snapshot();
      console.log(
        `after ${CYCLES} cycles: fds ${before.fds} → ${after.fds}, sockets ${before.sockets} → ${after.sockets}, ` +
          `timers ${before.timers} → ${after.timers}, RSS ${before.rssMiB} → ${after.rssMiB} MiB, ` +
          `V8 heap ${before.heapMiB} → ${after.heapMiB} MiB; every 100 cycles, RSS ${
            rss.join(", ")
          } MiB, live malloc ${native.join(", ")} MiB`,
      );
      assert.equal(server.rooms.sessions.size, 0, "every session ended");
      assert.ok(after.fds <= before.fds + 2, `descriptors ${before.fds} → ${after.fds}`);
      assert.ok(
        after.sockets <= before.sockets + 2,
        `sockets ${before.sockets} → ${after.sockets}`,
      );
      assert.ok(after.timers <= before.timers + 3, `timers ${before.timers} → ${after.timers}`);
      // The leak signal for JS memory is the V8 heap after a full GC. Native memory is judged
      // by what glibc's malloc holds live (ArrayBuffers, OpenSSL contexts and the runtime's
      // objects are all malloc'ed) and by RSS once malloc_trim has returned freed pages, both
      // as a trend: the median of cycles 700–1000 against that of cycles 200–500 (the first
      // hundred still fill pools). Raw RSS without the trim swung by 30–70 MiB between those
      // windows with flat live memory (allocator retention); a leak of 64 KiB per cycle adds
      // ≈ 32 MiB between them.
      assert.ok(
        after.heapMiB <= before.heapMiB + 16,
        `heap ${before.heapMiB} → ${after.heapMiB} MiB`,
      );
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
      const trend = (xs: number[]) => [median(xs.slice(1, 5)), median(xs.slice(6, 10))];
      const [nativeEarly, nativeLate] = trend(native);
      assert.ok(
        nativeLate <= nativeEarly + 16,
        `live malloc median ${nativeEarly} → ${nativeLate} MiB (${native.join(", ")})`,
      );
      const [early, late] = trend(rss);
      assert.ok(late <= early + 48, `RSS median ${early} → ${late} MiB (${rss.join(", ")})`);
    } finally {
      await server.shutdown();
    }
  },
});
