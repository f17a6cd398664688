/**
 * Time to first picture in a real browser: a Chromium publisher (fake camera, VP8, 640×360) →
 * the server → a Chromium player over loopback, N runs, each from the player's start (before
 * its connection is made: gathering, POST, ICE, DTLS, first keyframe) to its first decoded
 * frame (getStats `framesDecoded` > 0), with where the time went: the player's marks (POST sent,
 * 201 received, connected) and the server's first-frame trace (src/media/trace.ts: first STUN
 * check, the check that nominates, ICE connected, each DTLS flight, SRTP keys ready, first RTP
 * sent), all on one wall clock. The server runs in this process with the trace's sink set here;
 * `--env K=V` passes a variable to it (e.g. `--env ICE_TRANSPORTS=udp` for full ICE).
 *
 * ```sh
 * deno task bench:first-frame [--runs 20] [--env K=V]... [--json out.json]
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { testServer } from "../tests/helpers/server.ts";
import { launch, rtp, until } from "../tests/browser/browser.ts";
import { HEIGHT, ingested, MIME, PUBLISH, run, WIDTH } from "../tests/browser/late-joiner.ts";
import { type TraceEvent, traceTo } from "../src/media/trace.ts";
import { PLAY_TIMED, type PlayerMarks, STOP } from "./first-frame/page.ts";
import { breakdown, COLUMNS, quantile, type Row } from "./first-frame/breakdown.ts";

/** Runs the bench with the command line `argv`. */
export async function main(argv: string[]): Promise<void> {
  const { values: args } = parseArgs({
    args: argv.filter((a) => a !== "--"),
    options: {
      runs: { type: "string", default: "20" },
      env: { type: "string", multiple: true, default: [] },
      json: { type: "string" },
      quiet: { type: "boolean", default: false },
    },
  });
  const runs = Math.max(1, Number(args.runs) || 20);
  const env = Object.fromEntries(args.env.map((kv) => kv.split("=", 2) as [string, string]));
  const events: TraceEvent[] = [];
  traceTo((e) => events.push(e));
  const server = await testServer(env);
  const chromium = await launch();
  const rows: Row[] = [];
  try {
    const publisher = await chromium.page({ width: 640, height: 480 });
    await publisher.goto(`${server.url}/`);
    await run(publisher, PUBLISH, {
      endpoint: "/whip/ff",
      token: await server.token("camera", "ff", "host"),
      width: WIDTH,
      height: HEIGHT,
      mime: MIME.vp8,
    });
    await until(
      async () => {
        const v = (await rtp(publisher, "outbound")).find((s) => s.kind === "video");
        return v?.frameWidth ? v : undefined;
      },
      "the publisher's first encoded frames",
      30_000,
    );
    await until(() => ingested(server, "ff") > 0, "the server receives the publisher", 20_000);
    await new Promise((r) => setTimeout(r, 1000));
    for (let i = 0; i < runs; i++) {
      const player = await chromium.page();
      await player.goto(`${server.url}/`);
      await player.bringToFront(); // a background tab is throttled
      events.length = 0;
      const marks = await run<PlayerMarks>(player, PLAY_TIMED, {
        endpoint: "/whep/ff",
        token: await server.token(`viewer-${i}`, "ff", "participant"),
        give: 10_000,
      });
      const mine = events.filter((e) => e.tag === "whep" && e.t >= marks.start);
      const row = breakdown(marks, mine);
      rows.push(row);
      if (!args.quiet) console.log(`run ${i + 1}: ${describe(row)}`);
      await run(player, STOP, {}).catch(() => {});
      await player.close();
      await new Promise((r) => setTimeout(r, 300));
    }
    await publisher.close();
  } finally {
    traceTo(undefined);
    await chromium.close();
    await server.shutdown();
  }
  const machine = `${navigator.hardwareConcurrency} × ${cpuModel()}, Deno ${Deno.version.deno}`;
  console.log(`\nfirst frame, Chromium → server → Chromium, loopback, ${runs} runs (${machine})`);
  console.log(`ms from the player's start; env: ${JSON.stringify(env)}`);
  console.log("| step | median | p90 |");
  console.log("|---|---:|---:|");
  for (const [key, label] of COLUMNS) {
    const values = rows.map((r) => r[key]).filter((v): v is number => v !== undefined);
    if (values.length === 0) continue;
    console.log(
      `| ${label} | ${quantile(values, 0.5).toFixed(1)} | ${quantile(values, 0.9).toFixed(1)} |`,
    );
  }
  if (args.json) await Deno.writeTextFile(args.json, JSON.stringify({ env, rows }, null, 1));
  Deno.exit(0);
}

function describe(row: Row): string {
  return COLUMNS.filter(([k]) => row[k] !== undefined).map(([k]) => `${k} ${row[k]!.toFixed(0)}`)
    .join(", ");
}

function cpuModel(): string {
  try {
    const info = Deno.readTextFileSync("/proc/cpuinfo");
    return /model name\s*:\s*(.*)/.exec(info)?.[1]?.trim() ?? "?";
  } catch {
    return "?";
  }
}

if (import.meta.main) await main(Deno.args);
