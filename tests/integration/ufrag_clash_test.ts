/**
 * Two sessions of the shared UDP port with the same local ufrag (werift draws 16 bits: among
 * 300 sessions a clash is as likely as not) are both reachable: a Binding request goes to the
 * one whose password verifies it. The table kept only the first before, and the second session
 * never connected (the fan-out ramp's players stuck in ICE).
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { UdpMux } from "../../src/media/transport/udp-mux.ts";
import { UfragTable } from "../../src/media/transport/ufrag-table.ts";
import { bindingRequest } from "../helpers/stun.ts";

async function until(check: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 3000;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

Deno.test("the shared UDP port: two sessions with one ufrag each get their own Binding requests and media", async () => {
  const mux = await UdpMux.open(["127.0.0.1"], 0);
  const clients = [dgram.createSocket("udp4"), dgram.createSocket("udp4")];
  try {
    await Promise.all(clients.map((c) => new Promise<void>((r) => c.bind(0, "127.0.0.1", r))));
    const sessions = ["first-password-0000000", "second-password-000000"].map((password) => {
      const endpoint = mux.endpoint();
      endpoint.register("ab12", password);
      const got: number[] = [];
      endpoint.transports[0].onData = (data) => got.push(data.length);
      return { endpoint, password, got };
    });
    // each client checks with its own session's password, then sends media on that route
    for (const [i, session] of sessions.entries()) {
      clients[i].send(bindingRequest("ab12", session.password), mux.port, "127.0.0.1");
    }
    await until(() => sessions.every((s) => s.got.length === 1), "each request at its session");
    clients[1].send(new Uint8Array(100).fill(0x80), mux.port, "127.0.0.1");
    clients[0].send(new Uint8Array(200).fill(0x80), mux.port, "127.0.0.1");
    await until(() => sessions.every((s) => s.got.length === 2), "media by 5-tuple");
    assert.deepEqual(sessions[0].got.slice(1), [200]);
    assert.deepEqual(sessions[1].got.slice(1), [100]);
    // a third password for the same ufrag reaches nobody
    const before = mux.stats.unroutable;
    clients[0].send(bindingRequest("ab12", "neither-password-00000"), mux.port, "127.0.0.1");
    await until(() => mux.stats.unroutable > before, "the forged request dropped");
    assert.equal(sessions[0].got.length + sessions[1].got.length, 4);
    // the first one ends: the second is still reachable by its ufrag
    sessions[0].endpoint.close();
    clients[1].send(bindingRequest("ab12", sessions[1].password), mux.port, "127.0.0.1");
    await until(() => sessions[1].got.length === 3, "the second after the first ended");
    sessions[1].endpoint.close();
    assert.equal(mux.routeCount, 0);
  } finally {
    for (const c of clients) c.close();
    await mux.close();
  }
});

Deno.test("UfragTable: entries per endpoint and ufrag; forget removes only that endpoint's", () => {
  const table = new UfragTable<string>();
  table.register("a", "u1", "pa-00000000000000000000");
  table.register("b", "u1", "pb-00000000000000000000");
  table.register("a", "u2", "pa2-0000000000000000000"); // an ICE restart: a second ufrag
  table.register("a", "u1", "pa-00000000000000000000"); // again: no new entry
  assert.equal(table.size, 3);
  assert.equal(table.match("u1", bindingRequest("u1", "pb-00000000000000000000")), "b");
  assert.equal(table.match("u1", bindingRequest("u1", "pa-00000000000000000000")), "a");
  assert.equal(table.match("u2", bindingRequest("u2", "pa2-0000000000000000000")), "a");
  assert.equal(table.match("u3", bindingRequest("u3", "pa-00000000000000000000")), undefined);
  table.forget("a");
  assert.equal(table.size, 1);
  assert.equal(table.match("u1", bindingRequest("u1", "pa-00000000000000000000")), undefined);
  assert.equal(table.match("u1", bindingRequest("u1", "pb-00000000000000000000")), "b");
});
