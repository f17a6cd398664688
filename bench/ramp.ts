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
import { parseArgs } from "node:util";
import { mintToken } from "../src/auth/tokens.ts";
import { lagQuantile, type LagSnapshot } from "../src/metrics/loop-lag.ts";
import { Child } from "./load/child.ts";
import { NOMINAL_PPS, percentile, sleep, STREAM, unrefTimer } from "./load/common.ts";
import {
  coreBusy,
  type CoreTime,
  coreTimes,
  cpuSeconds,
  hasCommand,
  machine,
  pinAllThreads,
  rssBytes,
  threadAffinity,
  threadCount,
  uptimeSeconds,
} from "./load/proc.ts";
import { BENCH_SECRET, type BenchServer, startServer } from "./load/server.ts";
import { formatSummary, type ProfileSummary, summarise } from "./profile.ts";

const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const FULL_STEPS = [10, 25, 50, 100, 150, 200, 300, 400, 500, 650, 800, 1000, 1250, 1500, 2000];
const QUICK_STEPS = [10, 25, 50];

const USAGE = `usage: deno task bench [-- options]

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
  --per-process N         players per load process (default 50)
  --sample-every K        players decrypt one RTP packet in K for the delay (default 20)
  --no-nack               players do not NACK sequence gaps
  --rx ffi|dgram          how players read their sockets once connected: libc recvmmsg through
                          FFI (default; falls back to dgram when FFI is unavailable) or node:dgram
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
  --json PATH             result file (default bench/results/<date>-<quick|full|profile>.json)
  --compare PATH          print the change against an earlier result file
`;

const { values: args } = parseArgs({
  args: Deno.args.filter((a) => a !== "--"),
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
    "per-process": { type: "string", default: "50" },
    "sample-every": { type: "string", default: "20" },
    "join-concurrency": { type: "string", default: "6" },
    "no-nack": { type: "boolean", default: false },
    rx: { type: "string", default: "ffi" },
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
    compare: { type: "string" },
    "max-minutes": { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (args.help) {
  console.log(USAGE);
  Deno.exit(0);
}

const mode: "quick" | "full" | "profile" = args.profile ? "profile" : args.quick ? "quick" : "full";
const HOLD_S = Number(
  mode === "profile" ? args["profile-hold"] : args.hold ?? (mode === "quick" ? 4 : 12),
);
const SETTLE_S = Number(args.settle ?? (mode === "quick" ? 1.5 : 3));
const PER_PROCESS = Math.max(1, Number(args["per-process"]));
const MAX_PLAYERS = Number(args["max-players"]);
const EXTERNAL = args.whip !== undefined || args.whep !== undefined;
if (EXTERNAL && !(args.whip && args.whep)) {
  console.error("--whip and --whep go together");
  Deno.exit(2);
}
if (EXTERNAL && mode === "profile") {
  console.error("--profile profiles this repository's server; it cannot be used with --whip");
  Deno.exit(2);
}
const PIN = !args["no-pin"];
const MAX_MINUTES = Number(args["max-minutes"] ?? (mode === "quick" ? 2.5 : 45));

/** The criteria a step must meet to "hold". */
const CRITERIA = { lossPct: 1, delayP99Ms: 50, serverCpuPct: 90 };
/** Above this CPU share of the load processes (all on one core), the load may be what limits. */
const LOAD_BOUND = 0.85;
/** … or above this event-loop lag p99 of a player process, ms. */
const LOAD_BOUND_LAG_MS = 50;
/** Other processes using more than this of the server's core (%) make a hold "noisy". */
const NOISE_SERVER_CORE = 10;
/** … or more than this of the load core (%). */
const NOISE_LOAD_CORE = 30;
/** A failing hold measured during noise is measured again, at most this many times. */
const RETRIES = Number(args.retries ?? (mode === "quick" ? 1 : 2));
/** Bisection steps after the ramp, between the last N that held and the first that did not. */
const REFINE = Number(args.refine ?? (mode === "full" ? 3 : 0));

/** Longest wait before a hold for the other processes on our cores to calm down, s. */
const WAIT_QUIET_S = Number(args["wait-quiet"] ?? (mode === "quick" ? 2 : 10));

/**
 * Waits (1 s probes, `maxSeconds` at most) until other processes use less than the noise
 * thresholds of our cores; returns the seconds waited.
 */
async function untilQuiet(maxSeconds: number): Promise<number> {
  if (!PIN) return 0;
  const start = performance.now();
  for (;;) {
    const pid = serverPid();
    const ours = () => [Deno.pid, ...loadPids()].reduce((a, p) => a + (cpuSeconds(p) ?? 0), 0);
    const s0 = pid === undefined ? 0 : cpuSeconds(pid) ?? 0,
      l0 = ours(),
      c0 = coreTimes(),
      t0 = uptimeSeconds();
    await sleep(1000);
    const s1 = pid === undefined ? 0 : cpuSeconds(pid) ?? 0,
      l1 = ours(),
      c1 = coreTimes(),
      t1 = uptimeSeconds();
    const busy = coreBusy(c0, c1);
    const dt = Math.max(0.01, t1 - t0);
    const sc = busy[`cpu${args["server-cpus"]}`], lc = busy[`cpu${args["load-cpus"]}`];
    const serverOthers = sc ? 100 * (sc.busy - sc.softirq) - (100 * (s1 - s0)) / dt : 0;
    const loadOthers = lc ? 100 * lc.busy - (100 * (l1 - l0)) / dt : 0;
    const waited = (performance.now() - start) / 1000;
    if (serverOthers <= NOISE_SERVER_CORE && loadOthers <= NOISE_LOAD_CORE) return waited;
    if (waited >= maxSeconds || interrupted) return waited;
  }
}

/** Why a hold was noisy (other processes on our cores), or undefined. */
function noisy(r: StepResult): string | undefined {
  const reasons: string[] = [];
  if ((r.server.othersOnCorePct ?? 0) > NOISE_SERVER_CORE) {
    reasons.push(`other processes used ${fmt(r.server.othersOnCorePct, 0)} % of the server's core`);
  }
  if ((r.load.othersOnCorePct ?? 0) > NOISE_LOAD_CORE) {
    reasons.push(`other processes used ${fmt(r.load.othersOnCorePct, 0)} % of the load core`);
  }
  return reasons.length ? reasons.join(" and ") : undefined;
}

// ---------------------------------------------------------------- lifecycle and cleanup

/** The autogroup line of this session before the bench changed its nice value. */
let autogroupBefore: string | undefined;

/**
 * With `kernel.sched_autogroup_enabled`, the CPU is shared between sessions first and the nice
 * values of tasks only count inside their session: a server at nice −10 still gets no more than
 * a busy loop started from another shell. So the nice value of this session's group is raised
 * for the run (root only) and put back at the end.
 */
function raiseAutogroup(value: number): void {
  try {
    if (Deno.readTextFileSync("/proc/sys/kernel/sched_autogroup_enabled").trim() !== "1") return;
    autogroupBefore = Deno.readTextFileSync("/proc/self/autogroup").trim();
    Deno.writeTextFileSync("/proc/self/autogroup", String(value));
    console.log(`session scheduling group: ${autogroupBefore} → nice ${value}`);
  } catch {
    autogroupBefore = undefined; // not Linux, no autogroup, or not root
  }
}

function restoreAutogroup(): void {
  const nice = autogroupBefore && /nice (-?\d+)/.exec(autogroupBefore)?.[1];
  if (nice === undefined || nice === "") return;
  try {
    Deno.writeTextFileSync("/proc/self/autogroup", nice);
  } catch {
    // leave it
  }
  autogroupBefore = undefined;
}

const children: Child[] = [];
let server: BenchServer | undefined;
let interrupted = false;

function killEverything(): void {
  for (const c of children) c.killNow();
  server?.child.killNow();
}

async function cleanUp(): Promise<void> {
  await Promise.allSettled(children.map((c) => c.stop(8000)));
  if (server) await server.child.terminate("SIGTERM", 10_000);
  restoreAutogroup();
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => {
    if (interrupted) {
      killEverything();
      Deno.exit(130);
    }
    interrupted = true;
    console.error(`\n${signal}: stopping the load and the server…`);
    cleanUp().finally(() => Deno.exit(130));
  });
}
const watchdog = setTimeout(() => {
  console.error(`the bench ran over its ${MAX_MINUTES} min limit: stopping`);
  interrupted = true;
  cleanUp().finally(() => Deno.exit(4));
}, MAX_MINUTES * 60_000);
unrefTimer(watchdog);

// ---------------------------------------------------------------- types

interface PlayerCounters {
  id: number;
  expected: number;
  received: number;
  late: number;
  duplicates?: number;
  bytes: number;
  video: number;
  audio: number;
  keyframes: number;
  nackPackets: number;
  nackSeqs: number;
  kernelDrops: number;
  /** Sampled packets that failed SRTP authentication at the player. */
  authFailures?: number;
  ffi?: number;
  state: number;
}

interface ProcSnapshot {
  at: number;
  rx?: { mode: string; datagrams?: number; wakeups?: number; calls?: number };
  players: PlayerCounters[];
  delays: number[];
  lateDelays?: number[];
  lag: LagSnapshot;
}

interface PublisherSnapshot {
  at: number;
  counters: Record<string, number>;
  lag: LagSnapshot;
}

interface Snapshot {
  uptime: number;
  serverCpu?: number;
  cores: Map<string, CoreTime>;
  loadCpu: number;
  /** CPU seconds of the player processes alone. */
  playersCpu: number;
  metrics?: string;
  publisher: PublisherSnapshot;
  procs: ProcSnapshot[];
}

/** Everything measured for one step. */
export interface StepResult {
  n: number;
  joined: number;
  joinFailures: number;
  joinErrors: string[];
  joinMs: { p50?: number; p95?: number; max?: number };
  postMs: { p50?: number; p95?: number };
  holdSeconds: number;
  server: {
    cpuPct?: number;
    rssMiB?: number;
    threads?: number;
    lagP50Ms?: number;
    lagP99Ms?: number;
    lagMeanMs?: number;
    corePct?: number;
    /** RTP packets the server says it sent in the hold (`sfu_rtp_packets_sent_total`). */
    sentPackets?: number;
    /** Of which retransmissions (`sfu_retransmissions_total`). */
    retransmissions?: number;
    /** Server CPU per packet it sent, µs. */
    usPerPacket?: number;
    /** Datagrams per `sendmsg` of the native path (segmented runs to one player). */
    datagramsPerCall?: number;
    /** Softirq time on the server's core (network work not charged to the process), %. */
    softirqPct?: number;
    /** What other processes used of the server's core (busy − server − softirq), %. */
    othersOnCorePct?: number;
  };
  load: {
    corePct?: number;
    /** CPU of every load process (publisher, players, this one), % of a core. */
    processesCpuPct: number;
    /** CPU of the player processes, µs per packet they received. */
    playersUsPerPacket?: number;
    /** Players reading their sockets through FFI recvmmsg (the rest use node:dgram). */
    ffiPlayers?: number;
    /** FFI receive wake-ups per second (all player processes). */
    ffiWakeupsPerSecond?: number;
    othersOnCorePct?: number;
    playerLagP99Ms?: number;
  };
  publisher: {
    pps: number;
    videoPps: number;
    audioPps: number;
    mbps: number;
    plis: number;
    keyframes: number;
    keyframesOnRequest: number;
    lateFrames: number;
    lagP99Ms?: number;
  };
  delivery: {
    expectedPackets: number;
    receivedPackets: number;
    deliveredPct: number;
    lossPct: number;
    late: number;
    /** Packets that arrived twice (retransmitted after arriving, or sent twice). */
    duplicates: number;
    keyframesPerPlayer: number;
    nackPackets: number;
    nackSeqs: number;
    /** Datagrams the kernel dropped at the players' sockets (the load was late). */
    loadDrops: number;
    /** Delay samples that failed SRTP authentication (must be 0). */
    authFailures: number;
    ppsPerPlayer: number;
    notConnected: number;
    /** The counters of (up to 5 of) the players not connected at the end of the hold. */
    notConnectedPlayers?: Record<string, unknown>[];
  };
  delay: {
    samples: number;
    p50?: number;
    p90?: number;
    p99?: number;
    max?: number;
    /** The samples of packets that arrived in order. */
    inOrder: { samples: number; p50?: number; p99?: number };
    /** The samples of packets that arrived after a later one (reordered or retransmitted). */
    outOfOrder: { samples: number; p50?: number; p99?: number };
  };
  holds: boolean;
  failed: string[];
  loadBound: boolean;
  /** Holds measured for this step (a failure during noise from other processes is retried). */
  attempts?: number;
  /** Seconds waited before the last hold for other processes to calm down. */
  waitedSeconds?: number;
  /** A bisection step on a fresh server, after the ramp. */
  refinement?: boolean;
}

// ---------------------------------------------------------------- load

const secret = new TextEncoder().encode(BENCH_SECRET);
const ROOM = `bench-${crypto.randomUUID().slice(0, 8)}`;

function whipUrl(): string {
  return args.whip ?? `${server!.url}/whip/${ROOM}`;
}
function whepUrl(): string {
  return args.whep ?? `${server!.url}/whep/${ROOM}`;
}

async function publisherToken(): Promise<string | undefined> {
  if (EXTERNAL) return args["publisher-token"] ?? args.token;
  return await mintToken(secret, {
    sub: "bench-publisher",
    room: ROOM,
    role: "host",
    ttlSeconds: 3 * 3600,
  });
}

async function playerToken(id: number): Promise<string | undefined> {
  if (EXTERNAL) return args["player-token"] ?? args.token;
  return await mintToken(secret, {
    sub: `bench-player-${id}`,
    room: ROOM,
    role: "participant",
    ttlSeconds: 3 * 3600,
  });
}

const loadCpus = PIN ? args["load-cpus"] : undefined;
/** A nice value from the arguments (negative ones need root: then 0). */
function niceValue(name: "publisher-nice" | "server-nice" | "load-nice"): number {
  const v = Number(args[name]);
  return v < 0 && !isRoot ? 0 : v;
}

/** Deno flags of the load processes. */
function loadFlags(name: string): string[] {
  const dir = args["profile-load"];
  return dir
    ? ["-A", "--cpu-prof", `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${name}.cpuprofile`]
    : ["-A"];
}
let isRoot = false;
try {
  isRoot = Deno.uid() === 0;
} catch {
  // not Linux
}

async function startPublisher(): Promise<Child> {
  const token = await publisherToken();
  const nice = niceValue("publisher-nice");
  const pub = new Child({
    name: "publisher",
    script: "bench/load/publisher.ts",
    args: [
      "--whip",
      whipUrl(),
      ...(token ? ["--token", token] : []),
      ...(args["any-address"] ? ["--any-address"] : []),
      "--max-seconds",
      String(MAX_MINUTES * 60 + 60),
    ],
    cpus: loadCpus,
    denoFlags: loadFlags("publisher"),
    nice,
    cwd: REPO,
  });
  children.push(pub);
  const ready = await pub.next(["ready", "error"], 30_000);
  if (ready.ev === "error") throw new Error(`publisher: ${ready.message}\n${pub.tail.join("\n")}`);
  return pub;
}

/** Player processes and how many players each holds. */
const pool: { child: Child; count: number }[] = [];
let nextPlayerId = 0;

function startPlayerProcess(): { child: Child; count: number } {
  const child = new Child({
    name: `players-${pool.length}`,
    script: "bench/load/players.ts",
    args: [
      "--whep",
      whepUrl(),
      "--sample-every",
      args["sample-every"],
      "--concurrency",
      args["join-concurrency"],
      "--rx",
      args.rx,
      "--max-seconds",
      String(MAX_MINUTES * 60 + 60),
      ...(args["no-nack"] ? ["--no-nack"] : []),
      ...(args["any-address"] ? ["--any-address"] : []),
    ],
    cpus: loadCpus,
    denoFlags: loadFlags(`players-${pool.length}`),
    nice: niceValue("load-nice"),
    cwd: REPO,
  });
  children.push(child);
  const entry = { child, count: 0 };
  pool.push(entry);
  return entry;
}

/** Adds players until there are `n`; returns the join results of the new ones. */
async function growTo(n: number): Promise<Record<string, unknown>[]> {
  const have = pool.reduce((a, p) => a + p.count, 0);
  let missing = n - have;
  const batches: { entry: { child: Child; count: number }; ids: number[] }[] = [];
  for (const entry of pool) {
    if (missing <= 0) break;
    const take = Math.min(PER_PROCESS - entry.count, missing);
    if (take > 0) {
      batches.push({ entry, ids: Array.from({ length: take }, () => nextPlayerId++) });
      missing -= take;
    }
  }
  while (missing > 0) {
    const entry = startPlayerProcess();
    const take = Math.min(PER_PROCESS, missing);
    batches.push({ entry, ids: Array.from({ length: take }, () => nextPlayerId++) });
    missing -= take;
  }
  const results = await Promise.all(batches.map(async ({ entry, ids }) => {
    entry.count += ids.length;
    const players = await Promise.all(
      ids.map(async (id) => ({ id, token: await playerToken(id) })),
    );
    // joins run with bounded concurrency; allow each its timeout plus slack
    const ms = 30_000 + ids.length * 2_000;
    const answer = await entry.child.request({ cmd: "add", players }, "joined", ms);
    return answer.results as Record<string, unknown>[];
  }));
  return results.flat();
}

// ---------------------------------------------------------------- measurement

function loadPids(): number[] {
  return children.map((c) => c.pid);
}

async function scrapeMetrics(): Promise<string | undefined> {
  if (EXTERNAL) return undefined;
  try {
    const res = await fetch(`${server!.url}/metrics`, { signal: AbortSignal.timeout(5000) });
    return res.ok ? await res.text() : undefined;
  } catch {
    return undefined;
  }
}

/** Datagrams per system call, when the native path made calls. */
function perCall(datagrams?: number, calls?: number): number | undefined {
  return datagrams !== undefined && calls ? ms(datagrams / calls) : undefined;
}

/** The `sfu_event_loop_lag_seconds` histogram of a /metrics page, in ms. */
function parseLag(text: string | undefined): LagSnapshot | undefined {
  if (!text) return undefined;
  const bounds: number[] = [];
  const cumulative: number[] = [];
  let inf = 0, sum = 0, count = 0, max = 0;
  for (const line of text.split("\n")) {
    let m = /^sfu_event_loop_lag_seconds_bucket\{le="([^"]+)"\} (\S+)$/.exec(line);
    if (m) {
      if (m[1] === "+Inf") inf = Number(m[2]);
      else {
        bounds.push(Number(m[1]) * 1000);
        cumulative.push(Number(m[2]));
      }
      continue;
    }
    if ((m = /^sfu_event_loop_lag_seconds_sum (\S+)$/.exec(line))) sum = Number(m[1]) * 1000;
    if ((m = /^sfu_event_loop_lag_seconds_count (\S+)$/.exec(line))) count = Number(m[1]);
    if ((m = /^sfu_event_loop_lag_max_seconds (\S+)$/.exec(line))) max = Number(m[1]) * 1000;
  }
  if (bounds.length === 0) return undefined;
  const counts = cumulative.map((c, i) => c - (i === 0 ? 0 : cumulative[i - 1]));
  counts.push(inf - (cumulative[cumulative.length - 1] ?? 0));
  return { bucketsMs: bounds, counts, sumMs: sum, count, maxMs: max };
}

/** The sum of every sample of metric `name` (all label sets) on a /metrics page. */
function metricSum(text: string | undefined, name: string): number | undefined {
  if (!text) return undefined;
  let sum: number | undefined;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && m[1] === name) sum = (sum ?? 0) + Number(m[3]);
  }
  return sum;
}

function serverPid(): number | undefined {
  if (server) return server.pid;
  return args["server-pid"] ? Number(args["server-pid"]) : undefined;
}

async function snapshot(pub: Child): Promise<Snapshot> {
  const pid = serverPid();
  const [publisher, procs, metrics] = await Promise.all([
    pub.request({ cmd: "snapshot" }, "snapshot", 10_000),
    Promise.all(pool.map((p) => p.child.request({ cmd: "snapshot" }, "snapshot", 20_000))),
    scrapeMetrics(),
  ]);
  return {
    uptime: uptimeSeconds(),
    serverCpu: pid === undefined ? undefined : cpuSeconds(pid),
    cores: coreTimes(),
    loadCpu: [Deno.pid, ...loadPids()].reduce((a, p) => a + (cpuSeconds(p) ?? 0), 0),
    playersCpu: pool.reduce((a, p) => a + (cpuSeconds(p.child.pid) ?? 0), 0),
    metrics,
    publisher: publisher as unknown as PublisherSnapshot,
    procs: procs as unknown as ProcSnapshot[],
  };
}

const ms = (x: number | undefined) => (x === undefined ? undefined : Math.round(x * 100) / 100);

function measure(
  n: number,
  joins: Record<string, unknown>[],
  a: Snapshot,
  b: Snapshot,
): StepResult {
  const holdSeconds = b.uptime - a.uptime;
  const pid = serverPid();
  // publisher
  const pa = a.publisher, pb = b.publisher;
  const pubDt = (pb.at - pa.at) / 1000;
  const d = (k: string) => (pb.counters[k] ?? 0) - (pa.counters[k] ?? 0);
  const pubPps = (d("video") + d("audio")) / pubDt;
  // players: per process, the players present at both ends
  let expectedWindow = 0,
    receivedWindow = 0,
    late = 0,
    keyframes = 0,
    nackPackets = 0,
    nackSeqs = 0,
    rateSum = 0,
    notConnected = 0,
    counted = 0,
    loadDrops = 0,
    authFailures = 0,
    duplicates = 0;
  const lostPlayers: Record<string, unknown>[] = [];
  const delays: number[] = [];
  const inOrder: number[] = [];
  const outOfOrder: number[] = [];
  b.procs.forEach((pb2, i) => {
    const pa2 = a.procs[i];
    const before = new Map((pa2?.players ?? []).map((p) => [p.id, p]));
    const dt = pa2 ? (pb2.at - pa2.at) / 1000 : holdSeconds;
    for (const p of pb2.players) {
      const q = before.get(p.id);
      if (p.state !== 2) {
        notConnected++;
        if (lostPlayers.length < 5) lostPlayers.push({ ...p, hadCounters: q !== undefined });
      }
      if (!q) continue;
      counted++;
      expectedWindow += p.expected - q.expected;
      const dups = (p.duplicates ?? 0) - (q.duplicates ?? 0);
      receivedWindow += p.received - q.received - dups;
      duplicates += dups;
      late += p.late - q.late;
      keyframes += p.keyframes - q.keyframes;
      nackPackets += p.nackPackets - q.nackPackets;
      nackSeqs += p.nackSeqs - q.nackSeqs;
      loadDrops += (p.kernelDrops ?? 0) - (q.kernelDrops ?? 0);
      authFailures += (p.authFailures ?? 0) - (q.authFailures ?? 0);
      rateSum += (p.received - q.received - dups) / dt;
    }
    for (const x of pb2.delays) inOrder.push(x);
    for (const x of pb2.lateDelays ?? []) outOfOrder.push(x);
  });
  inOrder.sort((x, y) => x - y);
  outOfOrder.sort((x, y) => x - y);
  // (not push(...spread): a long hold gathers more samples than a call takes arguments)
  for (const x of inOrder) delays.push(x);
  for (const x of outOfOrder) delays.push(x);
  delays.sort((x, y) => x - y);
  const deliveredPct = pubPps > 0 ? (100 * rateSum) / (n * pubPps) : 0;
  const lossPct = expectedWindow > 0
    ? (100 * (expectedWindow - receivedWindow)) / expectedWindow
    : 0;
  // server
  const serverCpuPct = a.serverCpu !== undefined && b.serverCpu !== undefined
    ? (100 * (b.serverCpu - a.serverCpu)) / holdSeconds
    : undefined;
  const busy = coreBusy(a.cores, b.cores);
  const coreOf = (list: string | undefined, part: "busy" | "softirq" = "busy") => {
    if (!list || list.includes(",") || list.includes("-")) return undefined;
    const v = busy[`cpu${list}`];
    return v === undefined ? undefined : 100 * v[part];
  };
  const lagA = parseLag(a.metrics), lagB = parseLag(b.metrics);
  const delta = (name: string) => {
    const x = metricSum(a.metrics, name), y = metricSum(b.metrics, name);
    return x === undefined || y === undefined ? undefined : y - x;
  };
  const sentPackets = delta("sfu_rtp_packets_sent_total");
  const packetsForCpu = sentPackets ?? receivedWindow;
  const lagMean = lagA && lagB && lagB.count > lagA.count
    ? (lagB.sumMs - lagA.sumMs) / (lagB.count - lagA.count)
    : undefined;
  // load processes' own event loops (the worst process)
  let playerLagP99: number | undefined;
  b.procs.forEach((pb2, i) => {
    const pa2 = a.procs[i];
    if (!pa2) return;
    const q = lagQuantile(pa2.lag, pb2.lag, 0.99);
    if (q !== undefined) playerLagP99 = Math.max(playerLagP99 ?? 0, q);
  });
  const joined = b.procs.reduce((x, p) => x + p.players.filter((q) => q.state === 2).length, 0);
  const joinTimes = joins.filter((j) => j.ok).map((j) => j.firstRtpMs as number).sort((x, y) =>
    x - y
  );
  const postTimes = joins.filter((j) => j.postMs !== undefined).map((j) => j.postMs as number)
    .sort((x, y) => x - y);
  const loadCorePct = coreOf(loadCpus);
  const serverCorePct = PIN ? coreOf(args["server-cpus"]) : undefined;
  const serverSoftirqPct = PIN ? coreOf(args["server-cpus"], "softirq") : undefined;
  const loadProcessesPct = (100 * (b.loadCpu - a.loadCpu)) / holdSeconds;
  const others = (core?: number, own?: number) =>
    core === undefined || own === undefined ? undefined : ms(Math.max(0, core - own));
  const result: StepResult = {
    n,
    joined,
    joinFailures: joins.filter((j) => !j.ok).length,
    joinErrors: [...new Set(joins.filter((j) => !j.ok).map((j) => String(j.error)))].slice(0, 5),
    joinMs: {
      p50: ms(percentile(joinTimes, 50)),
      p95: ms(percentile(joinTimes, 95)),
      max: ms(joinTimes[joinTimes.length - 1]),
    },
    postMs: { p50: ms(percentile(postTimes, 50)), p95: ms(percentile(postTimes, 95)) },
    holdSeconds: ms(holdSeconds)!,
    server: {
      cpuPct: ms(serverCpuPct),
      rssMiB: pid === undefined ? undefined : ms((rssBytes(pid) ?? 0) / 2 ** 20),
      threads: pid === undefined ? undefined : threadCount(pid),
      lagP50Ms: lagA && lagB ? ms(lagQuantile(lagA, lagB, 0.5)) : undefined,
      lagP99Ms: lagA && lagB ? ms(lagQuantile(lagA, lagB, 0.99)) : undefined,
      lagMeanMs: ms(lagMean),
      corePct: ms(serverCorePct),
      sentPackets,
      retransmissions: delta("sfu_retransmissions_total"),
      datagramsPerCall: perCall(
        delta("sfu_egress_packets_total"),
        delta("sfu_egress_send_calls_total"),
      ),
      usPerPacket: serverCpuPct !== undefined && packetsForCpu > 0
        ? ms((serverCpuPct / 100) * holdSeconds * 1e6 / packetsForCpu)
        : undefined,
      softirqPct: ms(serverSoftirqPct),
      othersOnCorePct: others(serverCorePct, (serverCpuPct ?? 0) + (serverSoftirqPct ?? 0)),
    },
    load: {
      corePct: ms(loadCorePct),
      processesCpuPct: ms(loadProcessesPct)!,
      ffiPlayers: b.procs.reduce((x, p) => x + p.players.filter((q) => q.ffi).length, 0),
      ffiWakeupsPerSecond: ms(
        b.procs.reduce((x, p, i) => x + (p.rx?.wakeups ?? 0) - (a.procs[i]?.rx?.wakeups ?? 0), 0) /
          holdSeconds,
      ),
      playersUsPerPacket: receivedWindow > 0
        ? ms(((b.playersCpu - a.playersCpu) * 1e6) / receivedWindow)
        : undefined,
      othersOnCorePct: others(loadCorePct, loadProcessesPct),
      playerLagP99Ms: ms(playerLagP99),
    },
    publisher: {
      pps: ms(pubPps)!,
      videoPps: ms(d("video") / pubDt)!,
      audioPps: ms(d("audio") / pubDt)!,
      mbps: ms((d("bytes") * 8) / pubDt / 1e6)!,
      plis: d("plis") + d("firs"),
      keyframes: d("keyframes"),
      keyframesOnRequest: d("keyframesOnRequest"),
      lateFrames: d("lateFrames"),
      lagP99Ms: ms(lagQuantile(pa.lag, pb.lag, 0.99)),
    },
    delivery: {
      expectedPackets: Math.round(n * pubPps * holdSeconds),
      receivedPackets: receivedWindow,
      deliveredPct: ms(deliveredPct)!,
      lossPct: Math.round(lossPct * 1000) / 1000,
      late,
      duplicates,
      keyframesPerPlayer: counted ? ms(keyframes / counted)! : 0,
      nackPackets,
      nackSeqs,
      loadDrops,
      authFailures,
      ppsPerPlayer: counted ? ms(rateSum / counted)! : 0,
      notConnected,
      notConnectedPlayers: lostPlayers.length ? lostPlayers : undefined,
    },
    delay: {
      samples: delays.length,
      p50: ms(percentile(delays, 50)),
      p90: ms(percentile(delays, 90)),
      p99: ms(percentile(delays, 99)),
      max: ms(delays[delays.length - 1]),
      inOrder: {
        samples: inOrder.length,
        p50: ms(percentile(inOrder, 50)),
        p99: ms(percentile(inOrder, 99)),
      },
      outOfOrder: {
        samples: outOfOrder.length,
        p50: ms(percentile(outOfOrder, 50)),
        p99: ms(percentile(outOfOrder, 99)),
      },
    },
    holds: false,
    failed: [],
    loadBound: false,
  };
  const failed = result.failed;
  if (joined < n) failed.push(`${n - joined} players not connected`);
  if (!(lossPct < CRITERIA.lossPct)) failed.push(`loss ${lossPct.toFixed(2)} %`);
  if (result.delivery.authFailures > 0) {
    failed.push(`${result.delivery.authFailures} sampled packets failed SRTP authentication`);
  }
  if (result.delay.p99 === undefined) failed.push("no delay samples");
  else if (!(result.delay.p99 < CRITERIA.delayP99Ms)) failed.push(`p99 ${result.delay.p99} ms`);
  if (serverCpuPct !== undefined && !(serverCpuPct < CRITERIA.serverCpuPct)) {
    failed.push(`server CPU ${serverCpuPct.toFixed(0)} %`);
  }
  result.holds = failed.length === 0;
  result.loadBound = loadProcessesPct / 100 > LOAD_BOUND ||
    (playerLagP99 ?? 0) > LOAD_BOUND_LAG_MS;
  return result;
}

// ---------------------------------------------------------------- output

function fmt(x: number | undefined, digits = 1): string {
  if (x === undefined || Number.isNaN(x)) return "–";
  if (!Number.isFinite(x)) return "∞";
  return x.toFixed(digits);
}

/** The steps as a Markdown table. */
export function table(steps: StepResult[]): string {
  const header = [
    "players",
    "joined",
    "join p50/p95 ms",
    "server CPU %",
    "µs / packet",
    "dgrams / call",
    "others on its core %",
    "RSS MiB",
    "loop lag p99 ms",
    "delivered %",
    "loss %",
    "reordered %",
    "load drops",
    "delay p50 ms",
    "delay p99 ms",
    "in-order p99 ms",
    "NACKs",
    "load CPU %",
    "load core %",
    "holds",
  ];
  const rows = steps.map((s) => [
    `${s.n}${s.refinement ? "*" : ""}`,
    String(s.joined),
    `${fmt(s.joinMs.p50, 0)} / ${fmt(s.joinMs.p95, 0)}`,
    fmt(s.server.cpuPct),
    fmt(s.server.usPerPacket, 0),
    fmt(s.server.datagramsPerCall, 1),
    fmt(s.server.othersOnCorePct, 0),
    fmt(s.server.rssMiB, 0),
    fmt(s.server.lagP99Ms),
    fmt(s.delivery.deliveredPct, 2),
    fmt(s.delivery.lossPct, 3),
    fmt(s.delivery.receivedPackets ? (100 * s.delivery.late) / s.delivery.receivedPackets : 0, 2),
    String(s.delivery.loadDrops),
    fmt(s.delay.p50, 2),
    fmt(s.delay.p99, 2),
    fmt(s.delay.inOrder?.p99, 2),
    String(s.delivery.nackPackets),
    fmt(s.load.processesCpuPct, 0) + (s.loadBound ? " (!)" : ""),
    fmt(s.load.corePct, 0),
    s.holds ? "yes" : `no: ${s.failed.join(", ")}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    "| " +
    cells.map((c, i) => (i === cells.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join(" | ") +
    " |";
  const rule = "|" + widths.map((w, i) => "-".repeat(w + 1) + (i === widths.length - 1 ? "-" : ":"))
    .join("|") +
    "|";
  const notes = steps.some((s) => s.refinement)
    ? ["* bisection after the ramp, on a fresh server"]
    : [];
  return [line(header), rule, ...rows.map(line), ...notes].join("\n");
}

function compare(steps: StepResult[], path: string): string {
  const old = JSON.parse(Deno.readTextFileSync(path)) as { steps?: StepResult[]; date?: string };
  const lines = [`compared with ${path} (${old.date ?? "?"}):`];
  for (const s of steps) {
    const o = old.steps?.find((x) => x.n === s.n);
    if (!o) continue;
    const delta = (a?: number, b?: number) =>
      a === undefined || b === undefined ? "–" : `${fmt(b)} → ${fmt(a)}`;
    lines.push(
      `  N=${s.n}: server CPU ${delta(s.server.cpuPct, o.server.cpuPct)} %, ` +
        `delay p99 ${delta(s.delay.p99, o.delay.p99)} ms, ` +
        `delivered ${delta(s.delivery.deliveredPct, o.delivery.deliveredPct)} %`,
    );
  }
  return lines.join("\n");
}

function resultPath(): string {
  if (args.json) return args.json;
  const date = new Date().toISOString().slice(0, 10);
  const suffix = mode === "profile" ? `profile-${profileN}` : mode;
  return `${REPO}/bench/results/${date}-${suffix}.json`;
}

// ---------------------------------------------------------------- main

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

const profileN = mode === "profile"
  ? (args.profile === "auto" ? largestHeldFromResults() : Number(args.profile))
  : 0;
if (mode === "profile" && !(profileN > 0)) {
  console.error("--profile needs a player count (or auto)");
  Deno.exit(2);
}

const steps: number[] = mode === "profile"
  ? [profileN]
  : (args.steps ? args.steps.split(",").map(Number) : mode === "quick" ? QUICK_STEPS : FULL_STEPS)
    .filter((n) => n > 0 && n <= MAX_PLAYERS);

/** Starts the server (unless external) and the publisher. */
async function startSession(profileDir?: string): Promise<Child> {
  if (!EXTERNAL) {
    const extraFlags = profileDir
      ? [
        "--cpu-prof",
        `--cpu-prof-dir=${profileDir}`,
        "--cpu-prof-name=server.cpuprofile",
        "--cpu-prof-interval=1000",
      ]
      : [];
    server = await startServer({
      repo: REPO,
      cpus: PIN ? args["server-cpus"] : undefined,
      nice: niceValue("server-nice"),
      extraFlags,
    });
    console.log(
      `server: pid ${server.pid}, ${server.url}, threads pinned to CPU ${
        server.affinity.join("/")
      }, nice ${niceValue("server-nice")}`,
    );
  }
  const pub = await startPublisher();
  console.log(
    `publisher: connected (${STREAM.fps} fps, keyframe every ${STREAM.gopFrames / STREAM.fps} s, ` +
      `≈ ${(NOMINAL_PPS.video + NOMINAL_PPS.audio).toFixed(0)} packets/s)`,
  );
  return pub;
}

/** Stops the players, the publisher and the server (which then writes its profile, if any). */
async function stopSession(): Promise<void> {
  await Promise.allSettled(children.map((c) => c.stop(8000)));
  children.length = 0;
  pool.length = 0;
  if (server) await server.child.terminate("SIGTERM", 20_000);
}

/** Grows to `n` players and measures a hold (again while it fails during noise). */
async function step(n: number, pub: Child): Promise<{ r: StepResult; window: [number, number] }> {
  const t0 = performance.now();
  const joins = await growTo(n);
  let r: StepResult;
  let window: [number, number];
  for (let attempt = 1;; attempt++) {
    await sleep(SETTLE_S * 1000);
    const waited = await untilQuiet(WAIT_QUIET_S);
    if (waited > 1.5) {
      console.log(`  waited ${waited.toFixed(0)} s for other processes to calm down`);
    }
    const a = await snapshot(pub);
    await sleep(HOLD_S * 1000);
    const b = await snapshot(pub);
    window = [a.uptime, b.uptime];
    r = measure(n, joins, a, b);
    r.attempts = attempt;
    r.waitedSeconds = Math.round(waited);
    const noise = noisy(r);
    if (r.holds || !noise || attempt > RETRIES || interrupted) break;
    console.log(`N=${n}: fails (${r.failed.join(", ")}) while ${noise}: measuring again`);
  }
  console.log(
    `N=${n}: ${r.holds ? "holds" : "fails (" + r.failed.join(", ") + ")"}; server CPU ` +
      `${fmt(r.server.cpuPct)} %, delivered ${fmt(r.delivery.deliveredPct, 2)} %, loss ` +
      `${fmt(r.delivery.lossPct, 3)} %, delay p50/p99 ${fmt(r.delay.p50, 2)}/${
        fmt(r.delay.p99, 2)
      } ms, load core ${fmt(r.load.corePct, 0)} % (${
        ((performance.now() - t0) / 1000).toFixed(0)
      } s)`,
  );
  if (r.loadBound) {
    console.log(
      `  the load used ${fmt(r.load.processesCpuPct, 0)} % of its core (player loop lag p99 ` +
        `${fmt(r.load.playerLagP99Ms)} ms): the load may be what limits here`,
    );
  }
  return { r, window };
}

async function main(): Promise<number> {
  const started = new Date();
  if (PIN && !(await hasCommand("taskset"))) {
    throw new Error("taskset (util-linux) is not installed: install it or pass --no-pin");
  }
  if (EXTERNAL && args["server-pid"] && PIN) {
    await pinAllThreads(Number(args["server-pid"]), args["server-cpus"]);
    console.log(
      `server pid ${args["server-pid"]} pinned to ${threadAffinity(Number(args["server-pid"]))}`,
    );
  }
  if (PIN) await pinAllThreads(Deno.pid, args["load-cpus"]); // this process is load too
  if (isRoot && Number(args["group-nice"]) !== 0) raiseAutogroup(Number(args["group-nice"]));
  const profileDir = mode === "profile" && !EXTERNAL
    ? args["profile-dir"] ?? await Deno.makeTempDir({ prefix: "sfu-profile-" })
    : undefined;
  let pub = await startSession(profileDir);
  const results: StepResult[] = [];
  let window: [number, number] | undefined;
  let lastHeld: number | undefined;
  let firstFailed: number | undefined;
  for (const n of steps) {
    if (interrupted) break;
    const s = await step(n, pub);
    results.push(s.r);
    window = s.window;
    if (s.r.holds) lastHeld = n;
    else if (firstFailed === undefined) firstFailed = n;
    if (!s.r.holds && !args["keep-going"] && mode !== "profile") break;
  }

  // the steps are coarse: bisect between the last step that held and the first that did not,
  // each on a fresh server (a saturated one may not recover)
  let lo = lastHeld ?? 0, hi = firstFailed;
  for (let i = 0; i < REFINE && hi !== undefined && !interrupted && mode !== "profile"; i++) {
    let mid = Math.round((lo + hi) / 2 / 5) * 5; // round numbers when they fall between
    if (mid <= lo || mid >= hi) mid = Math.round((lo + hi) / 2);
    if (mid <= lo || mid >= hi) break;
    console.log(`refining between ${lo} and ${hi}: a fresh server and ${mid} players`);
    await stopSession();
    pub = await startSession();
    const s = await step(mid, pub);
    s.r.refinement = true;
    results.push(s.r);
    if (s.r.holds) lo = mid;
    else hi = mid;
  }

  let profile: ProfileSummary | undefined;
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

  const argv = server?.argv;
  await stopSession();
  server = undefined;
  restoreAutogroup();

  results.sort((x, y) => x.n - y.n);
  const held = results.filter((r) => r.holds && !r.loadBound);
  const largestHeld = held.length ? Math.max(...held.map((r) => r.n)) : undefined;
  console.log(
    `\n${mode} ramp, ${HOLD_S} s holds, ${
      EXTERNAL ? args.whep : "this server (deno task start flags)"
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

  const out = resultPath();
  await Deno.mkdir(out.slice(0, out.lastIndexOf("/")), { recursive: true });
  await Deno.writeTextFile(
    out,
    JSON.stringify(
      {
        date: started.toISOString(),
        mode,
        command: ["deno", "run", "-A", "bench/ramp.ts", ...Deno.args.filter((a) => a !== "--")],
        machine: m,
        target: EXTERNAL
          ? { whip: args.whip, whep: args.whep }
          : { server: "this repository", argv },
        pinning: PIN ? { server: args["server-cpus"], load: args["load-cpus"] } : null,
        nice: {
          sessionGroup: isRoot ? Number(args["group-nice"]) : 0,
          server: niceValue("server-nice"),
          publisher: niceValue("publisher-nice"),
          players: niceValue("load-nice"),
        },
        stream: { ...STREAM, nominalPps: NOMINAL_PPS },
        method: {
          holdSeconds: HOLD_S,
          settleSeconds: SETTLE_S,
          perProcess: PER_PROCESS,
          sampleEvery: Number(args["sample-every"]),
          nack: !args["no-nack"],
          criteria: CRITERIA,
          noise: {
            serverCorePct: NOISE_SERVER_CORE,
            loadCorePct: NOISE_LOAD_CORE,
            retries: RETRIES,
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

let code = 1;
try {
  code = await main();
} catch (e) {
  console.error(`bench failed: ${e instanceof Error ? e.stack : e}`);
  for (const c of children) if (c.tail.length) console.error(c.tail.slice(-10).join("\n"));
  if (server?.child.tail.length) console.error(server.child.tail.slice(-10).join("\n"));
  await cleanUp();
}
Deno.exit(code);
