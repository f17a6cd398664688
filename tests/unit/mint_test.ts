import assert from "node:assert/strict";
import { main, USAGE } from "../../src/auth/mint.ts";
import { createVerifier } from "../../src/auth/tokens.ts";
import { AuthError } from "../../src/errors.ts";
import { ConfigError, loadConfig } from "../../src/config.ts";

const SECRET_TEXT = "mint-test-secret-0123456789-abcdefghijklmnop";
const SECRET = new TextEncoder().encode(SECRET_TEXT);

function envOf(vars: Record<string, string>): (name: string) => string | undefined {
  return (name) => vars[name];
}

function tokenOf(out: string): string {
  assert.match(out, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n$/);
  return out.trimEnd();
}

function payloadOf(token: string): Record<string, unknown> {
  const part = token.split(".")[1].replaceAll("-", "+").replaceAll("_", "/");
  const binary = atob(part.padEnd(Math.ceil(part.length / 4) * 4, "="));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))));
}

const BASE = ["--room", "lobby", "--role", "host", "--sub", "alice"];

Deno.test("mint CLI main(): success", async (t) => {
  const verifier = createVerifier({ secret: SECRET, maxTtlSeconds: 86400 });

  await t.step("secret from JWT_SECRET, default ttl 1h", async () => {
    const result = await main(BASE, envOf({ JWT_SECRET: SECRET_TEXT }));
    assert.equal(result.code, 0);
    assert.equal(result.err, "");
    const claims = await verifier.verify(tokenOf(result.out));
    assert.deepEqual({ sub: claims.sub, room: claims.room, role: claims.role }, {
      sub: "alice",
      room: "lobby",
      role: "host",
    });
    assert.equal(claims.exp - claims.iat!, 3600);
  });

  await t.step("participant with --ttl 30m and --secret overriding the environment", async () => {
    const result = await main(
      [
        "--room",
        "r2",
        "--role",
        "participant",
        "--sub",
        "bob",
        "--ttl",
        "30m",
        "--secret",
        SECRET_TEXT,
      ],
      envOf({ JWT_SECRET: "something-else" }),
    );
    assert.equal(result.code, 0);
    const claims = await verifier.verify(tokenOf(result.out));
    assert.equal(claims.role, "participant");
    assert.equal(claims.sub, "bob");
    assert.equal(claims.exp - claims.iat!, 1800);
  });

  await t.step("--flag=value syntax and bare-seconds ttl", async () => {
    const result = await main(
      ["--room=r3", "--role=host", "--sub=carol", "--ttl=120"],
      envOf({ JWT_SECRET: SECRET_TEXT }),
    );
    assert.equal(result.code, 0);
    const claims = await verifier.verify(tokenOf(result.out));
    assert.equal(claims.exp - claims.iat!, 120);
  });

  await t.step("JWT_ISSUER and JWT_AUDIENCE are written into the token", async () => {
    const result = await main(
      BASE,
      envOf({ JWT_SECRET: SECRET_TEXT, JWT_ISSUER: "https://iss.example", JWT_AUDIENCE: "sfu" }),
    );
    assert.equal(result.code, 0);
    const token = tokenOf(result.out);
    const body = payloadOf(token);
    assert.equal(body.iss, "https://iss.example");
    assert.equal(body.aud, "sfu");
    const strict = createVerifier({
      secret: SECRET,
      maxTtlSeconds: 86400,
      issuer: "https://iss.example",
      audience: "sfu",
    });
    assert.equal((await strict.verify(token)).sub, "alice");
  });

  await t.step("a token minted with another secret is refused by the verifier", async () => {
    const result = await main(
      [...BASE, "--secret", "not-the-server-secret-but-long-enough"],
      envOf({}),
    );
    assert.equal(result.code, 0);
    await assert.rejects(verifier.verify(tokenOf(result.out)), (error: unknown) => {
      assert.ok(error instanceof AuthError);
      assert.equal(error.code, "unauthorized");
      assert.equal(error.message, "token signature invalid");
      return true;
    });
  });

  await t.step("viewer role", async () => {
    const result = await main(
      ["--room", "lobby", "--role", "viewer", "--sub", "audience"],
      envOf({ JWT_SECRET: SECRET_TEXT }),
    );
    assert.equal(result.code, 0, result.err);
    assert.equal((await verifier.verify(tokenOf(result.out))).role, "viewer");
  });

  await t.step("room is NFC-normalised", async () => {
    const result = await main(
      ["--room", "cafe\u0301", "--role", "host", "--sub", "a"],
      envOf({ JWT_SECRET: SECRET_TEXT }),
    );
    assert.equal(result.code, 0);
    assert.equal(payloadOf(tokenOf(result.out)).room, "caf\u00e9");
  });

  await t.step("--help prints the usage on stdout", async () => {
    const result = await main(["--help"], envOf({}));
    assert.equal(result.code, 0);
    assert.equal(result.out, USAGE);
  });
});

Deno.test("mint CLI main(): failures exit 2 with a message on stderr", async (t) => {
  const env = envOf({ JWT_SECRET: SECRET_TEXT });
  async function fails(args: string[], pattern: RegExp, e = env, usage = true) {
    const result = await main(args, e);
    assert.equal(result.code, 2);
    assert.equal(result.out, "");
    assert.match(result.err, pattern);
    if (usage) assert.ok(result.err.includes(USAGE), "usage expected on stderr");
  }

  await t.step("no secret at all", async () => {
    await fails(BASE, /no secret: pass --secret or set .*JWT_SECRET/, envOf({}), false);
    await fails(BASE, /no secret/, envOf({ JWT_SECRET: "" }), false);
  });

  await t.step("missing flags", async () => {
    await fails([], /missing --room, --role, --sub/);
    await fails(["--room", "r", "--role", "host"], /missing --sub/);
    await fails(["--room", "r", "--sub", "a"], /missing --role/);
  });

  await t.step("bad role", async () => {
    await fails(
      ["--room", "r", "--role", "admin", "--sub", "a"],
      /--role must be host, participant or viewer/,
    );
  });

  await t.step("a secret the server would refuse, in the server's words", async () => {
    const short = "only-twenty-bytes-ok";
    let serverWords = "";
    try {
      loadConfig((name) => (name === "JWT_SECRET" ? short : undefined));
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      serverWords = e.message.split("\n")[1].trim();
    }
    assert.match(serverWords, /^JWT_SECRET: must be at least 32 bytes/);
    await fails(
      BASE,
      new RegExp(serverWords.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")),
      envOf({
        JWT_SECRET: short,
      }),
      false,
    );
    await fails([...BASE, "--secret", short], /--secret is read as JWT_SECRET/, envOf({}), false);
    // 32 bytes of UTF-8 in fewer characters are enough: the rule counts bytes.
    const result = await main(BASE, envOf({ JWT_SECRET: "é".repeat(16) }));
    assert.equal(result.code, 0, result.err);
  });

  await t.step("a lifetime over JWT_MAX_TTL, in the server's words", async () => {
    await fails(
      [...BASE, "--ttl", "2h"],
      /token lives longer than the configured maximum of 3600 s \(--ttl 2h; JWT_MAX_TTL is 3600 s\)/,
      envOf({ JWT_SECRET: SECRET_TEXT, JWT_MAX_TTL: "1h" }),
      false,
    );
    await fails(BASE, /JWT_MAX_TTL: /, envOf({ JWT_SECRET: SECRET_TEXT, JWT_MAX_TTL: "x" }), false);
    const ok = await main(
      [...BASE, "--ttl", "1h"],
      envOf({ JWT_SECRET: SECRET_TEXT, JWT_MAX_TTL: "1h" }),
    );
    assert.equal(ok.code, 0, ok.err);
  });

  await t.step("bad ttl", async () => {
    await fails([...BASE, "--ttl", "forever"], /--ttl: invalid duration/);
    await fails([...BASE, "--ttl", "0"], /--ttl: invalid duration/);
  });

  await t.step("bad room or sub", async () => {
    await fails(["--room", "", "--role", "host", "--sub", "a"], /--room must be 1 to 64/);
    await fails(["--room", "r".repeat(65), "--role", "host", "--sub", "a"], /--room/);
    await fails(["--room", "r", "--role", "host", "--sub", "s".repeat(257)], /--sub must be/);
  });

  await t.step("unknown flag, positional argument, flag without value", async () => {
    await fails([...BASE, "--admin"], /error: .*admin/i);
    await fails([...BASE, "extra"], /error: .*extra/i);
    await fails(["--room"], /error: .*--room/);
  });
});

Deno.test("mint CLI as a process prints only the token", async () => {
  const command = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-env",
      new URL("../../src/auth/mint.ts", import.meta.url).pathname,
      ...BASE,
    ],
    env: { JWT_SECRET: SECRET_TEXT, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  });
  const ok = await command.output();
  assert.equal(ok.code, 0);
  const verifier = createVerifier({ secret: SECRET, maxTtlSeconds: 86400 });
  assert.equal((await verifier.verify(tokenOf(new TextDecoder().decode(ok.stdout)))).sub, "alice");

  const bad = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-env", new URL("../../src/auth/mint.ts", import.meta.url).pathname],
    env: { JWT_SECRET: SECRET_TEXT, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(bad.code, 2);
  assert.equal(bad.stdout.length, 0);
  assert.match(new TextDecoder().decode(bad.stderr), /usage: npx -y deno task token/);
});
