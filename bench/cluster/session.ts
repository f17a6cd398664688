/**
 * The processes of the cluster bench: a redis-server, the origin (core 0) and two edges (core 1)
 * started with the flags of `deno task start` and cluster settings, one publisher on the origin,
 * and groups of player processes, each group playing through one node. One reading of every
 * counter at a time, and the ramp's {@link measure} over any node and any groups.
 *
 * @module
 */
import { mintToken } from "../../src/auth/tokens.ts";
import { type RedisServer, startRedis } from "../../tests/helpers/redis.ts";
import { Child } from "../load/child.ts";
import { sleep } from "../load/common.ts";
import { coreBusy, coreTimes, cpuSeconds, uptimeSeconds } from "../load/proc.ts";
import { BENCH_SECRET, type BenchServer, freePort, startServer } from "../load/server.ts";
import { NOISE_LOAD_CORE, NOISE_SERVER_CORE, REPO } from "../ramp/config.ts";
import { measure } from "../ramp/measure.ts";
import type { ProcSnapshot, PublisherSnapshot, Snapshot, StepResult } from "../ramp/types.ts";

/** Where things run and how hard they push. */
export interface ClusterSettings {
  originCpus: string;
  loadCpus: string;
  /** nice of the nodes and the publisher, and of the players (as root). */
  serverNice: number;
  loadNice: number;
  perProcess: number;
  sampleEvery: number;
  maxSeconds: number;
}

/** Players playing through one node. */
export interface Group {
  name: string;
  node: string;
  procs: { child: Child; count: number }[];
  joins: Record<string, unknown>[];
}

/** Every counter at one moment. */
export interface Reading {
  uptime: number;
  cores: Snapshot["cores"];
  loadCpu: number;
  /** CPU seconds of our processes on the load core (the load and the edges). */
  loadCoreCpu: number;
  publisher: PublisherSnapshot;
  nodes: Record<string, { cpu?: number; metrics?: string }>;
  procs: Record<string, ProcSnapshot[]>;
  playersCpu: Record<string, number>;
}

/** The part of a {@link Reading} that tells how busy the cores were. */
export type CoreReading = Pick<Reading, "uptime" | "cores" | "loadCoreCpu" | "nodes">;

/** The cluster bench's processes. */
export class ClusterSession {
  readonly settings: ClusterSettings;
  readonly room = `bench-cluster-${crypto.randomUUID().slice(0, 8)}`;
  readonly nodes: Record<string, BenchServer> = {};
  readonly groups: Group[] = [];
  redis?: RedisServer;
  publisher?: Child;
  #nextPlayer = 0;
  readonly #secret = new TextEncoder().encode(BENCH_SECRET);

  constructor(settings: ClusterSettings) {
    this.settings = settings;
  }

  /** Redis (inherits this process's core: the load's), the origin `a` and the edges `b`, `c`. */
  async start(): Promise<void> {
    this.redis = await startRedis();
    console.log(`redis-server: ${this.redis.url} (core ${this.settings.loadCpus})`);
    for (
      const [id, cpus] of [["a", this.settings.originCpus], ["b", this.settings.loadCpus], [
        "c",
        this.settings.loadCpus,
      ]]
    ) {
      const port = freePort();
      const node = await startServer({
        repo: REPO,
        cpus,
        nice: this.settings.serverNice,
        env: {
          PORT: String(port),
          PUBLIC_URL: `http://127.0.0.1:${port}`,
          REDIS_URL: this.redis.url,
          NODE_ID: id,
        },
      });
      this.nodes[id] = node;
      console.log(
        `node ${id} (${id === "a" ? "origin" : "edge"}): pid ${node.pid}, ${node.url}, ` +
          `threads pinned to CPU ${node.affinity.join("/")}, nice ${this.settings.serverNice}`,
      );
    }
  }

  #token(sub: string, role: "host" | "participant"): Promise<string> {
    return mintToken(this.#secret, { sub, room: this.room, role, ttlSeconds: 3 * 3600 });
  }

  /** The publisher, on the origin (which opens the room there). */
  async startPublisher(): Promise<void> {
    const pub = new Child({
      name: "publisher",
      script: "bench/load/publisher.ts",
      args: [
        "--whip",
        `${this.nodes.a.url}/whip/${this.room}`,
        "--token",
        await this.#token("bench-publisher", "host"),
        "--max-seconds",
        String(this.settings.maxSeconds),
      ],
      cpus: this.settings.loadCpus,
      nice: this.settings.serverNice,
      cwd: REPO,
    });
    this.publisher = pub;
    const ready = await pub.next(["ready", "error"], 30_000);
    if (ready.ev === "error") {
      throw new Error(`publisher: ${ready.message}\n${pub.tail.join("\n")}`);
    }
  }

  /** A new, empty group of players on `node`. */
  group(name: string, node: string): Group {
    const g: Group = { name, node, procs: [], joins: [] };
    this.groups.push(g);
    return g;
  }

  /** Adds players to `g` until it has `n`. */
  async grow(g: Group, n: number): Promise<void> {
    const whep = `${this.nodes[g.node].url}/whep/${this.room}`;
    const batches: { entry: { child: Child; count: number }; ids: number[] }[] = [];
    let missing = n - g.procs.reduce((a, p) => a + p.count, 0);
    for (const entry of g.procs) {
      const take = Math.min(this.settings.perProcess - entry.count, missing);
      if (take <= 0) continue;
      batches.push({ entry, ids: Array.from({ length: take }, () => this.#nextPlayer++) });
      missing -= take;
    }
    while (missing > 0) {
      const child = new Child({
        name: `${g.name}-${g.procs.length}`,
        script: "bench/load/players.ts",
        args: [
          "--whep",
          whep,
          "--sample-every",
          String(this.settings.sampleEvery),
          "--max-seconds",
          String(this.settings.maxSeconds),
        ],
        cpus: this.settings.loadCpus,
        nice: this.settings.loadNice,
        cwd: REPO,
      });
      const entry = { child, count: 0 };
      g.procs.push(entry);
      const take = Math.min(this.settings.perProcess, missing);
      batches.push({ entry, ids: Array.from({ length: take }, () => this.#nextPlayer++) });
      missing -= take;
    }
    const results = await Promise.all(batches.map(async ({ entry, ids }) => {
      entry.count += ids.length;
      const players = await Promise.all(
        ids.map(async (id) => ({
          id,
          token: await this.#token(`bench-player-${id}`, "participant"),
        })),
      );
      const answer = await entry.child.request(
        { cmd: "add", players },
        "joined",
        30_000 + ids.length * 2_000,
      );
      return answer.results as Record<string, unknown>[];
    }));
    g.joins.push(...results.flat());
  }

  /** Stops every player process of every group. */
  async dropGroups(): Promise<void> {
    await Promise.allSettled(this.groups.flatMap((g) => g.procs.map((p) => p.child.stop(8000))));
    this.groups.length = 0;
  }

  /** The players the origin serves on the publisher's publication (relays count as players). */
  async originPlayers(): Promise<number | undefined> {
    try {
      const res = await fetch(`${this.nodes.a.url}/rooms/${this.room}`, {
        headers: { authorization: `Bearer ${await this.#token("bench-publisher", "host")}` },
        signal: AbortSignal.timeout(5000),
      });
      if (!res.ok) return void await res.body?.cancel();
      const view = await res.json() as { publications?: { publisher: string; players: number }[] };
      return view.publications?.find((p) => p.publisher === "bench-publisher")?.players;
    } catch {
      return undefined;
    }
  }

  /** Waits (up to `ms`) until the origin serves exactly `n` sessions; returns what it serves. */
  async untilOriginServes(n: number, ms = 30_000): Promise<number | undefined> {
    const deadline = performance.now() + ms;
    for (;;) {
      const have = await this.originPlayers();
      if (have === n || performance.now() > deadline) return have;
      await sleep(500);
    }
  }

  async #metrics(url: string): Promise<string | undefined> {
    try {
      const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) });
      return res.ok ? await res.text() : void await res.body?.cancel();
    } catch {
      return undefined;
    }
  }

  /** CPU seconds of our processes on the load core: this one, the load and the edges. */
  loadCoreCpu(): number {
    const pids = [
      Deno.pid,
      ...(this.publisher ? [this.publisher.pid] : []),
      ...this.groups.flatMap((g) => g.procs.map((p) => p.child.pid)),
      ...Object.entries(this.nodes).filter(([id]) => id !== "a").map(([, n]) => n.pid),
    ];
    return pids.reduce((a, p) => a + (cpuSeconds(p) ?? 0), 0);
  }

  /** What other processes used of the origin's core and of the load core between two readings, %. */
  others(a: CoreReading, b: CoreReading): { core0?: number; core1?: number } {
    const busy = coreBusy(a.cores, b.cores);
    const dt = Math.max(0.01, b.uptime - a.uptime);
    const c0 = busy[`cpu${this.settings.originCpus}`], c1 = busy[`cpu${this.settings.loadCpus}`];
    const origin = (b.nodes.a?.cpu ?? 0) - (a.nodes.a?.cpu ?? 0);
    return {
      core0: c0 && Math.max(0, 100 * (c0.busy - c0.softirq) - (100 * origin) / dt),
      core1: c1 && Math.max(0, 100 * c1.busy - (100 * (b.loadCoreCpu - a.loadCoreCpu)) / dt),
    };
  }

  /**
   * Waits (1 s probes, `maxSeconds` at most) until other processes use less than 10 % of the
   * origin's core and 30 % of the load core (the ramp's thresholds); returns the seconds waited.
   */
  async untilQuiet(maxSeconds: number): Promise<number> {
    const start = performance.now();
    for (;;) {
      const probe = (): CoreReading => ({
        uptime: uptimeSeconds(),
        cores: coreTimes(),
        loadCoreCpu: this.loadCoreCpu(),
        nodes: { a: { cpu: cpuSeconds(this.nodes.a.pid) } },
      });
      const a = probe();
      await sleep(1000);
      const o = this.others(a, probe());
      const waited = (performance.now() - start) / 1000;
      if ((o.core0 ?? 0) <= NOISE_SERVER_CORE && (o.core1 ?? 0) <= NOISE_LOAD_CORE) return waited;
      if (waited >= maxSeconds) return waited;
    }
  }

  /** Every counter now (each player process answers once: its delay samples are taken). */
  async read(): Promise<Reading> {
    const ids = Object.keys(this.nodes);
    const [publisher, procs, metrics] = await Promise.all([
      this.publisher!.request({ cmd: "snapshot" }, "snapshot", 10_000),
      Promise.all(
        this.groups.map((g) =>
          Promise.all(g.procs.map((p) => p.child.request({ cmd: "snapshot" }, "snapshot", 20_000)))
        ),
      ),
      Promise.all(ids.map((id) => this.#metrics(this.nodes[id].url))),
    ]);
    const loadPids = [
      Deno.pid,
      this.publisher!.pid,
      ...this.groups.flatMap((g) => g.procs.map((p) => p.child.pid)),
    ];
    return {
      uptime: uptimeSeconds(),
      cores: coreTimes(),
      loadCpu: loadPids.reduce((a, p) => a + (cpuSeconds(p) ?? 0), 0),
      loadCoreCpu: this.loadCoreCpu(),
      publisher: publisher as unknown as PublisherSnapshot,
      nodes: Object.fromEntries(
        ids.map((id, i) => [id, { cpu: cpuSeconds(this.nodes[id].pid), metrics: metrics[i] }]),
      ),
      procs: Object.fromEntries(
        this.groups.map((g, i) => [g.name, procs[i] as unknown as ProcSnapshot[]]),
      ),
      playersCpu: Object.fromEntries(
        this.groups.map((
          g,
        ) => [g.name, g.procs.reduce((a, p) => a + (cpuSeconds(p.child.pid) ?? 0), 0)]),
      ),
    };
  }

  /** The ramp's figures for `node` (its CPU and /metrics) and the players of `groups`. */
  measure(node: string, groups: Group[], a: Reading, b: Reading): StepResult {
    const view = (r: Reading): Snapshot => ({
      uptime: r.uptime,
      serverCpu: r.nodes[node]?.cpu,
      cores: r.cores,
      loadCpu: r.loadCpu,
      playersCpu: groups.reduce((x, g) => x + (r.playersCpu[g.name] ?? 0), 0),
      metrics: r.nodes[node]?.metrics,
      publisher: r.publisher,
      procs: groups.flatMap((g) => r.procs[g.name] ?? []),
    });
    const n = groups.reduce((x, g) => x + g.procs.reduce((y, p) => y + p.count, 0), 0);
    return measure(
      {
        serverPid: this.nodes[node].pid,
        // the core's "others" only mean something on the origin's own core
        serverCpus: node === "a" ? this.settings.originCpus : undefined,
        loadCpus: this.settings.loadCpus,
      },
      n,
      groups.flatMap((g) => g.joins),
      view(a),
      view(b),
    );
  }

  /** Stops the players, the publisher, the nodes and Redis (each by its own pid). */
  async stop(): Promise<void> {
    await this.dropGroups();
    await this.publisher?.stop(8000);
    await Promise.allSettled(
      Object.values(this.nodes).map((n) => n.child.terminate("SIGTERM", 10_000)),
    );
    await this.redis?.stop();
  }

  /** SIGKILL to everything at once (a second signal). */
  killNow(): void {
    for (const g of this.groups) for (const p of g.procs) p.child.killNow();
    this.publisher?.killNow();
    for (const n of Object.values(this.nodes)) n.child.killNow();
    void this.redis?.kill();
  }
}
