/**
 * Simulcast through a cluster edge, for real (Debian's redis-server, two server processes): a
 * simulcast publisher on A, players through C. C pulls each layer from A (`POST /whep?layer=`),
 * so C's players choose among the layers as A's do — pinned with the WHEP layer extension, or
 * moved down by their bandwidth estimate — and A serves C one session per layer, whatever the
 * number of C's players.
 */
import assert from "node:assert/strict";
import { startRedis } from "../helpers/redis.ts";
import { startNode } from "../helpers/cluster.ts";
import { call, Player, until } from "../helpers/clients.ts";
import { LAYERS, pinLayer, SimulcastPublisher } from "../helpers/simulcast.ts";
import type { ServerProcess } from "../helpers/process.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The value of one `/metrics` series of `node` (0 when absent). */
async function metric(node: ServerProcess, series: string): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

Deno.test({
  name: "cluster: a simulcast publication on A is pulled layer by layer by C; C's players choose",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const redis = await startRedis();
    const nodes: ServerProcess[] = [];
    const pub = new SimulcastPublisher();
    const players: Player[] = [];
    try {
      const env = { LOG_LEVEL: Deno.env.get("LOG_LEVEL") ?? "warn" };
      for (const id of ["a", "c"]) nodes.push(await startNode(id, redis.url, env));
      const [a, c] = nodes;
      const host = await a.token("host", "sc");
      await pub.publish(`${a.url}/whip/sc`, host);
      pub.start();
      await sleep(1200); // a full bitrate window per layer

      await t.step(
        "the origin plays one layer only with ?layer=, 422 for one it lacks",
        async () => {
          const view = await (await call(`${a.url}/rooms/sc`, host)).json();
          assert.deepEqual([...view.publications[0].layers].sort(), ["f", "h", "q"], "its layers");
          const player = new Player();
          players.push(player);
          await player.play(`${a.url}/whep/sc?layer=q`, host);
          await until(() => player.lastKeyframeSize?.width === 320, "q from the start");
          const before = player.videoLog.length;
          await sleep(500);
          assert.ok(player.videoLog.length > before, "and it goes on");
          assert.equal(player.lastKeyframeSize?.width, 320);
          const bad = await call(`${a.url}/whep/sc?layer=zz`, host, {
            method: "POST",
            headers: { "Content-Type": "application/sdp" },
            body: player.pc.localDescription!.sdp,
          });
          assert.equal(bad.status, 422);
          assert.match(bad.headers.get("content-type") ?? "", /application\/problem\+json/);
          await bad.body?.cancel();
          await player.close();
        },
      );

      await t.step("a player through C pinned to each layer gets that layer", async () => {
        const sessionsOnA = await metric(a, 'sfu_sessions{kind="whep"}');
        for (const layer of LAYERS) {
          const player = new Player();
          players.push(player);
          const s = await player.play(`${c.url}/whep/sc`, host);
          // the mirror's layers exist once the pull is up
          await until(() => player.received.video > 0, "media through C", 10_000);
          const res = await pinLayer(s, c.url, host, layer.rid);
          assert.equal(res.status, 200, await res.text());
          await until(
            () => player.lastKeyframeSize?.width === layer.width,
            `${layer.rid} at ${layer.width}×${layer.height} through C`,
            6000,
          );
        }
        assert.equal(
          await metric(a, 'sfu_sessions{kind="whep"}') - sessionsOnA,
          LAYERS.length,
          "A serves C one session per layer, not one per C's player",
        );
      });

      await t.step(
        "an automatic player through C moves down when its bandwidth is capped",
        async () => {
          const player = new Player();
          players.push(player);
          await player.play(`${c.url}/whep/sc`, host);
          await until(() => player.lastKeyframeSize?.width === 1280, "the top layer first", 10_000);
          await player.sendRemb(500_000); // fits q (≈290 kbit/s), not h (≈860 kbit/s)
          await until(() => player.lastKeyframeSize?.width === 320, "the bottom layer", 8000);
        },
      );
    } finally {
      await Promise.all([pub.close(), ...players.map((p) => p.close())]);
      for (const node of nodes) await node.stop();
      await redis.stop();
    }
  },
});
