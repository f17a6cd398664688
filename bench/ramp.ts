/**
 * The fan-out ramp: one WHIP publisher and N WHEP players, N growing step by step until the
 * server breaks, measuring each step during a steady hold. bench/README.md explains the method.
 *
 * ```sh
 * deno task bench -- --quick                 # 10, 25, 50 players, short holds (< 2 min)
 * deno task bench                            # 10, 25, 50, 100, 150, 200, 300, … until it breaks
 * deno task bench -- --profile 100           # CPU profile of the server at 100 players
 * deno task bench -- --whip URL --whep URL --token T   # any WHIP/WHEP server
 * ```
 *
 * By default it starts this repository's server as its own process (the flags of
 * `deno task start`, a free port, a fixed JWT secret, high limits, `ICE_LOOPBACK=true`,
 * `LOG_LEVEL=warn`), pins every thread of it to core 0 (at nice −10), and runs the publisher
 * (nice −10), the player processes (`--per-process` players each, nice −5) and this process on
 * core 1. All traffic is on 127.0.0.1.
 *
 * @module
 */
import { formatSummary, type ProfileSummary, summarise } from "./profile.ts";
import { hasCommand, machine, pinAllThreads, threadAffinity } from "./load/proc.ts";
import { NOMINAL_PPS, STREAM, unrefTimer } from "./load/common.ts";
import { raiseAutogroup, restoreAutogroup } from "./ramp/autogroup.ts";
import {
  CRITERIA,
  NOISE_LOAD_CORE,
  NOISE_SERVER_CORE,
  parseRampArgs,
  type RampConfig,
  rampSteps,
  REPO,
  UsageError,
} from "./ramp/config.ts";
import { compare, table } from "./ramp/report.ts";
import { RampSession } from "./ramp/session.ts";
import type { StepResult } from "./ramp/types.ts";

/** Where the result file goes: `--json`, or bench/results/<date>-<mode>.json. */
function resultPath(config: RampConfig, profileN: number): string {
  const { args, mode } = config;
  if (args.json) return args.json;
  const date = new Date().toISOString().slice(0, 10);
  const suffix = mode === "profile" ? `profile-${profileN}` : mode;
  return `${REPO}/bench/results/${date}-${suffix}.json`;
}

/** The largest N that held in the newest bench/results/*-full.json (`--profile auto`). */
function largestHeldFromResults(): number {
  const dir = `${REPO}/bench/results`;
  const files = [...Deno.readDirSync(dir)].map((e) => e.name).filter((f) =>
    f.endsWith("-full.json")
  )
    .sort();
  if (files.length === 0) throw new Error("--profile auto: no bench/results/*-full.json yet");
  const data = JSON.parse(Deno.readTextFileSync(`${dir}/${files[files.length - 1]}`));
  if (!data.largestHeld) throw new Error(`--profile auto: no step held in ${files.at(-1)}`);
  return data.largestHeld;
}

async function main(session: RampSession, steps: number[], profileN: number): Promise<number> {
  const config = session.config;
  const { args, mode } = config;
  const started = new Date();
  if (config.pin && !(await hasCommand("taskset"))) {
    throw new Error("taskset (util-linux) is not installed: install it or pass --no-pin");
  }
  if (config.external && args["server-pid"] && config.pin) {
    await pinAllThreads(Number(args["server-pid"]), args["server-cpus"]);
    console.log(
      `server pid ${args["server-pid"]} pinned to ${threadAffinity(Number(args["server-pid"]))}`,
    );
  }
  if (config.pin) await pinAllThreads(Deno.pid, args["load-cpus"]); // this process is load too
  if (config.isRoot && Number(args["group-nice"]) !== 0) raiseAutogroup(Number(args["group-nice"]));
  const profileDir = mode === "profile" && !config.external
    ? args["profile-dir"] ?? await Deno.makeTempDir({ prefix: "sfu-profile-" })
    : undefined;
  let pub = await session.startSession(profileDir);
  const results: StepResult[] = [];
  let window: [number, number] | undefined;
  let lastHeld: number | undefined;
  let firstFailed: number | undefined;
  for (const n of steps) {
    if (session.interrupted) break;
    const s = await session.step(n, pub);
    results.push(s.r);
    window = s.window;
    if (s.r.holds) lastHeld = n;
    else if (firstFailed === undefined) firstFailed = n;
    if (!s.r.holds && !args["keep-going"] && mode !== "profile") break;
  }

  // the steps are coarse: bisect between the last step that held and the first that did not,
  // each on a fresh server (a saturated one may not recover)
  let lo = lastHeld ?? 0, hi = firstFailed;
  for (
    let i = 0;
    i < config.refine && hi !== undefined && !session.interrupted && mode !== "profile";
    i++
  ) {
    let mid = Math.round((lo + hi) / 2 / 5) * 5; // round numbers when they fall between
    if (mid <= lo || mid >= hi) mid = Math.round((lo + hi) / 2);
    if (mid <= lo || mid >= hi) break;
    console.log(`refining between ${lo} and ${hi}: a fresh server and ${mid} players`);
    await session.stopSession();
    pub = await session.startSession();
    const s = await session.step(mid, pub);
    s.r.refinement = true;
    results.push(s.r);
    if (s.r.holds) lo = mid;
    else hi = mid;
  }

  let profile: ProfileSummary | undefined;
  const server = session.server;
  if (mode === "profile" && server && window && results.length) {
    // the profile is written when the server exits cleanly (SIGTERM → shutdown → exit 0)
    const r = results[0];
    const stopped = performance.now();
    await server.child.terminate("SIGTERM", 20_000);
    const status = await server.child.status;
    console.log(
      `server exited with ${status.code}${status.signal ? " (" + status.signal + ")" : ""} ` +
        `${((performance.now() - stopped) / 1000).toFixed(1)} s after SIGTERM`,
    );
    const file = `${profileDir}/server.cpuprofile`;
    let text: string | undefined;
    try {
      text = await Deno.readTextFile(file);
    } catch {
      console.error(`no profile at ${file}: the server did not write it on exit`);
    }
    if (text) {
      profile = summarise(JSON.parse(text), {
        windowSeconds: window,
        packets: r.server.sentPackets ?? r.delivery.receivedPackets,
        processCpuSeconds: r.server.cpuPct === undefined
          ? undefined
          : (r.server.cpuPct / 100) * r.holdSeconds,
      });
      profile.file = file;
      console.log(`\nprofile: ${file}`);
      console.log(formatSummary(profile));
    }
  }

  const argv = session.server?.argv;
  await session.stopSession();
  session.server = undefined;
  restoreAutogroup();

  results.sort((x, y) => x.n - y.n);
  const held = results.filter((r) => r.holds && !r.loadBound);
  const largestHeld = held.length ? Math.max(...held.map((r) => r.n)) : undefined;
  console.log(
    `\n${mode} ramp, ${config.holdS} s holds, ${
      config.external ? args.whep : "this server (deno task start flags)"
    }; ${started.toISOString()}`,
  );
  const m = machine();
  console.log(`machine: ${m.cpus} × ${m.cpuModel}, ${m.os}, Deno ${m.deno}`);
  console.log(table(results));
  console.log(
    largestHeld === undefined
      ? "no step held (loss < 1 %, p99 delay < 50 ms, server CPU < 90 %)"
      : `largest N that holds loss < ${CRITERIA.lossPct} %, p99 delay < ${CRITERIA.delayP99Ms} ms ` +
        `and server CPU < ${CRITERIA.serverCpuPct} %: ${largestHeld}`,
  );
  if (args.compare) console.log(compare(results, args.compare));

  const out = resultPath(config, profileN);
  await Deno.mkdir(out.slice(0, out.lastIndexOf("/")), { recursive: true });
  await Deno.writeTextFile(
    out,
    JSON.stringify(
      {
        date: started.toISOString(),
        mode,
        command: ["deno", "run", "-A", "bench/ramp.ts", ...Deno.args.filter((a) => a !== "--")],
        machine: m,
        target: config.external
          ? { whip: args.whip, whep: args.whep }
          : { server: "this repository", argv },
        pinning: config.pin ? { server: args["server-cpus"], load: args["load-cpus"] } : null,
        nice: {
          sessionGroup: config.isRoot ? Number(args["group-nice"]) : 0,
          server: session.niceValue("server-nice"),
          publisher: session.niceValue("publisher-nice"),
          players: session.niceValue("load-nice"),
        },
        stream: { ...STREAM, nominalPps: NOMINAL_PPS },
        method: {
          holdSeconds: config.holdS,
          settleSeconds: config.settleS,
          perProcess: config.perProcess,
          sampleEvery: Number(args["sample-every"]),
          rx: args.rx,
          nack: !args["no-nack"],
          criteria: CRITERIA,
          noise: {
            serverCorePct: NOISE_SERVER_CORE,
            loadCorePct: NOISE_LOAD_CORE,
            retries: config.retries,
          },
        },
        largestHeld,
        steps: results,
        profile,
      },
      null,
      2,
    ) + "\n",
  );
  console.log(`wrote ${out.replace(REPO + "/", "")}`);
  return results.length ? 0 : 1;
}

/** Runs the ramp with the command line `argv`; returns the exit code. */
export async function run(argv: string[]): Promise<number> {
  let config: RampConfig | undefined;
  try {
    config = parseRampArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(e.message);
    return e.code;
  }
  if (!config) return 0;
  const session = new RampSession(config);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => {
      if (session.interrupted) {
        session.killEverything();
        Deno.exit(130);
      }
      session.interrupted = true;
      console.error(`\n${signal}: stopping the load and the server…`);
      session.cleanUp().finally(() => Deno.exit(130));
    });
  }
  const watchdog = setTimeout(() => {
    console.error(`the bench ran over its ${config.maxMinutes} min limit: stopping`);
    session.interrupted = true;
    session.cleanUp().finally(() => Deno.exit(4));
  }, config.maxMinutes * 60_000);
  unrefTimer(watchdog);

  const profileN = config.mode === "profile"
    ? (config.args.profile === "auto" ? largestHeldFromResults() : Number(config.args.profile))
    : 0;
  if (config.mode === "profile" && !(profileN > 0)) {
    console.error("--profile needs a player count (or auto)");
    return 2;
  }
  const steps = rampSteps(config, profileN);

  let code = 1;
  try {
    code = await main(session, steps, profileN);
  } catch (e) {
    console.error(`bench failed: ${e instanceof Error ? e.stack : e}`);
    for (const c of session.children) {
      if (c.tail.length) console.error(c.tail.slice(-10).join("\n"));
    }
    if (session.server?.child.tail.length) {
      console.error(session.server.child.tail.slice(-10).join("\n"));
    }
    await session.cleanUp();
  }
  return code;
}

if (import.meta.main) Deno.exit(await run(Deno.args));
