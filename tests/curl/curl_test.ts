/**
 * Runs `tests/curl/walkthrough.sh` (plain curl, the real offers of `tests/fixtures`) against a
 * server started in-process on a random port.
 *
 * @module
 */
import assert from "node:assert/strict";
import { loadConfig } from "../../src/config.ts";
import { startServer } from "../../src/server.ts";
import { mintToken } from "../../src/auth/tokens.ts";

const SCRIPT = decodeURIComponent(new URL("./walkthrough.sh", import.meta.url).pathname);
const FIXTURES = decodeURIComponent(
  new URL("../fixtures/", import.meta.url).pathname,
);
const JWT_SECRET = "curl-walkthrough-secret-32chars!";

Deno.test("curl walkthrough", async () => {
  const env: Record<string, string> = {
    PORT: "0",
    HOST: "127.0.0.1",
    JWT_SECRET,
    LOG_LEVEL: "silent",
    ICE_LOOPBACK: "true",
    RATE_LIMIT_IP: "1000000", // the walkthrough fires many requests from one address
    RATE_LIMIT_IDENTITY: "1000000",
    MAX_PARTICIPANTS: "1",
  };
  const server = await startServer(loadConfig((name) => env[name]));
  try {
    const secret = new TextEncoder().encode(JWT_SECRET);
    const token = (sub: string, room: string, role: "host" | "participant") =>
      mintToken(secret, { sub, room, role, ttlSeconds: 600 });
    const hostToken = await token("host", "demo", "host");

    // Not in demo mode (JWT_SECRET is set), so the room "demo" does not exist yet.
    const opened = await fetch(`${server.url}/rooms/demo`, {
      method: "PUT",
      headers: { Authorization: `Bearer ${hostToken}` },
    });
    await opened.body?.cancel();
    assert.equal(opened.status, 201, "PUT /rooms/demo opens the room");

    const { code, stdout, stderr } = await new Deno.Command("bash", {
      args: [SCRIPT],
      env: {
        BASE: server.url,
        HOST_TOKEN: hostToken,
        GUEST_TOKEN: await token("guest", "demo", "participant"),
        OTHER_ROOM_TOKEN: await token("other-host", "elsewhere", "host"),
        EMOJI_HOST_TOKEN: await token("rocker", "🎸", "host"),
        FIXTURES,
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(stdout);
    const err = new TextDecoder().decode(stderr);
    console.log(out);
    if (err.trim() !== "") console.error(err);

    const failures = out.split("\n").filter((line) => line.startsWith("not ok"));
    assert.equal(code, 0, `walkthrough.sh exited with ${code}:\n${failures.join("\n")}`);
    assert.match(out, /^\d+ passed, 0 failed$/m);
  } finally {
    await server.shutdown();
  }
});
