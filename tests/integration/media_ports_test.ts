/**
 * The shared media ports (UDP_PORT, TCP_PORT): every session's ICE and media on one UDP port
 * whose socket count does not grow with sessions, ICE over TCP, the demultiplexer's routing
 * (strangers' datagrams and wrong credentials reach no session) and its clean-up.
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { testServer } from "../helpers/server.ts";
import { call, Player, Publisher } from "../helpers/clients.ts";
import { spawnServer } from "../helpers/process.ts";
import { bindingRequest } from "../helpers/stun.ts";

const offer = Deno.readTextFileSync(new URL("../fixtures/chromium-publish.sdp", import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The candidates of an answer's first media section. */
function candidatesOf(sdp: string) {
  const first = sdp.split(/\r?\nm=/)[1] ?? "";
  return [...first.matchAll(/^a=candidate:\S+ \d+ (\S+) \d+ (\S+) (\d+) typ (\S+)(.*)$/gm)]
    .map((m) => ({
      transport: m[1].toLowerCase(),
      address: m[2],
      port: Number(m[3]),
      type: m[4],
      tcptype: /tcptype (\S+)/.exec(m[5])?.[1],
    }));
}

/** UDP sockets held by process `pid` (its descriptors matched with the kernel's UDP tables). */
function udpSockets(pid: number): number {
  const inodes = new Set<string>();
  for (const table of ["/proc/net/udp", "/proc/net/udp6"]) {
    for (const line of Deno.readTextFileSync(table).split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length > 9) inodes.add(fields[9]);
    }
  }
  let count = 0;
  for (const entry of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(Deno.readLinkSync(`/proc/${pid}/fd/${entry.name}`));
      if (m && inodes.has(m[1])) count++;
    } catch { /* closed meanwhile */ }
  }
  return count;
}

Deno.test("UDP_PORT: a publisher and three players on one port; the server's UDP sockets do not grow", async () => {
  const server = await spawnServer({ UDP_PORT: "0", TCP_PORT: "0", MAX_PARTICIPANTS: "4" });
  const clients: (Publisher | Player)[] = [];
  try {
    const pid = server.child.pid;
    const before = udpSockets(pid);
    const host = await server.token("host", "mux");
    const publisher = new Publisher();
    clients.push(publisher);
    const ports = new Set<number>();
    await publisher.publish(`${server.url}/whip/mux`, host);
    const answers = [publisher.pc.remoteDescription?.sdp ?? ""];
    publisher.start(30);
    for (let i = 0; i < 3; i++) {
      const player = new Player();
      clients.push(player);
      const guest = await server.token(`guest${i}`, "mux", "participant");
      await player.play(`${server.url}/whep/mux`, guest);
      answers.push(player.pc.remoteDescription?.sdp ?? "");
    }
    for (const answer of answers) {
      const udp = candidatesOf(answer).filter((c) => c.transport === "udp");
      assert.ok(udp.length > 0, "UDP candidates in every answer");
      for (const c of udp) ports.add(c.port);
    }
    assert.equal(ports.size, 1, `one UDP port for every session: ${[...ports]}`);
    for (const c of clients.slice(1) as Player[]) await c.nextKeyframe();
    assert.ok((clients[1] as Player).videoLog.length > 0, "media flows through the shared port");
    const during = udpSockets(pid);
    assert.equal(during, before, `server UDP sockets: ${before} before, ${during} with 4 sessions`);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await server.stop();
  }
});

Deno.test("ICE over TCP: a publisher and a player with TCP candidates only, media flowing", async () => {
  const server = await testServer({ ICE_TRANSPORTS: "tcp" });
  const publisher = new Publisher({ tcp: true });
  const player = new Player({ tcp: true });
  try {
    const host = await server.token("host", "tcp");
    await publisher.publish(`${server.url}/whip/tcp`, host);
    const answer = candidatesOf(publisher.pc.remoteDescription?.sdp ?? "");
    assert.ok(answer.length > 0);
    assert.ok(answer.every((c) => c.transport === "tcp" && c.tcptype === "passive"), "passive TCP");
    assert.ok(answer.every((c) => c.port === server.ports.tcp!.mux.port));
    assert.match(publisher.pc.remoteDescription!.sdp, /^a=ice-lite\r?$/m, "session-level ice-lite");
    publisher.start(30);
    await player.play(`${server.url}/whep/tcp`, host);
    await player.nextKeyframe();
    const frames = player.videoLog.length;
    await sleep(500);
    assert.ok(player.videoLog.length > frames, "media keeps flowing over TCP");
    assert.equal(server.ports.tcp!.mux.stats.routed >= 2, true, "both connections routed");
    assert.deepEqual(server.rooms.sessions.transports(), { udp: 0, tcp: 2, connecting: 0 });
    for (const pc of [publisher.pc, player.pc]) {
      const connection = (pc.iceTransports[0] as unknown as {
        connection: { nominated?: { localCandidate: { transport: string } } };
      }).connection;
      assert.equal(connection.nominated?.localCandidate.transport.toLowerCase(), "tcp");
    }
  } finally {
    await Promise.all([publisher.close(), player.close()]);
    await server.shutdown();
  }
});

Deno.test("ended sessions leave no routes on the shared ports", async () => {
  const server = await testServer();
  try {
    const host = await server.token("host", "routes");
    for (let i = 0; i < 3; i++) {
      const publisher = new Publisher();
      const player = new Player();
      await publisher.publish(`${server.url}/whip/routes`, host);
      await player.play(`${server.url}/whep/routes`, host);
      await call(player.session!.url, host, { method: "DELETE" }).then((r) => r.body?.cancel());
      await Promise.all([publisher.close(), player.close()]);
      await call(publisher.session!.url, host, { method: "DELETE" }).then((r) => r.body?.cancel());
    }
    // a signalling-only session too (never connected)
    const res = await call(`${server.url}/whip/routes`, host, {
      method: "POST",
      headers: { "Content-Type": "application/sdp" },
      body: offer,
    });
    await res.body?.cancel();
    await call(new URL(res.headers.get("Location")!, server.url).href, host, { method: "DELETE" })
      .then((r) => r.body?.cancel());
    assert.equal(server.rooms.sessions.size, 0);
    assert.equal(server.ports.udpMux!.sessions, 0);
    assert.equal(server.ports.udpMux!.routeCount, 0, "UDP routes");
    assert.equal(server.ports.tcp!.mux.routeCount, 0, "TCP ufrags");
  } finally {
    await server.shutdown();
  }
});

Deno.test("the shared UDP port: strangers' datagrams and wrong credentials reach no session", async () => {
  const server = await testServer();
  const publisher = new Publisher();
  const player = new Player();
  const stranger = dgram.createSocket("udp4");
  try {
    const host = await server.token("host", "spoof");
    await publisher.publish(`${server.url}/whip/spoof`, host);
    publisher.start(30);
    await player.play(`${server.url}/whep/spoof`, host);
    await player.nextKeyframe();
    const mux = server.ports.udpMux!;
    const answer = publisher.pc.remoteDescription!.sdp;
    const ufrag = /a=ice-ufrag:(\S+)/.exec(answer)![1];
    await new Promise<void>((r) => stranger.bind(0, "127.0.0.1", r));
    const send = (b: Uint8Array) =>
      new Promise<void>((r) => stranger.send(b, mux.port, "127.0.0.1", () => r()));
    const { routed, unroutable } = mux.stats;
    const rtp = new Uint8Array(200);
    rtp[0] = 0x80;
    rtp[1] = 96;
    const dtls = new Uint8Array(60);
    dtls[0] = 21; // an alert: would end a session that took it
    dtls[1] = 0xfe;
    dtls[2] = 0xfd;
    for (let i = 0; i < 50; i++) {
      await send(crypto.getRandomValues(new Uint8Array(100))); // garbage
      await send(rtp); // media from an address no session knows
      await send(dtls);
      await send(bindingRequest(ufrag, "not-the-password-at-all")); // a real ufrag, forged
      await send(bindingRequest("zzzz", "whatever")); // nobody's ufrag
    }
    await sleep(300);
    assert.equal(mux.stats.unroutable - unroutable, 250, "every stranger's datagram dropped");
    assert.ok(mux.stats.routed > routed, "the sessions' own datagrams still routed");
    const frames = player.videoLog.length;
    await sleep(500);
    assert.ok(player.videoLog.length > frames, "live media unaffected");
    assert.equal(publisher.pc.connectionState, "connected");
  } finally {
    stranger.close();
    await Promise.all([publisher.close(), player.close()]);
    await server.shutdown();
  }
});

Deno.test("a UDP_PORT or TCP_PORT in use stops the start with one sentence naming it", async () => {
  const taken = dgram.createSocket("udp4");
  await new Promise<void>((r) => taken.bind(0, "127.0.0.1", r));
  try {
    const port = String(taken.address().port);
    const server = await spawnServer({ UDP_PORT: port, TCP_PORT: "0" }).catch((e) => e);
    assert.ok(server instanceof Error, "the server did not start");
    assert.match(server.message, new RegExp(`UDP_PORT: UDP port ${port} is already in use`));
    assert.doesNotMatch(server.message, /\n\s+at /, "no stack trace");
  } finally {
    taken.close();
  }
});
