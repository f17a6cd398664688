/**
 * A client that closes its connection in the middle of a request body (a player process killed
 * while it posts its offer, a tab closed) is the client's doing: the server logs it as such, at
 * info, and answers 400, never "unhandled error" and 500. Found in a 1,035-player bench ramp whose
 * players were stopped while they joined (issue 19).
 */
import assert from "node:assert/strict";
import { spawnServer } from "../helpers/process.ts";

/** Sends a POST whose Content-Length promises more than is sent, then closes the connection. */
async function abortedPost(url: string, path: string, headers: Record<string, string>) {
  const { hostname, port } = new URL(url);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  const head = [`POST ${path} HTTP/1.1`, `Host: ${hostname}`, "Content-Length: 4000"]
    .concat(Object.entries(headers).map(([k, v]) => `${k}: ${v}`));
  await conn.write(new TextEncoder().encode(`${head.join("\r\n")}\r\n\r\nv=0\r\no=- 1 1 IN IP4 0`));
  await new Promise((r) => setTimeout(r, 100)); // the handler is reading the body by now
  conn.close();
}

Deno.test("a body cut off by the client's close: 400 in the log at info, no unhandled error, the server serves on", async () => {
  const server = await spawnServer({ LOG_LEVEL: "info" });
  try {
    const auth = `Bearer ${await server.token("viewer-1", "abort-room", "viewer")}`;
    await abortedPost(server.url, "/whep/abort-room", {
      "Authorization": auth,
      "Content-Type": "application/sdp",
    });
    const publisher = `Bearer ${await server.token("host-1", "abort-room", "host")}`;
    await abortedPost(server.url, "/whip/abort-room", {
      "Authorization": publisher,
      "Content-Type": "application/sdp",
    });
    let log = "";
    for (let i = 0; i < 50; i++) {
      log = server.output();
      if ((log.match(/"client closed the request"/g) ?? []).length >= 2) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.doesNotMatch(log, /unhandled error/, log);
    assert.doesNotMatch(log, /"status":500/, log);
    const aborted = log.split("\n").filter((l) => l.includes('"client closed the request"'));
    assert.equal(aborted.length, 2, log);
    for (const line of aborted) assert.equal(JSON.parse(line).level, "info", line);
    const requests = log.split("\n").filter((l) => l.includes('"msg":"request"'))
      .map((l) => JSON.parse(l));
    assert.deepEqual(requests.map((r) => [r.path, r.status]), [
      ["/whep/abort-room", 400],
      ["/whip/abort-room", 400],
    ]);
    const res = await fetch(`${server.url}/healthz`);
    assert.equal(res.status, 200);
    await res.body?.cancel();
  } finally {
    await server.stop();
  }
});
