/**
 * Cluster mode for real: Debian's redis-server on a free loopback port and three server
 * processes (A, B, C) that share it. A publisher on A is played through B and C (edges pulling
 * from A over WHEP); a participant publishing through B reaches A (its signalling relayed) and
 * is seen through C; room state and events answer from any node; killing B leaves C's players
 * alone; a Redis restart mid-stream loses no media; stopping A removes its directory entries.
 */
import assert from "node:assert/strict";
import { startRedis } from "../helpers/redis.ts";
import { redisKeys, startNode } from "../helpers/cluster.ts";
import { call, Player, Publisher } from "../helpers/clients.ts";
import type { ServerProcess } from "../helpers/process.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Frames received by `player` over the next `ms`. */
async function framesDuring(player: Player, ms: number): Promise<number> {
  const before = player.videoLog.length;
  await sleep(ms);
  return player.videoLog.length - before;
}

Deno.test({
  name: "cluster: publish on A, play through B and C; relayed signalling; failures stay local",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const redis = await startRedis();
    const nodes: ServerProcess[] = [];
    const clients: (Publisher | Player)[] = [];
    try {
      for (const id of ["a", "b", "c"]) nodes.push(await startNode(id, redis.url));
      const [a, b, c] = nodes;
      const host = await a.token("host", "live");
      const publisher = new Publisher();
      clients.push(publisher);

      await t.step("a host publishing on A makes A the room's origin", async () => {
        await publisher.publish(`${a.url}/whip/live`, host);
        publisher.start(30);
        const keys = await redisKeys(redis.port);
        assert.ok(keys.some((k) => k.includes("room")), `directory: ${keys}`);
        const state = await (await call(`${c.url}/rooms/live`, host)).json();
        assert.equal(state.open, true, "room state answers from C");
        assert.equal(state.host, "host");
        // the room's events too: C relays A's stream as it comes
        const controller = new AbortController();
        const events = await call(`${c.url}/rooms/live/events`, host, {
          signal: controller.signal,
        });
        assert.equal(events.status, 200);
        assert.match(events.headers.get("content-type") ?? "", /text\/event-stream/);
        const reader = events.body!.getReader();
        let text = "";
        while (!/event: room\n/.test(text)) {
          const { value, done } = await reader.read();
          if (done) break;
          text += new TextDecoder().decode(value);
        }
        controller.abort();
        await reader.cancel().catch(() => {});
        assert.match(text, /"host":"host"/);
      });

      const viaB = new Player();
      const viaC = new Player();
      clients.push(viaB, viaC);
      await t.step("players through B and C receive A's media (edges pull once)", async () => {
        const viewer = await a.token("viewer1", "live", "viewer");
        await viaB.play(`${b.url}/whep/live`, viewer);
        await viaC.play(`${c.url}/whep/live`, viewer);
        await Promise.all([viaB.nextKeyframe(10_000), viaC.nextKeyframe(10_000)]);
        assert.ok(await framesDuring(viaB, 500) > 5);
        assert.ok(await framesDuring(viaC, 500) > 5);
        assert.ok(new URL(viaB.session!.url).port === new URL(b.url).port, "B holds its player");
      });

      const moreViaC = new Player();
      clients.push(moreViaC);
      await t.step(
        "the origin's cost does not grow with edge players: one pull per edge",
        async () => {
          const viewer = await a.token("viewer2", "live", "viewer");
          await moreViaC.play(`${c.url}/whep/live`, viewer);
          await moreViaC.nextKeyframe(10_000);
          const view = await (await call(`${a.url}/rooms/live`, host)).json();
          const hostPublication = view.publications.find((p: { publisher: string }) =>
            p.publisher === "host"
          );
          assert.equal(
            hostPublication.players,
            2,
            "A serves B's and C's relays, not their players",
          );
          const metrics = await (await fetch(`${c.url}/metrics`)).text();
          assert.match(metrics, /sfu_cluster_upstream_pulls_total 1\b/);
          assert.match(metrics, /sfu_cluster_rooms\{role="edge"\} 1/);
          const origin = await (await fetch(`${a.url}/metrics`)).text();
          assert.match(origin, /sfu_cluster_rooms\{role="origin"\} 1/);
        },
      );

      const guestPublisher = new Publisher();
      const guestViaC = new Player();
      clients.push(guestPublisher, guestViaC);
      await t.step("a participant publishing through B is seen through C", async () => {
        const guest = await a.token("guest", "live", "participant");
        await guestPublisher.publish(`${b.url}/whip/live`, guest);
        assert.equal(
          new URL(guestPublisher.session!.url).port,
          new URL(a.url).port,
          "the session lives on the origin; its URL names it",
        );
        guestPublisher.start(30);
        await guestViaC.play(`${c.url}/whep/live?publisher=guest`, host);
        await guestViaC.nextKeyframe(10_000);
        assert.ok(await framesDuring(guestViaC, 500) > 5);
      });

      await t.step("killing B leaves C's players untouched", async () => {
        b.child.kill("SIGKILL");
        await b.child.status;
        assert.ok(await framesDuring(viaC, 1500) > 20, "C's player keeps receiving");
        assert.ok(await framesDuring(guestViaC, 500) > 5);
      });

      await t.step("a Redis restart mid-stream loses no media", async () => {
        const before = viaC.videoLog.length;
        await redis.restart();
        await sleep(1500);
        const frames = viaC.videoLog.length - before;
        assert.ok(frames > 30, `C's player got ${frames} frames across the restart`);
        // the node re-registers: the room answers from C again
        let open = false;
        for (let i = 0; i < 40 && !open; i++) {
          const r = await call(`${c.url}/rooms/live`, host);
          open = r.ok && (await r.json()).open === true;
          if (!open) await sleep(250);
        }
        assert.ok(open, "the directory answers again after the restart");
      });

      await t.step("stopping A removes every directory entry of its rooms and itself", async () => {
        await Promise.all(clients.map((x) => x.close()));
        clients.length = 0;
        await a.stop();
        const keys = await redisKeys(redis.port);
        assert.ok(!keys.some((k) => k.includes("room")), `room keys left: ${keys}`);
        assert.ok(!keys.some((k) => /node.*a$/.test(k)), `node a left: ${keys}`);
      });
    } finally {
      await Promise.all(clients.map((x) => x.close()));
      await Promise.all(nodes.map((n) => n.stop()));
      await redis.stop();
    }
  },
});

Deno.test({
  name: "cluster: with Redis down, what needs the directory is 503 + Retry-After; live rooms go on",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const redis = await startRedis();
    const nodes: ServerProcess[] = [];
    const publisher = new Publisher();
    const player = new Player();
    try {
      for (const id of ["a", "b"]) nodes.push(await startNode(id, redis.url));
      const [a, b] = nodes;
      const host = await a.token("host", "kept");
      await publisher.publish(`${a.url}/whip/kept`, host);
      publisher.start(30);
      await player.play(`${b.url}/whep/kept`, host);
      await player.nextKeyframe(10_000);
      await redis.kill();
      const other = await a.token("host", "new-room");
      const refused = await call(`${a.url}/rooms/new-room`, other, { method: "PUT" });
      assert.equal(refused.status, 503, await refused.text());
      assert.ok(Number(refused.headers.get("Retry-After")) > 0);
      // the room open on A is A's without asking Redis: its state still answers there
      const kept = await call(`${a.url}/rooms/kept`, host);
      assert.equal(kept.status, 200);
      await kept.body?.cancel();
      assert.ok(await framesDuring(player, 1500) > 20, "the edge's player keeps receiving");
      await redis.restart();
      let status = 0;
      for (let i = 0; i < 40 && status !== 201; i++) {
        const r = await call(`${a.url}/rooms/new-room`, other, { method: "PUT" });
        status = r.status;
        await r.body?.cancel();
        if (status !== 201) await sleep(250);
      }
      assert.equal(status, 201, "the directory answers again once Redis is back");
    } finally {
      await Promise.all([publisher.close(), player.close()]);
      await Promise.all(nodes.map((n) => n.stop()));
      await redis.stop();
    }
  },
});

Deno.test({
  name:
    "cluster: a dead origin; the host publishes again on another node and the edge's players get media again",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const redis = await startRedis();
    const nodes: ServerProcess[] = [];
    const first = new Publisher();
    const again = new Publisher();
    const player = new Player();
    try {
      for (const id of ["a", "b", "c"]) nodes.push(await startNode(id, redis.url));
      const [a, b, c] = nodes;
      const host = await a.token("host", "phoenix");
      await first.publish(`${a.url}/whip/phoenix`, host);
      first.start(30);
      await player.play(`${b.url}/whep/phoenix`, host);
      await player.nextKeyframe(10_000);
      a.child.kill("SIGKILL");
      await a.child.status;
      await first.close();
      const deadAt = performance.now();
      // until A's lease lapses C relays the POST to A, which does not answer: 503, Retry-After
      let status = 0;
      while (status !== 201 && performance.now() - deadAt < 20_000) {
        try {
          await again.publish(`${c.url}/whip/phoenix`, host);
          status = 201;
        } catch (e) {
          assert.match(String(e), /→ 503/);
          await sleep(500);
        }
      }
      assert.equal(status, 201, "the host publishes on C once A's lease lapsed");
      const leaseMs = performance.now() - deadAt;
      assert.ok(leaseMs < 15_000, `the room was free again after ${Math.round(leaseMs)} ms`);
      again.start(30);
      const before = player.videoLog.length;
      await player.nextKeyframe(15_000);
      assert.ok(await framesDuring(player, 1000) > 10, "B's player gets C's media");
      assert.ok(player.videoLog.length > before);
    } finally {
      await Promise.all([first.close(), again.close(), player.close()]);
      await Promise.all(nodes.map((n) => n.stop()));
      await redis.stop();
    }
  },
});
