/**
 * The cluster bench: what the origin of a room pays for edges, and what the origin → edge hop
 * adds to the one-way delay. bench/README.md explains the method.
 *
 * ```sh
 * deno task bench:cluster                    # N = 50, 10 s holds, 2 rounds
 * deno task bench:cluster -- --players 100 --hold 15 --rounds 3
 * ```
 *
 * A redis-server on a free loopback port and three server processes with the flags of
 * `deno task start` and cluster settings (`REDIS_URL`, `PUBLIC_URL`, `NODE_ID`): the origin
 * `a` pinned to core 0, the edges `b` and `c` on core 1 with the publisher, the players, Redis
 * and this process. The publisher publishes on the origin. Two configurations alternate, each
 * with fresh player processes:
 *
 * - `direct`: N players on the origin;
 * - `edges`: no player on the origin, N on each edge (the origin serves the 2 relays), measured
 *   first with 1 player per edge, then with N (the origin's cost must not grow in between).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { sleep } from "./load/common.ts";
import { hasCommand, machine, pinAllThreads } from "./load/proc.ts";
import { raiseAutogroup, restoreAutogroup } from "./ramp/autogroup.ts";
import { fmt } from "./ramp/report.ts";
import { NOISE_LOAD_CORE, NOISE_SERVER_CORE } from "./ramp/config.ts";

/** A hold during which other processes were busy on our cores is measured again this often. */
const RETRIES = 2;
import { ClusterSession, type Group } from "./cluster/session.ts";
import { type Hold, holdsTable, hopTable, median, mediansTable } from "./cluster/report.ts";

const USAGE = `usage: deno task bench:cluster [-- options]

  --players N         players on the origin (direct), and on each of the 2 edges (default 50)
  --hold S            measured hold per configuration (default 10)
  --settle S          wait after the players joined, before the hold (default 3)
  --rounds R          direct, edges, direct, edges, … R times each (default 2)
  --no-baseline       skip the hold with 1 player per edge before growing to N
  --per-process N     players per load process (default 50)
  --json PATH         also write every hold to PATH
`;

function parse(argv: string[]) {
  return parseArgs({
    args: argv.filter((a) => a !== "--"),
    options: {
      players: { type: "string", default: "50" },
      hold: { type: "string", default: "10" },
      settle: { type: "string", default: "3" },
      rounds: { type: "string", default: "2" },
      "no-baseline": { type: "boolean", default: false },
      "per-process": { type: "string", default: "50" },
      json: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  }).values;
}

async function measureHold(
  s: ClusterSession,
  round: number,
  config: string,
  groups: { origin?: Group; edges: Group[] },
  expectServes: number,
  holdS: number,
  settleS: number,
): Promise<Hold> {
  const serves = await s.untilOriginServes(expectServes);
  if (serves !== expectServes) {
    console.log(`  the origin serves ${serves} sessions, not ${expectServes} (measuring anyway)`);
  }
  await sleep(settleS * 1000);
  const all = groups.origin ? [groups.origin, ...groups.edges] : groups.edges;
  const count = (g?: Group) => g?.procs.reduce((x, p) => x + p.count, 0) ?? 0;
  let hold: Hold;
  for (let attempt = 1;; attempt++) {
    const waited = await s.untilQuiet(10);
    if (waited > 1.5) {
      console.log(`  round ${round}, ${config}: waited ${waited.toFixed(0)} s for quiet cores`);
    }
    const a = await s.read();
    await sleep(holdS * 1000);
    const b = await s.read();
    hold = {
      round,
      config,
      players: { origin: count(groups.origin), perEdge: count(groups.edges[0]) },
      originServes: await s.originPlayers(),
      origin: s.measure("a", all, a, b),
      edges: groups.edges.map((g) => s.measure(g.node, [g], a, b)),
      others: s.others(a, b),
      attempts: attempt,
    };
    const noisy = (hold.others.core0 ?? 0) > NOISE_SERVER_CORE ||
      (hold.others.core1 ?? 0) > NOISE_LOAD_CORE;
    if (!noisy || attempt > RETRIES) break;
    console.log(
      `  round ${round}, ${config}: other processes used ${
        fmt(hold.others.core0, 0)
      } % of core 0 and ` +
        `${fmt(hold.others.core1, 0)} % of core 1 during the hold: measuring again`,
    );
  }
  const o = hold.origin;
  console.log(
    `round ${round}, ${config} (${hold.players.origin} on the origin, ${hold.players.perEdge} ` +
      `per edge): origin serves ${hold.originServes}, origin CPU ${fmt(o.server.cpuPct)} %, ` +
      `${fmt(o.server.usPerPacket)} µs/packet; edges ${
        hold.edges.map((e) => fmt(e.server.cpuPct)).join(" / ") || "–"
      } %; loss ${fmt(o.delivery.lossPct, 3)} %, delay p50/p99 ${fmt(o.delay.p50, 2)}/${
        fmt(o.delay.p99, 2)
      } ms, load core ${fmt(o.load.corePct, 0)} %${o.holds ? "" : ` (${o.failed.join(", ")})`}`,
  );
  if (o.joinFailures > 0) console.log(`  join failures: ${o.joinErrors.join("; ")}`);
  return hold;
}

async function main(s: ClusterSession, args: ReturnType<typeof parse>): Promise<Hold[]> {
  const n = Number(args.players), holdS = Number(args.hold), settleS = Number(args.settle);
  const holds: Hold[] = [];
  await s.start();
  await s.startPublisher();
  console.log("publisher: connected to the origin");
  for (let round = 1; round <= Number(args.rounds); round++) {
    const direct = s.group("origin", "a");
    await s.grow(direct, n);
    holds.push(
      await measureHold(s, round, "direct", { origin: direct, edges: [] }, n, holdS, settleS),
    );
    await s.dropGroups();

    const edges = [s.group("edge-b", "b"), s.group("edge-c", "c")];
    if (!args["no-baseline"] && n > 1) {
      await Promise.all(edges.map((g) => s.grow(g, 1)));
      holds.push(await measureHold(s, round, "edges-1", { edges }, 2, holdS, settleS));
    }
    await Promise.all(edges.map((g) => s.grow(g, n)));
    holds.push(await measureHold(s, round, "edges", { edges }, 2, holdS, settleS));
    await s.dropGroups();
  }
  return holds;
}

/** Runs the bench with the command line `argv`; returns the exit code. */
export async function run(argv: string[]): Promise<number> {
  const args = parse(argv);
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  for (const cmd of ["taskset", "redis-server"]) {
    if (!(await hasCommand(cmd))) {
      console.error(`${cmd} is not installed`);
      return 2;
    }
  }
  const isRoot = Deno.uid() === 0;
  const n = Number(args.players);
  const s = new ClusterSession({
    originCpus: "0",
    loadCpus: "1",
    serverNice: isRoot ? -10 : 0,
    loadNice: isRoot ? -5 : 0,
    perProcess: Math.max(1, Number(args["per-process"])),
    sampleEvery: 20,
    maxSeconds: 30 * 60,
  });
  let stopping = false;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => {
      if (stopping) {
        s.killNow();
        Deno.exit(130);
      }
      stopping = true;
      console.error(`\n${signal}: stopping the load, the nodes and Redis…`);
      s.stop().finally(() => {
        restoreAutogroup();
        Deno.exit(130);
      });
    });
  }
  const started = new Date();
  // this process (and what it starts without a core of its own: Redis) runs on the load core
  await pinAllThreads(Deno.pid, "1");
  if (isRoot) raiseAutogroup(-10);
  let holds: Hold[] = [];
  let code = 0;
  try {
    holds = await main(s, args);
  } catch (e) {
    console.error(`bench failed: ${e instanceof Error ? e.stack : e}`);
    for (const c of [s.publisher, ...s.groups.flatMap((g) => g.procs.map((p) => p.child))]) {
      if (c?.tail.length) console.error(c.tail.slice(-10).join("\n"));
    }
    for (const node of Object.values(s.nodes)) {
      if (node.child.tail.length) console.error(node.child.tail.slice(-10).join("\n"));
    }
    code = 1;
  } finally {
    await s.stop();
    restoreAutogroup();
  }
  if (holds.length === 0) return code || 1;

  const m = machine();
  console.log(
    `\ncluster bench, ${args.rounds} rounds, ${args.hold} s holds, N = ${n}; ${started.toISOString()}`,
  );
  console.log(`machine: ${m.cpus} × ${m.cpuModel}, ${m.os}, Deno ${m.deno}`);
  console.log(
    "pinning: origin on core 0 (nice −10); edges (nice −10), publisher (nice −10), players " +
      "(nice −5), redis-server and this process on core 1",
  );
  console.log("\neach hold:\n" + holdsTable(holds));
  console.log("\nmedians:\n" + mediansTable(holds));
  console.log("\none-way delay, publisher → player:\n" + hopTable(holds, "direct", "edges"));
  const cpu = (c: string) =>
    median(holds.filter((h) => h.config === c).map((h) => h.origin.server.cpuPct));
  const d = cpu("direct"), e = cpu("edges"), e1 = cpu("edges-1");
  console.log(
    `\norigin CPU: ${fmt(d)} % with ${n} players on it; ${fmt(e)} % with 2 edges × ${n} players` +
      (e1 === undefined ? "" : ` (${fmt(e1)} % with 2 edges × 1 player)`) +
      `: the origin serves 2 relays whatever the edges' players`,
  );
  console.log(
    `command: deno task bench:cluster${
      argv.length ? " -- " + argv.filter((a) => a !== "--").join(" ") : ""
    }`,
  );
  if (args.json) {
    await Deno.writeTextFile(
      args.json,
      JSON.stringify({ date: started.toISOString(), machine: m, argv, holds }, null, 2) + "\n",
    );
    console.log(`wrote ${args.json}`);
  }
  return code;
}

if (import.meta.main) Deno.exit(await run(Deno.args));
