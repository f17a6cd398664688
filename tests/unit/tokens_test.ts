import assert from "node:assert/strict";
import { base64url, exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from "jose";
import { AuthError } from "../../src/errors.ts";
import {
  bearerToken,
  type Claims,
  createVerifier,
  DEFAULT_CLOCK_TOLERANCE_SECONDS,
  mintToken,
} from "../../src/auth/tokens.ts";
import { parseDuration } from "../../src/duration.ts";

const SECRET = new TextEncoder().encode("unit-test-secret-that-is-long-enough-0123456789");
const OTHER_SECRET = new TextEncoder().encode("another-secret-entirely-9876543210-abcdefghij");
const DAY = 86400;

const now = () => Math.floor(Date.now() / 1000);

/** A payload valid for the HS256 verifier; override or delete fields per test. */
function payload(overrides: Record<string, unknown> = {}): JWTPayload {
  const t = now();
  return { sub: "alice", room: "lobby", role: "host", iat: t, exp: t + 3600, ...overrides };
}

/** Signs an arbitrary claims set with HS256 (or another key/alg), bypassing mintToken's checks. */
async function sign(
  claims: JWTPayload,
  key: Uint8Array | CryptoKey = SECRET,
  header: { alg: string; kid?: string } = { alg: "HS256" },
): Promise<string> {
  return await new SignJWT(claims).setProtectedHeader({ ...header, typ: "JWT" }).sign(key);
}

function b64json(value: unknown): string {
  return base64url.encode(new TextEncoder().encode(JSON.stringify(value)));
}

/** Asserts that `promise` rejects with an AuthError (code "unauthorized") whose detail matches. */
async function refused(promise: Promise<unknown>, detail: string | RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof AuthError, `expected AuthError, got ${error}`);
    assert.equal(error.code, "unauthorized");
    if (typeof detail === "string") assert.equal(error.message, detail);
    else assert.match(error.message, detail);
    assert.doesNotMatch(error.message, /JWS|JWT |ERR_|\bat \w+ \(/);
    return true;
  });
}

/** Asserts that a synchronous call throws an AuthError (code "unauthorized") with `detail`. */
function refusedSync(fn: () => unknown, detail: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof AuthError, `expected AuthError, got ${error}`);
    assert.equal(error.code, "unauthorized");
    assert.equal(error.message, detail);
    return true;
  });
}

async function keyPair(alg: "ES256" | "EdDSA", kid: string) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
  return { privateKey, jwk, kid, alg };
}

Deno.test("HS256 verification", async (t) => {
  const verifier = createVerifier({ secret: SECRET, maxTtlSeconds: DAY });

  await t.step("valid host token minted by mintToken", async () => {
    const token = await mintToken(SECRET, {
      sub: "alice",
      room: "lobby",
      role: "host",
      ttlSeconds: 3600,
    });
    const claims = await verifier.verify(token);
    assert.equal(claims.sub, "alice");
    assert.equal(claims.room, "lobby");
    assert.equal(claims.role, "host");
    assert.equal(typeof claims.iat, "number");
    assert.equal(claims.exp - claims.iat!, 3600);
    assert.ok(Math.abs(claims.iat! - now()) <= 2);
  });

  await t.step("valid participant token; unknown claims ignored and not returned", async () => {
    const p = payload({ role: "participant", sub: "bob", extra: { nested: true }, jti: "x" });
    const claims = await verifier.verify(await sign(p));
    const expected: Claims = {
      sub: "bob",
      room: "lobby",
      role: "participant",
      exp: p.exp!,
      iat: p.iat!,
    };
    assert.deepEqual(claims, expected);
  });

  await t.step("token without iat is accepted and has no iat", async () => {
    const p = payload();
    delete p.iat;
    const claims = await verifier.verify(await sign(p));
    assert.equal(claims.iat, undefined);
    assert.ok(!("iat" in claims));
  });

  await t.step("room claim is NFC-normalised", async () => {
    const decomposed = "cafe\u0301";
    const claims = await verifier.verify(await sign(payload({ room: decomposed })));
    assert.equal(claims.room, "caf\u00e9");
    assert.equal(claims.room, decomposed.normalize("NFC"));
  });

  await t.step("expired token", async () => {
    const t0 = now();
    await refused(
      verifier.verify(await sign(payload({ iat: t0 - 120, exp: t0 - 60 }))),
      "token expired",
    );
  });

  await t.step("expiry within the clock tolerance is still accepted", async () => {
    const t0 = now();
    const claims = await verifier.verify(await sign(payload({ iat: t0 - 60, exp: t0 - 2 })));
    assert.equal(claims.sub, "alice");
  });

  await t.step("the default clock tolerance is 30 s (JWT_CLOCK_TOLERANCE)", async () => {
    assert.equal(DEFAULT_CLOCK_TOLERANCE_SECONDS, 30);
    const t0 = now();
    const late = await verifier.verify(await sign(payload({ iat: t0 - 120, exp: t0 - 25 })));
    assert.equal(late.sub, "alice");
    await refused(
      verifier.verify(await sign(payload({ iat: t0 - 120, exp: t0 - 40 }))),
      "token expired",
    );
    const early = await verifier.verify(await sign(payload({ nbf: t0 + 25 })));
    assert.equal(early.sub, "alice");
    const tight = createVerifier({ secret: SECRET, maxTtlSeconds: DAY, clockToleranceSeconds: 5 });
    await refused(
      tight.verify(await sign(payload({ iat: t0 - 120, exp: t0 - 10 }))),
      "token expired",
    );
  });

  await t.step("valid viewer token, also minted by mintToken", async () => {
    const claims = await verifier.verify(await sign(payload({ role: "viewer", sub: "crowd" })));
    assert.equal(claims.role, "viewer");
    const minted = await mintToken(SECRET, {
      sub: "crowd",
      room: "lobby",
      role: "viewer",
      ttlSeconds: 60,
    });
    assert.equal((await verifier.verify(minted)).role, "viewer");
  });

  await t.step("zero clock tolerance refuses a just-expired token", async () => {
    const strict = createVerifier({ secret: SECRET, maxTtlSeconds: DAY, clockToleranceSeconds: 0 });
    const t0 = now();
    await refused(
      strict.verify(await sign(payload({ iat: t0 - 60, exp: t0 - 2 }))),
      "token expired",
    );
  });

  await t.step("nbf in the future", async () => {
    await refused(
      verifier.verify(await sign(payload({ nbf: now() + 600 }))),
      "token not yet valid",
    );
  });

  await t.step("nbf in the past is fine", async () => {
    const claims = await verifier.verify(await sign(payload({ nbf: now() - 10 })));
    assert.equal(claims.role, "host");
  });

  await t.step("no exp claim", async () => {
    const p = payload();
    delete p.exp;
    await refused(verifier.verify(await sign(p)), "token has no exp claim");
  });

  await t.step("exp that is not a number", async () => {
    await refused(verifier.verify(await sign(payload({ exp: "tomorrow" }))), /claim exp/);
  });

  await t.step("lifetime longer than the maximum (exp - iat)", async () => {
    const t0 = now();
    await refused(
      verifier.verify(await sign(payload({ iat: t0, exp: t0 + 2 * DAY }))),
      "token lives longer than the configured maximum of 86400 s",
    );
  });

  await t.step("lifetime longer than the maximum without iat (exp - now)", async () => {
    const p = payload({ exp: now() + DAY + 3600 });
    delete p.iat;
    await refused(
      verifier.verify(await sign(p)),
      "token lives longer than the configured maximum of 86400 s",
    );
  });

  await t.step("lifetime exactly the maximum is accepted", async () => {
    const t0 = now();
    const claims = await verifier.verify(await sign(payload({ iat: t0, exp: t0 + DAY })));
    assert.equal(claims.exp - claims.iat!, DAY);
  });

  await t.step("an old iat does not let a long-lived token through", async () => {
    const t0 = now();
    await refused(
      verifier.verify(await sign(payload({ iat: t0 - 10 * DAY, exp: t0 + 60 }))),
      /lives longer than the configured maximum/,
    );
  });

  await t.step("iat in the future", async () => {
    const t0 = now();
    await refused(
      verifier.verify(await sign(payload({ iat: t0 + 600, exp: t0 + 1200 }))),
      "token issued in the future",
    );
  });

  await t.step("wrong secret", async () => {
    await refused(verifier.verify(await sign(payload(), OTHER_SECRET)), "token signature invalid");
  });

  await t.step("tampered payload", async () => {
    const token = await sign(payload({ role: "participant" }));
    const [h, , s] = token.split(".");
    const forged = `${h}.${b64json(payload({ role: "host" }))}.${s}`;
    await refused(verifier.verify(forged), "token signature invalid");
  });

  await t.step("alg none (empty signature)", async () => {
    const token = `${b64json({ alg: "none", typ: "JWT" })}.${b64json(payload())}.`;
    await refused(verifier.verify(token), "token algorithm not allowed");
  });

  await t.step("alg none (junk signature)", async () => {
    const token = `${b64json({ alg: "none" })}.${b64json(payload())}.AAAA`;
    await refused(verifier.verify(token), "token algorithm not allowed");
  });

  await t.step("other HMAC algorithms are refused (HS512)", async () => {
    await refused(
      verifier.verify(await sign(payload(), SECRET, { alg: "HS512" })),
      "token algorithm not allowed",
    );
  });

  await t.step("ES256 token when a secret is configured", async () => {
    const { privateKey } = await keyPair("ES256", "k1");
    await refused(
      verifier.verify(await sign(payload(), privateKey, { alg: "ES256", kid: "k1" })),
      "token algorithm not allowed",
    );
  });

  await t.step("bad base64", async () => {
    await refused(verifier.verify("eyJ!!!.e30.abc"), "token malformed");
    await refused(verifier.verify("eyJhbGciOiJIUzI1NiJ9.e30=.abc"), "token malformed");
  });

  await t.step("valid base64url that is not JSON", async () => {
    await refused(verifier.verify("abc.def.ghi"), "token malformed");
    const token = await sign(payload());
    const [h, , s] = token.split(".");
    const notJson = base64url.encode(new TextEncoder().encode("not json"));
    await refused(verifier.verify(`${h}.${notJson}.${s}`), /token (malformed|signature invalid)/);
  });

  await t.step("payload that is a JSON array, correctly signed", async () => {
    const header = b64json({ alg: "HS256", typ: "JWT" });
    const body = b64json([1, 2, 3]);
    const mac = await crypto.subtle.sign(
      "HMAC",
      await crypto.subtle.importKey("raw", SECRET, { name: "HMAC", hash: "SHA-256" }, false, [
        "sign",
      ]),
      new TextEncoder().encode(`${header}.${body}`),
    );
    const token = `${header}.${body}.${base64url.encode(new Uint8Array(mac))}`;
    await refused(verifier.verify(token), "token malformed");
  });

  await t.step("garbage strings", async () => {
    await refused(verifier.verify("hello"), "token malformed");
    await refused(verifier.verify("a.b"), "token malformed");
    await refused(verifier.verify("a.b.c.d"), "token malformed");
    await refused(verifier.verify("Bearer x.y.z"), "token malformed");
    await refused(verifier.verify(""), "missing token");
    await refused(verifier.verify(undefined as unknown as string), "missing token");
  });

  await t.step("missing role", async () => {
    const p = payload();
    delete p.role;
    await refused(verifier.verify(await sign(p)), "claim role must be host, participant or viewer");
  });

  await t.step("bad role", async () => {
    await refused(
      verifier.verify(await sign(payload({ role: "admin" }))),
      "claim role must be host, participant or viewer",
    );
    await refused(
      verifier.verify(await sign(payload({ role: "Host" }))),
      "claim role must be host, participant or viewer",
    );
  });

  await t.step("missing, empty or overlong sub", async () => {
    const p = payload();
    delete p.sub;
    const detail = "claim sub must be a non-empty string of at most 256 characters";
    await refused(verifier.verify(await sign(p)), detail);
    await refused(verifier.verify(await sign(payload({ sub: "" }))), detail);
    await refused(verifier.verify(await sign(payload({ sub: "x".repeat(257) }))), detail);
    assert.equal(
      (await verifier.verify(await sign(payload({ sub: "x".repeat(256) })))).sub.length,
      256,
    );
  });

  await t.step("missing, empty, non-string or overlong room", async () => {
    const detail = "claim room must be a non-empty string of at most 64 characters";
    const p = payload();
    delete p.room;
    await refused(verifier.verify(await sign(p)), detail);
    await refused(verifier.verify(await sign(payload({ room: "" }))), detail);
    await refused(verifier.verify(await sign(payload({ room: 42 }))), detail);
    await refused(verifier.verify(await sign(payload({ room: "r".repeat(65) }))), detail);
    // 64 composed characters written as 128 code units fit once normalised.
    const claims = await verifier.verify(await sign(payload({ room: "e\u0301".repeat(64) })));
    assert.equal(claims.room, "\u00e9".repeat(64));
  });

  await t.step("oversized token refused before parsing", async () => {
    await refused(verifier.verify("a".repeat(9000)), "token too large (over 8192 bytes)");
    const big = await sign(payload({ padding: "p".repeat(9000) }));
    await refused(verifier.verify(big), "token too large (over 8192 bytes)");
  });

  await t.step("token just under the size limit is accepted", async () => {
    let token = "";
    for (let pad = 5900; pad < 6200; pad++) {
      token = await sign(payload({ padding: "p".repeat(pad) }));
      if (token.length > 8000) break;
    }
    assert.ok(token.length <= 8192 && token.length > 8000);
    assert.equal((await verifier.verify(token)).sub, "alice");
  });
});

Deno.test("issuer and audience", async (t) => {
  const verifier = createVerifier({
    secret: SECRET,
    maxTtlSeconds: DAY,
    issuer: "https://issuer.example",
    audience: "sfu",
  });
  const good = { iss: "https://issuer.example", aud: "sfu" };

  await t.step("matching iss and aud", async () => {
    assert.equal((await verifier.verify(await sign(payload(good)))).sub, "alice");
    const arrayAud = await sign(payload({ ...good, aud: ["other", "sfu"] }));
    assert.equal((await verifier.verify(arrayAud)).sub, "alice");
  });

  await t.step("mintToken with issuer and audience verifies", async () => {
    const token = await mintToken(SECRET, {
      sub: "carol",
      room: "r",
      role: "participant",
      ttlSeconds: 60,
      issuer: "https://issuer.example",
      audience: "sfu",
    });
    assert.equal((await verifier.verify(token)).sub, "carol");
  });

  await t.step("issuer mismatch", async () => {
    await refused(
      verifier.verify(await sign(payload({ ...good, iss: "https://evil.example" }))),
      "token issuer not accepted",
    );
  });

  await t.step("audience mismatch", async () => {
    await refused(
      verifier.verify(await sign(payload({ ...good, aud: "other" }))),
      "token audience not accepted",
    );
  });

  await t.step("iss or aud missing", async () => {
    await refused(verifier.verify(await sign(payload({ aud: "sfu" }))), "token has no iss claim");
    await refused(
      verifier.verify(await sign(payload({ iss: "https://issuer.example" }))),
      "token has no aud claim",
    );
  });

  await t.step("iss/aud are ignored when not configured", async () => {
    const lax = createVerifier({ secret: SECRET, maxTtlSeconds: DAY });
    assert.equal((await lax.verify(await sign(payload({ iss: "x", aud: "y" })))).sub, "alice");
  });
});

Deno.test("JWKS verification (ES256 / EdDSA)", async (t) => {
  const es1 = await keyPair("ES256", "es-2024");
  const es2 = await keyPair("ES256", "es-2025");
  const ed = await keyPair("EdDSA", "ed-1");
  const jwks = { keys: [es1.jwk, es2.jwk, ed.jwk] };
  const verifier = createVerifier({ jwks, maxTtlSeconds: DAY });

  await t.step("ES256 tokens for each kid verify (rotation)", async () => {
    for (const k of [es1, es2]) {
      const token = await sign(payload({ sub: k.kid }), k.privateKey, { alg: "ES256", kid: k.kid });
      const claims = await verifier.verify(token);
      assert.equal(claims.sub, k.kid);
    }
  });

  await t.step("EdDSA token verifies", async () => {
    const token = await sign(payload({ role: "participant" }), ed.privateKey, {
      alg: "EdDSA",
      kid: ed.kid,
    });
    assert.equal((await verifier.verify(token)).role, "participant");
  });

  await t.step("EdDSA key without alg member in the JWKS", async () => {
    const { alg: _alg, ...bare } = ed.jwk;
    const v = createVerifier({ jwks: { keys: [bare] }, maxTtlSeconds: DAY });
    const token = await sign(payload(), ed.privateKey, { alg: "EdDSA", kid: ed.kid });
    assert.equal((await v.verify(token)).sub, "alice");
  });

  await t.step("unknown kid refused", async () => {
    const stranger = await keyPair("ES256", "retired");
    const token = await sign(payload(), stranger.privateKey, { alg: "ES256", kid: "retired" });
    await refused(verifier.verify(token), "no configured key matches the token");
  });

  await t.step("right kid, wrong key", async () => {
    const token = await sign(payload(), es1.privateKey, { alg: "ES256", kid: es2.kid });
    await refused(verifier.verify(token), "token signature invalid");
  });

  await t.step("kid of an ES256 key on an EdDSA token", async () => {
    const token = await sign(payload(), ed.privateKey, { alg: "EdDSA", kid: es1.kid });
    await refused(verifier.verify(token), "no configured key matches the token");
  });

  await t.step("token without kid is tried against every matching key", async () => {
    const token = await sign(payload({ sub: "nokid" }), es2.privateKey, { alg: "ES256" });
    assert.equal((await verifier.verify(token)).sub, "nokid");
    const stranger = await keyPair("ES256", "x");
    const bad = await sign(payload(), stranger.privateKey, { alg: "ES256" });
    await refused(verifier.verify(bad), "token signature invalid");
  });

  await t.step("HS256 token signed with a public key's bytes (alg confusion)", async () => {
    for (
      const keyBytes of [
        new TextEncoder().encode(JSON.stringify(es1.jwk)),
        base64url.decode(es1.jwk.x!),
        new TextEncoder().encode(JSON.stringify(jwks)),
      ]
    ) {
      const token = await sign(payload(), keyBytes, { alg: "HS256", kid: es1.kid });
      await refused(verifier.verify(token), "token algorithm not allowed");
    }
  });

  await t.step("HS256 token with the configured secret is refused when a JWKS is set", async () => {
    const both = createVerifier({ jwks, secret: SECRET, maxTtlSeconds: DAY });
    await refused(both.verify(await sign(payload())), "token algorithm not allowed");
    const es = await sign(payload(), es1.privateKey, { alg: "ES256", kid: es1.kid });
    assert.equal((await both.verify(es)).sub, "alice");
  });

  await t.step("alg none with a JWKS", async () => {
    const token = `${b64json({ alg: "none", kid: es1.kid })}.${b64json(payload())}.`;
    await refused(verifier.verify(token), "token algorithm not allowed");
  });

  await t.step("claims and time checks apply to JWKS tokens too", async () => {
    const t0 = now();
    const header = { alg: "ES256", kid: es1.kid };
    await refused(
      verifier.verify(await sign(payload({ iat: t0 - 99, exp: t0 - 59 }), es1.privateKey, header)),
      "token expired",
    );
    await refused(
      verifier.verify(await sign(payload({ role: "root" }), es1.privateKey, header)),
      "claim role must be host, participant or viewer",
    );
  });
});

Deno.test("createVerifier configuration errors are plain Errors", async (t) => {
  const configError = (fn: () => unknown, pattern: RegExp) =>
    assert.throws(fn, (error: unknown) => {
      assert.ok(error instanceof Error);
      assert.ok(!(error instanceof AuthError));
      assert.match(error.message, pattern);
      return true;
    });

  await t.step("no key", () => {
    configError(() => createVerifier({ maxTtlSeconds: DAY }), /secret .* or a JWKS/);
  });
  await t.step("empty secret", () => {
    configError(() => createVerifier({ secret: new Uint8Array(), maxTtlSeconds: DAY }), /secret/);
  });
  await t.step("bad maxTtlSeconds", () => {
    configError(() => createVerifier({ secret: SECRET, maxTtlSeconds: 0 }), /maxTtlSeconds/);
    configError(() => createVerifier({ secret: SECRET, maxTtlSeconds: NaN }), /maxTtlSeconds/);
  });
  await t.step("malformed JWKS", async () => {
    const cfg = (jwks: unknown) => () =>
      createVerifier({ jwks: jwks as { keys: unknown[] }, maxTtlSeconds: DAY });
    configError(cfg({ keys: [] }), /no ES256 .* or EdDSA/);
    configError(cfg({}), /"keys" array/);
    configError(cfg({ keys: ["nope"] }), /key 0 is not an object/);
    configError(cfg({ keys: [{ kty: "EC" }] }), /key 0 is malformed/);
    configError(cfg({ keys: [{ kty: "EC", crv: "P-384", x: "A", y: "B" }] }), /malformed/);
    configError(cfg({ keys: [{ kty: "OKP", crv: "Ed25519", x: "short" }] }), /malformed/);
    const good = (await keyPair("ES256", "ok")).jwk;
    configError(cfg({ keys: [good, { ...good, kid: 7 }] }), /key 1 has a kid/);
    configError(cfg({ keys: [{ kty: "RSA", n: "AQAB", e: "AQAB" }] }), /no ES256/);
    // Foreign key types are tolerated beside usable ones (they can never be selected).
    const v = cfg({ keys: [{ kty: "RSA", n: "AQAB", e: "AQAB", kid: "rsa" }, good] })();
    const es = await keyPair("ES256", "rsa");
    await refused(
      v.verify(await sign(payload(), es.privateKey, { alg: "ES256", kid: "rsa" })),
      "no configured key matches the token",
    );
  });
  await t.step("private keys in the JWKS", async () => {
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    const jwk = await exportJWK(privateKey);
    configError(() => createVerifier({ jwks: { keys: [jwk] }, maxTtlSeconds: DAY }), /private/);
    configError(
      () => createVerifier({ jwks: { keys: [{ kty: "oct", k: "AAAA" }] }, maxTtlSeconds: DAY }),
      /secret key material/,
    );
  });
});

Deno.test("mintToken", async (t) => {
  await t.step("header is HS256/JWT with iat and exp", async () => {
    const token = await mintToken(SECRET, { sub: "a", room: "r", role: "host", ttlSeconds: 90 });
    const [h, p] = token.split(".");
    const header = JSON.parse(new TextDecoder().decode(base64url.decode(h)));
    const body = JSON.parse(new TextDecoder().decode(base64url.decode(p)));
    assert.deepEqual(header, { alg: "HS256", typ: "JWT" });
    assert.equal(body.exp - body.iat, 90);
    assert.equal(body.iss, undefined);
    assert.equal(body.aud, undefined);
  });

  await t.step("refuses an empty secret or a bad ttl", async () => {
    await assert.rejects(
      mintToken(new Uint8Array(), { sub: "a", room: "r", role: "host", ttlSeconds: 60 }),
      /secret/,
    );
    for (const ttlSeconds of [0, -5, 1.5, NaN]) {
      await assert.rejects(
        mintToken(SECRET, { sub: "a", room: "r", role: "host", ttlSeconds }),
        /ttlSeconds/,
      );
    }
  });
});

Deno.test("bearerToken", async (t) => {
  await t.step("parses Bearer tokens, scheme case-insensitive", () => {
    assert.equal(bearerToken("Bearer abc.def.ghi"), "abc.def.ghi");
    assert.equal(bearerToken("bearer abc.def.ghi"), "abc.def.ghi");
    assert.equal(bearerToken("BEARER abc.def.ghi"), "abc.def.ghi");
    assert.equal(bearerToken("  Bearer   abc.def-_ghi  "), "abc.def-_ghi");
    assert.equal(bearerToken("Bearer abc+/=="), "abc+/==");
  });

  await t.step("missing header", () => {
    refusedSync(() => bearerToken(undefined), "missing bearer token");
    refusedSync(() => bearerToken(null), "missing bearer token");
    refusedSync(() => bearerToken(""), "missing bearer token");
    refusedSync(() => bearerToken("   "), "missing bearer token");
  });

  await t.step("malformed header", () => {
    for (
      const header of [
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "abc.def.ghi",
        "Bearer a b",
        "Bearer\tabc",
        "Bearerabc.def.ghi",
        "Bearer abc,def",
        "Bearer a=b",
      ]
    ) {
      refusedSync(() => bearerToken(header), "malformed Authorization header");
    }
  });
});

Deno.test("parseDuration", async (t) => {
  await t.step("accepted forms", () => {
    assert.equal(parseDuration("1h"), 3600);
    assert.equal(parseDuration("30m"), 1800);
    assert.equal(parseDuration("45s"), 45);
    assert.equal(parseDuration("2d"), 172800);
    assert.equal(parseDuration("3600"), 3600);
    assert.equal(parseDuration("24h"), 86400);
    assert.equal(parseDuration(" 10M "), 600);
  });

  await t.step("refused forms", () => {
    for (const text of ["", "h", "1.5h", "-1h", "0", "0s", "1w", "1 h", "1h30m", "abc", "1e3"]) {
      assert.throws(() => parseDuration(text), (error: unknown) => {
        assert.ok(error instanceof Error);
        assert.ok(!(error instanceof AuthError));
        assert.match(error.message, /invalid duration/);
        assert.match(error.message, /1h/);
        return true;
      }, `expected ${JSON.stringify(text)} to be refused`);
    }
    assert.throws(() => parseDuration("9".repeat(30)), /invalid duration/);
  });
});
