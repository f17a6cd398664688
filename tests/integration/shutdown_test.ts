/**
 * Shutdown (issue 15.8), against the server as its own process: on SIGTERM a room's event
 * subscribers get `room-closed` with `{"reason":"shutdown"}` (so a page can tell a server restart
 * from the host ending the room), their streams end, and the process exits 0 within 5 s.
 */
import assert from "node:assert/strict";
import { spawnServer } from "../helpers/process.ts";

Deno.test("SIGTERM: room event subscribers get room-closed (reason shutdown) and the stream ends", async () => {
  const server = await spawnServer();
  try {
    const host = await server.token("host", "bye");
    const guest = await server.token("guest", "bye", "participant");
    const put = await fetch(`${server.url}/rooms/bye`, {
      method: "PUT",
      headers: { Authorization: `Bearer ${host}` },
    });
    assert.equal(put.status, 201);
    await put.body?.cancel();
    const readers = await Promise.all([host, guest].map(async (token) => {
      const res = await fetch(`${server.url}/rooms/bye/events`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      assert.equal(res.status, 200);
      return res.body!.pipeThrough(new TextDecoderStream()).getReader();
    }));
    // The first event (the room's state) is there before the signal.
    const first = await Promise.all(readers.map((r) => r.read()));
    for (const { value } of first) assert.match(value ?? "", /event: room/);
    const signalledAt = performance.now();
    server.child.kill("SIGTERM");
    const streams = await Promise.all(readers.map(async (reader) => {
      let text = "";
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: "", done: true }));
        if (done) return text;
        text += value;
      }
    }));
    for (const text of streams) {
      assert.match(text, /event: room-closed\ndata: \{"reason":"shutdown"\}/, text);
    }
    const status = await server.child.status;
    assert.equal(status.code, 0, server.output());
    const took = performance.now() - signalledAt;
    assert.ok(took < 5000, `exited in ${took.toFixed(0)} ms`);
  } finally {
    await server.stop();
  }
});
