/**
 * A cluster for tests: server processes (spawnServer) sharing one Redis (startRedis), each with
 * its own HTTP port, `PUBLIC_URL` and `NODE_ID`.
 *
 * @module
 */
import { type ServerProcess, spawnServer } from "./process.ts";
import { boundUdp } from "./udp.ts";

/** A free loopback TCP port. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/**
 * The first of `count` consecutive ports that are free on 127.0.0.1 now, for TCP and, with
 * `udp`, for UDP too: `deno task cluster` takes `PORT`+1+i and `UDP_PORT`+i, `TCP_PORT`+i, and
 * one random base can land next to a port another test holds.
 */
export async function freePortRange(count: number, udp = false): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    const held: { close(): void }[] = [];
    try {
      for (let i = 0; i < count; i++) {
        held.push(Deno.listen({ hostname: "127.0.0.1", port: base + i }));
        if (udp) held.push(await boundUdp(base + i));
      }
      return base;
    } catch {
      // taken: try another base
    } finally {
      for (const h of held) h.close();
    }
  }
  throw new Error(`no ${count} consecutive free ports`);
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
