/**
 * A cluster for tests: server processes (spawnServer) sharing one Redis (startRedis), each with
 * its own HTTP port, `PUBLIC_URL` and `NODE_ID`.
 *
 * @module
 */
import { type ServerProcess, spawnServer } from "./process.ts";

/** A free loopback TCP port. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Starts node `id` of the cluster on `redisUrl`. */
export function startNode(
  id: string,
  redisUrl: string,
  env: Record<string, string> = {},
): Promise<ServerProcess> {
  const port = freePort();
  return spawnServer({
    PORT: String(port),
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    REDIS_URL: redisUrl,
    NODE_ID: id,
    MAX_PARTICIPANTS: "4",
    LOG_LEVEL: "warn",
    ...env,
  });
}

/** The directory's keys in Redis (`redis-cli --scan`). */
export async function redisKeys(port: number): Promise<string[]> {
  const out = await new Deno.Command("redis-cli", {
    args: ["-p", String(port), "--scan"],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n").filter(Boolean).sort();
}
