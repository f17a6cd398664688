/**
 * Time to first frame for a late joiner, with and without the keyframe cache.
 *
 * A werift publisher sends 30 fps with one keyframe every 10 s and ignores PLI (as OBS does).
 * Each run, a werift player POSTs mid-GOP (1 s after the publisher's keyframe) and the clock
 * runs from the start of its POST to the first keyframe packet it receives (the first frame it
 * could decode). The same runs go against a server with the cache (default) and one with
 * `KEYFRAME_CACHE_BYTES=0`. Servers are in this process, on loopback.
 *
 * ```sh
 * deno run -A bench/late-joiner.ts [--runs 10]
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { testServer } from "../tests/helpers/server.ts";
import { call, Player, Publisher } from "../tests/helpers/clients.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: { runs: { type: "string", default: "10" } },
});
const RUNS = Math.max(1, Number(args.runs) || 10);
const GOP_FRAMES = 300; // 10 s at 30 fps
const JOIN_AFTER_MS = 1000;
const GIVE_UP_MS = 12_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function once(env: Record<string, string>, room: string): Promise<number> {
  const server = await testServer(env);
  const pub = new Publisher();
  const player = new Player();
  try {
    const token = await server.token("host", room);
    await pub.publish(`${server.url}/whip/${room}`, token);
    pub.start(GOP_FRAMES, false);
    await sleep(JOIN_AFTER_MS);
    const start = performance.now();
    await player.play(`${server.url}/whep/${room}`, token);
    await player.nextKeyframe(GIVE_UP_MS);
    return player.firstKeyframeAt! - start;
  } finally {
    if (player.session) {
      await (await call(player.session.url, await server.token("host", room), { method: "DELETE" }))
        .body?.cancel();
    }
    await Promise.all([pub.close(), player.close()]);
    await server.shutdown();
  }
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const results: Record<string, number[]> = { "with cache": [], "without cache": [] };
for (let i = 0; i < RUNS; i++) {
  results["with cache"].push(await once({}, `late-${i}`));
  results["without cache"].push(await once({ KEYFRAME_CACHE_BYTES: "0" }, `late-${i}`));
  Deno.stdout.writeSync(new TextEncoder().encode("."));
}
console.log(`\nlate joiner, POST → first keyframe, ${RUNS} runs each, ms (GOP 10 s, PLI ignored)`);
console.log("| server | median | min | max |");
console.log("|---|---:|---:|---:|");
for (const [name, values] of Object.entries(results)) {
  console.log(
    `| ${name} | ${median(values).toFixed(1)} | ${Math.min(...values).toFixed(1)} | ${
      Math.max(...values).toFixed(1)
    } |`,
  );
}
Deno.exit(0);
