/**
 * The shared media ports in a real browser (Debian's headless Chromium, fake camera): the publish
 * page publishes and the watch page plays, and Chromium's own `getStats()` says which candidate
 * pair carries the media.
 *
 * - Default (`ICE_TRANSPORTS=udp,tcp`): the answer is ICE-lite with UDP candidates on the one
 *   shared UDP port and passive TCP candidates on the one TCP port; Chromium picks UDP, on the
 *   shared port, for both the publisher and the player.
 * - `ICE_TRANSPORTS=tcp`: Chromium's active TCP candidate pairs with the server's passive one on
 *   the TCP port (RFC 6544), and the frames still decode.
 * - ICE restart (PATCH `application/trickle-ice-sdpfrag`, `If-Match: "*"`) on the shared UDP
 *   port and on the TCP port: new credentials, the same port, media keeps flowing.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Page } from "npm:puppeteer-core@25.16.0";
import { type TestServer, testServer } from "../helpers/server.ts";
import { browserTest, type Chromium, click, framesRise, launch, until } from "./browser.ts";

/** One ICE candidate of Chromium's `getStats()`. */
interface Candidate {
  protocol: string;
  address: string;
  port: number;
  candidateType: string;
  tcpType: string | null;
  usernameFragment: string | null;
}

/** The selected candidate pair of a page's connection, and its ICE state. */
interface Selected {
  /** The pair's state (`succeeded` once checked). */
  state: string;
  nominated: boolean;
  local: Candidate;
  remote: Candidate;
  /** `iceConnectionState` of the connection. */
  ice: string;
  /** The local description's `a=ice-ufrag`. */
  ufrag: string | null;
  /** The remote description (the server's answer, after any restart). */
  answer: string;
}

/**
 * The selected candidate pair of the watch page's WHEP connection or the publish page's WHIP
 * connection: `transport.selectedCandidatePairId`, else the nominated succeeded pair.
 */
function selected(page: Page, side: "whep" | "whip"): Promise<Selected | null> {
  const pc = side === "whep" ? "globalThis.watchPage.whep?.pc" : "globalThis.publishPage.whip?.pc";
  return page.evaluate(`(async () => {
    const pc = ${pc};
    if (!pc) return null;
    const report = await pc.getStats();
    const all = [...report.values()];
    const transport = all.find((s) => s.type === "transport" && s.selectedCandidatePairId);
    const pair = transport
      ? report.get(transport.selectedCandidatePairId)
      : all.find((s) => s.type === "candidate-pair" && s.nominated && s.state === "succeeded");
    if (!pair) return null;
    const candidate = (id) => {
      const c = report.get(id);
      return c && {
        protocol: c.protocol,
        address: c.address ?? c.ip,
        port: c.port,
        candidateType: c.candidateType,
        tcpType: c.tcpType ?? null,
        usernameFragment: c.usernameFragment ?? null,
      };
    };
    return {
      state: pair.state,
      nominated: !!pair.nominated,
      local: candidate(pair.localCandidateId),
      remote: candidate(pair.remoteCandidateId),
      ice: pc.iceConnectionState,
      ufrag: /a=ice-ufrag:(\\S+)/.exec(pc.localDescription?.sdp ?? "")?.[1] ?? null,
      answer: pc.remoteDescription?.sdp ?? "",
    };
  })()`) as Promise<Selected | null>;
}

/** Waits for a selected, succeeded pair (ICE connected) on the page's connection. */
function connectedPair(page: Page, side: "whep" | "whip"): Promise<Selected> {
  return until(async () => {
    const s = await selected(page, side);
    return s && s.state === "succeeded" && s.nominated && s.local && s.remote &&
        (s.ice === "connected" || s.ice === "completed")
      ? s
      : undefined;
  }, `${side}: a selected candidate pair`);
}

/** The publish page live (VP8, 360p) and the watch page playing it, in room `room`. */
async function publishAndWatch(
  server: TestServer,
  chromium: Chromium,
  room: string,
): Promise<{ publish: Page; watch: Page }> {
  const host = await server.token("alice", room, "host");
  const guest = await server.token("bob", room, "participant");
  const publish = await chromium.page();
  await publish.goto(`${server.url}/publish.html?room=${room}&token=${host}&quality=360&codec=VP8`);
  await click(publish, "#go");
  await publish.waitForSelector('#status[data-state="live"]');
  const watch = await chromium.page();
  await watch.goto(`${server.url}/watch.html?room=${room}&token=${guest}`);
  await watch.waitForSelector('body[data-phase="live"]');
  await framesRise(watch, "watch", 5);
  return { publish, watch };
}

/** `a=candidate` lines of an SDP. */
function candidates(sdp: string): string[] {
  return sdp.split(/\r?\n/).filter((l) => l.startsWith("a=candidate:"));
}

/**
 * Restarts ICE from the page (the pages' WHIP/WHEP client: `pc.restartIce()`-style new offer,
 * PATCH sdpfrag with `If-Match: "*"`, the server's sdpfrag applied), then waits for a selected
 * pair under the new local ufrag. Returns the pairs before and after.
 */
async function restart(
  page: Page,
  side: "whep" | "whip",
): Promise<{ before: Selected; after: Selected }> {
  const before = await connectedPair(page, side);
  const client = side === "whep" ? "watchPage.whep" : "publishPage.whip";
  await page.evaluate(`${client}.restartIce()`);
  assert.equal(await page.evaluate(`${client}.iceRestarts`), 1, `${side}: restart accepted`);
  const after = await until(async () => {
    const s = await selected(page, side);
    // right after the restart Chromium may report a succeeded, not yet nominated pair whose
    // remote candidate still has the old ufrag: wait for the new generation on both ends
    const answerUfrag = s && /a=ice-ufrag:(\S+)/.exec(s.answer)?.[1];
    return s && s.ufrag !== before.ufrag && s.state === "succeeded" && s.nominated &&
        s.local && s.remote && (s.ice === "connected" || s.ice === "completed") &&
        (s.local.usernameFragment === null || s.local.usernameFragment === s.ufrag) &&
        (s.remote.usernameFragment === null || s.remote.usernameFragment === answerUfrag)
      ? s
      : undefined;
  }, `${side}: a selected pair after the ICE restart`);
  assert.equal(await page.evaluate(`${client}.sessions`), 1, `${side}: no new POST`);
  assert.notEqual(after.ufrag, before.ufrag, `${side}: new local credentials`);
  return { before, after };
}

browserTest(
  "media ports (default udp,tcp): Chromium's selected pair is UDP on the shared port",
  async (t) => {
    const server = await testServer();
    const chromium = await launch();
    try {
      const udp = server.ports.udpMux, tcp = server.ports.tcp?.mux;
      assert.ok(udp && tcp, "both shared ports open by default");
      const { publish, watch } = await publishAndWatch(server, chromium, "ports-udp");

      await t.step(
        "the answer: ICE-lite, UDP on the shared port, passive TCP on the TCP port",
        async () => {
          const pair = await connectedPair(watch, "whep");
          assert.match(pair.answer, /^a=ice-lite\r?$/m, "a=ice-lite at session level");
          const lines = candidates(pair.answer);
          assert.ok(lines.length > 0, "candidates in the answer");
          for (const line of lines) {
            const [, , transport, , , port] = line.split(" ");
            if (transport.toLowerCase() === "udp") assert.equal(Number(port), udp.port, line);
            else {
              assert.equal(transport.toLowerCase(), "tcp", line);
              assert.equal(Number(port), tcp.port, line);
              assert.match(line, / tcptype passive/, line);
            }
          }
          assert.ok(lines.some((l) => / udp /i.test(l)), "a UDP candidate");
          assert.ok(lines.some((l) => / tcp /i.test(l)), "a TCP candidate");
        },
      );

      await t.step(
        "the player's and publisher's selected pair: UDP, remote port = UDP_PORT",
        async () => {
          for (const [page, side] of [[watch, "whep"], [publish, "whip"]] as const) {
            const pair = await connectedPair(page, side);
            assert.equal(pair.remote.protocol, "udp", `${side}: remote protocol`);
            assert.equal(pair.local.protocol, "udp", `${side}: local protocol`);
            assert.equal(pair.remote.port, udp.port, `${side}: remote port is the shared UDP port`);
          }
          await framesRise(watch, "watch over the shared UDP port", 20);
          assert.ok(udp.stats.routed > 0, "the UDP mux routed datagrams");
          // (Chromium may still check a TCP pair meanwhile: a connection the mux routed is no
          // failure; the selected pair above is what carries the media)
        },
      );
    } finally {
      await chromium.close();
      await server.shutdown();
    }
  },
);

browserTest(
  "media ports (ICE_TRANSPORTS=tcp): Chromium publishes and plays over ICE-TCP",
  async (t) => {
    const server = await testServer({ ICE_TRANSPORTS: "tcp" });
    const chromium = await launch();
    try {
      assert.equal(server.ports.udpMux, undefined, "no shared UDP port");
      const tcp = server.ports.tcp!.mux;
      const { publish, watch } = await publishAndWatch(server, chromium, "ports-tcp");

      await t.step(
        "the answer: ICE-lite, only passive TCP candidates on the TCP port",
        async () => {
          const pair = await connectedPair(watch, "whep");
          assert.match(pair.answer, /^a=ice-lite\r?$/m, "a=ice-lite at session level");
          const lines = candidates(pair.answer);
          assert.ok(lines.length > 0, "candidates in the answer");
          for (const line of lines) {
            const [, , transport, , , port] = line.split(" ");
            assert.equal(transport.toLowerCase(), "tcp", line);
            assert.equal(Number(port), tcp.port, line);
            assert.match(line, / tcptype passive/, line);
          }
        },
      );

      await t.step(
        "the selected pairs: TCP both ends, remote port = TCP_PORT; frames decode",
        async () => {
          for (const [page, side] of [[watch, "whep"], [publish, "whip"]] as const) {
            const pair = await connectedPair(page, side);
            assert.equal(pair.local.protocol, "tcp", `${side}: local protocol`);
            assert.equal(pair.remote.protocol, "tcp", `${side}: remote protocol`);
            assert.equal(pair.remote.port, tcp.port, `${side}: remote port is the TCP port`);
            assert.equal(pair.nominated, true, `${side}: nominated`);
          }
          await framesRise(watch, "watch over ICE-TCP", 20);
          assert.ok(tcp.stats.routed >= 2, `TCP connections routed: ${tcp.stats.routed}`);
        },
      );

      await t.step(
        "ICE restart over TCP: new credentials, same TCP port, frames keep decoding",
        async () => {
          for (const [page, side] of [[publish, "whip"], [watch, "whep"]] as const) {
            const routed = tcp.stats.routed;
            const { after } = await restart(page, side);
            assert.equal(after.local.protocol, "tcp", `${side}: local protocol after restart`);
            assert.equal(after.remote.protocol, "tcp", `${side}: remote protocol after restart`);
            assert.equal(after.remote.port, tcp.port, `${side}: remote port after restart`);
            assert.ok(
              tcp.stats.routed > routed,
              `${side}: a new TCP connection routed by its ufrag`,
            );
            await framesRise(watch, `watch after the ${side} ICE restart over TCP`, 20);
          }
          assert.deepEqual(server.rooms.sessions.counts(), { whip: 1, whep: 1 });
        },
      );
    } finally {
      await chromium.close();
      await server.shutdown();
    }
  },
);

browserTest(
  "media ports: ICE restart from Chromium on the shared UDP port keeps the media",
  async () => {
    const server = await testServer();
    const chromium = await launch();
    try {
      const udp = server.ports.udpMux!;
      const { publish, watch } = await publishAndWatch(server, chromium, "ports-restart");
      for (const [page, side] of [[publish, "whip"], [watch, "whep"]] as const) {
        const routed = udp.stats.routed;
        const { before, after } = await restart(page, side);
        assert.equal(before.remote.port, udp.port, `${side}: shared port before the restart`);
        assert.equal(after.remote.protocol, "udp", `${side}: remote protocol after restart`);
        assert.equal(after.remote.port, udp.port, `${side}: shared port after the restart`);
        // the server's answer to the restart carries new credentials too
        const remoteUfrag = (sdp: string) => /a=ice-ufrag:(\S+)/.exec(sdp)?.[1];
        assert.notEqual(
          remoteUfrag(after.answer),
          remoteUfrag(before.answer),
          `${side}: new remote ufrag`,
        );
        await framesRise(watch, `watch after the ${side} ICE restart`, 20);
        assert.ok(udp.stats.routed > routed, `${side}: datagrams routed after the restart`);
      }
      assert.deepEqual(server.rooms.sessions.counts(), { whip: 1, whep: 1 });
    } finally {
      await chromium.close();
      await server.shutdown();
    }
  },
);
