/**
 * Hostile input, point 1: mutated real offers (`tests/fixtures/`) to `POST /whip/{room}`,
 * `POST /whep/{room}`, and mutated answers to `PATCH {session}` in server-offer mode. Every
 * answer is a success or a 4xx with problem details, every session an accepted mutant created is
 * deleted, and the live publisher → player media keeps flowing throughout.
 */
import assert from "node:assert/strict";
import fc from "npm:fast-check@4.10.2";
import { RTCPeerConnection, RTCRtpCodecParameters } from "werift";
import {
  authed,
  cleanup,
  count,
  expectOkOrProblem,
  fixture,
  liveRoom,
  params,
  PLAY_FIXTURES,
  PUBLISH_FIXTURES,
  report,
  until,
} from "./harness.ts";
import { mutate, oversizedOffer, oversizedShape, preview, sdpMutation } from "./arbitraries.ts";

const SDP = { "Content-Type": "application/sdp" };

/** A real client's answer to a server offer (werift, VP8 + Opus). */
async function clientAnswer(offer: string): Promise<string> {
  const pc = new RTCPeerConnection({
    iceServers: [],
    iceUseIpv6: false,
    codecs: {
      audio: [
        new RTCRtpCodecParameters({ mimeType: "audio/opus", clockRate: 48000, channels: 2 }),
      ],
      video: [new RTCRtpCodecParameters({ mimeType: "video/VP8", clockRate: 90000 })],
    },
  });
  try {
    await pc.setRemoteDescription({ type: "offer", sdp: offer });
    await pc.setLocalDescription(await pc.createAnswer());
    await until(() => pc.iceGatheringState === "complete", "client gathering");
    return pc.localDescription!.sdp;
  } finally {
    await pc.close();
  }
}

Deno.test("hostile SDP: mutated offers and answers never get a 5xx and never hurt live media", async (t) => {
  const live = await liveRoom();
  const { url, mallory } = live;
  try {
    const offers = [...PUBLISH_FIXTURES, ...PLAY_FIXTURES].map(fixture);

    for (const endpoint of ["whip", "whep"] as const) {
      await t.step(`POST /${endpoint}/live with mutated offers`, async () => {
        let accepted = 0;
        await fc.assert(
          fc.asyncProperty(sdpMutation(offers.length), async (m) => {
            count(`sdp: POST /${endpoint} mutated offer`);
            const body = mutate(offers[m.base], m);
            const res = await authed(`${url}/${endpoint}/live`, mallory, {
              method: "POST",
              headers: SDP,
              body,
            });
            const what = `POST /${endpoint}/live ${preview(body)}`;
            const answer = await expectOkOrProblem(
              res,
              [201],
              what,
              `sdp: POST /${endpoint} mutated offer`,
            );
            if (answer.status === 201) {
              accepted++;
              assert.match(answer.text, /^v=0\r\n/, `${what}: 201 body is an SDP`);
              await cleanup(live, answer.headers.get("Location")!, mallory);
            }
          }),
          params(250),
        );
        console.log(`POST /${endpoint}: ${accepted} mutants accepted (and deleted)`);
        await live.check(`mutated ${endpoint} offers`);
      });
    }

    await t.step(
      "oversized offers (m-lines, candidates, payload types, rids, lines): 4xx",
      async () => {
        const refused = new Map<string, number>();
        await fc.assert(
          fc.asyncProperty(
            fc.constantFrom(...offers.keys()),
            fc.constantFrom("whip", "whep"),
            oversizedShape,
            async (base, endpoint, shape) => {
              count(`sdp: POST /${endpoint} oversized offer`);
              const body = oversizedOffer(offers[base], shape);
              const sessions = live.server.rooms.sessions.size;
              const res = await authed(`${url}/${endpoint}/live`, mallory, {
                method: "POST",
                headers: SDP,
                body,
              });
              const what = `POST /${endpoint}/live ${shape.count} ${shape.kind}`;
              const answer = await expectOkOrProblem(res, [], what);
              assert.ok(answer.status >= 400 && answer.status < 500, `${what}: ${answer.status}`);
              assert.equal(
                live.server.rooms.sessions.size,
                sessions,
                `${what}: a session was made`,
              );
              refused.set(shape.kind, (refused.get(shape.kind) ?? 0) + 1);
            },
          ),
          params(60),
        );
        console.log(`oversized offers refused: ${JSON.stringify(Object.fromEntries(refused))}`);
        await live.check("oversized offers");
      },
    );

    await t.step("PATCH application/sdp (server-offer mode) with mutated answers", async () => {
      // Bases: a real werift answer to a server offer, and a browser-like recvonly SDP.
      const first = await authed(`${url}/whep/live`, mallory, { method: "POST" });
      assert.equal(first.status, 201);
      const bases = [
        await clientAnswer(await first.text()),
        fixture("chromium-play.sdp").replace("a=setup:actpass", "a=setup:active"),
      ];
      await cleanup(live, first.headers.get("Location")!, mallory);
      let accepted = 0;
      await fc.assert(
        fc.asyncProperty(sdpMutation(bases.length), async (m) => {
          count("sdp: PATCH server-offer answer");
          const post = await authed(`${url}/whep/live`, mallory, { method: "POST" });
          await post.body?.cancel();
          assert.equal(post.status, 201, "server-offer POST");
          const location = post.headers.get("Location")!;
          try {
            const body = mutate(bases[m.base], m);
            const res = await authed(new URL(location, url).href, mallory, {
              method: "PATCH",
              headers: SDP,
              body,
            });
            const answer = await expectOkOrProblem(
              res,
              [204],
              `PATCH answer ${preview(body)}`,
              "sdp: PATCH server-offer answer",
            );
            if (answer.status === 204) accepted++;
          } finally {
            await cleanup(live, location, mallory);
          }
        }),
        params(100),
      );
      console.log(`PATCH answers: ${accepted} mutants accepted`);
      await live.check("mutated server-offer answers");
    });

    await t.step("regressions found by fuzzing: a client's bad SDP is a 4xx, not 503", async () => {
      // Minimal inputs from fast-check's shrinking; each got 503 "no free UDP port for media".
      const sctpLine = "m=application 0 UDP/TLS/RTP/SAVPF 0\r\n";
      const mixedEol = mutate(fixture("gstreamer-publish.sdp"), {
        base: 0,
        lines: [],
        eol: ["\r\n", "\n"],
        bytes: [],
      });
      const cases: [string, string, string | Uint8Array<ArrayBuffer>][] = [
        [
          "whip",
          "obs-style-publish.sdp + m=application (werift: sctpRemotePort)",
          fixture("obs-style-publish.sdp") + sctpLine,
        ],
        [
          "whep",
          "chromium-play.sdp + m=application (werift: sctpRemotePort)",
          fixture("chromium-play.sdp") + sctpLine,
        ],
        ["whip", "gstreamer-publish.sdp with CRLF and LF alternating", mixedEol],
        ["whep", "gstreamer-publish.sdp with CRLF and LF alternating", mixedEol],
      ];
      const failures: string[] = [];
      for (const [endpoint, what, body] of cases) {
        count("sdp: regression");
        const res = await authed(`${url}/${endpoint}/live`, mallory, {
          method: "POST",
          headers: SDP,
          body,
        });
        try {
          const answer = await expectOkOrProblem(res, [201], `POST /${endpoint}: ${what}`);
          if (answer.status === 201) await cleanup(live, answer.headers.get("Location")!, mallory);
        } catch (e) {
          failures.push((e as Error).message);
        }
      }
      // PATCH (server-offer mode) with an answer carrying the same extra m-line.
      count("sdp: regression");
      const post = await authed(`${url}/whep/live`, mallory, { method: "POST" });
      assert.equal(post.status, 201);
      const location = post.headers.get("Location")!;
      try {
        const answer = (await clientAnswer(await post.text())) + sctpLine;
        const res = await authed(new URL(location, url).href, mallory, {
          method: "PATCH",
          headers: SDP,
          body: answer,
        });
        await expectOkOrProblem(
          res,
          [204],
          "PATCH answer + m=application (werift: sctpRemotePort)",
        );
      } catch (e) {
        failures.push((e as Error).message);
      } finally {
        await cleanup(live, location, mallory);
      }
      await live.check("SDP regressions");
      assert.deepEqual(failures, [], failures.join("\n"));
    });
  } finally {
    report("sdp:");
    await live.close();
  }
});
