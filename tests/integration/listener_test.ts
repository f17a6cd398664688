/**
 * The HTTP listener's watchdog: an idle, healthy listener is probed and left alone. Its first
 * version matched the probe by the probe's own port, which raced with the accept (the server can
 * see the connection before `Deno.connect` resolves in the prober), so a healthy server closed
 * and reopened its listening socket every few seconds when idle. The EMFILE case, where the
 * socket really is dead and must be replaced, is tests/hostile/connections_test.ts.
 */
import assert from "node:assert/strict";
import { listenHttp } from "../../src/http/listener.ts";
import { PROBE_INTERVAL_MS } from "../../src/http/watchdog.ts";

Deno.test("an idle, healthy listener is probed but never reopened", async () => {
  const errors: string[] = [];
  const quiet = () => {};
  const listener = await listenHttp({
    hostname: "127.0.0.1",
    port: 0,
    maxConnections: 100,
    headersTimeoutMs: 10_000,
    requestTimeoutMs: 30_000,
    idleTimeoutMs: 5_000,
    log: { info: quiet, warn: quiet, error: (msg) => errors.push(msg) },
  }, () => new Response("ok"));
  try {
    // Three watchdog periods with no traffic: three probes.
    await new Promise((r) => setTimeout(r, PROBE_INTERVAL_MS * 3 + 500));
    assert.equal(listener.stats().reopened, 0, errors.join("; "));
    assert.deepEqual(errors, []);
    const res = await fetch(`http://127.0.0.1:${listener.addr.port}/`);
    assert.equal(await res.text(), "ok");
  } finally {
    await listener.shutdown(0);
  }
});
