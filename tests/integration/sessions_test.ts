/**
 * Session lifecycle over HTTP with real werift peers: trickle PATCH, ICE restart, DELETE,
 * server-offer mode, closing a room, and the room's event stream.
 */
import assert from "node:assert/strict";
import { testServer } from "../helpers/server.ts";
import { call, connected, Player, Publisher, until } from "../helpers/clients.ts";
import { parseSdpFrag, serializeSdpFrag } from "../../src/sdp/sdpfrag.ts";
import { iceParametersOf, replaceIceCredentials } from "../../src/sdp/candidates.ts";
import { resumeIceAfterRestart } from "../../src/media/werift/patches.ts";

const SDPFRAG = "application/trickle-ice-sdpfrag";

Deno.test("trickle PATCH: candidates sent after an offer without any connect the session", async () => {
  const server = await testServer();
  const pub = new Publisher({ noCandidates: true });
  try {
    const host = await server.token("host", "trickle");
    const s = await pub.publish(`${server.url}/whip/trickle`, host);
    const local = iceParametersOf(pub.pc.localDescription!.sdp);
    const frag = serializeSdpFrag({
      iceUfrag: local.ufrag,
      icePwd: local.pwd,
      endOfCandidates: false,
      media: [{
        mid: "0",
        mLineIndex: 0,
        candidates: [...local.candidates, "candidate:1 1 udp 2122260223 abc.local 5000 typ host"],
        endOfCandidates: true,
      }],
    });
    const res = await call(s.url, host, {
      method: "PATCH",
      headers: { "Content-Type": SDPFRAG, "If-Match": s.etag },
      body: frag,
    });
    assert.equal(res.status, 204, await res.text());
    const id = s.url.split("/").pop()!;
    const session = server.rooms.sessions.get(id)!;
    const remote = (session.media.peer.pc.iceTransports[0] as unknown as {
      connection: { remoteCandidates: { host: string; port: number }[] };
    }).connection.remoteCandidates;
    const trickled = local.candidates.map((c) => c.split(" ")[4]);
    assert.ok(remote.some((c) => trickled.includes(c.host)), "trickled candidate reached ICE");
    assert.ok(!remote.some((c) => c.host.endsWith(".local")), "mDNS candidate dropped");
    await connected(pub.pc);
  } finally {
    await pub.close();
    await server.shutdown();
  }
});

Deno.test("ICE restart: new credentials both ways, new ETag, media flows again", async (t) => {
  const server = await testServer();
  const pub = new Publisher();
  const player = new Player();
  try {
    const host = await server.token("host", "restart");
    const s = await pub.publish(`${server.url}/whip/restart`, host);
    pub.start(30);
    await player.play(`${server.url}/whep/restart`, host);
    await player.nextKeyframe();
    let newEtag = "";
    await t.step("PATCH If-Match: * with the client's new credentials → 200 sdpfrag", async () => {
      pub.pc.restartIce();
      const offer = await pub.pc.createOffer({ iceRestart: true });
      await pub.pc.setLocalDescription(offer);
      await until(() => pub.pc.iceGatheringState === "complete", "gathering");
      const local = iceParametersOf(pub.pc.localDescription!.sdp);
      const res = await call(s.url, host, {
        method: "PATCH",
        headers: { "Content-Type": SDPFRAG, "If-Match": "*" },
        body: serializeSdpFrag({
          iceUfrag: local.ufrag,
          icePwd: local.pwd,
          endOfCandidates: false,
          media: [{ mid: "0", mLineIndex: 0, candidates: local.candidates, endOfCandidates: true }],
        }),
      });
      const body = await res.text();
      assert.equal(res.status, 200, body);
      assert.equal(res.headers.get("Content-Type"), SDPFRAG);
      newEtag = res.headers.get("ETag")!;
      assert.ok(newEtag && newEtag !== s.etag, "a new ETag");
      const frag = parseSdpFrag(body);
      const old = iceParametersOf(pub.pc.remoteDescription!.sdp);
      assert.ok(frag.iceUfrag && frag.iceUfrag !== old.ufrag, "the server's ufrag changed");
      assert.ok(frag.media[0].candidates.length > 0, "with candidates");
      assert.ok(frag.media[0].endOfCandidates);
      let answer = replaceIceCredentials(
        pub.pc.remoteDescription!.sdp,
        frag.iceUfrag!,
        frag.icePwd!,
      );
      answer = answer.split("\r\n").filter((l) => !l.startsWith("a=candidate:")).join("\r\n");
      answer = answer.replace(
        /a=end-of-candidates/g,
        frag.media[0].candidates.map((c) => `a=${c}`).join("\r\n") + "\r\na=end-of-candidates",
      );
      await pub.pc.setRemoteDescription({ type: "answer", sdp: answer });
      resumeIceAfterRestart(pub.pc); // werift as a client has the same restart gap
    });
    await t.step("media reaches the player after the restart", async () => {
      await connected(pub.pc);
      const before = player.received.video;
      await until(() => player.received.video > before + 30, "media after restart", 8000);
    });
    await t.step("the old ETag no longer matches", async () => {
      const res = await call(s.url, host, {
        method: "PATCH",
        headers: { "Content-Type": SDPFRAG, "If-Match": s.etag },
        body: "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\n",
      });
      assert.equal(res.status, 412);
      await res.body?.cancel();
    });
  } finally {
    await Promise.all([pub.close(), player.close()]);
    await server.shutdown();
  }
});

Deno.test("DELETE ends one session; the room's other sessions carry on", async () => {
  const server = await testServer({ MAX_PARTICIPANTS: "2" });
  const pub = new Publisher();
  const a = new Player();
  const b = new Player();
  try {
    const host = await server.token("host", "del");
    const alice = await server.token("alice", "del", "participant");
    const bob = await server.token("bob", "del", "participant");
    await pub.publish(`${server.url}/whip/del`, host);
    pub.start(30);
    const sa = await a.play(`${server.url}/whep/del`, alice);
    await b.play(`${server.url}/whep/del`, bob);
    await Promise.all([a.nextKeyframe(), b.nextKeyframe()]);
    const forbidden = await call(sa.url, bob, { method: "DELETE" });
    assert.equal(forbidden.status, 403, "another participant cannot end alice's session");
    await forbidden.body?.cancel();
    const res = await call(sa.url, alice, { method: "DELETE" });
    assert.equal(res.status, 200);
    await res.body?.cancel();
    const before = b.received.video;
    await until(() => b.received.video > before + 30, "bob keeps receiving");
    const room = await (await call(`${server.url}/rooms/del`, host)).json();
    assert.equal(room.publications[0].players, 1);
    assert.equal(room.participants, 1);
  } finally {
    await Promise.all([pub.close(), a.close(), b.close()]);
    await server.shutdown();
  }
});

Deno.test("server-offer mode: empty POST → offer, PATCH answer → 204, media flows", async () => {
  const server = await testServer();
  const pub = new Publisher();
  const player = new Player();
  try {
    const host = await server.token("host", "so");
    await pub.publish(`${server.url}/whip/so`, host);
    pub.start(30);
    const res = await call(`${server.url}/whep/so`, host, { method: "POST" });
    const offer = await res.text();
    assert.equal(res.status, 201, offer);
    assert.equal(res.headers.get("Content-Type"), "application/sdp");
    assert.match(offer, /a=setup:actpass/);
    assert.match(offer, /a=sendonly/);
    assert.match(offer, /a=end-of-candidates/);
    const url = new URL(res.headers.get("Location")!, server.url).href;
    // The player answers with recvonly transceivers created from the server's offer.
    await player.pc.setRemoteDescription({ type: "offer", sdp: offer });
    await player.pc.setLocalDescription(await player.pc.createAnswer());
    await until(() => player.pc.iceGatheringState === "complete", "gathering");
    const patch = await call(url, host, {
      method: "PATCH",
      headers: { "Content-Type": "application/sdp" },
      body: player.pc.localDescription!.sdp,
    });
    assert.equal(patch.status, 204, await patch.text());
    await connected(player.pc);
    await player.nextKeyframe();
    await until(() => player.received.audio > 5, "audio");
  } finally {
    await Promise.all([pub.close(), player.close()]);
    await server.shutdown();
  }
});

Deno.test("room events and closing a room", async (t) => {
  const server = await testServer();
  const pub = new Publisher();
  const guestPlayer = new Player();
  try {
    const host = await server.token("host", "ev");
    const guest = await server.token("guest", "ev", "participant");
    assert.equal((await call(`${server.url}/rooms/ev`, host, { method: "PUT" })).status, 201);
    const events: string[] = [];
    const stream = await call(`${server.url}/rooms/ev/events`, guest);
    assert.equal(stream.status, 200);
    assert.match(stream.headers.get("Content-Type")!, /text\/event-stream/);
    const reading = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of stream.body!) {
        for (const m of decoder.decode(chunk).matchAll(/^event: (.+)$/gm)) events.push(m[1]);
      }
    })();
    await t.step("publication-started and participant-joined", async () => {
      await pub.publish(`${server.url}/whip/ev`, host);
      pub.start(30); // publication-started comes with the first media, not with the POST
      await guestPlayer.play(`${server.url}/whep/ev`, guest);
      await until(
        () => events.includes("publication-started") && events.includes("participant-joined"),
        "events",
      );
    });
    await t.step("a participant may not close the room", async () => {
      const res = await call(`${server.url}/rooms/ev`, guest, { method: "DELETE" });
      assert.equal(res.status, 403);
      assert.equal(res.headers.get("Content-Type"), "application/problem+json");
      await res.body?.cancel();
    });
    await t.step("the host closes it: sessions end, room-closed is sent", async () => {
      const res = await call(`${server.url}/rooms/ev`, host, { method: "DELETE" });
      assert.equal(res.status, 200);
      await res.body?.cancel();
      await reading;
      assert.ok(events.includes("room-closed"), events.join(","));
      assert.ok(events.includes("publication-ended"));
      assert.equal(server.rooms.sessions.size, 0);
      const after = await call(`${server.url}/whep/ev`, guest, {
        method: "POST",
        headers: { "Content-Type": "application/sdp" },
        body: "v=0\r\n",
      });
      assert.equal(after.status, 400, "malformed SDP is refused before anything else");
      await after.body?.cancel();
      const gone = await call(`${server.url}/whep/ev`, guest, { method: "POST" });
      assert.equal(gone.status, 404);
      await gone.body?.cancel();
    });
  } finally {
    await Promise.all([pub.close(), guestPlayer.close()]);
    await server.shutdown();
  }
});
