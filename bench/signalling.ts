/**
 * Signalling and keyframe-request latency on loopback, with real werift clients (ICE, DTLS,
 * SRTP over loopback UDP) against a real server started in this same process.
 *
 * Per run, in a fresh room (so runs are independent):
 *
 * 1. **WHIP POST → 201**: ms from the start of a publisher's `fetch` to its response headers
 *    and body read (the offer is created and ICE-gathered before the clock starts).
 * 2. **WHEP POST → 201**: the same for a player's offer, while the publisher is live.
 * 3. **WHEP POST → first keyframe**: ms from the start of the player's `fetch` to the first
 *    VP8 keyframe it receives. The publisher sends 30 fps with a keyframe every 60 frames,
 *    started mid-GOP (`Publisher.start(60, true, 1)`) and answering PLI. The server primes the
 *    player from its keyframe cache as soon as it connects (so no PLI is needed; the output
 *    says how many runs saw one). This measures the answer, ICE, DTLS and the priming.
 *
 * Both sessions are DELETEd and both clients closed after each run. One server serves the whole
 * bench and is shut down at the end.
 *
 * ```sh
 * deno run -A bench/signalling.ts [--runs 20] [--warmup 1] [--settle 500] [--json out.json]
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { RTCPeerConnection } from "werift";
import { testServer } from "../tests/helpers/server.ts";
import { connected, gathered, Player, Publisher } from "../tests/helpers/clients.ts";

/** Runs the signalling bench with the command line `argv`. */
export async function main(argv: string[]): Promise<void> {
  const { values: args } = parseArgs({
    args: argv.filter((a) => a !== "--"),
    options: {
      runs: { type: "string", default: "20" },
      warmup: { type: "string", default: "1" },
      settle: { type: "string", default: "500" },
      json: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });

  if (args.help) {
    console.log(
      "usage: deno run -A bench/signalling.ts [--runs N=20] [--warmup N=1] " +
        "[--settle MS=500] [--json PATH]",
    );
    Deno.exit(0);
  }

  function positiveInt(name: string, value: string, min: number): number {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) {
      console.error(`--${name} must be an integer ≥ ${min}, got ${value}`);
      Deno.exit(2);
    }
    return n;
  }

  const RUNS = positiveInt("runs", args.runs, 1);
  const WARMUP = positiveInt("warmup", args.warmup, 0);
  /** How long the publisher sends before the player POSTs (ms): it is live and mid-GOP. */
  const SETTLE_MS = positiveInt("settle", args.settle, 0);
  const GOP = 60;
  const FPS = 30;
  const KEYFRAME_TIMEOUT_MS = 10_000;

  /** One run's measurements (ms) and what the publisher saw. */
  interface Run {
    whipMs: number;
    whepMs: number;
    keyframeMs: number;
    /** PLIs the publisher received between the player's POST and its first keyframe. */
    plis: number;
    /** Frames until the publisher's next scheduled (non-PLI) keyframe, at the player's POST. */
    framesToNaturalKeyframe: number;
  }

  /** A POST's result: the answer and session URL, and how long the POST took. */
  interface TimedPost {
    ms: number;
    startedAt: number;
    url: string;
  }

  /**
   * Like the helpers' `signal`, but the offer is created and gathered before the clock starts,
   * and the clock stops once the 201's body is read (before the answer is applied).
   */
  async function timedPost(pc: RTCPeerConnection, endpoint: string, token: string) {
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const offer = pc.localDescription!.sdp;
    const startedAt = performance.now();
    const response = await fetch(endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/sdp", "Authorization": `Bearer ${token}` },
      body: offer,
    });
    const body = await response.text();
    const ms = performance.now() - startedAt;
    if (response.status !== 201) throw new Error(`POST ${endpoint} → ${response.status}: ${body}`);
    await pc.setRemoteDescription({ type: "answer", sdp: body });
    const url = new URL(response.headers.get("Location")!, endpoint).href;
    return { ms, startedAt, url } satisfies TimedPost;
  }

  async function del(url: string | undefined, token: string): Promise<void> {
    if (!url) return;
    const res = await fetch(url, {
      method: "DELETE",
      headers: { Authorization: `Bearer ${token}` },
    });
    await res.body?.cancel();
  }

  function waitForKeyframe(player: Player, ms: number): Promise<number> {
    const end = performance.now() + ms;
    return new Promise((resolve, reject) => {
      const poll = () => {
        if (player.firstKeyframeAt !== undefined) return resolve(player.firstKeyframeAt);
        if (performance.now() > end) return reject(new Error("no keyframe in time"));
        setTimeout(poll, 1);
      };
      poll();
    });
  }

  const server = await testServer({ MAX_PARTICIPANTS: "100", MAX_SESSIONS: "1000" });

  async function run(index: number): Promise<Run> {
    const room = `bench-${index}-${crypto.randomUUID().slice(0, 8)}`;
    const host = await server.token("host", room);
    const guest = await server.token("guest", room, "participant");
    const pub = new Publisher();
    const player = new Player();
    let pubUrl: string | undefined;
    let playerUrl: string | undefined;
    try {
      const whip = await timedPost(pub.pc, `${server.url}/whip/${room}`, host);
      pubUrl = whip.url;
      await connected(pub.pc);
      pub.start(GOP, true, 1); // mid-GOP from the first frame: early keyframes come only on PLI
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      const plisBefore = pub.plis;
      const framesToNaturalKeyframe = (GOP - ((pub.sent.frames + 1) % GOP)) % GOP;
      const keyframe = waitForKeyframe(player, KEYFRAME_TIMEOUT_MS);
      const whep = await timedPost(player.pc, `${server.url}/whep/${room}`, guest);
      playerUrl = whep.url;
      const at = await keyframe;
      return {
        whipMs: whip.ms,
        whepMs: whep.ms,
        keyframeMs: at - whep.startedAt,
        plis: pub.plis - plisBefore,
        framesToNaturalKeyframe,
      };
    } finally {
      pub.stop();
      await Promise.allSettled([del(playerUrl, guest), del(pubUrl, host)]);
      await Promise.allSettled([player.close(), pub.close()]);
    }
  }

  /** Percentile by linear interpolation between closest ranks (p50 of an even count: the mean). */
  function percentile(sorted: number[], p: number): number {
    if (sorted.length === 1) return sorted[0];
    const rank = (p / 100) * (sorted.length - 1);
    const lo = Math.floor(rank);
    const hi = Math.ceil(rank);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
  }

  function summary(values: number[]) {
    const s = [...values].sort((a, b) => a - b);
    return {
      median: percentile(s, 50),
      p90: percentile(s, 90),
      min: s[0],
      max: s[s.length - 1],
    };
  }

  function cpuModel(): string | undefined {
    try {
      const info = Deno.readTextFileSync("/proc/cpuinfo");
      return info.match(/^model name\s*:\s*(.+)$/m)?.[1]?.trim();
    } catch {
      return undefined;
    }
  }

  const runs: Run[] = [];
  let exitCode = 0;
  try {
    for (let i = 0; i < WARMUP; i++) await run(-1 - i);
    for (let i = 0; i < RUNS; i++) {
      runs.push(await run(i));
      await Deno.stdout.write(new TextEncoder().encode("."));
    }
    console.log();
  } catch (err) {
    console.error(`\nbench failed: ${err instanceof Error ? err.stack : err}`);
    exitCode = 1;
  } finally {
    await server.shutdown();
  }

  if (exitCode === 0) {
    const metrics = {
      "WHIP POST → 201": summary(runs.map((r) => r.whipMs)),
      "WHEP POST → 201": summary(runs.map((r) => r.whepMs)),
      "WHEP POST → first keyframe": summary(runs.map((r) => r.keyframeMs)),
    };
    const machine = {
      os: `${Deno.build.os} ${Deno.osRelease()} (${Deno.build.arch})`,
      cpus: navigator.hardwareConcurrency,
      cpuModel: cpuModel() ?? "unknown",
      deno: Deno.version.deno,
    };
    const date = new Date().toISOString();
    const withPli = runs.filter((r) => r.plis > 0).length;
    const natural = summary(runs.map((r) => (r.framesToNaturalKeyframe * 1000) / FPS));

    const fmt = (n: number) => n.toFixed(1);
    const rows = Object.entries(metrics).map((
      [name, m],
    ) => [name, fmt(m.median), fmt(m.p90), fmt(m.min), fmt(m.max)]);
    const header = ["metric", "median", "p90", "min", "max"];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (cells: string[]) =>
      "| " + cells.map((c, i) =>
        i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])
      ).join(" | ") +
      " |";

    console.log(
      `signalling bench — ${RUNS} runs (+${WARMUP} warm-up), ms, loopback; ` +
        "server in-process (same Deno process as the werift clients)",
    );
    console.log(`machine: ${machine.os}, ${machine.cpus} CPUs, ${machine.cpuModel}`);
    console.log(`deno ${machine.deno}, date ${date}`);
    console.log(line(header));
    console.log(
      "|" + widths.map((w, i) => "-".repeat(w + 1) + (i === 0 ? "-" : ":")).join("|") + "|",
    );
    for (const r of rows) console.log(line(r));
    console.log(
      `publisher: ${FPS} fps, keyframe every ${GOP} frames, answers PLI; player POSTs ` +
        `${SETTLE_MS} ms after it starts (next scheduled keyframe median ${
          fmt(natural.median)
        } ms ` +
        `later); ${withPli}/${RUNS} runs saw a PLI at the publisher before the first keyframe`,
    );

    if (args.json) {
      await Deno.writeTextFile(
        args.json,
        JSON.stringify(
          {
            date,
            machine,
            serverInProcess: true,
            runs: RUNS,
            warmup: WARMUP,
            settleMs: SETTLE_MS,
            publisher: { fps: FPS, gop: GOP, answerPli: true, firstFrame: 1 },
            unit: "ms",
            metrics,
            runsWithPli: withPli,
            samples: runs,
          },
          null,
          2,
        ) + "\n",
      );
      console.log(`wrote ${args.json}`);
    }
  }

  Deno.exit(exitCode);
}

if (import.meta.main) await main(Deno.args);
