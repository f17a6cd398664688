/**
 * Runs `tests/curl/walkthrough.sh` (plain curl, the real offers of `tests/fixtures`) against a
 * server started in-process on a random port.
 *
 * @module
 */
import assert from "node:assert/strict";
import { loadConfig } from "../../src/config.ts";
import { startServer } from "../../src/server.ts";
import { demoServer } from "../helpers/server.ts";
import { mintToken } from "../../src/auth/tokens.ts";

const SCRIPT = decodeURIComponent(new URL("./walkthrough.sh", import.meta.url).pathname);
const FIXTURES = decodeURIComponent(
  new URL("../fixtures/", import.meta.url).pathname,
);
const JWT_SECRET = "curl-walkthrough-secret-32chars!";

Deno.test("curl walkthrough", async () => {
  const env: Record<string, string> = {
    PORT: "0",
    UDP_PORT: "0", // not 8189: a demo server of this machine may hold it
    TCP_PORT: "0",
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

const PROJECT = decodeURIComponent(new URL("../../", import.meta.url).pathname);

/** The first ```sh block after the README's "### curl" heading. */
async function readmeCurlBlock(): Promise<string> {
  const readme = await Deno.readTextFile(`${PROJECT}README.md`);
  const section = readme.slice(readme.indexOf("\n### curl\n"));
  const block = /```sh\n([\s\S]*?)```/.exec(section);
  assert.ok(block, "README.md has a ```sh block under ### curl");
  return block[1];
}

Deno.test("the README's curl block, pasted into bash, works against the demo", async () => {
  const block = await readmeCurlBlock();
  assert.match(block, /^TOKEN=/m, "the block starts by setting TOKEN");
  assert.match(block, /^SFU=/m, "the block sets SFU");
  // The server as `npx -y deno task start` runs it: demo mode, on loopback (a random port here).
  const server = await demoServer({ ICE_LOOPBACK: "true" });
  const work = await Deno.makeTempDir({ prefix: "readme-curl-" });
  try {
    assert.ok(server.demo, "demo mode");
    await Deno.symlink(`${PROJECT}tests`, `${work}/tests`);
    // What the reader fills in; `npx -y deno …` runs this Deno in the project folder (no npm).
    const script = [
      `npx() { if [ "$1" = -y ] && [ "$2" = deno ]; then shift 2; ` +
      `(cd "$PROJECT" && "$DENO" "$@"); else echo "unexpected npx $*" >&2; return 1; fi; }`,
      `curl() { command curl -w '\\n@@status %{http_code}\\n' "$@"; }`,
      block
        .replace(/^TOKEN=.*$/m, `TOKEN='${server.demo.hostToken}'`)
        .replace(/^SFU=.*$/m, `SFU='${server.url}'`),
    ].join("\n");
    const { code, stdout, stderr } = await new Deno.Command("bash", {
      args: ["-c", script],
      cwd: work,
      env: { PROJECT, DENO: Deno.execPath(), NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(stdout);
    const err = new TextDecoder().decode(stderr);
    const statuses = [...out.matchAll(/^@@status (\d+)$/gm)].map((m) => Number(m[1]));
    const context = `stdout:\n${out}\nstderr:\n${err}`;
    assert.deepEqual(
      statuses,
      // POST whip, trickle, restart, POST whep, answer, DELETE ×2, PUT, GET, events, DELETE room
      [201, 204, 200, 201, 204, 200, 200, 200, 200, 200, 200],
      context,
    );
    assert.equal(code, 0, context);
    assert.match(out, /^location: \/sessions\//im, "the headers were printed");
    assert.match(out, /"open":\s*true/, "GET /rooms/demo printed the room");
    assert.doesNotMatch(err, /error|not found|No such file/i, context);
  } finally {
    await server.shutdown();
    await Deno.remove(work, { recursive: true });
  }
});
