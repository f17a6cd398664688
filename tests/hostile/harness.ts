/**
 * Shared harness of the hostile-input suite: one real server per test file with a live
 * publisher and a live player in the room `live` (media must keep flowing throughout), the
 * assertion that an answer is a success or a 4xx with RFC 9457 problem details, a recorder of
 * unhandled rejections and uncaught errors, fast-check settings and the case counters.
 *
 * Knobs: `HOSTILE_SEED=<n>` replays a run (default: a fixed seed, so CI is deterministic;
 * `HOSTILE_SEED=random` explores), `HOSTILE_SCALE=<x>` multiplies every property's run count.
 *
 * @module
 */
import assert from "node:assert/strict";
import type fc from "npm:fast-check@4.10.2";
import { type TestServer, testServer } from "../helpers/server.ts";
import { Player, Publisher, until } from "../helpers/clients.ts";

export { until };

/** A fixture of `tests/fixtures/` as text. */
export const fixture = (name: string): string =>
  Deno.readTextFileSync(new URL(`../fixtures/${name}`, import.meta.url));

/** The publishing (sendonly) offers of the fixtures. */
export const PUBLISH_FIXTURES = [
  "chromium-publish.sdp",
  "chromium-publish-lf.sdp",
  "gstreamer-publish.sdp",
  "libdatachannel-publish.sdp",
  "libwebrtc-m106-publish.sdp",
  "obs-style-publish.sdp",
  "pion-publish.sdp",
];
/** The playing (recvonly) offers of the fixtures. */
export const PLAY_FIXTURES = [
  "chromium-play.sdp",
  "gstreamer-play.sdp",
  "libdatachannel-play.sdp",
  "libwebrtc-m106-play.sdp",
  "pion-play.sdp",
];

// ---------------------------------------------------------------------------------------------
// Faults: unhandled rejections and uncaught errors anywhere in the process (the server runs
// in-process, so a crash of its media plane lands here instead of killing the run silently).

/** Every unhandled rejection / uncaught error seen since the module loaded. */
export const faults: string[] = [];

function describe(reason: unknown): string {
  return reason instanceof Error ? reason.stack ?? reason.message : String(reason);
}

globalThis.addEventListener("unhandledrejection", (e) => {
  e.preventDefault();
  faults.push(`unhandled rejection: ${describe(e.reason)}`);
});
globalThis.addEventListener("error", (e) => {
  e.preventDefault();
  faults.push(`uncaught error: ${describe(e.error ?? e.message)}`);
});

/** Asserts that nothing was rejected unhandled or thrown uncaught so far. */
export function assertNoFaults(): void {
  assert.deepEqual(faults, [], `unhandled rejections / uncaught errors:\n${faults.join("\n")}`);
}

// ---------------------------------------------------------------------------------------------
// fast-check settings and counters.

const seedVar = Deno.env.get("HOSTILE_SEED");
/** The seed of every property of this run. */
export const SEED = seedVar === "random"
  ? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0
  : Number(seedVar ?? 20251) | 0;
const SCALE = Number(Deno.env.get("HOSTILE_SCALE") ?? "1");

/** fast-check parameters for `runs` runs (scaled by HOSTILE_SCALE), with this run's seed. */
export function params<T>(runs: number): fc.Parameters<T> {
  return { numRuns: Math.max(1, Math.round(runs * SCALE)), seed: SEED, endOnFailure: false };
}

const counts = new Map<string, number>();
const outcomes = new Map<string, Map<string, number>>();

/** Counts one hostile case of the property `name`. */
export function count(name: string): void {
  counts.set(name, (counts.get(name) ?? 0) + 1);
}

/** Tallies the outcome (e.g. an HTTP status) of a case of the property `name`. */
export function outcome(name: string, what: string | number): void {
  const tally = outcomes.get(name) ?? new Map<string, number>();
  tally.set(String(what), (tally.get(String(what)) ?? 0) + 1);
  outcomes.set(name, tally);
}

/** Prints the cases of the properties named with `prefix`, and the total of the whole run. */
export function report(prefix: string): void {
  let mine = 0;
  const lines: string[] = [];
  for (const [name, n] of counts) {
    if (!name.startsWith(prefix)) continue;
    mine += n;
    const tally = [...(outcomes.get(name) ?? [])].sort().map(([k, v]) => `${k}×${v}`).join(" ");
    lines.push(`  ${name}: ${n}${tally ? ` (${tally})` : ""}`);
  }
  // Test modules may run in separate isolates of one process: the environment is what they
  // share, so the running total of the whole `deno test` run is kept there.
  const total = Number(Deno.env.get("HOSTILE_CASES_TOTAL") ?? "0") + mine;
  Deno.env.set("HOSTILE_CASES_TOTAL", String(total));
  console.log(
    `hostile cases (${prefix}): ${mine}, seed ${SEED}\n${lines.join("\n")}\n` +
      `hostile cases so far in this run: ${total}`,
  );
}

// ---------------------------------------------------------------------------------------------
// HTTP.

/** fetch with a deadline (a hang fails the case instead of the whole run). */
export async function send(
  url: string,
  init: RequestInit & { headers?: Record<string, string> } = {},
  ms = 10_000,
): Promise<Response> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), ms);
  try {
    return await fetch(url, { ...init, signal: abort.signal });
  } catch (e) {
    if (abort.signal.aborted) {
      throw new Error(`${init.method ?? "GET"} ${url} did not answer within ${ms} ms (hang)`);
    }
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/** The same, with `Authorization: Bearer token` when a token is given. */
export function authed(
  url: string,
  token: string | undefined,
  init: RequestInit & { headers?: Record<string, string> } = {},
  ms?: number,
): Promise<Response> {
  const headers: Record<string, string> = { ...init.headers };
  if (token !== undefined) headers.Authorization = `Bearer ${token}`;
  return send(url, { ...init, headers }, ms);
}

/** A response read whole. */
export interface Answer {
  /** HTTP status. */
  status: number;
  /** Headers. */
  headers: Headers;
  /** Body text. */
  text: string;
  /** Parsed problem details, for a 4xx. */
  problem?: { type?: string; title?: string; status: number; detail: string };
}

/**
 * Reads `res` and asserts it is one of `ok`, or a 4xx with `application/problem+json`, a JSON
 * body with `status` (equal to the HTTP status) and a string `detail`, no stack trace, and
 * `WWW-Authenticate: Bearer` on a 401. Never a 5xx.
 */
export async function expectOkOrProblem(
  res: Response,
  ok: number[],
  what: string,
  tally?: string,
): Promise<Answer> {
  const text = await res.text();
  if (tally) outcome(tally, res.status);
  const answer: Answer = { status: res.status, headers: res.headers, text };
  if (ok.includes(res.status)) return answer;
  const shown = text.length > 300 ? `${text.slice(0, 300)}…` : text;
  assert.ok(
    res.status >= 400 && res.status < 500,
    `${what}: expected ${ok.join("/")} or a 4xx problem, got ${res.status}: ${shown}`,
  );
  assert.equal(
    res.headers.get("Content-Type"),
    "application/problem+json",
    `${what}: ${res.status} without problem details: ${shown}`,
  );
  let body: Answer["problem"];
  try {
    body = JSON.parse(text);
  } catch {
    assert.fail(`${what}: ${res.status} problem body is not JSON: ${shown}`);
  }
  assert.equal(body!.status, res.status, `${what}: problem status: ${shown}`);
  assert.equal(typeof body!.detail, "string", `${what}: problem detail: ${shown}`);
  assert.ok(
    typeof body!.type === "string" || typeof body!.title === "string",
    `${what}: problem type/title: ${shown}`,
  );
  assert.ok(!/\bat .*\.(ts|js|mjs):\d+/.test(text), `${what}: stack trace in the body: ${shown}`);
  if (res.status === 401) {
    assert.match(res.headers.get("WWW-Authenticate") ?? "", /^Bearer/, `${what}: 401 challenge`);
  }
  answer.problem = body;
  return answer;
}

// ---------------------------------------------------------------------------------------------
// The live room.

/** A server with a live publisher and player in a room (`live` unless made by `fresh`). */
export interface Live {
  /** The server (in-process). */
  server: TestServer;
  /** Its base URL. */
  url: string;
  /** The live room's name. */
  room: string;
  /** The host's token of the room (sub `host`). */
  host: string;
  /** A participant token of the room (sub `mallory`): the hostile client's identity. */
  mallory: string;
  /** The live publisher (host), sending VP8 + Opus at 30 fps. */
  pub: Publisher;
  /** The live player (host), counting what it receives. */
  player: Player;
  /** Live sessions once both were up: every barrage must come back to this. */
  baselineSessions: number;
  /** Open rooms once both were up. */
  baselineRooms: number;
  /**
   * Asserts the live media still flows (the player's video and audio counts rise), both live
   * sessions are still there, `/healthz` answers, the session and room counts are back at
   * their baselines, and no fault was recorded.
   */
  check(what: string): Promise<void>;
  /**
   * A new live publisher and player in another room of the same server (so that one step's
   * damage cannot hide the next step's result). Close it before the next one.
   */
  fresh(room: string): Promise<Live>;
  /** Ends the live sessions and closes the clients (and, for `liveRoom`, the server). */
  close(): Promise<void>;
}

/** Starts a server (`env` overrides) and brings the live publisher and player up. */
export async function liveRoom(env: Record<string, string> = {}): Promise<Live> {
  const server = await testServer({ MAX_PARTICIPANTS: "1000", ...env });
  return await livePair(server, "live", true); // shuts the server down if it fails
}

async function livePair(server: TestServer, room: string, ownsServer: boolean): Promise<Live> {
  const url = server.url;
  const pub = new Publisher();
  const player = new Player();
  const host = await server.token("host", room);
  const close = async () => {
    pub.stop();
    for (const session of [player.session, pub.session]) {
      if (!session) continue;
      const res = await send(session.url, {
        method: "DELETE",
        headers: { Authorization: `Bearer ${host}` },
      }).catch(() => undefined);
      await res?.body?.cancel();
    }
    await pub.close().catch(() => {});
    await player.close().catch(() => {});
    if (ownsServer) await server.shutdown();
    else {
      const res = await send(`${url}/rooms/${room}`, {
        method: "DELETE",
        headers: { Authorization: `Bearer ${host}` },
      }).catch(() => undefined);
      await res?.body?.cancel();
    }
  };
  try {
    const mallory = await server.token("mallory", room, "participant");
    await pub.publish(`${url}/whip/${room}`, host);
    pub.start(30);
    await player.play(`${url}/whep/${room}`, host);
    await player.nextKeyframe();
    const ids = [pub.session!.url, player.session!.url].map((u) => u.split("/").pop()!);
    const baselineSessions = server.rooms.sessions.size;
    const baselineRooms = server.rooms.size;
    const check = async (what: string) => {
      assertNoFaults();
      const before = { ...player.received };
      await until(
        () =>
          player.received.video > before.video + 30 && player.received.audio > before.audio + 10,
        `live media to keep flowing after ${what} (video ${before.video}→${player.received.video}, ` +
          `audio ${before.audio}→${player.received.audio})`,
        5000,
      );
      for (const id of ids) {
        assert.ok(server.rooms.sessions.get(id), `${what}: a live session was ended`);
      }
      const health = await send(`${url}/healthz`);
      assert.equal(health.status, 200, `${what}: /healthz`);
      assert.equal((await health.json()).status, "ok");
      await until(
        () => server.rooms.sessions.size === baselineSessions,
        `${what}: sessions back at ${baselineSessions} (now ${server.rooms.sessions.size})`,
        5000,
      );
      assert.equal(server.rooms.size, baselineRooms, `${what}: rooms back at the baseline`);
      assertNoFaults();
    };
    return {
      server,
      url,
      room,
      host,
      mallory,
      pub,
      player,
      baselineSessions,
      baselineRooms,
      check,
      fresh: (other) => livePair(server, other, false),
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/** The session id of a `Location` (absolute path or URL). */
export function sessionId(location: string): string {
  return location.split("/").pop()!;
}

/**
 * DELETEs a session created by a hostile case: 200, or 404 when the session already ended on
 * its own (e.g. ICE failed at once on an answer without usable candidates) and is gone from the
 * server's store.
 */
export async function cleanup(live: Live, location: string, token: string): Promise<void> {
  const res = await authed(new URL(location, live.url).href, token, { method: "DELETE" });
  const text = await res.text();
  if (res.status === 404 && !live.server.rooms.sessions.get(sessionId(location))) return;
  assert.equal(res.status, 200, `cleanup DELETE ${location}: ${res.status} ${text}`);
}
