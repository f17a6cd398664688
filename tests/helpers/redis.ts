/**
 * A throwaway `redis-server` (Debian's, on PATH) for the cluster tests: a free loopback port, no
 * persistence, a temporary working directory. `stop()` kills it and waits for the exit;
 * `restart()` kills it (as a crash would) and starts a new, empty one on the same port.
 *
 * @module
 */
import { freePort } from "./cluster.ts";

/** A running Redis. */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>`. */
  url: string;
  /** Its TCP port. */
  port: number;
  /** SIGKILL and wait for the exit; idempotent. */
  stop(): Promise<void>;
  /** Kill it (SIGKILL), then start it again on the same port and wait until it answers PING. */
  restart(): Promise<void>;
  /** SIGKILL without starting again (a crash); `restart()` brings it back. */
  kill(): Promise<void>;
}

/** True when something on `port` answers `PING` with `+PONG`. */
async function pings(port: number): Promise<boolean> {
  let conn: Deno.TcpConn | undefined;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(new TextEncoder().encode("PING\r\n"));
    const buf = new Uint8Array(64);
    const n = await conn.read(buf);
    return n !== null && new TextDecoder().decode(buf.subarray(0, n)).startsWith("+PONG");
  } catch {
    return false;
  } finally {
    try {
      conn?.close();
    } catch {
      // already closed
    }
  }
}

/** Starts `redis-server` on a free port and waits (up to 10 s) until it answers PING. */
export async function startRedis(): Promise<RedisServer> {
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "redis-test-" });
  let child: Deno.ChildProcess | undefined;
  let stopped = false;

  const kill = async () => {
    const running = child;
    child = undefined;
    if (!running) return;
    try {
      running.kill("SIGKILL");
    } catch {
      // already exited
    }
    await running.status;
  };
  const onUnload = () => {
    try {
      child?.kill("SIGKILL");
    } catch {
      // already exited
    }
  };
  globalThis.addEventListener("unload", onUnload);

  const spawn = async () => {
    child = new Deno.Command("redis-server", {
      args: [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        dir,
        "--loglevel",
        "warning",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const deadline = performance.now() + 10_000;
    while (!(await pings(port))) {
      if (performance.now() > deadline) {
        await kill();
        throw new Error(`redis-server did not answer PING on port ${port} within 10 s`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  await spawn();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill,
    async restart() {
      if (stopped) throw new Error("this redis-server was stopped");
      await kill();
      await spawn();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await kill();
      globalThis.removeEventListener("unload", onUnload);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
