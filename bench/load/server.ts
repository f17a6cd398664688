/**
 * Starts this repository's server as a separate process, the way `deno task start` does (its
 * exact Deno flags are read from deno.json), on a free loopback port with bench settings, and
 * pins every thread of it to one core once it listens.
 *
 * @module
 */
import { Child } from "./child.ts";
import { pinAllThreads, threadAffinity } from "./proc.ts";
import { sleep } from "./common.ts";
import { startTaskFlags } from "../../src/cli/start-flags.ts";

/** The HS256 secret of bench servers. */
export const BENCH_SECRET = "bench-secret-0123456789abcdefghijklmnop";

/** A started server. */
export interface BenchServer {
  url: string;
  child: Child;
  pid: number;
  /** Argument vector it was started with (for the result file). */
  argv: string[];
  /** The distinct CPU affinities of its threads after pinning. */
  affinity: string[];
}

/** A free TCP port on 127.0.0.1 (bound and released; a tiny race is accepted). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** The Deno flags and entry point of `deno task start` (src/cli/start-flags.ts). */
export { startTaskFlags };

/** Options for {@link startServer}. */
export interface ServerOptions {
  /** Repository root (the server's working directory). */
  repo: string;
  /** Core to pin to (taskset list), or undefined not to pin. */
  cpus?: string;
  /** `nice -n` value for every thread of it (0: as the parent). */
  nice?: number;
  /** Extra Deno flags (e.g. `--cpu-prof`). */
  extraFlags?: string[];
  /** Environment overrides (e.g. REDIS_URL, PUBLIC_URL, NODE_ID and PORT of a cluster node). */
  env?: Record<string, string>;
}

/** Starts the server and waits until `/healthz` answers (30 s at most). */
export async function startServer(options: ServerOptions): Promise<BenchServer> {
  // a caller that must know the port first (a cluster node's PUBLIC_URL) passes env.PORT
  const port = options.env?.PORT !== undefined ? Number(options.env.PORT) : freePort();
  const env: Record<string, string> = {
    PORT: String(port),
    HOST: "127.0.0.1",
    JWT_SECRET: BENCH_SECRET,
    MAX_PARTICIPANTS: "10000",
    MAX_SESSIONS: "100000",
    MAX_ROOM_SESSIONS: "100000",
    // one address (127.0.0.1) makes every POST and DELETE of the ramp
    RATE_LIMIT_IP: "10000000",
    RATE_LIMIT_IDENTITY: "10000000",
    ICE_LOOPBACK: "true",
    // with its output kept (BENCH_SERVER_LOG, child.ts): every session's end and its reason too
    LOG_LEVEL: Deno.env.get("BENCH_SERVER_LOG") ? "info" : "warn",
    // the shared media ports on ports the system picks (several benches may run at once)
    UDP_PORT: "0",
    TCP_PORT: "0",
    ...options.env,
  };
  // UDP_PORT_MIN/MAX from the caller measure the per-session sockets instead of the shared port
  const min = Deno.env.get("UDP_PORT_MIN");
  const max = Deno.env.get("UDP_PORT_MAX");
  if (min && max && options.env?.UDP_PORT === undefined) {
    delete env.UDP_PORT;
    env.UDP_PORT_MIN = min;
    env.UDP_PORT_MAX = max;
  }
  // only what Deno needs from the parent's environment (no stray ICE_SERVERS and the like), and
  // FAST_EGRESS, so that `FAST_EGRESS=off deno task bench` measures werift's send path
  for (
    const name of [
      "PATH",
      "HOME",
      "DENO_DIR",
      "XDG_CACHE_HOME",
      "NO_COLOR",
      "TMPDIR",
      "FAST_EGRESS",
    ]
  ) {
    const v = Deno.env.get(name);
    if (v !== undefined) env[name] ??= v;
  }
  // V8 flags for the server only (`BENCH_SERVER_V8_FLAGS=--trace-gc BENCH_SERVER_LOG=… deno task
  // bench`: its collections, in the log); DENO_V8_FLAGS itself would reach every process of the
  // bench, and the players' trace lines would break their reports to the ramp
  const v8 = Deno.env.get("BENCH_SERVER_V8_FLAGS");
  if (v8) env.DENO_V8_FLAGS ??= v8;
  const { flags, entry } = startTaskFlags(options.repo, env);
  const denoFlags = [...flags, ...(options.extraFlags ?? [])];
  const child = new Child({
    name: "server",
    script: entry,
    args: [],
    denoFlags,
    cpus: options.cpus,
    nice: options.nice,
    env,
    cwd: options.repo,
    clearEnv: true,
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = performance.now() + 30_000;
  for (;;) {
    if (child.exited) throw new Error(`the server exited at start:\n${child.tail.join("\n")}`);
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      if (res.ok) break;
    } catch {
      // not yet
    }
    if (performance.now() > deadline) {
      await child.terminate("SIGKILL", 1000);
      throw new Error(`the server did not answer /healthz in 30 s:\n${child.tail.join("\n")}`);
    }
    await sleep(100);
  }
  if (options.cpus !== undefined) await pinAllThreads(child.pid, options.cpus);
  return {
    url,
    child,
    pid: child.pid,
    argv: ["deno", "run", ...denoFlags, entry],
    affinity: threadAffinity(child.pid),
  };
}
