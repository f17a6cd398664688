/**
 * Make-before-break takeover and truthful events, with real werift clients over loopback: a
 * second WHIP session of the same identity feeds the players only once its media arrives, one
 * that never connects or never sends is ended while the players lose nothing, and the room's
 * and the WHEP events say what happened when it happened.
 */
import assert from "node:assert/strict";
import { RtpHeader, RtpPacket } from "werift";
import { type TestServer, testServer } from "../helpers/server.ts";
import { call, Player, Publisher, until } from "../helpers/clients.ts";
import { metrics } from "../../src/metrics/counters.ts";
import { MEDIA_START_TIMEOUT_MS } from "../../src/rooms/registry.ts";
import { MEDIA_STALL_MS } from "../../src/media/feed.ts";
import { iceParametersOf } from "../../src/sdp/candidates.ts";
import { serializeSdpFrag } from "../../src/sdp/sdpfrag.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The server's default SESSION_TIMEOUT, ms (the test servers keep it). */
const SESSION_TIMEOUT_MS = 10_000;

const idOf = (url: string) => new URL(url).pathname.split("/").at(-1)!;

/** Server-sent events read in the background, each with its arrival time. */
class EventLog {
  readonly events: { type: string; data: string; at: number }[] = [];
  readonly done: Promise<void>;
  #reader: ReadableStreamDefaultReader<Uint8Array>;

  constructor(response: Response) {
    const reader = this.#reader = response.body!.getReader();
    this.done = (async () => {
      const decoder = new TextDecoder();
      let buffer = "";
      try {
        while (true) {
          const { value: chunk, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(chunk, { stream: true });
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const type = /^event: (.+)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1] ?? "";
            if (type) this.events.push({ type, data, at: performance.now() });
          }
        }
      } catch {
        // cancelled
      }
    })();
  }

  /** Event types in arrival order. */
  get types(): string[] {
    return this.events.map((e) => e.type);
  }

  /** The first event of `type` after `since` (performance.now()), if any. */
  first(type: string, since = 0): { type: string; data: string; at: number } | undefined {
    return this.events.find((e) => e.type === type && e.at >= since);
  }

  async close(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
    await this.done;
  }
}

/** Opens the room's event stream. */
async function roomEvents(server: TestServer, room: string, token: string): Promise<EventLog> {
  const res = await call(`${server.url}/rooms/${room}/events`, token);
  assert.equal(res.status, 200);
  return new EventLog(res);
}

/** Opens a WHEP session's event stream (the server-sent-events extension). */
async function whepEvents(server: TestServer, player: Player, token: string): Promise<EventLog> {
  const link = player.session!.response.headers.get("Link")!;
  const url = /<([^>]+)>; rel="urn:ietf:params:whep:ext:core:server-sent-events"/.exec(link)![1];
  const created = await call(new URL(url, server.url).href, token, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: '["active","inactive"]',
  });
  assert.equal(created.status, 201);
  await created.body?.cancel();
  const res = await fetch(new URL(created.headers.get("Location")!, server.url).href);
  assert.equal(res.status, 200);
  return new EventLog(res);
}

/** `GET /rooms/{room}`. */
async function roomView(
  server: TestServer,
  room: string,
  token: string,
): Promise<{ hostLive: boolean; publications: { publisher: string }[]; sessions: number }> {
  const res = await call(`${server.url}/rooms/${room}`, token);
  assert.equal(res.status, 200);
  return await res.json();
}

/**
 * The player's video is whole and steady from `from` on (index into its log): sequence numbers
 * continue by one, and no gap between two packets is longer than `maxGapMs`.
 */
function assertSteady(player: Player, from: number, maxGapMs: number, what: string): void {
  const log = player.videoLog.slice(from);
  assert.ok(log.length > 10, `${what}: video arrived`);
  for (let i = 1; i < log.length; i++) {
    const step = (log[i].seq - log[i - 1].seq) & 0xffff;
    assert.equal(step, 1, `${what}: sequence numbers continue by one (at ${i}: +${step})`);
    const gap = log[i].at - log[i - 1].at;
    assert.ok(gap < maxGapMs, `${what}: a ${gap.toFixed(0)} ms gap at packet ${i}`);
  }
}

const ended = (reason: string) => metrics.sessionsEnded.get(reason);

/** A trickle PATCH (a candidate nobody answers on) on the session of the client offer `offer`. */
async function trickle(url: string, token: string, etag: string, offer: string): Promise<number> {
  const { ufrag, pwd } = iceParametersOf(offer);
  const res = await call(url, token, {
    method: "PATCH",
    headers: { "Content-Type": "application/trickle-ice-sdpfrag", "If-Match": etag },
    body: serializeSdpFrag({
      iceUfrag: ufrag,
      icePwd: pwd,
      endOfCandidates: false,
      media: [{
        mid: "0",
        mLineIndex: 0,
        candidates: ["candidate:1 1 udp 2130706431 127.0.0.1 9 typ host"],
        endOfCandidates: false,
      }],
    }),
  });
  await res.body?.cancel();
  return res.status;
}

Deno.test("takeover by a session that never connects or never sends: players lose nothing", async () => {
  const server = await testServer();
  const live = new Publisher();
  const silent = new Publisher(); // connects, never sends media
  const player = new Player();
  try {
    const host = await server.token("host", "tk-a");
    const s1 = await live.publish(`${server.url}/whip/tk-a`, host);
    live.start(60);
    await player.play(`${server.url}/whep/tk-a`, host);
    await player.nextKeyframe();
    await sleep(300);
    const from = player.videoLog.length;
    const before = { notConnected: ended("not-connected"), noMedia: ended("no-media") };

    // an offer that parses but whose client never does ICE (a fixture: nobody behind it)
    const fixture = Deno.readTextFileSync(
      new URL("../fixtures/chromium-publish.sdp", import.meta.url),
    );
    const postedAt = performance.now();
    const junk = await call(`${server.url}/whip/tk-a`, host, {
      method: "POST",
      headers: { "Content-Type": "application/sdp" },
      body: fixture,
    });
    assert.equal(junk.status, 201, "the newcomer is a real session: 201");
    await junk.body?.cancel();
    const junkUrl = new URL(junk.headers.get("Location")!, server.url).href;
    const s3 = await silent.publish(`${server.url}/whip/tk-a`, host);

    await sleep(1000);
    const view = await roomView(server, "tk-a", host);
    assert.equal(view.hostLive, true);
    assert.equal(view.sessions, 4, "old, two newcomers, the player");
    const room = server.rooms.get("tk-a")!;
    assert.equal(room.publishingSession("host")?.id, idOf(s1.url), "the old session still feeds");

    // the newcomer takes a trickle PATCH like any session, and a DELETE
    assert.equal(await trickle(junkUrl, host, junk.headers.get("ETag")!, fixture), 204);
    const another = await call(`${server.url}/whip/tk-a`, host, {
      method: "POST",
      headers: { "Content-Type": "application/sdp" },
      body: fixture,
    });
    assert.equal(another.status, 201);
    await another.body?.cancel();
    const del = await call(new URL(another.headers.get("Location")!, server.url).href, host, {
      method: "DELETE",
    });
    assert.equal(del.status, 200);
    await del.body?.cancel();
    assert.equal(room.publishingSession("host")?.id, idOf(s1.url), "a DELETE changes nothing");

    await until(() => !server.rooms.sessions.get(idOf(junkUrl)), "the unconnected one", 15_000);
    const junkEndedAt = performance.now() - postedAt;
    assert.ok(
      junkEndedAt >= SESSION_TIMEOUT_MS - 500,
      `not connected: ended after ${junkEndedAt.toFixed(0)} ms, at the session timeout`,
    );
    assert.equal(ended("not-connected") - before.notConnected, 1);

    await until(() => !server.rooms.sessions.get(idOf(s3.url)), "the silent one", 10_000);
    const silentEndedAt = performance.now() - postedAt;
    assert.ok(
      silentEndedAt >= MEDIA_START_TIMEOUT_MS - 500 &&
        silentEndedAt < MEDIA_START_TIMEOUT_MS + 2000,
      `no media: ended after ${silentEndedAt.toFixed(0)} ms`,
    );
    assert.equal(ended("no-media") - before.noMedia, 1);
    await sleep(500);

    assert.ok(server.rooms.sessions.get(idOf(s1.url)), "the old session is still live");
    assert.equal(room.publishingSession("host")?.id, idOf(s1.url));
    const after = await roomView(server, "tk-a", host);
    assert.equal(after.hostLive, true);
    assert.deepEqual(after.publications.map((p) => p.publisher), ["host"]);
    assert.equal(player.ssrcs.video.size, 1);
    // 30 fps the whole time: every packet arrived, none later than a frame or two
    assertSteady(player, from, 250, "before, during and after the failed takeovers");
    const seconds = (performance.now() - postedAt) / 1000;
    const got = player.videoLog.length - from;
    assert.ok(got > seconds * 80, `${got} video packets in ${seconds.toFixed(1)} s`);
  } finally {
    await Promise.all([live.close(), silent.close(), player.close()]);
    await server.shutdown();
  }
});

Deno.test("takeover that connects: switch at its keyframe, the old session ends after it", async (t) => {
  const server = await testServer();
  const old = new Publisher();
  const next = new Publisher();
  const player = new Player();
  try {
    const host = await server.token("host", "tk-b");
    const s1 = await old.publish(`${server.url}/whip/tk-b`, host);
    old.start(1_000_000, false); // one keyframe at the start, PLIs ignored: later ones are next's
    await player.play(`${server.url}/whep/tk-b`, host);
    await player.nextKeyframe();
    await sleep(300);
    const room = server.rooms.get("tk-b")!;
    const changes: { reason?: string; id: string; sourceThen?: string; at: number }[] = [];
    const off = server.rooms.changes.on((c) => {
      if (c.type !== "ended") return;
      changes.push({
        id: c.session.id,
        reason: c.reason,
        sourceThen: room.publishingSession("host")?.id,
        at: performance.now(),
      });
    });
    let s2!: Awaited<ReturnType<Publisher["publish"]>>;

    await t.step("connected but not sending: the old one still feeds", async () => {
      s2 = await next.publish(`${server.url}/whip/tk-b`, host);
      const mark = player.videoLog.length;
      await sleep(1000);
      assert.equal(room.publishingSession("host")?.id, idOf(s1.url));
      assert.ok(server.rooms.sessions.get(idOf(s1.url)));
      assert.ok(player.videoLog.length - mark > 60, "the player still gets the old source");
      assert.equal(player.received.keyframes, 1);
      const offer = next.pc.localDescription!.sdp;
      assert.equal(await trickle(s2.url, host, s2.etag, offer), 204, "trickle on the newcomer");
    });

    await t.step("its media starts mid-GOP: the switch comes at its keyframe", async () => {
      const cut = player.videoLog.length;
      next.start(1_000_000, true, 1); // delta frames first; a keyframe only on PLI
      await player.nextKeyframe(3000);
      await until(() => !server.rooms.sessions.get(idOf(s1.url)), "the old session to end");
      await sleep(500);
      assert.ok(next.plis >= 1, "the newcomer was asked for a keyframe");
      const log = player.videoLog;
      const k = log.findIndex((p, i) => i >= cut && p.keyframe);
      assert.ok(k > cut, "the old source fed the player until the switch");
      assert.equal((log[k].seq - log[k - 1].seq) & 0xffff, 1, "sequence numbers continue by one");
      const tsGap = ((log[k].ts - log[k - 1].ts) >>> 0) / 90;
      assert.ok(tsGap > 0 && tsGap < 200, `timestamps advance ${tsGap.toFixed(1)} ms`);
      assertSteady(player, cut, 250, "across the takeover");
      assert.equal(player.ssrcs.video.size, 1, "the player's SSRC stays");
      assert.equal(player.ssrcs.audio.size, 1);
      assert.equal(room.publishingSession("host")?.id, idOf(s2.url));
      const end = changes.find((c) => c.id === idOf(s1.url))!;
      assert.equal(end.reason, "replaced");
      assert.equal(end.sourceThen, idOf(s2.url), "the old session ended after the switch");
      assert.equal(server.rooms.sessions.counts().whep, 1, "the player kept its session");
    });
    off();
  } finally {
    await Promise.all([old.close(), next.close(), player.close()]);
    await server.shutdown();
  }
});

/** Sends `n` Opus packets 400 ms apart on `pub`'s audio (DTX in silence), then resolves. */
async function dtx(pub: Publisher, n: number): Promise<void> {
  const audio = pub.pc.getTransceivers().find((t) => t.kind === "audio")!;
  for (let i = 0; i < n; i++) {
    const header = new RtpHeader({
      payloadType: 111,
      sequenceNumber: 40_000 + i,
      timestamp: 1_000_000 + i * 19_200,
      ssrc: 0x5678,
    });
    audio.sender.sendRtp(new RtpPacket(header, new Uint8Array(3).fill(1) as never));
    await sleep(400);
  }
}

Deno.test("events tell the truth: live at the first media, gone when the media is", async (t) => {
  const server = await testServer();
  const pub = new Publisher();
  const player = new Player();
  let room: EventLog | undefined;
  let whep: EventLog | undefined;
  try {
    const host = await server.token("host", "tk-c");
    const guest = await server.token("guest", "tk-c", "participant");
    assert.equal((await call(`${server.url}/rooms/tk-c`, host, { method: "PUT" })).status, 201);
    room = await roomEvents(server, "tk-c", guest);
    await player.play(`${server.url}/whep/tk-c`, guest);
    whep = await whepEvents(server, player, guest);

    await t.step("connected without media: not live", async () => {
      await pub.publish(`${server.url}/whip/tk-c`, host);
      await sleep(1000);
      assert.ok(!room!.types.includes("publication-started"), room!.types.join());
      assert.ok(!whep!.types.includes("active"), whep!.types.join());
      const view = await roomView(server, "tk-c", guest);
      assert.equal(view.hostLive, false);
      assert.deepEqual(view.publications, []);
    });

    await t.step("the first media: publication-started, active, hostLive", async () => {
      const startedAt = performance.now();
      pub.start(60);
      await until(() => !!room!.first("publication-started") && !!whep!.first("active"), "live");
      assert.ok(room!.first("publication-started")!.at - startedAt < 1000);
      assert.equal((await roomView(server, "tk-c", guest)).hostLive, true);
      await player.nextKeyframe();
    });

    await t.step("video paused, audio in DTX: no flapping", async () => {
      pub.stop();
      const since = performance.now();
      await dtx(pub, Math.ceil((MEDIA_STALL_MS * 2) / 400));
      assert.equal(room!.first("publication-ended", since), undefined, room!.types.join());
      assert.equal(whep!.first("inactive", since), undefined, whep!.types.join());
      assert.equal((await roomView(server, "tk-c", guest)).hostLive, true);
    });

    await t.step("media stops, the connection stays: inactive, then active again", async () => {
      const since = performance.now();
      await until(() => !!whep!.first("inactive", since), "inactive", MEDIA_STALL_MS + 2000);
      assert.ok(room!.first("publication-ended", since));
      assert.equal((await roomView(server, "tk-c", guest)).hostLive, false);
      assert.equal(server.rooms.sessions.counts().whip, 1, "the session stays");
      const resumed = performance.now();
      pub.start(60);
      await until(() => !!whep!.first("active", resumed), "active again", 2000);
      assert.ok(room!.first("publication-started", resumed));
      assert.equal((await roomView(server, "tk-c", guest)).hostLive, true);
    });

    await t.step(
      "the publisher vanishes without DELETE: ended well before the timeout",
      async () => {
        await sleep(500);
        const gone = performance.now();
        await pub.close(); // no DELETE; its DTLS close_notify is dropped (werift/patches.ts)
        await until(() => !!whep!.first("inactive", gone), "inactive", SESSION_TIMEOUT_MS);
        const after = whep!.first("inactive", gone)!.at - gone;
        assert.ok(after < MEDIA_STALL_MS + 1500, `inactive ${after.toFixed(0)} ms after`);
        assert.ok(room!.first("publication-ended", gone));
        assert.equal((await roomView(server, "tk-c", guest)).hostLive, false);
        assert.equal(server.rooms.sessions.counts().whip, 1, "before SESSION_TIMEOUT ends it");
      },
    );
  } finally {
    await whep?.close();
    await room?.close();
    await Promise.all([pub.close(), player.close()]);
    await server.shutdown();
  }
});
