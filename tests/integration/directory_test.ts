/**
 * The cluster directory against a real `redis-server` (tests/helpers/redis.ts), two nodes on one
 * Redis: registration, claims, lookups, releases, Unicode names, lapsed leases, `stop()`, and a
 * Redis that dies and comes back (operations fail fast with DirectoryUnavailable, nothing
 * crashes, the node registers again and takes its rooms back by itself).
 *
 * @module
 */
import assert from "node:assert/strict";
import { Directory, type DirectoryOptions } from "../../src/cluster/directory.ts";
import { DirectoryUnavailable, RedisLink, redisUrlSchema } from "../../src/cluster/redis.ts";
import { type RedisServer, startRedis } from "../helpers/redis.ts";

const A = { id: "node-a", publicUrl: "http://a.test:8080" };
const B = { id: "node-b", publicUrl: "http://b.test:8080" };

/** A Redis, links and directories that are all closed at the end, whatever happened. */
async function cluster(
  fn: (c: {
    redis: RedisServer;
    node(self: typeof A, options?: DirectoryOptions): Promise<[Directory, RedisLink]>;
    keys(): Promise<string[]>;
    admin: RedisLink;
  }) => Promise<void>,
): Promise<void> {
  const redis = await startRedis();
  const links: RedisLink[] = [];
  const directories: Directory[] = [];
  const link = () => {
    const l = RedisLink.connect(redis.url);
    links.push(l);
    return l;
  };
  const admin = link();
  try {
    assert.equal(await admin.whenReady(5000), true);
    await fn({
      redis,
      admin,
      async node(self, options) {
        const l = link();
        const d = new Directory(l, self, options);
        directories.push(d);
        assert.equal(await d.start(), true);
        return [d, l];
      },
      keys: async () => (await admin.run("KEYS", (c) => c.keys("*"))).map(String).sort(),
    });
  } finally {
    await Promise.allSettled(directories.map((d) => d.stop()));
    await Promise.all(links.map((l) => l.close()));
    await redis.stop();
  }
}

/** Polls `check` every 50 ms until it returns true or `ms` pass. */
async function eventually(what: string, ms: number, check: () => Promise<boolean>) {
  const deadline = performance.now() + ms;
  while (true) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (performance.now() > deadline) assert.fail(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Rejects with DirectoryUnavailable, and within `ms`. */
async function unavailableWithin(ms: number, what: string, op: () => Promise<unknown>) {
  const started = performance.now();
  await assert.rejects(op, DirectoryUnavailable, what);
  const took = performance.now() - started;
  assert.ok(took < ms, `${what} took ${Math.round(took)} ms`);
}

Deno.test("two nodes register and each lists both", async () => {
  await cluster(async ({ node, keys }) => {
    let load = 7;
    const [a] = await node(A, { load: () => load, nodeRefreshMs: 100 });
    const [b] = await node(B);
    for (const d of [a, b]) {
      const nodes = await d.nodes();
      assert.deepEqual(nodes.map(({ id, url }) => ({ id, url })), [
        { id: "node-a", url: "http://a.test:8080" },
        { id: "node-b", url: "http://b.test:8080" },
      ]);
      assert.ok(nodes.every((n) => n.startedAt > 0 && n.startedAt <= Date.now()));
    }
    assert.deepEqual(await keys(), ["sfu:node:node-a", "sfu:node:node-b"]);
    load = 12;
    await eventually("A's load refreshed", 2000, async () => {
      return (await b.nodes()).find((n) => n.id === "node-a")?.load === 12;
    });
  });
});

Deno.test("a room has one origin: claim, lookup, release, claim again", async () => {
  await cluster(async ({ node, keys }) => {
    const [a] = await node(A);
    const [b] = await node(B);
    assert.equal(await b.lookup("lobby"), undefined);

    const first = await a.claim("lobby");
    assert.deepEqual(first, { origin: { id: "node-a", url: "http://a.test:8080" }, mine: true });
    assert.deepEqual(await a.claim("lobby"), first, "claiming one's own room again keeps it");
    assert.deepEqual(await b.claim("lobby"), {
      origin: { id: "node-a", url: "http://a.test:8080" },
      mine: false,
    });
    assert.deepEqual(await b.lookup("lobby"), { id: "node-a", url: "http://a.test:8080" });
    assert.deepEqual(await a.lookup("lobby"), { id: "node-a", url: "http://a.test:8080" });
    assert.deepEqual(a.ownedRooms(), ["lobby"]);
    assert.deepEqual(b.ownedRooms(), []);

    assert.equal(await b.release("lobby"), false, "B cannot release A's room");
    assert.deepEqual(await b.lookup("lobby"), { id: "node-a", url: "http://a.test:8080" });
    assert.equal(await a.release("lobby"), true);
    assert.equal(await a.release("lobby"), false, "a second release finds nothing");
    assert.equal(await b.lookup("lobby"), undefined);
    assert.deepEqual(await keys(), ["sfu:node:node-a", "sfu:node:node-b"]);

    assert.deepEqual((await b.claim("lobby")).origin.id, "node-b");
    assert.deepEqual(await a.claim("lobby"), {
      origin: { id: "node-b", url: "http://b.test:8080" },
      mine: false,
    });
    assert.deepEqual(await a.lookup("lobby"), { id: "node-b", url: "http://b.test:8080" });
  });
});

Deno.test("Unicode and emoji room names: one room per NFC name, ASCII keys", async () => {
  await cluster(async ({ node, keys }) => {
    const [a] = await node(A);
    const [b] = await node(B);
    const names = ["🎥👩‍💻🇫🇷", "部屋-1", "sala_café", "*", "a:b?[c]"];
    for (const name of names) assert.equal((await a.claim(name)).mine, true, name);
    for (const name of names) assert.equal((await b.lookup(name))?.id, "node-a", name);
    // "café" spelt with a combining accent (NFD) is the same room
    assert.equal((await b.claim("sala_cafe\u0301")).origin.id, "node-a");
    assert.equal((await b.claim("sala_cafe")).mine, true, "a different name is another room");
    const all = await keys();
    assert.equal(all.length, 2 + names.length + 1);
    assert.ok(all.every((k) => /^[\x21-\x7e]+$/.test(k)), all.join(" "));
    assert.ok(all.includes(`sfu:room:${encodeURIComponent("🎥👩‍💻🇫🇷")}`));
    assert.equal(await a.release("sala_cafe\u0301"), true);
    assert.equal(await b.lookup("sala_café"), undefined);
    // glob characters in a name do not make nodes() see rooms, nor rooms see nodes
    assert.deepEqual((await a.nodes()).map((n) => n.id), ["node-a", "node-b"]);
    await assert.rejects(a.claim(""), { code: "bad-room-name" });
    await assert.rejects(a.lookup("x".repeat(257)), { code: "bad-room-name" });
  });
});

Deno.test("a node that stops refreshing loses its rooms when its lease lapses", async () => {
  await cluster(async ({ node }) => {
    // A: a 1 s node lease; its room leases are long: the room is free because A is dead
    const [a, linkA] = await node(A, {
      nodeLeaseMs: 1000,
      nodeRefreshMs: 300,
      roomLeaseMs: 60_000,
    });
    const [b] = await node(B);
    assert.equal((await a.claim("stage")).mine, true);
    await new Promise((r) => setTimeout(r, 1200));
    assert.equal((await b.claim("stage")).mine, false, "refreshed: A is still the origin");

    await linkA.close(); // A's process is gone: nothing refreshes its entry any more
    await eventually("A's lease lapses", 3000, async () => (await b.lookup("stage")) === undefined);
    assert.deepEqual((await b.nodes()).map((n) => n.id), ["node-b"]);
    assert.deepEqual(await b.claim("stage"), {
      origin: { id: "node-b", url: "http://b.test:8080" },
      mine: true,
    });
    await assert.rejects(a.stop(), DirectoryUnavailable);
  });
});

Deno.test("stop() removes every key of the node and nothing of the other", async () => {
  await cluster(async ({ node, keys }) => {
    const [a] = await node(A);
    const [b] = await node(B);
    for (const room of ["r1", "r2", "🎲"]) await a.claim(room);
    await b.claim("b1");
    await a.release("r2");
    assert.equal((await keys()).length, 2 + 2 + 1);
    await a.stop();
    await a.stop(); // idempotent
    assert.deepEqual(await keys(), ["sfu:node:node-b", "sfu:room:b1"]);
    assert.deepEqual(a.ownedRooms(), []);
    await assert.rejects(a.claim("r1"), DirectoryUnavailable);
    await assert.rejects(a.start(), DirectoryUnavailable);
    assert.equal((await b.claim("r1")).mine, true);
  });
});

Deno.test("Redis dies: operations fail fast; Redis is back: the node registers and reclaims by itself", async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (e: PromiseRejectionEvent) => {
    unhandled.push(e.reason);
    e.preventDefault();
  };
  globalThis.addEventListener("unhandledrejection", onUnhandled);
  try {
    await cluster(async ({ redis, node, keys, admin }) => {
      const [a, linkA] = await node(A); // default leases and refresh periods
      const [b] = await node(B);
      const registered: number[] = [];
      a.events.on((e) => e.type === "registered" && registered.push(performance.now()));
      for (const room of ["kept", "taken", "dropped"]) await a.claim(room);

      await redis.kill();
      await eventually("A sees Redis down", 2000, () => Promise.resolve(!linkA.available));
      await unavailableWithin(2000, "claim", () => a.claim("other"));
      await unavailableWithin(2000, "lookup", () => b.lookup("kept"));
      await unavailableWithin(2000, "nodes", () => b.nodes());
      await unavailableWithin(2000, "release", () => a.release("dropped"));
      // released while down: A no longer renews it, and will not take it back
      assert.deepEqual(a.ownedRooms().sort(), ["kept", "taken"]);
      assert.equal(a.registered, true, "not noticed until a refresh fails");
      await eventually("A notices", 4000, () => Promise.resolve(!a.registered));

      const down = performance.now();
      await redis.restart(); // a new, empty Redis on the same port
      await eventually("A is back with its rooms", 5000, async () => {
        const all = await keys();
        return ["sfu:node:node-a", "sfu:room:kept", "sfu:room:taken"].every((k) => all.includes(k));
      });
      assert.ok(performance.now() - down < 5000);
      assert.ok(registered.some((t) => t > down), "a registered event after the restart");
      assert.ok(a.registered);
      assert.deepEqual(a.ownedRooms().sort(), ["kept", "taken"]);
      await eventually("B is back", 5000, async () => (await b.nodes()).length === 2);
      assert.deepEqual(await b.lookup("kept"), { id: "node-a", url: "http://a.test:8080" });
      assert.equal((await b.claim("taken")).mine, false);
      assert.equal(await b.lookup("dropped"), undefined);
      assert.ok(await admin.whenReady(5000));

      const stats = linkA.stats;
      const text = JSON.stringify(stats);
      assert.ok(stats.commands > 0 && stats.errors >= 2 && stats.disconnects >= 1, text);
      assert.ok(stats.latency.count > 0 && stats.latency.p99 >= stats.latency.p50);
    });
  } finally {
    globalThis.removeEventListener("unhandledrejection", onUnhandled);
  }
  assert.deepEqual(unhandled, []);
});

Deno.test("a room another node took while this one was cut off is reported lost", async () => {
  await cluster(async ({ node, admin }) => {
    const [a] = await node(A, { nodeRefreshMs: 200, roomRefreshMs: 200 });
    const [b] = await node(B);
    const lost: string[] = [];
    a.events.on((e) => e.type === "room-lost" && lost.push(`${e.room}→${e.origin.id}`));
    await a.claim("mine");
    await a.claim("theirs");
    // as if A's leases lapsed while it could not reach Redis, and B claimed the room meanwhile
    await admin.run("DEL", (c) => c.del(["sfu:node:node-a", "sfu:room:theirs", "sfu:room:mine"]));
    assert.equal((await b.claim("theirs")).mine, true);
    await eventually("A learns it lost the room", 3000, () => Promise.resolve(lost.length > 0));
    assert.deepEqual(lost, ["theirs→node-b"]);
    assert.deepEqual(a.ownedRooms(), ["mine"]);
    assert.deepEqual(await b.lookup("mine"), { id: "node-a", url: "http://a.test:8080" });
    assert.deepEqual(await a.lookup("theirs"), { id: "node-b", url: "http://b.test:8080" });
  });
});

Deno.test("a Redis that is down at start: start() says so, the node registers once it is up", async () => {
  const redis = await startRedis();
  await redis.kill();
  const link = RedisLink.connect(redis.url, { connectTimeoutMs: 500 });
  const a = new Directory(link, A, { readyTimeoutMs: 300 });
  try {
    assert.equal(await a.start(), false);
    assert.equal(a.registered, false);
    await assert.rejects(a.lookup("x"), DirectoryUnavailable);
    await redis.restart();
    await eventually("registered", 5000, () => Promise.resolve(a.registered));
    assert.deepEqual((await a.nodes()).map((n) => n.id), ["node-a"]);
  } finally {
    await a.stop().catch(() => {});
    await link.close();
    await redis.stop();
  }
});

Deno.test("REDIS_URL: the schema takes redis://host:port[/db]; a link to a bad URL only fails", async () => {
  for (const url of ["redis://10.0.0.5:6379", "redis://h:6380/2", "rediss://u:p@h"]) {
    assert.equal(redisUrlSchema.safeParse(url).success, true, url);
  }
  for (const url of ["http://h:1", "redis://h:99999", "redis://h/x", "redis://", "h:6379"]) {
    assert.equal(redisUrlSchema.safeParse(url).success, false, url);
  }
  for (const url of ["nonsense", "http://h:1", "redis://127.0.0.1:1"]) {
    const link = new RedisLink({ url, connectTimeoutMs: 200 });
    await assert.rejects(link.run("PING", (c) => c.ping()), DirectoryUnavailable, url);
    await link.close();
  }
});
