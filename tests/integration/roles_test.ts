/**
 * Who may do what, and how much (issues 13.3 and 15.3), on a real server over real HTTP:
 * viewers watch and follow but never publish or manage, and are not counted against
 * `maxParticipants`; room and server capacity answer 503 with `Retry-After`, reserved before
 * the negotiation so concurrent POSTs cannot overshoot; an identity is its role and `sub`
 * together, so no token of another role can end, patch or replace the host's sessions or feed.
 */
import assert from "node:assert/strict";
import { TEST_SECRET, testServer } from "../helpers/server.ts";
import { mintToken, type Role } from "../../src/auth/tokens.ts";

const fixture = (name: string) =>
  Deno.readTextFileSync(new URL(`../fixtures/${name}`, import.meta.url));
const SDP = { "Content-Type": "application/sdp" };
const OBS = fixture("obs-style-publish.sdp");
const PLAY = fixture("chromium-play.sdp");
const secret = new TextEncoder().encode(TEST_SECRET);

const token = (sub: string, room: string, role: Role) =>
  mintToken(secret, { sub, room, role, ttlSeconds: 600 });

/** A request with a bearer token; returns status, headers and the parsed or raw body. */
async function req(
  url: string,
  bearer: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
) {
  const res = await fetch(url, {
    ...init,
    headers: { ...init.headers, Authorization: `Bearer ${bearer}` },
  });
  const text = await res.text();
  const json = res.headers.get("Content-Type")?.includes("json") ? JSON.parse(text) : undefined;
  return { status: res.status, headers: res.headers, text, json };
}

/** Asserts an RFC 9457 problem with `status` (and `type` when given). */
function problem(r: Awaited<ReturnType<typeof req>>, status: number, type?: string) {
  assert.equal(r.status, status, r.text);
  assert.equal(r.headers.get("Content-Type"), "application/problem+json");
  assert.equal(r.json.status, status);
  assert.equal(typeof r.json.detail, "string");
  if (type) assert.equal(r.json.type, `/problems/${type}`);
}

Deno.test("viewers watch and follow, never publish or manage, and do not fill the room", async (t) => {
  const server = await testServer({ MAX_PARTICIPANTS: "1", SESSION_TIMEOUT: "60" });
  const u = server.url;
  try {
    const host = await token("host", "v", "host");
    const guest = await token("guest", "v", "participant");
    const guest2 = await token("guest2", "v", "participant");
    const viewer = await token("fan", "v", "viewer");
    const viewer2 = await token("fan2", "v", "viewer");

    await t.step(
      "a viewer cannot open the room, nor publish before or after it opens",
      async () => {
        problem(await req(`${u}/rooms/v`, viewer, { method: "PUT" }), 403, "forbidden");
        problem(
          await req(`${u}/whip/v`, viewer, { method: "POST", headers: SDP, body: OBS }),
          403,
          "forbidden",
        );
        assert.equal((await req(`${u}/rooms/v`, host, { method: "PUT" })).status, 201);
        problem(
          await req(`${u}/whip/v`, viewer, { method: "POST", headers: SDP, body: OBS }),
          403,
          "forbidden",
        );
        assert.equal(server.rooms.sessions.size, 0);
      },
    );

    const sessions: Record<string, string> = {};
    await t.step("viewers play (WHEP) and are not counted against maxParticipants", async () => {
      const hostPub = await req(`${u}/whip/v`, host, { method: "POST", headers: SDP, body: OBS });
      assert.equal(hostPub.status, 201, hostPub.text);
      sessions.hostWhip = hostPub.headers.get("Location")!;
      const g = await req(`${u}/whep/v`, guest, { method: "POST", headers: SDP, body: PLAY });
      assert.equal(g.status, 201, g.text);
      sessions.guest = g.headers.get("Location")!;
      // The one participant slot is taken; viewers still come in, two identities, two sessions.
      for (const [name, bearer] of [["fan", viewer], ["fan2", viewer2], ["fan-b", viewer]]) {
        const v = await req(`${u}/whep/v`, bearer, { method: "POST" });
        assert.equal(v.status, 201, v.text);
        sessions[name] = v.headers.get("Location")!;
      }
      problem(
        await req(`${u}/whep/v`, guest2, { method: "POST", headers: SDP, body: PLAY }),
        409,
        "room-full",
      );
      const view = await req(`${u}/rooms/v`, viewer);
      assert.equal(view.status, 200);
      assert.equal(view.json.participants, 1);
      assert.equal(view.json.sessions, 5);
    });

    await t.step("a viewer follows room events", async () => {
      const res = await fetch(`${u}/rooms/v/events`, {
        headers: { Authorization: `Bearer ${viewer}` },
      });
      assert.equal(res.status, 200);
      assert.match(res.headers.get("Content-Type") ?? "", /text\/event-stream/);
      const reader = res.body!.getReader();
      const { value } = await reader.read();
      assert.match(new TextDecoder().decode(value), /event: room/);
      await reader.cancel();
    });

    await t.step("a viewer uses the WHEP extensions of its own session only", async () => {
      const events = await req(`${u}${sessions.fan}/events`, viewer, { method: "POST" });
      assert.equal(events.status, 201, events.text);
      const layer = await req(`${u}${sessions.fan}/layer`, viewer, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: "{}",
      });
      assert.equal(layer.status, 200, layer.text);
      problem(await req(`${u}${sessions.fan2}/events`, viewer, { method: "POST" }), 403);
      problem(
        await req(`${u}${sessions.guest}/layer`, viewer, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: "{}",
        }),
        403,
      );
    });

    await t.step(
      "a viewer may not patch or delete others' sessions, nor manage the room",
      async () => {
        for (const target of [sessions.hostWhip, sessions.guest, sessions.fan2]) {
          problem(await req(`${u}${target}`, viewer, { method: "DELETE" }), 403, "forbidden");
          problem(
            await req(`${u}${target}`, viewer, {
              method: "PATCH",
              headers: { "Content-Type": "application/trickle-ice-sdpfrag", "If-Match": "*" },
              body: "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\n",
            }),
            403,
            "forbidden",
          );
        }
        problem(await req(`${u}/rooms/v`, viewer, { method: "PUT" }), 403, "forbidden");
        problem(await req(`${u}/rooms/v`, viewer, { method: "DELETE" }), 403, "forbidden");
        assert.equal(server.rooms.sessions.size, 5);
        assert.ok(server.rooms.get("v"));
      },
    );

    await t.step("a viewer ends its own sessions; the host ends anyone's", async () => {
      assert.equal((await req(`${u}${sessions.fan}`, viewer, { method: "DELETE" })).status, 200);
      // The same viewer token, another member of the crowd's session: the same identity.
      assert.equal(
        (await req(`${u}${sessions["fan-b"]}`, viewer, { method: "DELETE" })).status,
        200,
      );
      assert.equal((await req(`${u}${sessions.fan2}`, host, { method: "DELETE" })).status, 200);
      assert.equal(server.rooms.sessions.size, 2);
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("room and server capacity: 503 with Retry-After, and viewers are bounded by it", async (t) => {
  await t.step("MAX_ROOM_SESSIONS", async () => {
    const server = await testServer({ MAX_ROOM_SESSIONS: "3", SESSION_TIMEOUT: "60" });
    try {
      const host = await token("host", "cap", "host");
      const viewer = await token("fan", "cap", "viewer");
      assert.equal((await req(`${server.url}/rooms/cap`, host, { method: "PUT" })).status, 201);
      for (let i = 0; i < 3; i++) {
        assert.equal((await req(`${server.url}/whep/cap`, viewer, { method: "POST" })).status, 201);
      }
      const full = await req(`${server.url}/whep/cap`, viewer, { method: "POST" });
      problem(full, 503, "unavailable");
      assert.ok(Number(full.headers.get("Retry-After")) > 0);
      assert.match(full.json.detail, /limit of 3 sessions/);
      assert.equal(server.rooms.sessions.size, 3);
    } finally {
      await server.shutdown();
    }
  });
  await t.step("MAX_SESSIONS and MAX_ROOMS", async () => {
    const server = await testServer({ MAX_SESSIONS: "2", MAX_ROOMS: "1", SESSION_TIMEOUT: "60" });
    try {
      const host = await token("host", "a", "host");
      const viewer = await token("fan", "a", "viewer");
      assert.equal((await req(`${server.url}/rooms/a`, host, { method: "PUT" })).status, 201);
      const noRoom = await req(`${server.url}/rooms/b`, await token("host", "b", "host"), {
        method: "PUT",
      });
      problem(noRoom, 503, "unavailable");
      assert.ok(Number(noRoom.headers.get("Retry-After")) > 0);
      for (let i = 0; i < 2; i++) {
        assert.equal((await req(`${server.url}/whep/a`, viewer, { method: "POST" })).status, 201);
      }
      const full = await req(`${server.url}/whep/a`, viewer, { method: "POST" });
      problem(full, 503, "unavailable");
      assert.ok(Number(full.headers.get("Retry-After")) > 0);
      assert.match(full.json.detail, /server is at its limit of 2 sessions/);
    } finally {
      await server.shutdown();
    }
  });
  await t.step("MAX_IDENTITY_SESSIONS caps a host or participant, not viewers", async () => {
    const server = await testServer({
      MAX_IDENTITY_SESSIONS: "2",
      MAX_PARTICIPANTS: "5",
      SESSION_TIMEOUT: "60",
    });
    try {
      const host = await token("host", "id", "host");
      const guest = await token("guest", "id", "participant");
      const viewer = await token("fan", "id", "viewer");
      assert.equal((await req(`${server.url}/rooms/id`, host, { method: "PUT" })).status, 201);
      for (const bearer of [host, guest]) {
        for (let i = 0; i < 2; i++) {
          assert.equal(
            (await req(`${server.url}/whep/id`, bearer, { method: "POST" })).status,
            201,
          );
        }
        const over = await req(`${server.url}/whep/id`, bearer, { method: "POST" });
        problem(over, 429, "too-many-requests");
        assert.ok(Number(over.headers.get("Retry-After")) > 0);
      }
      for (let i = 0; i < 4; i++) {
        assert.equal((await req(`${server.url}/whep/id`, viewer, { method: "POST" })).status, 201);
      }
      // A participant token with the host's sub is another identity: its own cap, not the host's.
      const twin = await token("host", "id", "participant");
      assert.equal((await req(`${server.url}/whep/id`, twin, { method: "POST" })).status, 201);
    } finally {
      await server.shutdown();
    }
  });
});

Deno.test("concurrent POSTs do not overshoot MAX_SESSIONS, MAX_ROOM_SESSIONS or maxParticipants", async () => {
  const server = await testServer({
    MAX_SESSIONS: "5",
    MAX_ROOM_SESSIONS: "4",
    MAX_PARTICIPANTS: "1",
    SESSION_TIMEOUT: "60",
  });
  try {
    const host = await token("host", "race", "host");
    const viewer = await token("fan", "race", "viewer");
    assert.equal((await req(`${server.url}/rooms/race`, host, { method: "PUT" })).status, 201);
    // Two participants at once for the one participant slot: exactly one gets in.
    const guests = await Promise.all(
      ["g1", "g2", "g3"].map(async (sub) =>
        (await req(`${server.url}/whep/race`, await token(sub, "race", "participant"), {
          method: "POST",
          headers: SDP,
          body: PLAY,
        })).status
      ),
    );
    assert.deepEqual(guests.toSorted(), [201, 409, 409]);
    // 20 viewers at once for the room's 3 remaining sessions.
    const statuses = await Promise.all(
      Array.from(
        { length: 20 },
        () =>
          req(`${server.url}/whep/race`, viewer, { method: "POST", headers: SDP, body: PLAY })
            .then((r) => r.status),
      ),
    );
    assert.equal(statuses.filter((s) => s === 201).length, 3, `${statuses}`);
    assert.equal(statuses.filter((s) => s === 503).length, 17, `${statuses}`);
    assert.equal(server.rooms.sessions.size, 4);
    assert.equal(server.rooms.negotiating, 0);
    // Another room: the server's limit (5) leaves one.
    const other = await token("host2", "race2", "host");
    assert.equal((await req(`${server.url}/rooms/race2`, other, { method: "PUT" })).status, 201);
    const more = await Promise.all(
      Array.from(
        { length: 10 },
        () => req(`${server.url}/whep/race2`, other, { method: "POST" }).then((r) => r.status),
      ),
    );
    assert.equal(more.filter((s) => s === 201).length, 1, `${more}`);
    assert.equal(server.rooms.sessions.size, 5);
    assert.equal(server.rooms.negotiating, 0);
  } finally {
    await server.shutdown();
  }
});

Deno.test("an identity is its role and sub: no other role can end, patch or replace the host's", async () => {
  const server = await testServer({ MAX_PARTICIPANTS: "3", SESSION_TIMEOUT: "60" });
  const u = server.url;
  try {
    const host = await token("alice", "twin", "host");
    const fakeHost = await token("alice", "twin", "participant");
    const fakeViewer = await token("alice", "twin", "viewer");
    const bob = await token("bob", "twin", "participant");
    const fakeBob = await token("bob", "twin", "viewer");

    const pub = await req(`${u}/whip/twin`, host, { method: "POST", headers: SDP, body: OBS });
    assert.equal(pub.status, 201, pub.text);
    const hostWhip = pub.headers.get("Location")!;
    const watch = await req(`${u}/whep/twin`, host, { method: "POST" });
    assert.equal(watch.status, 201);
    const hostWhep = watch.headers.get("Location")!;

    for (const intruder of [fakeHost, fakeViewer]) {
      for (const target of [hostWhip, hostWhep]) {
        problem(await req(`${u}${target}`, intruder, { method: "DELETE" }), 403, "forbidden");
        problem(
          await req(`${u}${target}`, intruder, {
            method: "PATCH",
            headers: { "Content-Type": "application/trickle-ice-sdpfrag", "If-Match": "*" },
            body: "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\n",
          }),
          403,
          "forbidden",
        );
      }
      // Taking over the host's feed (publisher id "alice") is refused.
      problem(
        await req(`${u}/whip/twin`, intruder, { method: "POST", headers: SDP, body: OBS }),
        403,
        "forbidden",
      );
      problem(await req(`${u}/rooms/twin`, intruder, { method: "DELETE" }), 403, "forbidden");
    }
    assert.ok(
      server.rooms.sessions.get(hostWhip.split("/").pop()!),
      "the host's WHIP session lives",
    );
    assert.ok(
      server.rooms.sessions.get(hostWhep.split("/").pop()!),
      "the host's WHEP session lives",
    );
    // The participant with the host's sub may still watch; its session is its own.
    const twinWatch = await req(`${u}/whep/twin`, fakeHost, { method: "POST" });
    assert.equal(twinWatch.status, 201);
    const twinSession = twinWatch.headers.get("Location")!;

    // A participant's sessions likewise: a viewer token with its sub cannot touch them.
    const bobPub = await req(`${u}/whip/twin`, bob, { method: "POST", headers: SDP, body: OBS });
    assert.equal(bobPub.status, 201, bobPub.text);
    const bobWhip = bobPub.headers.get("Location")!;
    problem(await req(`${u}${bobWhip}`, fakeBob, { method: "DELETE" }), 403, "forbidden");
    problem(await req(`${u}${twinSession}`, fakeViewer, { method: "DELETE" }), 403, "forbidden");

    // Owners and the host still may.
    assert.equal((await req(`${u}${twinSession}`, fakeHost, { method: "DELETE" })).status, 200);
    assert.equal((await req(`${u}${bobWhip}`, host, { method: "DELETE" })).status, 200);
    assert.equal((await req(`${u}${hostWhep}`, host, { method: "DELETE" })).status, 200);
    assert.equal((await req(`${u}${hostWhip}`, host, { method: "DELETE" })).status, 200);
    assert.equal(server.rooms.sessions.size, 0);
  } finally {
    await server.shutdown();
  }
});

Deno.test("reopening a closed room: any host token for its name", async () => {
  const server = await testServer();
  try {
    const first = await token("first", "stage", "host");
    const second = await token("second", "stage", "host");
    assert.equal((await req(`${server.url}/rooms/stage`, first, { method: "PUT" })).status, 201);
    problem(await req(`${server.url}/rooms/stage`, second, { method: "PUT" }), 409, "room-owned");
    problem(await req(`${server.url}/rooms/stage`, second, { method: "DELETE" }), 403, "forbidden");
    assert.equal((await req(`${server.url}/rooms/stage`, first, { method: "DELETE" })).status, 200);
    const reopened = await req(`${server.url}/rooms/stage`, second, { method: "PUT" });
    assert.equal(reopened.status, 201);
    assert.equal(reopened.json.host, "second");
  } finally {
    await server.shutdown();
  }
});

Deno.test("a POST that fails after admission gives its place back", async () => {
  // Two UDP ports: the third session's media cannot open (503 after its place was reserved).
  const server = await testServer({
    UDP_PORT_MIN: "43020",
    UDP_PORT_MAX: "43021",
    ICE_TRANSPORTS: "udp", // TCP candidates would still make a 201
    MAX_SESSIONS: "3",
    SESSION_TIMEOUT: "60",
  });
  try {
    const host = await token("host", "ports", "host");
    assert.equal((await req(`${server.url}/rooms/ports`, host, { method: "PUT" })).status, 201);
    const first = [];
    for (let i = 0; i < 6; i++) {
      const r = await req(`${server.url}/whep/ports`, host, { method: "POST" });
      first.push(r);
      if (r.status !== 201) assert.match(r.json.detail, /port/i, r.text);
    }
    const created = first.filter((r) => r.status === 201);
    assert.ok(created.length >= 1 && created.length < 3, `${first.map((r) => r.status)}`);
    assert.equal(server.rooms.negotiating, 0);
    assert.equal(server.rooms.sessions.size, created.length);
    for (const r of created) {
      const url = `${server.url}${r.headers.get("Location")}`;
      assert.equal((await req(url, host, { method: "DELETE" })).status, 200);
    }
    // Every place is free again: the failed POSTs held none.
    const again = await req(`${server.url}/whep/ports`, host, { method: "POST" });
    assert.equal(again.status, 201, again.text);
  } finally {
    await server.shutdown();
  }
});
