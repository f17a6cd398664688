/**
 * A crowd is not abuse (issue 13.4): 500 viewers sharing one viewer token, arriving within 20 s
 * from several client addresses (127.0.0.2 … 127.0.0.11, real sockets bound to each), all get
 * 201 under the default rate limits, then all leave, and the server holds no session after.
 * Server-offer mode (empty POSTs) keeps it cheap: no client-side WebRTC.
 */
import assert from "node:assert/strict";
import { TEST_SECRET, testServer } from "../helpers/server.ts";
import { mintToken } from "../../src/auth/tokens.ts";

const VIEWERS = 500;
const ADDRESSES = 10;
const CONCURRENCY = 20;

/** Runs `work(i)` for i in [0, n) with at most `limit` at a time. */
async function pool<T>(n: number, limit: number, work: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(n);
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < n) {
      const i = next++;
      results[i] = await work(i);
    }
  }));
  return results;
}

Deno.test("500 viewers sharing one token from several addresses all get 201 within 20 s", async () => {
  const server = await testServer({
    // The defaults of the limits, not the helper's test-wide relaxations.
    RATE_LIMIT_IP: "1200",
    RATE_LIMIT_IDENTITY: "600",
    RATE_LIMIT_FAILED: "60",
    SESSION_TIMEOUT: "300", // nobody connects media here; keep the sessions until DELETE
  });
  const secret = new TextEncoder().encode(TEST_SECRET);
  const clients = Array.from(
    { length: ADDRESSES },
    (_, i) => Deno.createHttpClient({ localAddress: `127.0.0.${i + 2}` }),
  );
  try {
    const host = await mintToken(secret, {
      sub: "host",
      room: "show",
      role: "host",
      ttlSeconds: 600,
    });
    const viewer = await mintToken(secret, {
      sub: "audience",
      room: "show",
      role: "viewer",
      ttlSeconds: 600,
    });
    const opened = await fetch(`${server.url}/rooms/show`, {
      method: "PUT",
      headers: { Authorization: `Bearer ${host}` },
    });
    assert.equal(opened.status, 201);
    await opened.body?.cancel();

    const started = performance.now();
    const created = await pool(VIEWERS, CONCURRENCY, async (i) => {
      const res = await fetch(`${server.url}/whep/show`, {
        method: "POST",
        headers: { Authorization: `Bearer ${viewer}` },
        client: clients[i % ADDRESSES],
      });
      const body = await res.text();
      return { status: res.status, location: res.headers.get("Location"), body };
    });
    const seconds = (performance.now() - started) / 1000;
    const refused = created.filter((r) => r.status !== 201);
    assert.equal(refused.length, 0, `refused: ${JSON.stringify(refused.slice(0, 3))}`);
    assert.ok(seconds < 20, `500 POSTs took ${seconds.toFixed(1)} s`);
    assert.equal(server.rooms.sessions.size, VIEWERS);
    const view = await fetch(`${server.url}/rooms/show`, {
      headers: { Authorization: `Bearer ${viewer}` },
    }).then((r) => r.json());
    assert.equal(view.sessions, VIEWERS);
    assert.equal(view.participants, 0, "viewers are not participants");

    const deleted = await pool(VIEWERS, CONCURRENCY, async (i) => {
      const res = await fetch(`${server.url}${created[i].location}`, {
        method: "DELETE",
        headers: { Authorization: `Bearer ${viewer}` },
        client: clients[i % ADDRESSES],
      });
      await res.body?.cancel();
      return res.status;
    });
    assert.deepEqual(deleted.filter((s) => s !== 200), []);
    assert.equal(server.rooms.sessions.size, 0);
    assert.equal(server.rooms.negotiating, 0);
  } finally {
    for (const c of clients) c.close();
    await server.shutdown();
  }
});
