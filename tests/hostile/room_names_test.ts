/**
 * Hostile input, point 5: random room names in the path — full Unicode (lone surrogates, NFD,
 * joiners), percent-encodings of arbitrary bytes (%00, %2F, overlong and invalid UTF-8, broken
 * escapes), raw bytes — sent over a raw TCP connection so that no client library normalises
 * them. Every answer is a 400 problem or a normal response, never a 5xx; a room opened by a
 * case is closed again; the live media keeps flowing.
 */
import assert from "node:assert/strict";
import fc from "npm:fast-check@4.10.2";
import { roomName } from "../../src/rooms/names.ts";
import {
  count,
  expectOkOrProblem,
  type Live,
  liveRoom,
  outcome,
  params,
  report,
} from "./harness.ts";

const encoder = new TextEncoder();

/** Percent-encodes every byte of `bytes` except unreserved ASCII (or every byte: `all`). */
function percent(bytes: Uint8Array, all = false): string {
  return [...bytes].map((b) =>
    !all && /[A-Za-z0-9\-._~]/.test(String.fromCharCode(b))
      ? String.fromCharCode(b)
      : `%${b.toString(16).toUpperCase().padStart(2, "0")}`
  ).join("");
}

/** A path segment, as raw bytes, and how it was made (for failure messages). */
interface Segment {
  how: string;
  bytes: Uint8Array;
}

const segment: fc.Arbitrary<Segment> = fc.oneof(
  // Full Unicode (lone surrogates become U+FFFD in UTF-8), percent-encoded.
  fc.string({ unit: "binary", minLength: 0, maxLength: 70 }).map((s) => ({
    how: `unicode ${JSON.stringify(s)}`,
    bytes: encoder.encode(percent(encoder.encode(s))),
  })),
  // Names that look valid: letters, digits, emoji, - _ . around the 64-character limit.
  fc.tuple(
    fc.array(
      fc.constantFrom(
        "a",
        "Z",
        "7",
        "-",
        "_",
        ".",
        "é",
        "e\u0301",
        "ß",
        "Ω",
        "🎸",
        "👩‍🚀",
        "🇫🇷",
        "٣",
        "中",
      ),
      { minLength: 1, maxLength: 70 },
    ),
    fc.boolean(),
  ).map(([chars, nfd]) => {
    const s = nfd ? chars.join("").normalize("NFD") : chars.join("");
    return { how: `name ${JSON.stringify(s)}`, bytes: encoder.encode(percent(encoder.encode(s))) };
  }),
  // Arbitrary bytes, every one percent-encoded: %00, %2F, %FF, overlong UTF-8...
  fc.uint8Array({ minLength: 0, maxLength: 40 }).map((b) => ({
    how: `bytes ${percent(b, true)}`,
    bytes: encoder.encode(percent(b, true)),
  })),
  // Known traps.
  fc.constantFrom(
    "%00",
    "a%00b",
    "%2F",
    "a%2Fb",
    "%2f..%2f",
    "%2e",
    "%2e%2e",
    ".",
    "..",
    "...",
    "%C0%AF",
    "%E0%80%AF",
    "%F0%80%80%AF",
    "%ED%A0%80",
    "%F4%90%80%80",
    "%FF%FE",
    "%",
    "%%",
    "%G0",
    "%0",
    "a%",
    "%252F",
    "%25",
    "%20",
    "+",
    "live%00",
    "LIVE",
    "live",
    "%6C%69%76%65",
    "%E2%80%8D",
    "%EF%B8%8F",
    "%CC%81",
    "x".repeat(64),
    "x".repeat(65),
    "%F0%9F%8E%B8".repeat(64),
    "%F0%9F%8E%B8".repeat(33),
    "%F0%9F%8E%B8".repeat(65),
  ).map((s) => ({ how: `trap ${s}`, bytes: encoder.encode(s) })),
  // Raw (unescaped) non-ASCII bytes straight in the request line.
  fc.uint8Array({ minLength: 1, maxLength: 12 }).map((b) => ({
    how: `raw bytes ${[...b].map((x) => x.toString(16)).join(" ")}`,
    bytes: new Uint8Array([...b].map((x) => x | 0x80)),
  })),
);

/** What the server's router would decode the segment into (Hono: decodeURIComponent). */
function decoded(bytes: Uint8Array): string | undefined {
  const text = new TextDecoder("utf-8", { fatal: true });
  try {
    return decodeURIComponent(text.decode(bytes));
  } catch {
    return undefined;
  }
}

function validName(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  try {
    return roomName(name);
  } catch {
    return undefined;
  }
}

/** An HTTP/1.1 request over a raw TCP connection, the path written byte for byte. */
async function rawRequest(
  live: Live,
  method: string,
  path: Uint8Array,
  token: string,
): Promise<Response> {
  const { port } = new URL(live.url);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
  const timer = setTimeout(() => conn.close(), 10_000);
  try {
    const head = encoder.encode(`${method} `);
    const tail = encoder.encode(
      ` HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n` +
        `Content-Length: 0\r\nConnection: close\r\n\r\n`,
    );
    const request = new Uint8Array(head.length + path.length + tail.length);
    request.set(head);
    request.set(path, head.length);
    request.set(tail, head.length + path.length);
    await conn.write(request);
    // Read the head, then the body: up to Content-Length, to the end, or (an event stream,
    // which never ends) not at all.
    let all = new Uint8Array(0);
    const buffer = new Uint8Array(65536);
    const more = async () => {
      const n = await conn.read(buffer).catch(() => null);
      if (n === null) return false;
      const next = new Uint8Array(all.length + n);
      next.set(all);
      next.set(buffer.subarray(0, n), all.length);
      all = next;
      return true;
    };
    const headEnd = () => new TextDecoder().decode(all).indexOf("\r\n\r\n");
    while (headEnd() < 0 && await more());
    const text0 = new TextDecoder().decode(all);
    const split = text0.indexOf("\r\n\r\n");
    assert.ok(split > 0, `${method}: no HTTP response (hang or reset): ${JSON.stringify(text0)}`);
    const [statusLine, ...headerLines] = text0.slice(0, split).split("\r\n");
    const status = Number(statusLine.split(" ")[1]);
    const headers = new Headers();
    for (const line of headerLines) {
      const colon = line.indexOf(":");
      headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
    const bodyStart = encoder.encode(text0.slice(0, split + 4)).length;
    const length = headers.get("Content-Length");
    if (headers.get("Content-Type")?.startsWith("text/event-stream")) {
      // an open stream: the head is the answer
    } else if (length !== null) {
      while (all.length < bodyStart + Number(length) && await more());
    } else {
      while (await more());
    }
    let body = new TextDecoder().decode(all.subarray(bodyStart));
    if (headers.get("Content-Type")?.startsWith("text/event-stream")) body = "";
    if (headers.get("Transfer-Encoding")?.includes("chunked") && body) {
      let out = "";
      let rest = body;
      while (true) {
        const eol = rest.indexOf("\r\n");
        const size = parseInt(rest.slice(0, eol), 16);
        if (!size) break;
        out += rest.slice(eol + 2, eol + 2 + size);
        rest = rest.slice(eol + 2 + size + 2);
      }
      body = out;
    }
    return new Response(body || null, { status, headers });
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer */ }
  }
}

const ROUTES = [
  ["GET", "/rooms/"],
  ["PUT", "/rooms/"],
  ["POST", "/whep/"],
  ["GET", "/whip/"],
  ["DELETE", "/rooms/"],
  ["GET", "/rooms/", "/events"],
] as const;

Deno.test("hostile room names: a 400 problem or a normal answer, never a 5xx", async (t) => {
  const live = await liveRoom();
  try {
    await t.step("random names on every room-named route", async () => {
      let opened = 0;
      await fc.assert(
        fc.asyncProperty(segment, fc.nat({ max: ROUTES.length - 1 }), async (seg, r) => {
          const name = "names: random room names";
          count(name);
          const [method, prefix, suffix] = ROUTES[r];
          const path = new Uint8Array([
            ...encoder.encode(prefix),
            ...seg.bytes,
            ...encoder.encode(suffix ?? ""),
          ]);
          const room = decoded(seg.bytes);
          const valid = validName(room);
          // A token for the very room named (when a token can name it), so that a valid name gets
          // past authorisation and reaches the room logic.
          const claim = valid ?? "live";
          const token = await live.server.token("roomhost", claim, "host");
          const what = `${method} ${prefix}<${seg.how}>${suffix ?? ""}`;
          const res = await rawRequest(live, method, path, token);
          // The HTTP parser refuses raw (unescaped) non-ASCII bytes in the request line — not a
          // URI (RFC 9112 §3.2, RFC 3986) — before the app sees them, with a 400 problem.
          if (
            res.status === 400 && seg.how.startsWith("raw") &&
            res.headers.get("Content-Type") === "application/problem+json"
          ) {
            outcome(name, "400 (HTTP parser)");
            await res.body?.cancel();
            return;
          }
          const answer = await expectOkOrProblem(res, [200, 201, 204], what, name);
          if (answer.status >= 200 && answer.status < 300 && r !== 3) {
            assert.ok(valid !== undefined, `${what}: ${answer.status} for an invalid name`);
          }
          if (answer.status === 400) {
            assert.ok(
              ["/problems/bad-room-name", "/problems/bad-request"].includes(answer.problem!.type!),
              `${what}: ${answer.text}`,
            );
          }
          if (valid !== undefined && answer.status === 400) {
            assert.fail(`${what}: the valid name ${JSON.stringify(valid)} was refused`);
          }
          if (answer.status === 201 && method === "POST") {
            // A WHEP session of an open room (server-offer mode): end it.
            const location = answer.headers.get("Location")!;
            const end = await rawRequest(live, "DELETE", encoder.encode(location), token);
            assert.equal(end.status, 200, `${what}: ending ${location}: ${await end.text()}`);
          }
          if (answer.status === 201 && method === "PUT") {
            opened++;
            const body = JSON.parse(answer.text);
            assert.equal(body.room, valid, `${what}: the room opened is the NFC name`);
            const close = await rawRequest(live, "DELETE", path, token);
            assert.equal(close.status, 200, `${what}: closing it: ${await close.text()}`);
          }
          if (answer.status === 200 && method === "GET" && prefix === "/rooms/" && !suffix) {
            assert.equal(JSON.parse(answer.text).room, valid, `${what}: described room`);
          }
        }),
        params(300),
      );
      console.log(`room names: ${opened} rooms opened (and closed)`);
      await live.check("random room names");
    });

    await t.step("a name of 64 astral characters is valid and can be opened", async () => {
      // API.md: a room name has 1 to 64 *characters*, emoji included, and the host opens it with
      // a token naming it. Found by the property above.
      count("names: random room names");
      const room = "🎸".repeat(64);
      assert.equal(roomName(room), room, "the name validator accepts it");
      const token = await live.server.token("roomhost", room, "host");
      const path = encoder.encode(`/rooms/${encodeURIComponent(room)}`);
      const res = await rawRequest(live, "PUT", path, token);
      const answer = await expectOkOrProblem(res, [201], `PUT /rooms/${room}`);
      if (answer.status === 201) {
        const close = await rawRequest(live, "DELETE", path, token);
        await close.body?.cancel();
      }
      assert.equal(answer.status, 201, `PUT /rooms/🎸×64 → ${answer.status} ${answer.text}`);
    });
  } finally {
    report("names:");
    await live.close();
  }
});
