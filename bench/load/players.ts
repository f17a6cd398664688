/**
 * Many WHEP players in one process, cheap enough that one load core outlasts the server.
 *
 * Each player is a real werift peer connection (ICE, DTLS, SRTP keys, consent freshness, RTCP
 * receiver reports — sent from one timer per process, bench/load/receiver-reports.ts), but its
 * RTP is counted at the socket from the clear part of the SRTP
 * packet (RFC 3711 leaves the 12-byte RTP header unencrypted) and, mostly, dropped there:
 *
 * - every datagram reaching a player's socket goes through {@link LoadPlayer.onDatagram} first:
 *   during the handshake through a wrapped `dgram.Socket.prototype.emit`, and once connected
 *   (`--rx ffi`, the default on Linux) read straight from the socket with libc `recvmmsg`
 *   (bench/load/fast-rx.ts), Deno's own receive loop stopped, arrival times from the kernel;
 *   STUN, DTLS and RTCP (RFC 7983, RFC 5761) go on to werift untouched;
 * - RTP is counted per SSRC, RFC 3550 style (extended highest sequence − base + 1 − received),
 *   and its frame structure gives the keyframes (a frame of ≥ 16 packets with one RTP timestamp
 *   is one of the publisher's 24-packet keyframes);
 * - one packet in `--sample-every` (and each SSRC's first) goes on to werift, which decrypts it;
 *   its payload carries the publisher's send time, giving one one-way delay sample (socket
 *   arrival − send). Sampling is spread over every player, so the delay percentiles cover
 *   every position in the server's fan-out order, not just a few privileged players;
 * - the packets dropped before werift are still added to werift's receive statistics, so the
 *   receiver reports the server gets are right; werift's own NACK generator is off (it would
 *   see only the samples) and a gap in the clear video sequence numbers is NACKed here, once,
 *   if it is still open `--nack-delay` ms later (20: reordering tolerance, as receivers have;
 *   Deno's `node:dgram` sends reorder bursts);
 * - the kernel's drop counter of each player socket (`/proc/net/udp`) tells the load's own
 *   losses (a receive buffer that overflowed because this process was late) from the server's.
 *
 * Driven by the ramp over stdin/stdout (JSON lines): `add` joins players, `snapshot` returns
 * cumulative counters and the delay samples since the previous snapshot, `stop` DELETEs every
 * session and exits (so does the end of stdin).
 *
 * ```sh
 * deno run -A bench/load/players.ts --whep URL [--sample-every 20] [--nack-delay 20] [--no-nack]
 *   [--rx ffi-gro|ffi|dgram] [--concurrency 6] [--join-timeout 20] [--any-address]
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import dgram from "node:dgram";
import { emit, lifetimeLimit, readCommands, sleep, wallNow } from "./common.ts";
import { loopLag } from "../../src/metrics/loop-lag.ts";
// The server's werift patches, for the same werift here: above all, no fallback STUN server
// (the load clients must talk to 127.0.0.1 only).
import "../../src/media/werift/patches.ts";
import { FastRx } from "./fast-rx.ts";
import { useNativeSrtcp } from "../../src/media/werift/srtcp.ts";
import { LoadPlayer, type PlayerEnv } from "./load-player.ts";
import { DelaySamples, socketDrops } from "./rtp-stream.ts";
import { ReportClock } from "./receiver-reports.ts";

type Emit = (this: object, event: string, ...rest: unknown[]) => boolean;

/** Wraps every dgram socket of this process so that a player's datagrams pass its tap first. */
function installTap(taps: WeakMap<object, LoadPlayer>): Emit {
  const proto = dgram.Socket.prototype as unknown as { emit: Emit };
  const original = proto.emit;
  proto.emit = function (event: string, ...rest: unknown[]): boolean {
    if (event === "message") {
      const player = taps.get(this);
      if (player && player.onDatagram(rest[0] as Uint8Array)) return true;
    }
    return original.call(this, event, ...rest);
  };
  return original;
}

/** Runs a player process with the command line `argv` until `stop` or the end of stdin. */
export async function main(argv: string[]): Promise<never> {
  const { values: args } = parseArgs({
    args: argv.filter((a) => a !== "--"),
    options: {
      whep: { type: "string" },
      "sample-every": { type: "string", default: "20" },
      "any-address": { type: "boolean", default: false },
      "no-nack": { type: "boolean", default: false },
      "nack-delay": { type: "string", default: "20" },
      rx: { type: "string", default: "ffi-gro" },
      "rx-poll-ms": { type: "string", default: "20" },
      "join-timeout": { type: "string", default: "20" },
      "max-seconds": { type: "string", default: "3600" },
      concurrency: { type: "string", default: "6" },
    },
  });
  if (!args.whep) {
    console.error("players: --whep URL is required");
    Deno.exit(2);
  }
  lifetimeLimit(Number(args["max-seconds"]));
  const lag = loopLag();
  const taps = new WeakMap<object, LoadPlayer>();
  const originalEmit = installTap(taps);
  /** The FFI receive path (`--rx ffi`, the default), when libc can be opened. */
  const ffi = args.rx === "ffi" || args.rx === "ffi-gro";
  const fastRx = ffi
    ? FastRx.open(originalEmit, {
      gro: args.rx === "ffi-gro",
      pollMs: Number(args["rx-poll-ms"]),
    })
    : undefined;
  // the players' RTCP (receiver reports out, the server's sender reports in) on OpenSSL, as the
  // server's is: werift builds a node:crypto cipher per RTCP packet (a load cost, not the server's)
  if (fastRx) useNativeSrtcp();
  if (ffi && !fastRx) {
    console.error("players: the FFI receive path is not available here: using node:dgram");
  }
  const env: PlayerEnv = {
    sampleEvery: Math.max(0, Number(args["sample-every"])),
    joinTimeoutMs: Number(args["join-timeout"]) * 1000,
    nack: !args["no-nack"],
    nackDelayMs: Number(args["nack-delay"]),
    anyAddress: args["any-address"],
    taps,
    fastRx,
    samples: new DelaySamples(),
    gapped: new Set<LoadPlayer>(),
    reports: new ReportClock(),
  };
  if (env.nack) {
    setInterval(() => {
      if (env.gapped.size === 0) return;
      const now = performance.now();
      for (const p of env.gapped) p.nackDue(now);
    }, 5);
  }

  const players: LoadPlayer[] = [];

  /** Joins `list` with at most `--concurrency` joins in flight. */
  const add = async (list: { id: number; token?: string }[], endpoint: string) => {
    const results: Record<string, unknown>[] = [];
    let next = 0;
    const worker = async () => {
      while (next < list.length) {
        const { id, token } = list[next++];
        const player = new LoadPlayer(env, id, token);
        players.push(player);
        results.push(await player.join(endpoint));
      }
    };
    const n = Math.max(1, Math.min(Number(args.concurrency), list.length));
    await Promise.all(Array.from({ length: n }, worker));
    return results;
  };

  let stopping = false;
  const stop = async (code = 0): Promise<never> => {
    if (!stopping) {
      stopping = true;
      const all = Promise.allSettled(players.map((p) => p.close()));
      await Promise.race([all, sleep(8000)]);
    }
    Deno.exit(code);
  };

  await readCommands((cmd) => {
    if (cmd.cmd === "add") {
      const list = cmd.players as { id: number; token?: string }[];
      add(list, (cmd.whep as string | undefined) ?? args.whep!).then((results) =>
        emit({ ev: "joined", tag: cmd.tag, results })
      );
    } else if (cmd.cmd === "snapshot") {
      const drops = socketDrops();
      const taken = env.samples.take();
      emit({
        ev: "snapshot",
        tag: cmd.tag,
        at: wallNow(),
        players: players.map((p) => p.counters(drops)),
        delays: taken.delays.map((d) => Math.round(d * 1000) / 1000),
        lateDelays: taken.lateDelays.map((d) => Math.round(d * 1000) / 1000),
        delaysDropped: taken.dropped,
        lag: lag.snapshot(),
        rx: fastRx ? { mode: "ffi", ...fastRx.stats } : { mode: "dgram" },
      });
    } else if (cmd.cmd === "stop") {
      stop(0);
    }
  });
  return await stop(0);
}

if (import.meta.main) await main(Deno.args);
