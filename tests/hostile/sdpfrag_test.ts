/**
 * Hostile input, point 2: random `application/trickle-ice-sdpfrag` bodies (random lines,
 * valid-looking candidates with random fields, huge numbers, unknown mids, missing or odd ICE
 * credentials) PATCHed with the right `If-Match`: 204 / 200 or a 4xx with problem details.
 * Most go to a hostile client's own sessions (WHIP and WHEP); trickle-only frags also go to the
 * live publisher's session, which must keep its media flowing.
 */
import assert from "node:assert/strict";
import fc from "npm:fast-check@4.10.2";
import {
  authed,
  cleanup,
  count,
  expectOkOrProblem,
  fixture,
  liveRoom,
  params,
  report,
  sessionId,
} from "./harness.ts";
import { sdpfrag } from "./arbitraries.ts";

const SDPFRAG = "application/trickle-ice-sdpfrag";

Deno.test("hostile sdpfrags: PATCH never gets a 5xx and never hurts live media", async (t) => {
  const live = await liveRoom();
  const { url, mallory, host } = live;
  try {
    // The hostile client's own sessions, from real offers. Their remote peers do not exist, so
    // once trickled candidates and end-of-candidates let ICE fail, a session ends on its own
    // (and is checked to be gone from the server); it is then created again.
    const kinds = [["whip", "chromium-publish.sdp"], ["whep", "chromium-play.sdp"]] as const;
    const create = async (which: number) => {
      const [endpoint, name] = kinds[which];
      const res = await authed(`${url}/${endpoint}/live`, mallory, {
        method: "POST",
        headers: { "Content-Type": "application/sdp" },
        body: fixture(name),
      });
      await res.body?.cancel();
      assert.equal(res.status, 201, `${endpoint} session for the frags`);
      return { location: res.headers.get("Location")!, etag: res.headers.get("ETag")! };
    };
    const own = [await create(0), await create(1)];
    let iceFailures = 0;

    await t.step("random sdpfrags on the hostile client's own sessions", async () => {
      let restarts = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.nat({ max: own.length - 1 }),
          sdpfrag(true),
          fc.oneof(
            { weight: 8, arbitrary: fc.constant("current") },
            { weight: 1, arbitrary: fc.constantFrom("*", '"*"') },
          ),
          async (which, body, match) => {
            count("sdpfrag: PATCH own session");
            const session = own[which];
            const ifMatch = match === "current" ? session.etag : match;
            const res = await authed(new URL(session.location, url).href, mallory, {
              method: "PATCH",
              headers: { "Content-Type": SDPFRAG, "If-Match": ifMatch },
              body,
            });
            const what = `PATCH If-Match ${ifMatch} ${JSON.stringify(body).slice(0, 600)}`;
            const answer = await expectOkOrProblem(
              res,
              [200, 204],
              what,
              "sdpfrag: PATCH own session",
            );
            if (answer.status === 404) {
              assert.equal(
                live.server.rooms.sessions.get(sessionId(session.location)),
                undefined,
                `${what}: 404 for a session that is still live`,
              );
              iceFailures++;
              own[which] = await create(which);
              return;
            }
            if (answer.status === 200) {
              restarts++;
              assert.equal(answer.headers.get("Content-Type"), SDPFRAG, `${what}: 200 type`);
              assert.match(answer.text, /a=ice-ufrag:/, `${what}: 200 body`);
              session.etag = answer.headers.get("ETag")!;
              assert.ok(session.etag, `${what}: 200 ETag`);
            }
          },
        ),
        params(300),
      );
      console.log(
        `sdpfrags: ${restarts} ICE restarts accepted, ${iceFailures} sessions ended by ICE failure`,
      );
    });

    await t.step("random trickle-only sdpfrags on the live publisher's session", async () => {
      await fc.assert(
        fc.asyncProperty(sdpfrag(false), async (body) => {
          count("sdpfrag: PATCH live session (trickle only)");
          const res = await authed(live.pub.session!.url, host, {
            method: "PATCH",
            headers: { "Content-Type": SDPFRAG, "If-Match": live.pub.session!.etag },
            body,
          });
          await expectOkOrProblem(
            res,
            [204],
            `trickle PATCH ${JSON.stringify(body).slice(0, 600)}`,
            "sdpfrag: PATCH live session (trickle only)",
          );
        }),
        params(100),
      );
    });

    for (const session of own) await cleanup(live, session.location, mallory);
    await live.check("random sdpfrags");
  } finally {
    report("sdpfrag:");
    await live.close();
  }
});
