/**
 * Hostile input, point 4: crafted bearer tokens — `alg: none`, HS/ES confusion, other HMAC
 * algorithms, expired, not yet valid, issued in the future, too long-lived, wrong room,
 * oversized, bad base64, tampered, random strings, and random claims signed with the right
 * secret. Every answer is 401 (with `WWW-Authenticate: Bearer`) or 403 problem details, or a
 * success exactly when the claims are genuinely valid.
 */
import assert from "node:assert/strict";
import fc from "npm:fast-check@4.10.2";
import { generateKeyPair, SignJWT } from "jose";
import { TEST_SECRET } from "../helpers/server.ts";
import {
  authed,
  count,
  expectOkOrProblem,
  type Live,
  liveRoom,
  outcome,
  params,
  report,
  send,
} from "./harness.ts";
import { nastyValue } from "./arbitraries.ts";

const SECRET = new TextEncoder().encode(TEST_SECRET);
const MAX_TTL = 24 * 3600;

const b64url = (bytes: Uint8Array | string) => {
  const raw = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  return btoa(String.fromCharCode(...raw)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
};

async function hmac(alg: "SHA-256" | "SHA-384" | "SHA-512", data: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", SECRET, { name: "HMAC", hash: alg }, false, [
    "sign",
  ]);
  return b64url(
    new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(data))),
  );
}

/** A compact JWS of `header` and `payload` (any JSON), HMAC-SHA-256-signed with the secret. */
async function signRaw(header: unknown, payload: unknown | string): Promise<string> {
  const body = typeof payload === "string" ? payload : JSON.stringify(payload);
  const input = `${b64url(JSON.stringify(header))}.${b64url(body)}`;
  return `${input}.${await hmac("SHA-256", input)}`;
}

/** What the server must answer for a token. */
type Verdict = "valid" | "invalid";

const now = () => Math.floor(Date.now() / 1000);

/**
 * Whether claims signed correctly with HS256 are genuinely valid under the server's rules
 * (API.md): sub a string of 1–256 characters, room a string of 1–64 characters (NFC), role
 * host, participant or viewer, exp a number in the future, a lifetime within 24 h, iat and nbf
 * numbers not in the future. Generated times are far (≥ 10 min) from every edge, so clock skew
 * cannot matter.
 */
export function verdictOf(claims: Record<string, unknown>): Verdict {
  const t = now();
  const { sub, room, role, exp, iat, nbf } = claims;
  if (typeof sub !== "string" || sub.length < 1 || sub.length > 256) return "invalid";
  if (typeof room !== "string") return "invalid";
  const nfc = room.normalize("NFC");
  if (nfc.length < 1 || nfc.length > 64) return "invalid";
  if (role !== "host" && role !== "participant" && role !== "viewer") return "invalid";
  if (typeof exp !== "number" || !(exp > t)) return "invalid";
  if ("iat" in claims) {
    if (typeof iat !== "number" || iat > t || exp - iat > MAX_TTL) return "invalid";
  } else if (exp - t > MAX_TTL) return "invalid";
  if ("nbf" in claims && (typeof nbf !== "number" || nbf > t)) return "invalid";
  return "valid";
}

/** Hostile values for a claim. */
const hostileClaim: fc.Arbitrary<unknown> = fc.oneof(
  nastyValue,
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(null, true, [], {}, 0, -1, 1e308, -1e308, ["live"], { live: 1 }),
  fc.double(),
);

/** One change to a valid claims set: a hostile value, a deletion, a time shift, a near miss. */
type Corruption =
  | { key: string; value: unknown }
  | { key: string; remove: true }
  | { key: string; rel: number };

const corruption: fc.Arbitrary<Corruption> = fc.oneof(
  fc.record({
    key: fc.constantFrom("sub", "room", "role", "exp", "iat", "nbf"),
    value: hostileClaim,
  }),
  fc.record({
    key: fc.constantFrom("sub", "room", "role", "exp"),
    remove: fc.constant(true as const),
  }),
  fc.record({
    key: fc.constantFrom("exp", "iat", "nbf"),
    rel: fc.constantFrom(-3600, -600, 600, 3600, MAX_TTL - 600, 2 * MAX_TTL, -2 * MAX_TTL),
  }),
  fc.record({
    key: fc.constant("room"),
    value: fc.constantFrom(
      "other",
      "LIVE",
      " live",
      "live ",
      "live\u0000",
      "l\u0131ve",
      "",
      "x".repeat(65),
      "🎸",
    ),
  }),
  fc.record({
    key: fc.constant("sub"),
    value: fc.oneof(
      fc.constantFrom("eve", "host", "s".repeat(256), "s".repeat(257), " ", "\u0000"),
      fc.string({ unit: "binary", minLength: 1, maxLength: 40 }),
    ),
  }),
  fc.record({
    key: fc.constant("role"),
    value: fc.constantFrom(
      "host",
      "participant",
      "viewer",
      "admin",
      "HOST",
      "Host",
      "Viewer",
      "viewers",
      "participant ",
      "",
    ),
  }),
);

/**
 * Random claims: a valid set for `live` (times relative to now, optional iat / nbf / iss / aud
 * and unknown claims) with up to three corruptions; about a third stay valid.
 */
export const randomClaims: fc.Arbitrary<Record<string, unknown>> = fc.record({
  sub: fc.constantFrom("mallory", "eve"),
  role: fc.constantFrom("participant", "host", "viewer"),
  exp: fc.constantFrom(600, 3600, MAX_TTL - 600),
  iat: fc.option(fc.constantFrom(0, -600)),
  nbf: fc.option(fc.constant(-600)),
  iss: fc.option(fc.string()),
  aud: fc.option(fc.oneof(fc.string(), fc.array(fc.string()))),
  extra: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
  corruptions: fc.array(corruption, { maxLength: 3 }),
}).map((r) => {
  const t = now();
  const claims: Record<string, unknown> = {
    ...r.extra,
    sub: r.sub,
    room: "live",
    role: r.role,
    exp: t + r.exp,
  };
  if (r.iat !== null) claims.iat = t + r.iat;
  if (r.nbf !== null) claims.nbf = t + r.nbf;
  if (r.iss !== null) claims.iss = r.iss;
  if (r.aud !== null) claims.aud = r.aud;
  for (const c of r.corruptions) {
    if ("remove" in c) delete claims[c.key];
    else if ("rel" in c) claims[c.key] = t + c.rel;
    else claims[c.key] = c.value;
  }
  return claims;
});

/** A claims set that is genuinely valid for the room `live`. */
const goodClaims = () => ({ sub: "mallory", room: "live", role: "participant", exp: now() + 600 });

/** Crafted attacks; each knows the verdict it must get. */
const crafted: fc.Arbitrary<{ kind: string; make: () => Promise<string>; verdict: Verdict }> = fc
  .oneof(
    fc.constantFrom("none", "None", "NONE", "nOnE").chain((alg) =>
      fc.constantFrom("", "sig", "AAAA").map((sig) => ({
        kind: `alg ${alg}`,
        verdict: "invalid" as Verdict,
        make: () =>
          Promise.resolve(
            `${b64url(JSON.stringify({ alg, typ: "JWT" }))}.${
              b64url(JSON.stringify(goodClaims()))
            }.${sig}`,
          ),
      }))
    ),
    fc.constantFrom("ES256", "RS256", "PS256", "EdDSA", "HS384", "HS512", "hs256", "HS256 ").map(
      (alg) => ({
        kind: `alg ${alg} header over an HMAC-SHA-256 signature (alg confusion)`,
        verdict: "invalid" as Verdict,
        make: () => signRaw({ alg, typ: "JWT" }, goodClaims()),
      }),
    ),
    fc.constantFrom("host", "participant").map((role) => ({
      kind: `a viewer token's payload rewritten to role ${role}, signature kept`,
      verdict: "invalid" as Verdict,
      make: async () => {
        const token = await signRaw({ alg: "HS256", typ: "JWT" }, {
          ...goodClaims(),
          role: "viewer",
        });
        const [header, , signature] = token.split(".");
        return `${header}.${b64url(JSON.stringify({ ...goodClaims(), role }))}.${signature}`;
      },
    })),
    fc.constantFrom("HS384", "HS512").map((alg) => ({
      kind: `${alg} correctly signed with the secret (algorithm not configured)`,
      verdict: "invalid" as Verdict,
      make: () =>
        new SignJWT({ room: "live", role: "participant" }).setProtectedHeader({ alg })
          .setSubject("mallory").setIssuedAt().setExpirationTime("10m").sign(SECRET),
    })),
    fc.constant({
      kind: "ES256 correctly signed with an attacker's key",
      verdict: "invalid" as Verdict,
      make: async () => {
        const { privateKey } = await generateKeyPair("ES256");
        return await new SignJWT({ room: "live", role: "participant" })
          .setProtectedHeader({ alg: "ES256" }).setSubject("mallory").setIssuedAt()
          .setExpirationTime("10m").sign(privateKey);
      },
    }),
    fc.constantFrom(
      { crit: ["exp"] },
      { crit: [] },
      { crit: "b64" },
      { b64: false, crit: ["b64"] },
    ).map((extra) => ({
      kind: `header ${JSON.stringify(extra)}`,
      verdict: "invalid" as Verdict,
      make: () => signRaw({ alg: "HS256", ...extra }, goodClaims()),
    })),
    fc.constantFrom(
      { kid: "../../../etc/passwd" },
      { jku: "http://192.0.2.1/jwks.json" },
      { x5u: "http://192.0.2.1/cert" },
      { typ: "at+jwt" },
      { cty: "JWT" },
      { kid: "\u0000" },
      { zip: "DEF" },
      { enc: "A128GCM" },
    ).map((extra) => ({
      kind: `ignored header ${JSON.stringify(extra)}`,
      verdict: "valid" as Verdict,
      make: () => signRaw({ alg: "HS256", ...extra }, goodClaims()),
    })),
    fc.constantFrom(
      ["expired", { exp: -3600 }],
      ["not yet valid", { nbf: 3600 }],
      ["issued in the future", { iat: 3600 }],
      ["living longer than the maximum", { exp: 2 * MAX_TTL, iat: 0 }],
      ["without exp", { exp: undefined }],
    ).map(([what, rel]) => ({
      kind: what as string,
      verdict: "invalid" as Verdict,
      make: () => {
        const t = now();
        const claims: Record<string, unknown> = { ...goodClaims() };
        for (const [k, v] of Object.entries(rel as Record<string, number | undefined>)) {
          if (v === undefined) delete claims[k];
          else claims[k] = t + v;
        }
        return signRaw({ alg: "HS256" }, claims);
      },
    })),
    fc.integer({ min: 8200, max: 20_000 }).map((size) => ({
      kind: `oversized (${size} bytes of claims), otherwise valid`,
      verdict: "invalid" as Verdict,
      make: () => signRaw({ alg: "HS256" }, { ...goodClaims(), pad: "p".repeat(size) }),
    })),
    fc.tuple(
      fc.nat(),
      fc.constantFrom("+", "/", "=", "!", "%", "~", "*", ".", "é", "\\"),
      fc.constantFrom("replace", "insert"),
    ).map(([at, ch, op]) => ({
      kind: `bad base64: ${op} ${JSON.stringify(ch)}`,
      verdict: "invalid" as Verdict,
      make: async () => {
        const token = await signRaw({ alg: "HS256" }, goodClaims());
        const i = at % token.length;
        return token.slice(0, i) + ch + token.slice(op === "replace" ? i + 1 : i);
      },
    })),
    fc.tuple(fc.nat(), fc.nat({ max: 2 })).map(([at, part]) => ({
      kind: `tampered ${["header", "payload", "signature"][part]}`,
      verdict: "invalid" as Verdict,
      make: async () => {
        const token = await signRaw({ alg: "HS256" }, goodClaims());
        const parts = token.split(".");
        const s = parts[part];
        const i = at % s.length;
        const c = s[i] === "A" ? "B" : "A";
        // A flip in the last character may only touch padding bits: flip the first instead.
        const j = i === s.length - 1 ? 0 : i;
        parts[part] = s.slice(0, j) + (s[j] === "A" ? "B" : c) + s.slice(j + 1);
        return parts.join(".");
      },
    })),
    fc.constantFrom(
      "not json",
      "null",
      "[1,2]",
      '"live"',
      "1",
      '{"sub":"mallory"',
      "\ud800",
    ).map((payload) => ({
      kind: `payload ${JSON.stringify(payload)}`,
      verdict: "invalid" as Verdict,
      make: () => signRaw({ alg: "HS256" }, payload),
    })),
    fc.uint8Array({ minLength: 1, maxLength: 40 }).map((bytes) => ({
      kind: "payload of random bytes (non-UTF-8)",
      verdict: "invalid" as Verdict,
      make: async () => {
        const input = `${b64url(JSON.stringify({ alg: "HS256" }))}.${b64url(bytes)}`;
        return `${input}.${await hmac("SHA-256", input)}`;
      },
    })),
    fc.constantFrom(
      "null",
      "[]",
      '"HS256"',
      '{"alg":null}',
      '{"alg":["HS256"]}',
      '{"alg":"HS256","alg":"none"}',
    ).map((header) => ({
      kind: `header ${header}`,
      verdict: "invalid" as Verdict,
      make: async () => {
        const input = `${b64url(header)}.${b64url(JSON.stringify(goodClaims()))}`;
        return `${input}.${await hmac("SHA-256", input)}`;
      },
    })),
    fc.constantFrom(1, 2, 4, 5).map((segments) => ({
      kind: `${segments} segments`,
      verdict: "invalid" as Verdict,
      make: async () => {
        const parts = (await signRaw({ alg: "HS256" }, goodClaims())).split(".");
        while (parts.length < segments) parts.push(parts[1]);
        return parts.slice(0, segments).join(".");
      },
    })),
  );

/** Random `Authorization` header values (ByteStrings without CR/LF/NUL, as fetch allows). */
const randomHeader = fc.oneof(
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) }),
  fc.tuple(
    fc.constantFrom("Bearer ", "bearer ", "BEARER ", "Bearer  ", "Basic ", "Token ", "", "Bearer"),
    fc.string({
      unit: fc.constantFrom(
        ..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/~ ",
      ),
      maxLength: 200,
    }),
  ).map(([s, t]) => s + t),
  fc.uint8Array({ maxLength: 40 }).map((b) =>
    "Bearer " + [...b].map((x) => String.fromCharCode(x < 0x20 || x === 0x7f ? 0x41 : x)).join("")
  ),
);

const ROUTES = ["GET /rooms/live", "PUT /rooms/live", "POST /whep/live", "DELETE /sessions/x"];

/**
 * Sends `authorization` on one route and checks the answer against the claims' verdict:
 * invalid → 401 with a Bearer challenge; valid for another room → 403; valid → the route's
 * success (or its rights-based 403/409, or 404 for an unknown session).
 */
async function probe(
  live: Live,
  route: number,
  authorization: string | undefined,
  verdict: Verdict | "unknown",
  claims: Record<string, unknown> | undefined,
  what: string,
  tally: string,
): Promise<void> {
  const [method, path] = ROUTES[route].split(" ");
  const headers: Record<string, string> = {};
  if (authorization !== undefined) headers.Authorization = authorization;
  const res = await send(`${live.url}${path}`, { method, headers });
  const answer = await expectOkOrProblem(res, [200, 201], `${ROUTES[route]} ${what}`, tally);
  const s = answer.status;
  const why = `${ROUTES[route]} ${what} → ${s} ${answer.text.slice(0, 200)}`;
  if (answer.status === 201) {
    await authed(new URL(answer.headers.get("Location")!, live.url).href, undefined, {
      method: "DELETE",
      headers: { Authorization: authorization! },
    }).then(async (r) => assert.equal(r.status, 200, `cleanup: ${await r.text()}`));
  }
  if (verdict === "unknown") {
    assert.ok([200, 201, 401, 403, 404, 409].includes(s), why);
    return;
  }
  if (verdict === "invalid") {
    assert.equal(s, 401, why);
    return;
  }
  if (s === 401) assert.fail(`a genuinely valid token was refused: ${why}`);
  const room = String(claims?.room ?? "live").normalize("NFC");
  if (route === 3) return assert.equal(s, 404, why); // unknown session, after authentication
  if (room !== "live") return assert.equal(s, 403, why);
  if (route === 0) return assert.equal(s, 200, why);
  if (route === 1) {
    const expected = claims?.role !== "host" ? 403 : claims?.sub === "host" ? 200 : 409;
    return assert.equal(s, expected, why);
  }
  // Viewers are never counted against maxParticipants: a valid viewer token always plays.
  if (claims?.role === "viewer") return assert.equal(s, 201, why);
  assert.ok([201, 409].includes(s), why);
}

Deno.test("hostile tokens: 401/403 problems, success only for genuinely valid claims", async (t) => {
  const live = await liveRoom();
  try {
    await t.step("random claims signed with the right secret", async () => {
      await fc.assert(
        fc.asyncProperty(
          randomClaims,
          fc.nat({ max: ROUTES.length - 1 }),
          async (claims, route) => {
            count("tokens: random claims, right secret");
            const token = await signRaw({ alg: "HS256", typ: "JWT" }, claims);
            // Tokens over 8 KiB are refused before any parsing, whatever they say.
            const verdict = token.length > 8192 ? "invalid" : verdictOf(claims);
            outcome("tokens: random claims, right secret", `verdict ${verdict}`);
            await probe(
              live,
              route,
              `Bearer ${token}`,
              verdict,
              claims,
              `claims ${JSON.stringify(claims).slice(0, 300)}`,
              "tokens: random claims, right secret",
            );
          },
        ),
        params(300),
      );
      await live.check("random claims");
    });

    await t.step("crafted attacks", async () => {
      await fc.assert(
        fc.asyncProperty(crafted, fc.nat({ max: ROUTES.length - 1 }), async (attack, route) => {
          count("tokens: crafted");
          const token = await attack.make();
          await probe(
            live,
            route,
            `Bearer ${token}`,
            attack.verdict,
            goodClaims(),
            `${attack.kind}: ${token.slice(0, 120)}`,
            "tokens: crafted",
          );
        }),
        params(250),
      );
      await live.check("crafted tokens");
    });

    await t.step("random Authorization headers", async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.option(randomHeader, { freq: 20 }),
          fc.nat({ max: ROUTES.length - 1 }),
          async (header, route) => {
            count("tokens: random Authorization");
            await probe(
              live,
              route,
              header ?? undefined,
              "invalid",
              undefined,
              `Authorization ${JSON.stringify(header)}`,
              "tokens: random Authorization",
            );
          },
        ),
        params(200),
      );
      await live.check("random Authorization headers");
    });
  } finally {
    report("tokens:");
    await live.close();
  }
});
