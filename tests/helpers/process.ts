/**
 * Starts the server as its own process, with the flags of `deno task start` (optionally under
 * `prlimit --nofile=N:N`), for tests that need the real accept loop, descriptor limit and
 * signals: a crash there ends the process instead of the test runner.
 *
 * @module
 */
import { mintToken } from "../../src/auth/tokens.ts";

/** The secret of spawned servers (HS256: 32 bytes or more). */
export const PROCESS_SECRET = "process-test-secret-0123456789-abcdefgh";

/** A server process. */
export interface ServerProcess {
  /** Its base URL. */
  url: string;
  /** The child. */
  child: Deno.ChildProcess;
  /** Everything it wrote on stdout and stderr so far. */
  output(): string;
  /** True while the process runs. */
  running(): boolean;
  /** Mints a token for it. */
  token(sub: string, room: string, role?: "host" | "participant" | "viewer"): Promise<string>;
  /** SIGTERM, then SIGKILL after 5 s; resolves with the exit status. */
  stop(): Promise<Deno.CommandStatus>;
}

/** The flags of `deno task start` (deno.json), with the read list it computes for no extra file. */
export const START_FLAGS = [
  "--no-prompt",
  "--allow-read=static,deno.json",
  "--allow-net",
  "--allow-env",
  "--allow-sys=networkInterfaces,hostname",
  "--allow-ffi",
];

/**
 * Spawns `src/main.ts` with `env` on a free loopback port; `nofile` sets a hard and soft limit;
 * `ffi: false` drops `--allow-ffi` (the server then cannot read its descriptor limit).
 */
export async function spawnServer(
  env: Record<string, string> = {},
  nofile?: number,
  { ffi = true }: { ffi?: boolean } = {},
): Promise<ServerProcess> {
  const flags = ffi ? START_FLAGS : START_FLAGS.filter((f) => f !== "--allow-ffi");
  const deno = [Deno.execPath(), "run", ...flags, "src/main.ts"];
  const argv = nofile === undefined ? deno : ["prlimit", `--nofile=${nofile}:${nofile}`, ...deno];
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    cwd: new URL("../../", import.meta.url).pathname,
    env: {
      PORT: "0",
      HOST: "127.0.0.1",
      // media ports the system picks: servers of several tests may run at once
      ...(env.UDP_PORT_MIN === undefined ? { UDP_PORT: "0" } : {}),
      TCP_PORT: "0",
      JWT_SECRET: PROCESS_SECRET,
      LOG_LEVEL: "warn",
      ICE_LOOPBACK: "true",
      RATE_LIMIT_IP: "1000000",
      RATE_LIMIT_IDENTITY: "1000000",
      RATE_LIMIT_FAILED: "1000000",
      ...env,
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const { url, output, exited } = await awaitListening(child, 20_000, "the server");
  const secret = new TextEncoder().encode(env.JWT_SECRET ?? PROCESS_SECRET);
  return {
    url,
    child,
    output,
    running: () => !exited(),
    token: (sub, room, role = "host") => mintToken(secret, { sub, room, role, ttlSeconds: 600 }),
    async stop() {
      if (!exited()) child.kill("SIGTERM");
      const timer = setTimeout(() => {
        if (!exited()) child.kill("SIGKILL");
      }, 5000);
      const status = await child.status;
      clearTimeout(timer);
      return status;
    },
  };
}

/**
 * Collects a spawned server's stdout and stderr (piped) and waits until it says
 * `listening on URL`, at most `ms`; kills it and throws with its output when it exits or the
 * time runs out first.
 */
export async function awaitListening(
  child: Deno.ChildProcess,
  ms: number,
  what: string,
): Promise<{ url: string; output: () => string; exited: () => boolean }> {
  let text = "";
  let exited = false;
  child.status.then(() => exited = true);
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) text += decoder.decode(chunk);
  };
  pump(child.stdout).catch(() => {});
  pump(child.stderr).catch(() => {});
  const deadline = performance.now() + ms;
  while (!/listening on (\S+)/.test(text)) {
    if (exited || performance.now() > deadline) {
      if (!exited) child.kill("SIGKILL");
      await child.status;
      throw new Error(`${what} did not start:\n${text}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const url = /listening on (\S+)/.exec(text)![1];
  return { url, output: () => text, exited: () => exited };
}
