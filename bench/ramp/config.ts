/**
 * The fan-out ramp's command line: its options, their defaults per mode, and the criteria a
 * step must meet.
 *
 * @module
 */
import { parseArgs } from "node:util";

/** The repository's root directory. */
export const REPO: string = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");

/** The player counts of a full ramp. */
export const FULL_STEPS: number[] = [
  10,
  25,
  50,
  100,
  150,
  200,
  300,
  400,
  500,
  650,
  800,
  1000,
  1250,
  1500,
  2000,
];
/** The player counts of `--quick`. */
export const QUICK_STEPS: number[] = [10, 25, 50];

/** `deno task bench -- --help`. */
export const USAGE = `usage: deno task bench [-- options]

  --quick                 10, 25, 50 players, 4 s holds (under two minutes)
  --steps 10,25,50        the player counts to ramp through (default: until it breaks)
  --hold S --settle S     steady hold measured per step, and the wait before it (s)
  --keep-going            do not stop at the first step that fails
  --refine K              then bisect K times (fresh server each) between the last N that held
                          and the first that failed (full 3, quick 0)
  --retries N             measure a failing hold again while other processes were busy on our
                          cores (this machine is shared), at most N times (quick 1, else 2)
  --wait-quiet S          before each hold, wait up to S s (quick 2, else 10) until other
                          processes use < 10 % of the server's core and < 30 % of the load core
  --max-players N         never go beyond N players (default 2000)
  --profile N|auto        instead of a ramp: one step at N players with the server under
                          --cpu-prof, summarised (auto: the largest N that held in the newest
                          bench/results/*-full.json); --profile-hold S (default 20)
  --profile-load DIR      also write CPU profiles of the load processes into DIR
  --per-process N         players per load process (default 1000: the processes all run on the
                          load's core, so each extra one only adds a runtime, a heap and timers)
  --join-concurrency N    joins in flight per load process (default 24)
  --sample-every K        players decrypt one RTP packet in K for the delay (default 20)
  --no-nack               players do not NACK sequence gaps
  --rx-poll-ms MS         how often the FFI receive path polls the players' sockets (default 20:
                          fewer recvmmsg calls, each reading more; arrival times are the kernel's)
  --rx ffi-gro|ffi|dgram  how players read their sockets once connected: libc recvmmsg through
                          FFI with UDP GRO on (default: a segmented send arrives whole, so on
                          loopback the server's core no longer splits it into datagrams and
                          queues each for the players, work a player elsewhere never puts on
                          the server; falls back to dgram when FFI is unavailable), the same
                          without GRO (the figures of 2026-12-04 and before), or node:dgram
  --whip URL --whep URL   target another server (then nothing is started)
  --token T | --publisher-token T --player-token T
  --server-pid PID        that server's process, for CPU/RSS (and pinning unless --no-pin)
  --any-address           let the load use candidates other than 127.0.0.1
  --server-cpus 0 --load-cpus 1 --no-pin
  --server-nice=-10 --publisher-nice=-10 --load-nice=-5 --group-nice=-10
                          priorities (as root): the server and the publisher above the players;
                          and, as Linux groups the tasks of a session (autogroup) and shares
                          the CPU between groups first, this session's group above the other
                          sessions' (restored at the end)
  --record                one recording of the publication running beside the players
                          (RECORDINGS_DIR in a temporary folder; its cost, issue 20)
  --json PATH             result file (default bench/results/<date>-<quick|full|profile>.json)
  --compare PATH          print the change against an earlier result file
`;

/** The criteria a step must meet to "hold". */
export const CRITERIA = { lossPct: 1, delayP99Ms: 50, serverCpuPct: 90 };
/** Above this CPU share of the load processes (all on one core), the load may be what limits. */
export const LOAD_BOUND = 0.85;
/** … or above this event-loop lag p99 of a player process, ms. */
export const LOAD_BOUND_LAG_MS = 50;
/** Other processes using more than this of the server's core (%) make a hold "noisy". */
export const NOISE_SERVER_CORE = 10;
/** … or more than this of the load core (%). */
export const NOISE_LOAD_CORE = 30;

/** A command line that cannot run: the message and the exit code. */
export class UsageError extends Error {
  /** The process exit code (2). */
  readonly code: number;
  /** A usage error with `message`. */
  constructor(message: string, code = 2) {
    super(message);
    this.code = code;
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv.filter((a) => a !== "--"),
    options: {
      quick: { type: "boolean", default: false },
      steps: { type: "string" },
      hold: { type: "string" },
      settle: { type: "string" },
      "keep-going": { type: "boolean", default: false },
      retries: { type: "string" },
      refine: { type: "string" },
      "wait-quiet": { type: "string" },
      "max-players": { type: "string", default: "2000" },
      profile: { type: "string" },
      "profile-hold": { type: "string", default: "20" },
      "profile-dir": { type: "string" },
      "profile-load": { type: "string" },
      "per-process": { type: "string", default: "1000" },
      "sample-every": { type: "string", default: "20" },
      "join-concurrency": { type: "string", default: "24" },
      "no-nack": { type: "boolean", default: false },
      rx: { type: "string", default: "ffi-gro" },
      "rx-poll-ms": { type: "string", default: "20" },
      whip: { type: "string" },
      whep: { type: "string" },
      token: { type: "string" },
      "publisher-token": { type: "string" },
      "player-token": { type: "string" },
      "server-pid": { type: "string" },
      "any-address": { type: "boolean", default: false },
      "server-cpus": { type: "string", default: "0" },
      "load-cpus": { type: "string", default: "1" },
      "no-pin": { type: "boolean", default: false },
      "publisher-nice": { type: "string", default: "-10" },
      "server-nice": { type: "string", default: "-10" },
      "load-nice": { type: "string", default: "-5" },
      "group-nice": { type: "string", default: "-10" },
      json: { type: "string" },
      record: { type: "boolean", default: false },
      compare: { type: "string" },
      "max-minutes": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  }).values;
}

/** The parsed options of the ramp. */
export type RampArgs = ReturnType<typeof parse>;

/** The ramp's settings: the options and what follows from them. */
export interface RampConfig {
  /** The options as given. */
  args: RampArgs;
  /** What runs: a short ramp, a full one, or one profiled step. */
  mode: "quick" | "full" | "profile";
  /** Steady hold measured per step, s. */
  holdS: number;
  /** Wait before each hold, s. */
  settleS: number;
  /** Players per load process. */
  perProcess: number;
  /** Never more players than this. */
  maxPlayers: number;
  /** Another server (`--whip`, `--whep`): nothing is started. */
  external: boolean;
  /** Pin the server and the load to their cores. */
  pin: boolean;
  /** The whole run stops after this many minutes. */
  maxMinutes: number;
  /** A failing hold measured during noise is measured again, at most this many times. */
  retries: number;
  /** Bisection steps after the ramp, between the last N that held and the first that did not. */
  refine: number;
  /** Longest wait before a hold for the other processes on our cores to calm down, s. */
  waitQuietS: number;
  /** The load's cores (taskset list), when pinned. */
  loadCpus?: string;
  /** Whether this process runs as root (negative nice values). */
  isRoot: boolean;
}

/**
 * Parses the command line. Returns undefined for `--help` (after printing the usage); throws
 * {@link UsageError} for options that do not go together.
 */
export function parseRampArgs(argv: string[]): RampConfig | undefined {
  const args = parse(argv);
  if (args.help) {
    console.log(USAGE);
    return undefined;
  }
  const mode: RampConfig["mode"] = args.profile ? "profile" : args.quick ? "quick" : "full";
  const external = args.whip !== undefined || args.whep !== undefined;
  if (external && !(args.whip && args.whep)) throw new UsageError("--whip and --whep go together");
  if (!["ffi", "ffi-gro", "dgram"].includes(args.rx)) {
    throw new UsageError(`--rx is ffi, ffi-gro or dgram, not "${args.rx}"`);
  }
  const pollMs = Number(args["rx-poll-ms"]);
  if (!Number.isInteger(pollMs) || pollMs < 1 || pollMs > 1000) {
    throw new UsageError(
      `--rx-poll-ms is a whole number of ms from 1 to 1000, not "${args["rx-poll-ms"]}"`,
    );
  }
  if (external && mode === "profile") {
    throw new UsageError(
      "--profile profiles this repository's server; it cannot be used with --whip",
    );
  }
  const pin = !args["no-pin"];
  let isRoot = false;
  try {
    isRoot = Deno.uid() === 0;
  } catch {
    // not Linux
  }
  return {
    args,
    mode,
    holdS: Number(
      mode === "profile" ? args["profile-hold"] : args.hold ?? (mode === "quick" ? 4 : 12),
    ),
    settleS: Number(args.settle ?? (mode === "quick" ? 1.5 : 3)),
    perProcess: Math.max(1, Number(args["per-process"])),
    maxPlayers: Number(args["max-players"]),
    external,
    pin,
    maxMinutes: Number(args["max-minutes"] ?? (mode === "quick" ? 2.5 : 45)),
    retries: Number(args.retries ?? (mode === "quick" ? 1 : 2)),
    refine: Number(args.refine ?? (mode === "full" ? 3 : 0)),
    waitQuietS: Number(args["wait-quiet"] ?? (mode === "quick" ? 2 : 10)),
    loadCpus: pin ? args["load-cpus"] : undefined,
    isRoot,
  };
}

/** The player counts to ramp through (`--steps`, or the mode's), at most `--max-players`. */
export function rampSteps(config: RampConfig, profileN: number): number[] {
  const { args, mode } = config;
  return mode === "profile"
    ? [profileN]
    : (args.steps ? args.steps.split(",").map(Number) : mode === "quick" ? QUICK_STEPS : FULL_STEPS)
      .filter((n) => n > 0 && n <= config.maxPlayers);
}
