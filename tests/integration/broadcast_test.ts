/**
 * Broadcast-grade media over real loopback WebRTC: the keyframe cache for late joiners,
 * seamless republish, repair from a time-sized history, simulcast layers with the WHEP
 * layer-selection and server-sent-events extensions.
 */
import assert from "node:assert/strict";
import { testServer } from "../helpers/server.ts";
import { call, Player, Publisher, until } from "../helpers/clients.ts";
import { LAYERS, pinLayer, simulcastOffer, SimulcastPublisher } from "../helpers/simulcast.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Every sequence number from the first to the last arrived (a retransmission may arrive late
 * or twice: that is repair at work, not a hole). Sequence numbers here do not wrap.
 */
function assertWhole(seqs: number[], message: string) {
  const unique = new Set(seqs);
  const min = Math.min(...unique);
  const max = Math.max(...unique);
  assert.ok(max - min < 30_000, "no wrap in this test");
  const holes = [];
  for (let s = min; s <= max; s++) if (!unique.has(s)) holes.push(s);
  assert.deepEqual(holes, [], message);
}

Deno.test("late joiner mid-GOP: primed from the keyframe cache, publisher ignoring PLI", async (t) => {
  for (const cache of [true, false]) {
    await t.step(
      cache ? "with the cache: a keyframe at once" : "without: none until the GOP ends",
      async () => {
        const server = await testServer(cache ? {} : { KEYFRAME_CACHE_BYTES: "0" });
        const pub = new Publisher();
        const player = new Player();
        try {
          const host = await server.token("host", "late");
          await pub.publish(`${server.url}/whip/late`, host);
          pub.start(300, false); // a keyframe now, the next in 10 s, PLIs ignored (like OBS)
          await sleep(700); // the player arrives mid-GOP
          await player.play(`${server.url}/whep/late`, host);
          if (cache) {
            await player.nextKeyframe(2000);
            const wait = player.firstKeyframeAt! - player.connectedAt!;
            assert.ok(wait < 300, `first keyframe ${wait.toFixed(0)} ms after connecting`);
            const seqs = player.videoSeqs;
            for (let i = 1; i < seqs.length; i++) {
              assert.equal(
                (seqs[i] - seqs[i - 1]) & 0xffff,
                1,
                "no gap or duplicate after priming",
              );
            }
            const egress = server.rooms.sessions.all().find((s) => s.kind === "whep")!;
            assert.ok(egress.kind === "whep" && egress.media.stats.primed > 0);
          } else {
            await sleep(1500);
            assert.equal(player.received.keyframes, 0, "without a cache the player waits");
            assert.equal(player.received.video, 0, "and gets no undecodable delta frames");
          }
        } finally {
          await Promise.all([pub.close(), player.close()]);
          await server.shutdown();
        }
      },
    );
  }
});

Deno.test("a publisher killed and republished: the player continues, from a keyframe", async () => {
  const server = await testServer();
  const first = new Publisher();
  const second = new Publisher();
  const player = new Player();
  try {
    const host = await server.token("host", "kill");
    await first.publish(`${server.url}/whip/kill`, host);
    first.start(60);
    await player.play(`${server.url}/whep/kill`, host);
    await player.nextKeyframe();
    await sleep(300);
    await first.close(); // no DELETE: gone
    const outageStart = performance.now();
    await sleep(500);
    // Taken after the outage, not at close: packets the server had already sent from the old
    // source may still be arriving just after close.
    const cut = player.videoLog.length;
    await second.publish(`${server.url}/whip/kill`, host); // new session, SSRC, seq, timestamps
    second.start(1000, true, 1); // mid-GOP: only the server's PLI brings a keyframe
    await until(() => player.videoLog.length > cut + 30, "media from the new publisher");
    const outage = performance.now() - outageStart;
    const before = player.videoLog[cut - 1];
    const after = player.videoLog[cut];
    assert.equal((after.seq - before.seq) & 0xffff, 1, "sequence numbers continue");
    assert.ok(after.keyframe, "the new source starts at a keyframe");
    const tsGap = ((after.ts - before.ts) >>> 0) / 90;
    assert.ok(tsGap >= 400 && tsGap <= outage + 200, `timestamps advance ${tsGap} ms`);
    assert.equal(player.ssrcs.video.size, 1);
    assert.ok(second.plis >= 1);
  } finally {
    await Promise.all([first.close(), second.close(), player.close()]);
    await server.shutdown();
  }
});

Deno.test("a NACK for a packet 300 packets old is answered from the 1 s history", async () => {
  const server = await testServer();
  const pub = new Publisher();
  const player = new Player();
  try {
    const host = await server.token("host", "hist");
    await pub.publish(`${server.url}/whip/hist`, host);
    await player.play(`${server.url}/whep/hist`, host);
    await sleep(300);
    pub.sendFrame(true, 3);
    for (let i = 0; i < 100; i++) { // 300 packets in about 300 ms, well inside the 1 s history
      pub.sendFrame(false, 3);
      await sleep(3);
    }
    await until(() => player.received.video >= 290, "the packets");
    const old = player.videoSeqs[0];
    const count = () => player.videoSeqs.filter((s) => s === old).length;
    await player.sendNack([old]);
    await until(() => count() === 2, "the retransmission of a packet werift no longer holds");
  } finally {
    await Promise.all([pub.close(), player.close()]);
    await server.shutdown();
  }
});

Deno.test("OBS simulcast (rids 0..3): every layer is accepted in the answer", async () => {
  const server = await testServer();
  try {
    const host = await server.token("host", "obs-sim");
    const fixture = Deno.readTextFileSync(
      new URL("../fixtures/obs-style-publish.sdp", import.meta.url),
    );
    const res = await call(`${server.url}/whip/obs-sim`, host, {
      method: "POST",
      headers: { "Content-Type": "application/sdp" },
      body: simulcastOffer(fixture, ["0", "1", "2", "3"]),
    });
    const answer = await res.text();
    assert.equal(res.status, 201, answer);
    const video = answer.split("m=video")[1];
    assert.deepEqual(
      [...video.matchAll(/^a=rid:(\S+) (\S+)\r?$/gm)].map((m) => `${m[1]} ${m[2]}`),
      ["0 recv", "1 recv", "2 recv", "3 recv"],
    );
    assert.match(video, /^a=simulcast:recv 0;1;2;3\r$/m, "well formed, no trailing space");
  } finally {
    await server.shutdown();
  }
});

Deno.test("simulcast: pinned layers, automatic choice by REMB, WHEP events", async (t) => {
  const server = await testServer({ MAX_PARTICIPANTS: "5" });
  const pub = new SimulcastPublisher();
  const players: Player[] = [];
  try {
    const host = await server.token("host", "sc");
    await pub.publish(`${server.url}/whip/sc`, host);
    pub.start();
    await sleep(1200); // a full bitrate window per layer

    await t.step("a player pinned to each layer gets that layer's resolution", async () => {
      for (const layer of LAYERS) {
        const player = new Player();
        players.push(player);
        const s = await player.play(`${server.url}/whep/sc`, host);
        const res = await pinLayer(s, server.url, host, layer.rid);
        assert.equal(res.status, 200, await res.text());
        await until(
          () => player.lastKeyframeSize?.width === layer.width,
          `${layer.rid} at ${layer.width}×${layer.height}`,
        );
        assert.equal(player.lastKeyframeSize!.height, layer.height);
      }
      const bad = await call(new URL(`${players[0].session!.url}/layer`).href, host, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: '{"rid":"zz"}',
      });
      assert.equal(bad.status, 422);
      await bad.body?.cancel();
    });

    await t.step("an automatic player moves down when its bandwidth is capped", async () => {
      const player = new Player();
      players.push(player);
      await player.play(`${server.url}/whep/sc`, host);
      await until(() => player.lastKeyframeSize?.width === 1280, "the top layer first");
      await player.sendRemb(500_000); // fits q (≈290 kbit/s), not h (≈860 kbit/s)
      await until(() => player.lastKeyframeSize?.width === 320, "the bottom layer", 6000);
      await player.sendRemb(1_200_000); // fits h
      await until(() => player.lastKeyframeSize?.width === 640, "the middle layer", 6000);
      assertWhole(player.videoSeqs, "switches keep sequence numbers whole");
    });

    await t.step("server-sent events: active, layers, viewercount", async () => {
      const link = players[0].session!.response.headers.get("Link")!;
      const sseUrl = /<([^>]+)>; rel="urn:ietf:params:whep:ext:core:server-sent-events"/.exec(
        link,
      )![1];
      const created = await call(new URL(sseUrl, server.url).href, host, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: '["active","inactive","layers","viewercount"]',
      });
      assert.equal(created.status, 201);
      const streamUrl = new URL(created.headers.get("Location")!, server.url).href;
      const res = await fetch(streamUrl);
      assert.match(res.headers.get("Content-Type")!, /text\/event-stream/);
      const reader = res.body!.getReader();
      let text = "";
      while (!/event: viewercount/.test(text) || !/event: layers/.test(text)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      assert.match(text, /event: active\ndata: \{\}/);
      const layers = JSON.parse(/event: layers\ndata: (.*)/.exec(text)![1]);
      assert.deepEqual(
        layers["1"].map((l: { rid: string; width: number }) => [l.rid, l.width]),
        [["f", 1280], ["h", 640], ["q", 320]],
      );
      assert.deepEqual(JSON.parse(/event: viewercount\ndata: (.*)/.exec(text)![1]), {
        viewercount: 4,
      });
      const ended = await call(pub.url!, host, { method: "DELETE" }); // "inactive" follows
      assert.equal(ended.status, 200);
      await ended.body?.cancel();
      while (!/event: inactive/.test(text)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      assert.match(text, /event: inactive/);
      const del = await call(streamUrl, host, { method: "DELETE" });
      assert.equal(del.status, 200);
      await del.body?.cancel();
      await reader.cancel();
      const gone = await fetch(streamUrl);
      assert.equal(gone.status, 404);
      await gone.body?.cancel();
    });
  } finally {
    await Promise.all([pub.close(), ...players.map((p) => p.close())]);
    await server.shutdown();
  }
});

Deno.test("simulcast: a layer pinned while the cache is still replayed starts at once, whole", async () => {
  const server = await testServer();
  const pub = new SimulcastPublisher();
  const player = new Player();
  try {
    const host = await server.token("host", "replay");
    await pub.publish(`${server.url}/whip/replay`, host);
    pub.start(); // keyframes only at the start: the top layer's cache keeps everything since
    await sleep(4000); // ≈ 720 packets of the top layer to replay to a new player
    const s = await player.play(`${server.url}/whep/replay`, host);
    await until(() => player.received.video > 0, "the replay's first packets");
    const res = await pinLayer(s, server.url, host, "q");
    assert.equal(res.status, 200, await res.text());
    const replayed = primed(server);
    assert.ok(replayed >= 700, `replayed ${replayed}`);
    await until(() => player.lastKeyframeSize?.width === 320, "q's keyframe", 3000);
    await sleep(300);
    assertWhole(player.videoSeqs, "the switch during the replay keeps sequence numbers whole");
  } finally {
    await Promise.all([pub.close(), player.close()]);
    await server.shutdown();
  }
});

Deno.test("a replay still going when the next keyframe comes live ends there: the player starts at it, whole", async () => {
  // ≈ 2,000 packets: a replay of ≥ 200 ms at its pace
  await duringReplay("behind", 100, async ({ server, pub, player }) => {
    pub.sendFrame(true); // a live keyframe while the replay goes on
    await until(() => player.received.keyframes >= 2, "the live keyframe", 3000);
    const replayed = primed(server);
    assert.ok(replayed >= 1500, `the cache held ${replayed} packets`);
    const before = player.videoLog.findIndex((p, i) => i > 0 && p.keyframe);
    assert.ok(
      before < replayed / 2,
      `${before} of ${replayed} replayed packets arrived before the live keyframe`,
    );
    pub.sendFrame(false);
    await sleep(300);
    assertWhole(player.videoSeqs, "the replay's end and the live keyframe join without a gap");
  });
});

Deno.test("a replay with over 1,024 live packets behind it is dropped: the player waits for a keyframe, asked for", async () => {
  // ≈ 3,000 packets: a replay of ≥ 300 ms at its pace
  await duringReplay("far", 150, async ({ server, pub, player }) => {
    const plis = pub.plis;
    for (let i = 0; i < 65; i++) pub.sendFrame(false, 20); // 1,300 live packets at once
    await until(() => pub.plis > plis, "the server's keyframe request", 3000);
    await sleep(200);
    const replayed = primed(server);
    const received = player.received.video;
    assert.ok(
      received < replayed,
      `${received} video packets arrived: neither all ${replayed} replayed nor the live ones`,
    );
    pub.sendFrame(true);
    await until(() => player.received.keyframes >= 2, "the next keyframe", 3000);
    pub.sendFrame(false);
    await sleep(300);
    assertWhole(player.videoSeqs, "the dropped replay and the keyframe join without a gap");
  });
});

type TestServer = Awaited<ReturnType<typeof testServer>>;

/** Packets replayed from the keyframe cache to the server's one player so far. */
function primed(server: TestServer): number {
  const egress = server.rooms.sessions.all().find((x) => x.kind === "whep")!;
  assert.ok(egress.kind === "whep");
  return egress.media.stats.primed;
}

/**
 * A player joining room `room` after one keyframe and `frames` delta frames of 20 packets (what
 * its replay holds); `body` runs once the replay's keyframe has arrived.
 */
async function duringReplay(
  room: string,
  frames: number,
  body: (c: { server: TestServer; pub: Publisher; player: Player }) => Promise<void>,
) {
  const server = await testServer();
  const pub = new Publisher();
  const player = new Player();
  try {
    const host = await server.token("host", room);
    await pub.publish(`${server.url}/whip/${room}`, host);
    await sleep(300); // the server's side of the connection settles
    pub.sendFrame(true);
    for (let i = 0; i < frames; i++) {
      pub.sendFrame(false, 20);
      if (i % 10 === 9) await sleep(20); // the publisher's socket buffers on the way
    }
    await sleep(300);
    await player.play(`${server.url}/whep/${room}`, host);
    await until(() => player.received.keyframes > 0, "the replay's keyframe", 3000);
    await body({ server, pub, player });
  } finally {
    await Promise.all([pub.close(), player.close()]);
    await server.shutdown();
  }
}
