import assert from "node:assert/strict";
import { DomainError, type ErrorCode } from "../../src/errors.ts";
import { problemResponse, STATUS } from "../../src/http/problem.ts";
import { iceServerLinks } from "../../src/http/request.ts";

/** The API's status table (API.md, "Errors"), code by code. */
const EXPECTED: Record<ErrorCode, number> = {
  "bad-request": 400,
  "bad-sdp": 400,
  "bad-room-name": 400,
  "unauthorized": 401,
  "forbidden": 403,
  "not-found": 404,
  "method-not-allowed": 405,
  "no-common-codec": 406,
  "room-full": 409,
  "room-owned": 409,
  "precondition-failed": 412,
  "body-too-large": 413,
  "unsupported-media-type": 415,
  "unprocessable": 422,
  "precondition-required": 428,
  "too-many-requests": 429,
  "unavailable": 503,
};
const CODES = Object.keys(EXPECTED) as ErrorCode[];

Deno.test("problem statuses", async (t) => {
  await t.step("every ErrorCode maps to its status in the API table", () => {
    assert.deepEqual(STATUS, EXPECTED);
  });

  await t.step("the table's statuses are all used, and no other", () => {
    assert.deepEqual(
      [...new Set(Object.values(STATUS))].sort((a, b) => a - b),
      [400, 401, 403, 404, 405, 406, 409, 412, 413, 415, 422, 428, 429, 503],
    );
  });
});

Deno.test("problemResponse", async (t) => {
  for (const code of CODES) {
    await t.step(`${code} → ${EXPECTED[code]} problem document`, async () => {
      const detail = `something about ${code}`;
      const response = problemResponse(new DomainError(code, detail), "/whip/demo");
      assert.equal(response.status, EXPECTED[code]);
      assert.equal(response.headers.get("Content-Type"), "application/problem+json");
      const body = await response.json();
      assert.equal(body.type, `/problems/${code}`);
      assert.equal(typeof body.title, "string");
      assert.ok(body.title.length > 0);
      assert.equal(body.status, EXPECTED[code]);
      assert.equal(body.detail, detail);
      assert.equal(body.instance, "/whip/demo");
      // WWW-Authenticate on 401 only; Retry-After only when given.
      const challenge = response.headers.get("WWW-Authenticate");
      if (EXPECTED[code] === 401) assert.match(challenge ?? "", /^Bearer\b/);
      else assert.equal(challenge, null);
      assert.equal(response.headers.get("Retry-After"), null);
    });
  }

  await t.step("titles differ between codes", async () => {
    const titles = new Set<string>();
    for (const code of CODES) {
      titles.add((await problemResponse(new DomainError(code, "x")).json()).title);
    }
    assert.equal(titles.size, CODES.length);
  });

  await t.step("Retry-After is set when the error carries it", async () => {
    const busy = problemResponse(
      new DomainError("too-many-requests", "too many sessions", { retryAfter: 30 }),
    );
    assert.equal(busy.status, 429);
    assert.equal(busy.headers.get("Retry-After"), "30");
    const draining = problemResponse(
      new DomainError("unavailable", "shutting down", { retryAfter: 5 }),
    );
    assert.equal(draining.status, 503);
    assert.equal(draining.headers.get("Retry-After"), "5");
    await busy.body?.cancel();
    await draining.body?.cancel();
  });

  await t.step("Retry-After 0 is still sent", async () => {
    const r = problemResponse(new DomainError("unavailable", "now", { retryAfter: 0 }));
    assert.equal(r.headers.get("Retry-After"), "0");
    await r.body?.cancel();
  });

  await t.step(
    "the body has exactly type, title, status, detail (and instance if given)",
    async () => {
      const without = await problemResponse(new DomainError("not-found", "no such room")).json();
      assert.deepEqual(without, {
        type: "/problems/not-found",
        title: "Not found",
        status: 404,
        detail: "no such room",
      });
      const withInstance = await problemResponse(
        new DomainError("forbidden", "no publish right"),
        "/sessions/abc",
      ).json();
      assert.deepEqual(Object.keys(withInstance).sort(), [
        "detail",
        "instance",
        "status",
        "title",
        "type",
      ]);
    },
  );

  await t.step("a detail with quotes and newlines stays valid JSON", async () => {
    const detail = 'bad line "a=foo"\nsecond line \\ end';
    const body = await problemResponse(new DomainError("bad-sdp", detail)).json();
    assert.equal(body.detail, detail);
  });
});

Deno.test("iceServerLinks", async (t) => {
  await t.step("no servers, no links", () => {
    assert.deepEqual(iceServerLinks([]), []);
  });

  await t.step("a STUN server", () => {
    assert.deepEqual(iceServerLinks([{ url: "stun:stun.example.org:3478" }]), [
      '<stun:stun.example.org:3478>; rel="ice-server"',
    ]);
  });

  await t.step("a TURN server with username, credential and credential-type", () => {
    assert.deepEqual(
      iceServerLinks([{
        url: "turn:turn.example.org:3478?transport=udp",
        username: "alice",
        credential: "s3cret",
      }]),
      [
        '<turn:turn.example.org:3478?transport=udp>; rel="ice-server"; username="alice"; credential="s3cret"; credential-type="password"',
      ],
    );
  });

  await t.step("one link per server, in order", () => {
    const links = iceServerLinks([
      { url: "stun:a.example:3478" },
      { url: "turns:b.example:5349", username: "u", credential: "p" },
      { url: "stun:c.example:19302", username: undefined, credential: undefined },
    ]);
    assert.deepEqual(links, [
      '<stun:a.example:3478>; rel="ice-server"',
      '<turns:b.example:5349>; rel="ice-server"; username="u"; credential="p"; credential-type="password"',
      '<stun:c.example:19302>; rel="ice-server"',
    ]);
  });

  await t.step("quotes and backslashes in credentials are escaped", () => {
    const [link] = iceServerLinks([{
      url: "turn:t.example:3478",
      username: 'a"b',
      credential: 'c\\d"',
    }]);
    assert.equal(
      link,
      '<turn:t.example:3478>; rel="ice-server"; username="a\\"b"; credential="c\\\\d\\""; credential-type="password"',
    );
  });

  await t.step("a username without a credential gets an empty credential", () => {
    assert.deepEqual(iceServerLinks([{ url: "turn:t.example:3478", username: "u" }]), [
      '<turn:t.example:3478>; rel="ice-server"; username="u"; credential=""; credential-type="password"',
    ]);
  });

  await t.step("links built from ICE_SERVERS parse back with the Link grammar", () => {
    const [link] = iceServerLinks([{
      url: "turn:t.example:3478",
      username: "user;x",
      credential: 'p"w,',
    }]);
    const m =
      /^<([^>]+)>; rel="ice-server"; username="((?:[^"\\]|\\.)*)"; credential="((?:[^"\\]|\\.)*)"; credential-type="password"$/
        .exec(link);
    assert.ok(m, link);
    const unquote = (s: string) => s.replace(/\\(.)/g, "$1");
    assert.equal(m[1], "turn:t.example:3478");
    assert.equal(unquote(m[2]), "user;x");
    assert.equal(unquote(m[3]), 'p"w,');
  });
});
