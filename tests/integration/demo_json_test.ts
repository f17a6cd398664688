/**
 * `/demo.json` (the demo's tokens, the host's among them) answers only a browser on the server's
 * own machine. The client-address check as a unit, and for real: a client in a network namespace
 * of its own (a veth pair on a private /30 made by the test, so no traffic reaches the machine's
 * real network) gets 403 problem details, while loopback gets the tokens. The namespace part
 * needs root and `ip`; without them it is reported as ignored.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  isLoopbackAddress,
  isLoopbackHostHeader,
  localClientProblem,
} from "../../src/http/local-client.ts";
import { demoServer } from "../helpers/server.ts";

Deno.test("local-client check: loopback peer, no proxy headers, a loopback Host", () => {
  for (const a of ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1", "0:0:0:0:0:0:0:1"]) {
    assert.ok(isLoopbackAddress(a), a);
  }
  for (const a of ["10.0.0.1", "192.168.1.20", "::", "::2", "fe80::1", "128.0.0.1", "", "x"]) {
    assert.ok(!isLoopbackAddress(a), a);
  }
  for (
    const h of ["localhost:8080", "127.0.0.1:8080", "[::1]:8080", "app.localhost", "localhost"]
  ) {
    assert.ok(isLoopbackHostHeader(h), h);
  }
  for (const h of ["sfu.test:8080", "192.168.1.20:8080", "evil.example", null]) {
    assert.ok(!isLoopbackHostHeader(h), String(h));
  }
  const headers = (h: Record<string, string>) => new Headers({ host: "127.0.0.1:8080", ...h });
  assert.equal(localClientProblem("127.0.0.1", headers({})), undefined);
  assert.match(localClientProblem("192.168.1.20", headers({}))!, /server's own machine/);
  assert.match(localClientProblem(undefined, headers({}))!, /server's own machine/);
  assert.match(
    localClientProblem("127.0.0.1", headers({ "x-forwarded-for": "203.0.113.9" }))!,
    /proxy/,
  );
  assert.match(
    localClientProblem("127.0.0.1", headers({ forwarded: "for=203.0.113.9" }))!,
    /proxy/,
  );
  assert.match(localClientProblem("127.0.0.1", headers({ host: "rebind.example" }))!, /localhost/);
});

Deno.test("demo.json over loopback: the tokens; with proxy headers or another Host: 403", async () => {
  const server = await demoServer();
  try {
    const ok = await fetch(`${server.url}/demo.json`);
    assert.equal(ok.status, 200);
    const demo = await ok.json();
    assert.equal(demo.hostToken, server.demo?.hostToken);
    assert.ok(demo.viewerToken, "the viewer token is served too");
    const refused: Record<string, string>[] = [
      { "X-Forwarded-For": "203.0.113.9" },
      { Forwarded: "for=203.0.113.9" },
    ];
    for (const headers of refused) {
      const res = await fetch(`${server.url}/demo.json`, { headers });
      assert.equal(res.status, 403, JSON.stringify(headers));
      assert.match(res.headers.get("Content-Type") ?? "", /application\/problem\+json/);
      const body = await res.json();
      assert.ok(!JSON.stringify(body).includes(demo.hostToken), "no token in the refusal");
    }
    // fetch() will not send another Host: a raw request does (a DNS-rebinding page's request).
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: Number(new URL(server.url).port),
    });
    await conn.write(
      new TextEncoder().encode(
        "GET /demo.json HTTP/1.1\r\nHost: rebind.example:80\r\nConnection: close\r\n\r\n",
      ),
    );
    const raw = await new Response(conn.readable).text();
    assert.match(raw, /^HTTP\/1\.1 403/, raw.slice(0, 200));
    assert.ok(!raw.includes(demo.hostToken), "no token in the refusal");
  } finally {
    await server.shutdown();
  }
});

/** Runs `ip …` (or any command); true when it succeeded. */
async function run(cmd: string, ...args: string[]): Promise<{ ok: boolean; out: string }> {
  try {
    const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
    return { ok: r.success, out: new TextDecoder().decode(r.success ? r.stdout : r.stderr) };
  } catch (e) {
    return { ok: false, out: String(e) };
  }
}

const NS = `sfu-demo-${Deno.pid}`;
const HOST_IF = `sfd${Deno.pid % 100000}a`;
const NS_IF = `sfd${Deno.pid % 100000}b`;
// A private /30 unlikely to be in use (RFC 1918), different per process.
const NET = `10.${200 + (Deno.pid % 50)}.${Deno.pid % 250}`;
const canNetns = Deno.uid?.() === 0 && (await run("ip", "netns", "list")).ok &&
  (await run("curl", "--version")).ok;

Deno.test({
  name: canNetns
    ? "demo.json from another network namespace: 403 problem details, no token"
    : "demo.json from another network namespace (ignored: needs root, ip and curl)",
  // CI runs as root with iproute2 and curl installed by .ci/run: there it must run, not skip.
  ignore: !canNetns && !Deno.env.get("CI"),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const setup = [
      ["netns", "add", NS],
      ["link", "add", HOST_IF, "type", "veth", "peer", "name", NS_IF],
      ["link", "set", NS_IF, "netns", NS],
      ["addr", "add", `${NET}.1/30`, "dev", HOST_IF],
      ["link", "set", HOST_IF, "up"],
      ["netns", "exec", NS, "ip", "addr", "add", `${NET}.2/30`, "dev", NS_IF],
      ["netns", "exec", NS, "ip", "link", "set", NS_IF, "up"],
    ];
    // The demo opened with HOST set to the veth's address only: nothing else listens.
    let server;
    try {
      for (const args of setup) {
        const r = await run("ip", ...args);
        assert.ok(r.ok, `ip ${args.join(" ")}: ${r.out}`);
      }
      server = await demoServer({ HOST: `${NET}.1` });
      const url = `http://${NET}.1:${new URL(server.url).port}`;
      const r = await run(
        "ip",
        "netns",
        "exec",
        NS,
        "curl",
        "-sS",
        "--max-time",
        "5",
        "-w",
        "\n%{http_code} %{content_type}",
        `${url}/demo.json`,
      );
      assert.ok(r.ok, r.out);
      const [body, status] = [r.out.slice(0, r.out.lastIndexOf("\n")), r.out.split("\n").at(-1)!];
      assert.match(status, /^403 application\/problem\+json/, r.out);
      assert.match(body, /given only to a browser on the server's own machine/);
      assert.ok(!body.includes(server.demo!.hostToken), "no token in the refusal");
      // The pages themselves are served to that client (it may still watch with a link).
      const page = await run(
        "ip",
        "netns",
        "exec",
        NS,
        "curl",
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        `${url}/watch.html`,
      );
      assert.equal(page.out, "200");
    } finally {
      await server?.shutdown();
      await run("ip", "link", "del", HOST_IF);
      await run("ip", "netns", "del", NS);
    }
  },
});
