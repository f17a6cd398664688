/**
 * `npx -y deno task start` as a user runs it (the task itself, as a child process): the files the
 * configuration names are readable (a JWKS), mistakes at start are one sentence on stderr with exit
 * status 2 (a taken port, a host that does not resolve, a missing JWKS), the banner's URLs, and
 * the server's packages only in `deno.lock`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { listenUrls, startBanner } from "../../src/demo.ts";
import { permissionFlags } from "../../src/permissions.ts";

const PROJECT = decodeURIComponent(new URL("../../", import.meta.url).pathname);

/** `deno task start` with `env` (and nothing else of this process's environment but PATH/HOME). */
function startTask(env: Record<string, string>): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["task", "start"],
    cwd: PROJECT,
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? "/tmp",
      DENO_DIR: Deno.env.get("DENO_DIR") ?? "",
      NO_COLOR: "1",
      DENO_NO_UPDATE_CHECK: "1",
      LOG_LEVEL: "warn",
      ...env,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** stderr without deno task's own "Task start …" line. */
function ownLines(stderr: Uint8Array): string[] {
  return new TextDecoder().decode(stderr).split("\n").filter((l) =>
    l.trim() !== "" && !/^Task start /.test(l)
  );
}

/** Reads stdout until `done` matches (or the process ends); returns what was read. */
async function readUntil(child: Deno.ChildProcess, done: RegExp): Promise<string> {
  const reader = child.stdout.getReader();
  let text = "";
  const timer = setTimeout(() => reader.cancel(), 60_000);
  try {
    while (!done.test(text)) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      text += new TextDecoder().decode(value);
    }
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
  }
  return text;
}

/** Stops a started server (SIGTERM) and waits for it. */
async function stop(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch { /* already gone */ }
  await child.stdout.cancel().catch(() => {});
  await child.stderr.cancel().catch(() => {});
  await child.status;
}

/** Runs the task to its end (a start that must fail) and returns status and stderr lines. */
async function failedStart(env: Record<string, string>) {
  const child = startTask(env);
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const { code, stderr } = await child.output();
  clearTimeout(timer);
  return { code, lines: ownLines(stderr) };
}

Deno.test("deno task start reads the JWKS file JWT_JWKS_FILE names, and nothing else", async () => {
  const { publicKey, privateKey } = await generateKeyPair("ES256");
  const dir = await Deno.makeTempDir({ prefix: "sfu-jwks-" });
  const file = `${dir}/jwks.json`;
  await Deno.writeTextFile(
    file,
    JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256" }] }),
  );
  const child = startTask({ JWT_JWKS_FILE: file, PORT: "0", HOST: "127.0.0.1" });
  try {
    const out = await readUntil(child, /Ctrl-C/);
    const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
    assert.ok(url, out);
    assert.doesNotMatch(out, /Demo mode/, "a JWKS is no demo");
    const token = await new SignJWT({ room: "keys", role: "host" })
      .setProtectedHeader({ alg: "ES256", kid: "k1" }).setSubject("host").setIssuedAt()
      .setExpirationTime("5m").sign(privateKey);
    const res = await fetch(`${url}/rooms/keys`, {
      method: "PUT",
      headers: { Authorization: `Bearer ${token}` },
    });
    await res.body?.cancel();
    assert.equal(res.status, 201, "a token signed by the JWKS's key opens a room");
  } finally {
    await stop(child);
    await Deno.remove(dir, { recursive: true });
  }
  // What the task grants: the pages, deno.json and that file; no other path.
  assert.deepEqual(permissionFlags((n) => ({ JWT_JWKS_FILE: file } as Record<string, string>)[n]), {
    flags: [`--allow-read=static,deno.json,${file}`],
    problems: [],
  });
});

Deno.test("start-up mistakes: one sentence on stderr, exit status 2, no stack trace", async (t) => {
  await t.step("a port in use", async () => {
    const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const port = (taken.addr as Deno.NetAddr).port;
      const { code, lines } = await failedStart({ PORT: String(port), HOST: "127.0.0.1" });
      assert.equal(code, 2, lines.join("\n"));
      assert.equal(lines.length, 1, `one line:\n${lines.join("\n")}`);
      assert.match(lines[0], new RegExp(`^cannot start: PORT: ${port} is already in use`));
      assert.match(lines[0], new RegExp(`PORT=${port + 1}`), "says what to do");
      assert.doesNotMatch(lines[0], /os error|AddrInUse|at .*\.ts/);
    } finally {
      taken.close();
    }
  });

  await t.step("a HOST that does not resolve", async () => {
    const { code, lines } = await failedStart({ PORT: "0", HOST: "no-such-host.invalid" });
    assert.equal(code, 2, lines.join("\n"));
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(lines[0], /^cannot start: HOST: "no-such-host\.invalid" is not an address/);
  });

  await t.step("a JWKS file that is not there", async () => {
    const { code, lines } = await failedStart({
      PORT: "0",
      JWT_JWKS_FILE: "/nonexistent/sfu/jwks.json",
    });
    assert.equal(code, 2, lines.join("\n"));
    assert.deepEqual(lines, [
      "cannot start: JWT_JWKS_FILE: cannot read /nonexistent/sfu/jwks.json: there is no such file.",
    ]);
  });

  await t.step("a JWT_SECRET shorter than 32 bytes", async () => {
    const { code, lines } = await failedStart({ PORT: "0", JWT_SECRET: "twenty-bytes-secret!" });
    assert.equal(code, 2, lines.join("\n"));
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(lines[0], /^cannot start: JWT_SECRET: must be at least 32 bytes \(RFC 7518 §3\.2/);
    assert.doesNotMatch(lines.join("\n"), /twenty-bytes/, "the secret is not echoed");
  });
});

Deno.test("banner: demo on loopback by default; HOST=0.0.0.0 lists every address", async (t) => {
  await t.step("default: the loopback URL, how to open it, Ctrl-C, the viewer link", async () => {
    const child = startTask({ PORT: "0" });
    try {
      const out = await readUntil(child, /Ctrl-C/);
      const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
      assert.match(url ?? "", /^http:\/\/127\.0\.0\.1:\d+$/, out);
      assert.match(out, /HOST=0\.0\.0\.0 npx -y deno task start opens it/);
      assert.match(out, /Stop the server with Ctrl-C\./);
      assert.match(out, /viewer token +eyJ/);
      assert.match(out, new RegExp(`Viewer link: +${url}/watch\\.html\\?room=demo&token=eyJ`));
      assert.match(out, /--data-binary @tests\/fixtures\/obs-style-publish\.sdp/);
      assert.match(out, /npx -y deno task token --room demo --role viewer/);
      assert.doesNotMatch(out, /WARNING/);
      assert.doesNotMatch(out, /@offer\.sdp|^\s*deno task/m, "every command pastes as is");
      // The banner's commands, pasted into bash in the project folder, work.
      const publish = /^Publish with curl.*\n((?: {2}.*\n)+)/m.exec(out)?.[1];
      const play = /^Play with curl.*\n((?: {2}.*\n)+)/m.exec(out)?.[1];
      const mint = /^More tokens.*\n((?: {2}.*\n)+)/m.exec(out)?.[1];
      assert.ok(publish && play && mint, out);
      const pasted = await new Deno.Command("bash", {
        args: [
          "-c",
          // `npx -y deno …` runs this Deno (no npm in the test)
          `npx() { shift 2; "$DENO" "$@"; }\n${publish}\n${play}\n${mint}`,
        ],
        cwd: PROJECT,
        env: { DENO: Deno.execPath(), NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const said = new TextDecoder().decode(pasted.stdout);
      assert.equal(pasted.code, 0, new TextDecoder().decode(pasted.stderr));
      const statuses = [...said.matchAll(/^HTTP\/1\.1 (\d+)/gm)].map((m) => m[1]);
      assert.deepEqual(statuses, ["201", "201"], said.slice(0, 500));
      assert.match(said, /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/m, "the token command prints a token");
    } finally {
      await stop(child);
    }
  });

  await t.step("HOST=0.0.0.0: a URL per interface address, and a warning", async () => {
    const child = startTask({ PORT: "0", HOST: "0.0.0.0" });
    try {
      const out = await readUntil(child, /Ctrl-C/);
      const port = /listening on http:\/\/[^:]+:(\d+)/.exec(out)?.[1];
      assert.ok(port, out);
      assert.match(out, /WARNING: demo mode with HOST=0\.0\.0\.0/);
      assert.match(out, new RegExp(`^  http://127\\.0\\.0\\.1:${port}/$`, "m"));
      const ipv4 = Deno.networkInterfaces().filter((i) =>
        i.family === "IPv4" && !i.address.startsWith("127.")
      );
      for (const i of ipv4) {
        assert.match(
          out,
          new RegExp(`^  http://${i.address.replaceAll(".", "\\.")}:${port}/$`, "m"),
        );
      }
    } finally {
      await stop(child);
    }
  });

  await t.step("listenUrls and startBanner on given interfaces", () => {
    const interfaces = [
      { name: "lo", family: "IPv4" as const, address: "127.0.0.1" },
      { name: "eth0", family: "IPv4" as const, address: "192.168.1.20" },
      { name: "eth0", family: "IPv6" as const, address: "fe80::1" },
      { name: "eth0", family: "IPv6" as const, address: "2001:db8::20" },
      { name: "wg0", family: "IPv4" as const, address: "10.8.0.2" },
    ];
    assert.deepEqual(listenUrls({ host: "0.0.0.0", port: 8080 }, interfaces), [
      "http://127.0.0.1:8080",
      "http://192.168.1.20:8080",
      "http://10.8.0.2:8080",
    ]);
    assert.deepEqual(listenUrls({ host: "::", port: 8080 }, interfaces), [
      "http://127.0.0.1:8080",
      "http://192.168.1.20:8080",
      "http://[2001:db8::20]:8080",
      "http://10.8.0.2:8080",
    ]);
    assert.deepEqual(listenUrls({ host: "192.168.1.20", port: 80 }, interfaces), [
      "http://192.168.1.20:80",
    ]);
    assert.match(startBanner({ host: "127.0.0.1", port: 8080 }, interfaces), /HOST=0\.0\.0\.0/);
  });
});

Deno.test("permissionFlags: configured paths only; a space or comma is reported", () => {
  const env = (vars: Record<string, string>) => (n: string) => vars[n];
  assert.deepEqual(permissionFlags(env({})).flags, ["--allow-read=static,deno.json"]);
  assert.deepEqual(
    permissionFlags(env({
      JWT_JWKS_FILE: "/etc/sfu/jwks.json",
      TLS_CERT_FILE: "/etc/sfu/cert.pem",
      TLS_KEY_FILE: "/etc/sfu/key.pem",
      RECORDINGS_DIR: "/var/lib/sfu",
    })).flags,
    [
      "--allow-read=static,deno.json,/etc/sfu/jwks.json,/etc/sfu/cert.pem,/etc/sfu/key.pem," +
      "/var/lib/sfu",
      "--allow-write=/var/lib/sfu",
    ],
  );
  const spaced = permissionFlags(env({ JWT_JWKS_FILE: "/tmp/my keys.json" }));
  assert.deepEqual(spaced.flags, ["--allow-read=static,deno.json"]);
  assert.match(spaced.problems[0], /^JWT_JWKS_FILE: .* has a space or a comma/);
});

Deno.test("deno.lock holds only the server's packages (deno task start installs all of it)", async () => {
  const lock = JSON.parse(await Deno.readTextFile(`${PROJECT}deno.lock`));
  const packages = Object.keys(lock.npm ?? {}).map((k) => k.replace(/@[^@]+$/, ""));
  for (const test of ["puppeteer-core", "fast-check", "@puppeteer/browsers", "chromium-bidi"]) {
    assert.ok(
      !packages.includes(test),
      `deno.lock lists ${test}: a test was run without --lock=tests/deno.lock ` +
        `(use deno task test, or restore deno.lock with git)`,
    );
  }
  const config = JSON.parse(await Deno.readTextFile(`${PROJECT}deno.json`));
  assert.deepEqual(Object.keys(config.imports).sort(), [
    "@hono/node-server",
    "hono",
    "hono/",
    "jose",
    "redis", // cluster mode's directory client (REDIS_URL)
    "werift",
    "zod",
  ]);
});
