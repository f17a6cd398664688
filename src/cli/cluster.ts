/**
 * `deno task cluster [-- --processes N]`: a cluster on one machine — N server processes (default:
 * one per core) sharing the HTTP port `PORT` (`SO_REUSEPORT`: the kernel spreads connections
 * over them), each with its own port for its sessions and the other nodes (`PORT`+1+i, its
 * `PUBLIC_URL`) and its own media ports (`UDP_PORT`+i, `TCP_PORT`+i), all in one Redis
 * directory: `REDIS_URL`, or a `redis-server` started here on a free loopback port (Debian's
 * `redis-server` package). `JWT_SECRET` is shared by every process (generated and printed when
 * unset). Ctrl-C or SIGTERM stops every process, then Redis.
 *
 * Other settings pass through to every process. `PUBLIC_HOST` (default 127.0.0.1) is the address
 * clients and the processes use to reach each process's own port.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { startTaskFlags } from "./start-flags.ts";
import { DEFAULT_MEDIA_PORT } from "../config.ts";

const REPO = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");

function fail(message: string): never {
  console.error(`cannot start the cluster: ${message}`);
  Deno.exit(2);
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function pongs(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(new TextEncoder().encode("PING\r\n"));
    const buf = new Uint8Array(16);
    const n = await conn.read(buf);
    conn.close();
    return n !== null && new TextDecoder().decode(buf.subarray(0, n)).startsWith("+PONG");
  } catch {
    return false;
  }
}

/** Starts redis-server on a free loopback port; resolves with its URL and process. */
async function startRedis(): Promise<{ url: string; child: Deno.ChildProcess }> {
  const port = freePort();
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("redis-server", {
      args: ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      stdout: "null",
      stderr: "null",
    }).spawn();
  } catch {
    fail("REDIS_URL is not set and redis-server is not installed (apt-get install redis-server)");
  }
  for (let i = 0; i < 100 && !(await pongs(port)); i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!(await pongs(port))) fail(`redis-server did not answer on port ${port}`);
  return { url: `redis://127.0.0.1:${port}`, child };
}

/** Copies a child's output line by line with a `[name]` prefix. */
async function prefixed(stream: ReadableStream<Uint8Array>, name: string, out: typeof console.log) {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const lines = (rest + chunk).split("\n");
    rest = lines.pop() ?? "";
    for (const line of lines) out(`[${name}] ${line}`);
  }
  if (rest) out(`[${name}] ${rest}`);
}

if (import.meta.main) {
  let values: { processes?: string };
  try {
    ({ values } = parseArgs({
      args: Deno.args.filter((a) => a !== "--"), // `deno task cluster -- …` passes the `--`
      options: { processes: { type: "string", short: "n" } },
    }));
  } catch (e) {
    fail(`${(e as Error).message} (usage: deno task cluster [-- --processes N])`);
  }
  const processes = Number(values.processes ?? navigator.hardwareConcurrency ?? 2);
  if (!Number.isInteger(processes) || processes < 1 || processes > 64) {
    fail(`--processes must be a whole number from 1 to 64 (got "${values.processes}")`);
  }
  const env = Deno.env.toObject();
  const port = Number(env.PORT ?? 8080);
  const udpBase = Number(env.UDP_PORT ?? DEFAULT_MEDIA_PORT);
  const tcpBase = Number(env.TCP_PORT ?? DEFAULT_MEDIA_PORT);
  const publicHost = env.PUBLIC_HOST ?? "127.0.0.1";
  const redis = env.REDIS_URL ? undefined : await startRedis();
  const redisUrl = env.REDIS_URL ?? redis!.url;
  let secret = env.JWT_SECRET;
  if (!secret) {
    secret = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
    console.log(`JWT_SECRET for this cluster (mint tokens with it): ${secret}`);
  }
  console.log(`redis: ${redisUrl}${redis ? " (started here)" : ""}`);
  const children: Deno.ChildProcess[] = [];
  for (let i = 0; i < processes; i++) {
    const nodePort = port + 1 + i;
    const childEnv: Record<string, string> = {
      ...env,
      PORT: String(port),
      REUSE_PORT: "true",
      NODE_PORT: String(nodePort),
      PUBLIC_URL: `http://${publicHost}:${nodePort}`,
      NODE_ID: `node${i}`,
      UDP_PORT: String(udpBase + i),
      TCP_PORT: String(tcpBase + i),
      REDIS_URL: redisUrl,
      JWT_SECRET: secret,
    };
    const { flags, entry } = startTaskFlags(REPO, childEnv);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...flags, entry],
      cwd: REPO,
      env: childEnv,
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    prefixed(child.stdout, `node${i}`, console.log).catch(() => {});
    prefixed(child.stderr, `node${i}`, console.error).catch(() => {});
    children.push(child);
  }
  console.log(
    `${processes} processes on http://${publicHost}:${port}/ (each also on ports ` +
      `${port + 1}–${port + processes}); Ctrl-C stops them all`,
  );
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    for (const child of children) {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
    }
    await Promise.all(children.map((c) => c.status));
    if (redis) {
      redis.child.kill("SIGTERM");
      await redis.child.status;
    }
    Deno.exit(code);
  };
  Deno.addSignalListener("SIGINT", () => void stop(0));
  Deno.addSignalListener("SIGTERM", () => void stop(0));
  // one process ending ends the cluster (its exit status says why)
  const first = await Promise.race(children.map((c) => c.status));
  if (!stopping) {
    console.error(`a process exited (status ${first.code}): stopping the cluster`);
    await stop(first.code === 0 ? 1 : first.code);
  }
}
