/**
 * Time to first frame for a late joiner, with and without the keyframe cache.
 *
 * A werift publisher sends 30 fps with one keyframe every 10 s and ignores PLI (as OBS does):
 * VP8, or H.264 packetized as OBS does (SPS and PPS in packets of their own, then the IDR in
 * FU-A fragments; tests/helpers/h264.ts). Each run, a werift player POSTs mid-GOP (1 s after the
 * publisher's keyframe) and the clock runs from the start of its POST to the first frame it
 * could decode: for VP8 the first keyframe packet, for H.264 the last packet of the first IDR
 * access unit, once SPS and PPS came before it. The same runs go against a server with the cache
 * (default) and one with `KEYFRAME_CACHE_BYTES=0`. Servers are in this process, on loopback.
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
import { H264Player, ObsLikePublisher } from "../tests/helpers/h264.ts";

/** Runs the late-joiner bench with the command line `argv`. */
export async function main(argv: string[]): Promise<void> {
  const { values: args } = parseArgs({
    args: argv.filter((a) => a !== "--"),
    options: { runs: { type: "string", default: "10" } },
  });
  const RUNS = Math.max(1, Number(args.runs) || 10);
  const GOP_FRAMES = 300; // 10 s at 30 fps
  const JOIN_AFTER_MS = 1000;
  const GIVE_UP_MS = 12_000;

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  async function once(
    codec: "VP8" | "H.264",
    env: Record<string, string>,
    room: string,
  ): Promise<number> {
    const server = await testServer(env);
    const h264 = codec === "H.264";
    const pub = h264 ? new ObsLikePublisher() : new Publisher();
    const player = h264 ? new H264Player() : new Player();
    let session: string | undefined;
    try {
      const token = await server.token("host", room);
      await pub.publish(`${server.url}/whip/${room}`, token);
      if (pub instanceof Publisher) pub.start(GOP_FRAMES, false);
      else pub.start(GOP_FRAMES);
      await sleep(JOIN_AFTER_MS);
      const start = performance.now();
      session = (await player.play(`${server.url}/whep/${room}`, token)).url;
      if (player instanceof H264Player) {
        await player.decodable(GIVE_UP_MS);
        return player.decodableAt! - start;
      }
      await player.nextKeyframe(GIVE_UP_MS);
      return player.firstKeyframeAt! - start;
    } finally {
      if (session) {
        await (await call(session, await server.token("host", room), { method: "DELETE" })).body
          ?.cancel();
      }
      await Promise.all([pub.close(), player.close()]);
      await server.shutdown();
    }
  }

  function median(values: number[]): number {
    const s = [...values].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  }

  const ROWS = [
    ["VP8", "with cache", {}],
    ["VP8", "without cache", { KEYFRAME_CACHE_BYTES: "0" }],
    ["H.264", "with cache", {}],
    ["H.264", "without cache", { KEYFRAME_CACHE_BYTES: "0" }],
  ] as const;
  const results = ROWS.map(() => [] as number[]);
  for (let i = 0; i < RUNS; i++) {
    for (const [r, [codec, , env]] of ROWS.entries()) {
      results[r].push(await once(codec, env, `late-${i}`));
    }
    Deno.stdout.writeSync(new TextEncoder().encode("."));
  }
  console.log(
    `\nlate joiner, POST → first decodable frame, ${RUNS} runs each, ms (GOP 10 s, PLI ignored)`,
  );
  console.log("| codec | server | median | min | max |");
  console.log("|---|---|---:|---:|---:|");
  for (const [r, [codec, name]] of ROWS.entries()) {
    const values = results[r];
    console.log(
      `| ${codec} | ${name} | ${median(values).toFixed(1)} | ${Math.min(...values).toFixed(1)} | ${
        Math.max(...values).toFixed(1)
      } |`,
    );
  }
  Deno.exit(0);
}

if (import.meta.main) await main(Deno.args);
