/**
 * Hostile input, point 3: random JSON (fc.json(), fc.anything() stringified, deep nesting, huge
 * arrays, near-miss valid bodies, broken JSON, odd content types) to `PUT /rooms/{room}`,
 * `POST {session}/events` and `POST {session}/layer`: a success or a 4xx with problem details,
 * every event stream created is deleted, and the live media keeps flowing.
 */
import fc from "npm:fast-check@4.10.2";
import {
  authed,
  count,
  expectOkOrProblem,
  type Live,
  liveRoom,
  params,
  report,
} from "./harness.ts";
import { NASTY, nastyValue } from "./arbitraries.ts";
import assert from "node:assert/strict";

/** JSON-ish bodies: valid JSON of every shape, near misses of the real bodies, broken text. */
function body(nearMiss: fc.Arbitrary<unknown>): fc.Arbitrary<string | Uint8Array<ArrayBuffer>> {
  const number = fc.oneof(
    fc.integer(),
    fc.double(),
    fc.constantFrom(0, -0, -1, 1.5, 10_000, 10_001, 2 ** 53, 1e308, Number.MIN_VALUE),
  );
  return fc.oneof(
    { weight: 3, arbitrary: fc.json() },
    {
      weight: 3,
      arbitrary: fc.anything({ withNullPrototype: true, withObjectString: true }).map((v) =>
        JSON.stringify(v) ?? ""
      ),
    },
    { weight: 4, arbitrary: nearMiss.map((v) => JSON.stringify(v)) },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.integer({ min: 1, max: 30_000 }), fc.boolean()).map(([d, arr]) =>
        arr ? "[".repeat(d) + "]".repeat(d) : '{"a":'.repeat(d) + "1" + "}".repeat(d)
      ),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(
        fc.integer({ min: 1, max: 12_000 }),
        fc.constantFrom("1", '"active"', "{}"),
      )
        .map(([n, item]) => `[${Array(n).fill(item).join(",")}]`),
    },
    { weight: 1, arbitrary: number.map((n) => JSON.stringify({ maxParticipants: n })) },
    {
      weight: 2,
      arbitrary: fc.oneof(
        fc.string(),
        fc.constantFrom(
          "{",
          "[",
          '{"maxParticipants":',
          "\ufeff{}",
          "{}}",
          "nul",
          "1e99999",
          '"\\u',
        ),
        fc.json().map((j) => j.slice(0, Math.max(0, j.length - 1))),
      ),
    },
    {
      weight: 1,
      arbitrary: fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) =>
        new Uint8Array([0x7b, ...b, 0x7d])
      ),
    },
  );
}

const contentType = fc.oneof(
  { weight: 8, arbitrary: fc.constant("application/json") },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "application/json; charset=utf-8",
      "APPLICATION/JSON",
      "application/json;charset=latin1",
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/problem+json",
      "",
    ),
  },
);

/** Runs one property of random bodies against `path`; returns created resources' Locations. */
async function barrage(
  live: Live,
  name: string,
  method: "PUT" | "POST",
  path: string,
  ok: number[],
  nearMiss: fc.Arbitrary<unknown>,
  runs: number,
  onCreated?: (location: string) => Promise<void>,
): Promise<void> {
  await fc.assert(
    fc.asyncProperty(body(nearMiss), contentType, async (text, type) => {
      count(name);
      const headers: Record<string, string> = type ? { "Content-Type": type } : {};
      const res = await authed(`${live.url}${path}`, live.host, { method, headers, body: text });
      const shown = typeof text === "string" ? text.slice(0, 300) : `bytes ${text}`;
      const answer = await expectOkOrProblem(
        res,
        ok,
        `${method} ${path} (${type}) ${JSON.stringify(shown)}`,
        name,
      );
      if (answer.status === 201 && onCreated) {
        await onCreated(answer.headers.get("Location")!);
      }
    }),
    params(runs),
  );
}

Deno.test("hostile JSON: room settings, WHEP events and layer bodies never get a 5xx", async (t) => {
  const live = await liveRoom();
  try {
    const player = new URL(live.player.session!.url).pathname;

    await t.step("PUT /rooms/live", async () => {
      await barrage(
        live,
        "json: PUT /rooms/live",
        "PUT",
        "/rooms/live",
        [200, 201],
        fc.dictionary(
          fc.constantFrom("maxParticipants", "maxparticipants", "__proto__", "constructor", "x"),
          fc.oneof(fc.integer({ min: -5, max: 20_000 }), nastyValue, fc.anything()),
          { maxKeys: 3 },
        ),
        200,
      );
      // Put the room back as it was for the other steps.
      const res = await authed(`${live.url}/rooms/live`, live.host, {
        method: "PUT",
        headers: { "Content-Type": "application/json" },
        body: '{"maxParticipants": 1000}',
      });
      assert.equal(res.status, 200, await res.text());
      await live.check("random JSON on PUT /rooms/live");
    });

    await t.step(`POST {player session}/events`, async () => {
      let created = 0;
      await barrage(
        live,
        "json: POST session/events",
        "POST",
        `${player}/events`,
        [201],
        fc.array(
          fc.oneof(
            fc.constantFrom("active", "inactive", "layers", "viewercount", "reconnect"),
            fc.constantFrom(...NASTY),
            fc.anything(),
          ),
          { maxLength: 6 },
        ),
        200,
        async (location) => {
          created++;
          const res = await authed(new URL(location, live.url).href, live.host, {
            method: "DELETE",
          });
          assert.equal(res.status, 200, `DELETE ${location}: ${await res.text()}`);
        },
      );
      console.log(`events: ${created} streams created (and deleted)`);
      await live.check("random JSON on POST …/events");
    });

    await t.step(`POST {player session}/layer`, async () => {
      await barrage(
        live,
        "json: POST session/layer",
        "POST",
        `${player}/layer`,
        [200],
        fc.record({
          mediaId: fc.oneof(fc.string(), fc.integer(), fc.anything()),
          rid: fc.oneof(fc.constantFrom("", "0", "h", "q"), nastyValue, fc.anything()),
          encodingId: fc.oneof(fc.constantFrom("", "0", "h"), nastyValue, fc.anything()),
        }, { requiredKeys: [] }),
        200,
      );
      // Back to automatic layer choice.
      const res = await authed(`${live.url}${player}/layer`, live.host, { method: "POST" });
      assert.equal(res.status, 200, await res.text());
      await live.check("random JSON on POST …/layer");
    });
  } finally {
    report("json:");
    await live.close();
  }
});
