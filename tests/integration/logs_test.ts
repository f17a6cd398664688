/**
 * Structured logs: one JSON line per request on stderr, carrying the request id the response
 * returns in `X-Request-Id`, and never a stack trace for a client's mistake.
 */
import assert from "node:assert/strict";
import { testServer } from "../helpers/server.ts";
import { call } from "../helpers/clients.ts";

Deno.test("each request is logged as one JSON line with its request id", async () => {
  const lines: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => lines.push(args.map(String).join(" "));
  const server = await testServer({ LOG_LEVEL: "info" });
  try {
    const host = await server.token("host", "logs");
    const ok = await call(`${server.url}/rooms/logs`, host, { method: "PUT" });
    await ok.body?.cancel();
    const bad = await call(`${server.url}/whip/logs`, host, {
      method: "POST",
      headers: { "Content-Type": "application/sdp" },
      body: "not sdp",
    });
    await bad.body?.cancel();
    const records = lines.map((l) => JSON.parse(l));
    for (const [res, status] of [[ok, 201], [bad, 400]] as const) {
      const id = res.headers.get("X-Request-Id");
      assert.ok(id, "the response carries a request id");
      const record = records.find((r) => r.id === id);
      assert.ok(record, `a log line for request ${id}`);
      assert.equal(record.msg, "request");
      assert.equal(record.status, status);
      assert.equal(typeof record.ms, "number");
      assert.match(record.time, /^\d{4}-\d\d-\d\dT/);
    }
    assert.ok(!lines.some((l) => /at .*\.ts:\d+/.test(l)), "no stack trace in the logs");
  } finally {
    console.error = original;
    await server.shutdown();
  }
});
