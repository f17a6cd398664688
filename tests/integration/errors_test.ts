/**
 * Every error status of the API page, each answered with RFC 9457 problem details, and the
 * server carrying on afterwards. Offers come from real clients (`tests/fixtures/`).
 */
import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { TEST_SECRET, testServer } from "../helpers/server.ts";
import { call, Player, Publisher, until } from "../helpers/clients.ts";

const fixture = (name: string) =>
  Deno.readTextFileSync(new URL(`../fixtures/${name}`, import.meta.url));
const SDP = { "Content-Type": "application/sdp" };

async function expectProblem(res: Response, status: number, code?: string) {
  const text = await res.text();
  assert.equal(res.status, status, text);
  assert.equal(res.headers.get("Content-Type"), "application/problem+json", text);
  const body = JSON.parse(text);
  assert.equal(body.status, status);
  assert.equal(typeof body.detail, "string");
  assert.ok(!/at .*\.ts:\d+/.test(text), "no stack trace");
  if (code) assert.equal(body.type, `/problems/${code}`);
  return { body, headers: res.headers };
}

Deno.test("every error status, as problem details", async (t) => {
  const server = await testServer({ MAX_BODY_BYTES: "20000", MAX_SESSIONS: "6" });
  const pub = new Publisher();
  const u = server.url;
  try {
    const host = await server.token("host", "err");
    const guest = await server.token("guest", "err", "participant");
    const guest2 = await server.token("guest2", "err", "participant");
    const obs = fixture("obs-style-publish.sdp");
    await pub.publish(`${u}/whip/err`, host); // VP8 + Opus, live
    pub.start(30);

    await t.step("400: malformed SDP, bad room name, malformed sdpfrag, bad JSON", async () => {
      await expectProblem(
        await call(`${u}/whip/err`, host, { method: "POST", headers: SDP, body: "hello" }),
        400,
        "bad-sdp",
      );
      await expectProblem(
        await call(`${u}/whip/${"x".repeat(65)}`, host, {
          method: "POST",
          headers: SDP,
          body: obs,
        }),
        400,
        "bad-room-name",
      );
      await expectProblem(await call(`${u}/whip/a%2Fb`, host, { method: "POST" }), 400);
      await expectProblem(
        await call(pub.session!.url, host, {
          method: "PATCH",
          headers: {
            "Content-Type": "application/trickle-ice-sdpfrag",
            "If-Match": pub.session!.etag,
          },
          body: "a=candidate:garbage\r\n",
        }),
        400,
        "bad-sdp",
      );
      await expectProblem(
        await call(`${u}/rooms/err`, host, {
          method: "PUT",
          headers: { "Content-Type": "application/json" },
          body: "{nope",
        }),
        400,
      );
      await expectProblem(
        await call(`${u}/rooms/err`, host, {
          method: "PUT",
          headers: { "Content-Type": "application/json" },
          body: '{"maxParticipants": -1}',
        }),
        400,
      );
    });

    await t.step("401: missing, garbage, expired, badly signed, alg none", async () => {
      const res = await call(`${u}/whip/err`, undefined, {
        method: "POST",
        headers: SDP,
        body: obs,
      });
      const { headers } = await expectProblem(res, 401, "unauthorized");
      assert.match(headers.get("WWW-Authenticate")!, /^Bearer/);
      await expectProblem(await call(`${u}/whip/err`, "garbage", { method: "POST" }), 401);
      const expired = await new SignJWT({ room: "err", role: "host" }).setProtectedHeader({
        alg: "HS256",
      }).setSubject("host").setIssuedAt(1000).setExpirationTime(2000).sign(
        new TextEncoder().encode(TEST_SECRET),
      );
      await expectProblem(await call(`${u}/rooms/err`, expired), 401);
      const forged = await new SignJWT({ room: "err", role: "host" }).setProtectedHeader({
        alg: "HS256",
      }).setSubject("host").setIssuedAt().setExpirationTime("1h").sign(
        new TextEncoder().encode("another-secret-of-enough-length!!"),
      );
      await expectProblem(await call(`${u}/rooms/err`, forged), 401);
      const none = `${btoa('{"alg":"none"}').replace(/=+$/, "")}.${
        btoa(JSON.stringify({ sub: "host", room: "err", role: "host", exp: 9e9 })).replace(
          /=+$/,
          "",
        )
      }.`;
      await expectProblem(await call(`${u}/rooms/err`, none), 401);
    });

    await t.step(
      "403: wrong room, participant closing the room or ending the host's session",
      async () => {
        const other = await server.token("host", "elsewhere");
        await expectProblem(
          await call(`${u}/whip/err`, other, { method: "POST", headers: SDP, body: obs }),
          403,
        );
        await expectProblem(await call(`${u}/rooms/err`, guest, { method: "DELETE" }), 403);
        await expectProblem(await call(`${u}/rooms/err`, guest, { method: "PUT" }), 403);
        await expectProblem(await call(pub.session!.url, guest, { method: "DELETE" }), 403);
      },
    );

    await t.step("404: unknown room for WHEP, unknown session", async () => {
      const nobody = await server.token("host", "nobody");
      await expectProblem(
        await call(`${u}/whep/nobody`, nobody, {
          method: "POST",
          headers: SDP,
          body: fixture("chromium-play.sdp"),
        }),
        404,
      );
      await expectProblem(await call(`${u}/sessions/nope`, host, { method: "DELETE" }), 404);
    });

    await t.step("405: method not allowed, with Allow", async () => {
      const { headers } = await expectProblem(
        await call(`${u}/whip/err`, host, { method: "PUT" }),
        405,
      );
      assert.match(headers.get("Allow")!, /POST/);
    });

    await t.step("406: the player cannot take the publication's codec", async () => {
      // The publication is VP8; OBS's offer turned into a player's offers only H264 video.
      const h264Only = obs.replaceAll("a=sendonly", "a=recvonly");
      await expectProblem(
        await call(`${u}/whep/err`, guest, { method: "POST", headers: SDP, body: h264Only }),
        406,
        "no-common-codec",
      );
    });

    await t.step("409: room full; another host opening an open room", async () => {
      const player = new Player();
      try {
        await player.play(`${u}/whep/err`, guest);
        await expectProblem(
          await call(`${u}/whep/err`, guest2, {
            method: "POST",
            headers: SDP,
            body: fixture("chromium-play.sdp"),
          }),
          409,
          "room-full",
        );
        const otherHost = await server.token("intruder", "err");
        await expectProblem(
          await call(`${u}/whip/err`, otherHost, { method: "POST", headers: SDP, body: obs }),
          409,
          "room-owned",
        );
      } finally {
        await call(player.session!.url, guest, { method: "DELETE" }).then((r) => r.body?.cancel());
        await player.close();
      }
    });

    await t.step("412, 428, 422, 415 on PATCH", async () => {
      const url = pub.session!.url;
      const frag = "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\n";
      const type = { "Content-Type": "application/trickle-ice-sdpfrag" };
      await expectProblem(
        await call(url, host, {
          method: "PATCH",
          headers: { ...type, "If-Match": '"stale"' },
          body: frag,
        }),
        412,
      );
      await expectProblem(
        await call(url, host, { method: "PATCH", headers: type, body: frag }),
        428,
      );
      await expectProblem(
        await call(url, host, {
          method: "PATCH",
          headers: { ...type, "If-Match": pub.session!.etag },
          body: "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:zz\r\n" +
            "a=candidate:1 1 udp 2122260223 192.0.2.9 5000 typ host\r\n",
        }),
        422,
      );
      await expectProblem(
        await call(url, host, {
          method: "PATCH",
          headers: { "Content-Type": "text/plain" },
          body: frag,
        }),
        415,
      );
      await expectProblem(
        await call(`${u}/whip/err`, host, {
          method: "POST",
          headers: { "Content-Type": "text/plain" },
          body: obs,
        }),
        415,
      );
    });

    await t.step("413: body over the limit", async () => {
      await expectProblem(
        await call(`${u}/whip/err`, host, {
          method: "POST",
          headers: SDP,
          body: obs + "a=x-padding:" + "x".repeat(30_000) + "\r\n",
        }),
        413,
      );
    });

    await t.step("503: server-wide session limit, with Retry-After", async () => {
      const players: Player[] = [];
      try {
        // 1 publisher live; MAX_SESSIONS=6: five more sessions fill the server.
        for (let i = 0; i < 5; i++) {
          const p = new Player();
          players.push(p);
          await p.play(`${u}/whep/err`, host);
        }
        const { headers } = await expectProblem(
          await call(`${u}/whep/err`, host, { method: "POST" }),
          503,
          "unavailable",
        );
        assert.ok(Number(headers.get("Retry-After")) > 0);
      } finally {
        for (const p of players) {
          await call(p.session!.url, host, { method: "DELETE" }).then((r) => r.body?.cancel());
          await p.close();
        }
      }
    });

    await t.step("after all that, the publication still reaches a new player", async () => {
      const player = new Player();
      try {
        await player.play(`${u}/whep/err`, guest);
        await player.nextKeyframe();
        await until(() => player.received.video > 20, "video");
      } finally {
        await player.close();
      }
    });

    await t.step("503 with Retry-After while draining", async () => {
      server.beginDrain();
      const { headers } = await expectProblem(
        await call(`${u}/whip/err`, host, { method: "POST", headers: SDP, body: obs }),
        503,
        "unavailable",
      );
      assert.ok(Number(headers.get("Retry-After")) > 0);
    });
  } finally {
    await pub.close();
    await server.shutdown();
  }
});
