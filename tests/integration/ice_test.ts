/**
 * Which candidates an answer carries in each ICE configuration, and that gathering never
 * waits on a STUN server that does not answer.
 */
import assert from "node:assert/strict";
import { testServer } from "../helpers/server.ts";
import { call } from "../helpers/clients.ts";
import dgram from "node:dgram";
import { Buffer } from "node:buffer";

const offer = Deno.readTextFileSync(
  new URL("../fixtures/obs-style-publish.sdp", import.meta.url),
);

async function publish(env: Record<string, string>) {
  const server = await testServer(env);
  try {
    stunServers.length = 0;
    const token = await server.token("host", "ice");
    const start = performance.now();
    const res = await call(`${server.url}/whip/ice`, token, {
      method: "POST",
      headers: { "Content-Type": "application/sdp" },
      body: offer,
    });
    const answer = await res.text();
    const ms = performance.now() - start;
    assert.equal(res.status, 201, answer);
    const firstSection = answer.split(/\r?\nm=/)[1];
    const candidates = [
      ...firstSection.matchAll(/^a=candidate:(\S+) \S+ (\S+) \S+ (\S+) (\d+) typ (\S+)/gm),
    ]
      .map((m) => ({ transport: m[2], address: m[3], port: Number(m[4]), type: m[5] }));
    assert.match(firstSection, /a=end-of-candidates/);
    for (const session of server.rooms.sessions.all()) {
      for (const t of session.media.peer.pc.iceTransports) {
        stunServers.push((t.connection as unknown as { stunServer?: unknown }).stunServer);
      }
    }
    return { candidates, ms, links: res.headers.get("Link"), answer };
  } finally {
    await server.shutdown();
  }
}

/** The STUN server each server-side ICE connection would query (filled by `publish`). */
const stunServers: unknown[] = [];

function interfaceAddresses(): string[] {
  return Deno.networkInterfaces().filter((i) => i.family === "IPv4" && i.address !== "127.0.0.1")
    .map((i) => i.address);
}

Deno.test("default: a UDP and a passive TCP host candidate per IPv4 interface, one port each, no STUN, answered at once", async () => {
  const { candidates, ms, links } = await publish({ ICE_LOOPBACK: "false" });
  const udp = candidates.filter((c) => c.transport.toLowerCase() === "udp");
  const tcp = candidates.filter((c) => c.transport.toLowerCase() === "tcp");
  assert.deepEqual(udp.map((c) => c.address).sort(), interfaceAddresses().sort());
  assert.deepEqual(tcp.map((c) => c.address).sort(), interfaceAddresses().sort());
  assert.equal(new Set(udp.map((c) => c.port)).size, 1, "one shared UDP port");
  assert.equal(new Set(tcp.map((c) => c.port)).size, 1, "one TCP port");
  assert.ok(candidates.every((c) => c.type === "host"));
  assert.equal(links, null, "no ICE servers, no Link header");
  assert.ok(stunServers.length > 0);
  assert.deepEqual(stunServers.filter((s) => s !== undefined), [], "no fallback STUN server");
  assert.ok(ms < 1000, `answered in ${ms} ms`);
});

Deno.test("ICE_LOOPBACK adds a 127.0.0.1 host candidate", async () => {
  const { candidates } = await publish({ ICE_LOOPBACK: "true" });
  assert.ok(candidates.some((c) => c.address === "127.0.0.1"));
});

Deno.test("ANNOUNCED_IPS replaces every host address (NAT 1:1)", async () => {
  const { candidates } = await publish({
    ICE_LOOPBACK: "false",
    ANNOUNCED_IPS: "203.0.113.7,198.51.100.4",
  });
  const addresses = new Set(candidates.map((c) => c.address));
  assert.deepEqual([...addresses].sort(), ["198.51.100.4", "203.0.113.7"]);
  // both announced addresses, for UDP and for TCP, per local address
  assert.equal(candidates.length, 2 * 2 * interfaceAddresses().length);
  for (const transport of ["udp", "tcp"]) {
    assert.equal(candidates.filter((c) => c.transport.toLowerCase() === transport).length, 2);
  }
});

Deno.test("UDP_PORT_MIN/MAX bound the media ports (a port per session)", async () => {
  const { candidates } = await publish({ UDP_PORT_MIN: "41000", UDP_PORT_MAX: "41099" });
  const udp = candidates.filter((c) => c.transport.toLowerCase() === "udp");
  assert.ok(udp.length > 0);
  for (const c of udp) assert.ok(c.port >= 41000 && c.port <= 41099, `port ${c.port}`);
});

Deno.test("ICE_TRANSPORTS=udp: no TCP candidates, and the server is a full ICE agent again", async () => {
  const { candidates, answer } = await publish({ ICE_TRANSPORTS: "udp" });
  assert.ok(candidates.length > 0);
  assert.ok(candidates.every((c) => c.transport.toLowerCase() === "udp"));
  assert.doesNotMatch(answer, /a=ice-lite/);
});

Deno.test("with TCP candidates the answer is ICE-lite, once, at session level", async () => {
  const { answer } = await publish({});
  const session = answer.split(/\r?\nm=/)[0];
  assert.match(session, /^a=ice-lite\r?$/m);
  assert.equal(answer.match(/a=ice-lite/g)?.length, 1);
});

Deno.test("STUN and TURN servers that never answer delay the answer by at most ICE_GATHER_TIMEOUT", async () => {
  // A UDP socket that reads and never replies: a black hole, not an ICMP refusal.
  const hole = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => hole.bind(0, "127.0.0.1", resolve));
  try {
    const port = hole.address().port;
    const { ms, links } = await publish({
      ICE_SERVERS: `stun:127.0.0.1:${port},turn:user:pass@127.0.0.1:${port}?transport=udp`,
      ICE_GATHER_TIMEOUT: "1",
    });
    assert.ok(ms < 3000, `answered in ${ms} ms`);
    assert.match(links!, /<stun:127\.0\.0\.1:\d+>; rel="ice-server"/);
    assert.match(links!, /username="user"; credential="pass"; credential-type="password"/);
  } finally {
    hole.close();
  }
});

Deno.test("a STUN server in ICE_SERVERS gives the shared UDP port a server-reflexive candidate, asked once at start", async () => {
  // A STUN server that reports every client at 203.0.113.9:50000 (as a NAT would map it).
  const stun = dgram.createSocket("udp4");
  let asked = 0;
  stun.on("message", (m, from) => {
    if (m.length < 20 || m.readUInt16BE(0) !== 0x0001) return;
    asked++;
    const r = Buffer.alloc(32);
    r.writeUInt16BE(0x0101, 0);
    r.writeUInt16BE(12, 2);
    m.copy(r, 4, 4, 20); // magic cookie and transaction ID
    r.writeUInt16BE(0x0020, 20); // XOR-MAPPED-ADDRESS
    r.writeUInt16BE(8, 22);
    r.writeUInt8(1, 25); // IPv4
    r.writeUInt16BE(50000 ^ 0x2112, 26);
    [203, 0, 113, 9].forEach((b, i) => r.writeUInt8(b ^ [0x21, 0x12, 0xa4, 0x42][i], 28 + i));
    stun.send(r, from.port, from.address);
  });
  await new Promise<void>((resolve) => stun.bind(0, "127.0.0.1", resolve));
  try {
    const { candidates } = await publish({ ICE_SERVERS: `stun:127.0.0.1:${stun.address().port}` });
    const srflx = candidates.filter((c) => c.type === "srflx");
    assert.ok(srflx.length > 0, "server-reflexive candidates");
    assert.ok(srflx.every((c) => c.address === "203.0.113.9" && c.port === 50000));
    const before = asked;
    await publish({ ICE_SERVERS: `stun:127.0.0.1:${stun.address().port}` });
    assert.equal(
      asked - before,
      new Set(
        candidates.filter((c) => c.type === "host" && c.transport.toLowerCase() === "udp").map((
          c,
        ) => c.address),
      ).size,
      "one query per shared socket at start, none per session",
    );
  } finally {
    stun.close();
  }
});

Deno.test("UDP_PORT_MIN/MAX: sessions negotiated at once get distinct ports of the range", async () => {
  const server = await testServer({
    UDP_PORT_MIN: "42100",
    UDP_PORT_MAX: "42199",
    NEGOTIATIONS_MAX: "32",
    NEGOTIATIONS_PER_CLIENT: "32",
    MAX_PARTICIPANTS: "40",
  });
  try {
    const host = await server.token("host", "race");
    await call(`${server.url}/rooms/race`, host, { method: "PUT" }).then((r) => r.body?.cancel());
    const answers = await Promise.all([...Array(24)].map(async (_, i) => {
      const token = await server.token(`p${i}`, "race", "participant");
      const res = await call(`${server.url}/whip/race`, token, {
        method: "POST",
        headers: { "Content-Type": "application/sdp" },
        body: offer,
      });
      const text = await res.text();
      assert.equal(res.status, 201, text);
      return text;
    }));
    const ports = answers.flatMap((a) =>
      [...a.matchAll(/^a=candidate:\S+ \d+ udp \d+ \S+ (\d+) typ host/gim)].map((m) => Number(m[1]))
    );
    const perSession = answers.map((a) =>
      new Set(
        [...a.matchAll(/^a=candidate:\S+ \d+ udp \d+ \S+ (\d+) typ host/gim)].map((m) => m[1]),
      )
    );
    assert.ok(perSession.every((p) => p.size >= 1), "UDP candidates in every answer");
    for (const p of ports) assert.ok(p >= 42100 && p <= 42199, `port ${p}`);
    const all = perSession.flatMap((p) => [...p]);
    assert.equal(new Set(all).size, all.length, "no port shared by two sessions");
  } finally {
    await server.shutdown();
  }
});
