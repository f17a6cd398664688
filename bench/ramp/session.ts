/**
 * One run of the ramp: the server (unless external), the publisher and the player processes it
 * started, growing the load step by step and measuring each hold.
 *
 * @module
 */
import { mintToken } from "../../src/auth/tokens.ts";
import { Child } from "../load/child.ts";
import { NOMINAL_PPS, sleep, STREAM } from "../load/common.ts";
import { coreBusy, coreTimes, cpuSeconds, ksoftirqdPid, uptimeSeconds } from "../load/proc.ts";
import { BENCH_SECRET, type BenchServer, startServer } from "../load/server.ts";
import { NOISE_LOAD_CORE, NOISE_SERVER_CORE, type RampConfig, REPO } from "./config.ts";
import { restoreAutogroup } from "./autogroup.ts";
import { measure } from "./measure.ts";
import { fmt, noisy } from "./report.ts";
import type { ProcSnapshot, PublisherSnapshot, Snapshot, StepResult } from "./types.ts";

/** The processes of a ramp and the load it has grown to. */
export class RampSession {
  /** The settings of the run. */
  readonly config: RampConfig;
  /** `--record`: the recordings folder of this run. */
  recordings?: string;
  /** The room every publisher and player of the run joins. */
  readonly room: string = `bench-${crypto.randomUUID().slice(0, 8)}`;
  /** The load processes (publisher and players) started and not yet stopped. */
  readonly children: Child[] = [];
  /** Player processes and how many players each holds. */
  readonly pool: { child: Child; count: number }[] = [];
  /** The server this run started, while it runs. */
  server?: BenchServer;
  /** Set by a signal or the watchdog: stop as soon as possible. */
  interrupted = false;
  /** The id of the next player. */
  nextPlayerId = 0;
  readonly #secret = new TextEncoder().encode(BENCH_SECRET);
  /** The server core's `ksoftirqd` (pinned runs): its CPU is counted as the server's. */
  readonly #softirqd?: number;

  /** A session with the settings of `config`; nothing starts yet. */
  constructor(config: RampConfig) {
    this.config = config;
    const core = config.args["server-cpus"];
    if (config.pin && /^\d+$/.test(core ?? "")) this.#softirqd = ksoftirqdPid(Number(core));
  }

  /**
   * Waits (1 s probes, `maxSeconds` at most) until other processes use less than the noise
   * thresholds of our cores; returns the seconds waited.
   */
  async untilQuiet(maxSeconds: number): Promise<number> {
    if (!this.config.pin) return 0;
    const start = performance.now();
    for (;;) {
      const pid = this.serverPid();
      const ours = () =>
        [Deno.pid, ...this.loadPids()].reduce((a, p) => a + (cpuSeconds(p) ?? 0), 0);
      const s0 = pid === undefined ? 0 : cpuSeconds(pid) ?? 0,
        l0 = ours(),
        c0 = coreTimes(),
        t0 = uptimeSeconds();
      await sleep(1000);
      const s1 = pid === undefined ? 0 : cpuSeconds(pid) ?? 0,
        l1 = ours(),
        c1 = coreTimes(),
        t1 = uptimeSeconds();
      const busy = coreBusy(c0, c1);
      const dt = Math.max(0.01, t1 - t0);
      const sc = busy[`cpu${this.config.args["server-cpus"]}`],
        lc = busy[`cpu${this.config.args["load-cpus"]}`];
      const serverOthers = sc ? 100 * (sc.busy - sc.softirq) - (100 * (s1 - s0)) / dt : 0;
      const loadOthers = lc ? 100 * lc.busy - (100 * (l1 - l0)) / dt : 0;
      const waited = (performance.now() - start) / 1000;
      if (serverOthers <= NOISE_SERVER_CORE && loadOthers <= NOISE_LOAD_CORE) return waited;
      if (waited >= maxSeconds || this.interrupted) return waited;
    }
  }

  /** Kills every process at once (a second signal). */
  killEverything(): void {
    for (const c of this.children) c.killNow();
    this.server?.child.killNow();
  }

  /** Stops the load and the server, and puts the scheduling group back. */
  async cleanUp(): Promise<void> {
    await Promise.allSettled(this.children.map((c) => c.stop(8000)));
    if (this.server) await this.server.child.terminate("SIGTERM", 10_000);
    restoreAutogroup();
  }

  /** The publisher's endpoint. */
  whipUrl(): string {
    return this.config.args.whip ?? `${this.server!.url}/whip/${this.room}`;
  }

  /** The players' endpoint. */
  whepUrl(): string {
    return this.config.args.whep ?? `${this.server!.url}/whep/${this.room}`;
  }

  /** The publisher's token (minted for this server, or the one given). */
  async publisherToken(): Promise<string | undefined> {
    if (this.config.external) return this.config.args["publisher-token"] ?? this.config.args.token;
    return await mintToken(this.#secret, {
      sub: "bench-publisher",
      room: this.room,
      role: "host",
      ttlSeconds: 3 * 3600,
    });
  }

  /** Player `id`'s token (minted for this server, or the one given). */
  async playerToken(id: number): Promise<string | undefined> {
    if (this.config.external) return this.config.args["player-token"] ?? this.config.args.token;
    return await mintToken(this.#secret, {
      sub: `bench-player-${id}`,
      room: this.room,
      role: "participant",
      ttlSeconds: 3 * 3600,
    });
  }

  /** A nice value from the arguments (negative ones need root: then 0). */
  niceValue(name: "publisher-nice" | "server-nice" | "load-nice"): number {
    const v = Number(this.config.args[name]);
    return v < 0 && !this.config.isRoot ? 0 : v;
  }

  /** Deno flags of the load processes. */
  loadFlags(name: string): string[] {
    const dir = this.config.args["profile-load"];
    return dir
      ? ["-A", "--cpu-prof", `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${name}.cpuprofile`]
      : ["-A"];
  }

  /** Starts the publisher process and waits until it sends. */
  async startPublisher(): Promise<Child> {
    const token = await this.publisherToken();
    const nice = this.niceValue("publisher-nice");
    const pub = new Child({
      name: "publisher",
      script: "bench/load/publisher.ts",
      args: [
        "--whip",
        this.whipUrl(),
        ...(token ? ["--token", token] : []),
        ...(this.config.args["any-address"] ? ["--any-address"] : []),
        "--max-seconds",
        String(this.config.maxMinutes * 60 + 60),
      ],
      cpus: this.config.loadCpus,
      denoFlags: this.loadFlags("publisher"),
      nice,
      cwd: REPO,
    });
    this.children.push(pub);
    const ready = await pub.next(["ready", "error"], 30_000);
    if (ready.ev === "error") {
      throw new Error(`publisher: ${ready.message}\n${pub.tail.join("\n")}`);
    }
    return pub;
  }

  /** Starts one more player process (no players yet). */
  startPlayerProcess(): { child: Child; count: number } {
    const child = new Child({
      name: `players-${this.pool.length}`,
      script: "bench/load/players.ts",
      args: [
        "--whep",
        this.whepUrl(),
        "--sample-every",
        this.config.args["sample-every"],
        "--concurrency",
        this.config.args["join-concurrency"],
        "--rx",
        this.config.args.rx,
        "--rx-poll-ms",
        this.config.args["rx-poll-ms"],
        "--max-seconds",
        String(this.config.maxMinutes * 60 + 60),
        ...(this.config.args["no-nack"] ? ["--no-nack"] : []),
        ...(this.config.args["any-address"] ? ["--any-address"] : []),
      ],
      cpus: this.config.loadCpus,
      denoFlags: this.loadFlags(`players-${this.pool.length}`),
      nice: this.niceValue("load-nice"),
      cwd: REPO,
    });
    this.children.push(child);
    const entry = { child, count: 0 };
    this.pool.push(entry);
    return entry;
  }

  /** Adds players until there are `n`; returns the join results of the new ones. */
  async growTo(n: number): Promise<Record<string, unknown>[]> {
    const have = this.pool.reduce((a, p) => a + p.count, 0);
    let missing = n - have;
    const batches: { entry: { child: Child; count: number }; ids: number[] }[] = [];
    for (const entry of this.pool) {
      if (missing <= 0) break;
      const take = Math.min(this.config.perProcess - entry.count, missing);
      if (take > 0) {
        batches.push({ entry, ids: Array.from({ length: take }, () => this.nextPlayerId++) });
        missing -= take;
      }
    }
    while (missing > 0) {
      const entry = this.startPlayerProcess();
      const take = Math.min(this.config.perProcess, missing);
      batches.push({ entry, ids: Array.from({ length: take }, () => this.nextPlayerId++) });
      missing -= take;
    }
    const results = await Promise.all(batches.map(async ({ entry, ids }) => {
      entry.count += ids.length;
      const players = await Promise.all(
        ids.map(async (id) => ({ id, token: await this.playerToken(id) })),
      );
      // joins run with bounded concurrency; allow each its timeout plus slack
      const ms = 30_000 + ids.length * 2_000;
      const answer = await entry.child.request({ cmd: "add", players }, "joined", ms);
      return answer.results as Record<string, unknown>[];
    }));
    return results.flat();
  }

  /** The process ids of the load. */
  loadPids(): number[] {
    return this.children.map((c) => c.pid);
  }

  /** The server's /metrics page (not for an external server). */
  async scrapeMetrics(): Promise<string | undefined> {
    if (this.config.external) return undefined;
    try {
      const res = await fetch(`${this.server!.url}/metrics`, { signal: AbortSignal.timeout(5000) });
      return res.ok ? await res.text() : undefined;
    } catch {
      return undefined;
    }
  }

  /** The server's process id, when known. */
  serverPid(): number | undefined {
    if (this.server) return this.server.pid;
    return this.config.args["server-pid"] ? Number(this.config.args["server-pid"]) : undefined;
  }

  /** Reads every counter at one end of a hold. */
  async snapshot(pub: Child): Promise<Snapshot> {
    const pid = this.serverPid();
    const [publisher, procs, metrics] = await Promise.all([
      pub.request({ cmd: "snapshot" }, "snapshot", 10_000),
      Promise.all(this.pool.map((p) => p.child.request({ cmd: "snapshot" }, "snapshot", 20_000))),
      this.scrapeMetrics(),
    ]);
    return {
      uptime: uptimeSeconds(),
      serverCpu: pid === undefined ? undefined : cpuSeconds(pid),
      softirqdCpu: this.#softirqd === undefined ? undefined : cpuSeconds(this.#softirqd),
      cores: coreTimes(),
      loadCpu: [Deno.pid, ...this.loadPids()].reduce((a, p) => a + (cpuSeconds(p) ?? 0), 0),
      playersCpu: this.pool.reduce((a, p) => a + (cpuSeconds(p.child.pid) ?? 0), 0),
      metrics,
      publisher: publisher as unknown as PublisherSnapshot,
      procs: procs as unknown as ProcSnapshot[],
    };
  }

  /** Starts the server (unless external) and the publisher. */
  async startSession(profileDir?: string): Promise<Child> {
    if (!this.config.external) {
      const extraFlags = profileDir
        ? [
          "--cpu-prof",
          `--cpu-prof-dir=${profileDir}`,
          "--cpu-prof-name=server.cpuprofile",
          "--cpu-prof-interval=1000",
        ]
        : [];
      this.recordings = this.config.args.record ? await Deno.makeTempDir() : undefined;
      this.server = await startServer({
        repo: REPO,
        cpus: this.config.pin ? this.config.args["server-cpus"] : undefined,
        nice: this.niceValue("server-nice"),
        extraFlags,
        env: this.recordings ? { RECORDINGS_DIR: this.recordings } : undefined,
      });
      console.log(
        `server: pid ${this.server.pid}, ${this.server.url}, threads pinned to CPU ${
          this.server.affinity.join("/")
        }, nice ${this.niceValue("server-nice")}`,
      );
    }
    const pub = await this.startPublisher();
    if (this.recordings) await this.#startRecording();
    console.log(
      `publisher: connected (${STREAM.fps} fps, keyframe every ${
        STREAM.gopFrames / STREAM.fps
      } s, ` +
        `≈ ${(NOMINAL_PPS.video + NOMINAL_PPS.audio).toFixed(0)} packets/s)`,
    );
    return pub;
  }

  /** `--record`: one recording of the publication, for the whole run (its folder is removed). */
  async #startRecording(): Promise<void> {
    const res = await fetch(`${this.server!.url}/rooms/${this.room}/recordings`, {
      method: "POST",
      headers: { authorization: `Bearer ${await this.publisherToken()}` },
    });
    const body = await res.text();
    if (res.status !== 201) throw new Error(`recording: POST → ${res.status}: ${body}`);
    console.log(`recording: ${JSON.parse(body).id}, into ${this.recordings}`);
  }

  /** Stops the players, the publisher and the server (which then writes its profile, if any). */
  async stopSession(): Promise<void> {
    await Promise.allSettled(this.children.map((c) => c.stop(8000)));
    this.children.length = 0;
    this.pool.length = 0;
    if (this.server) await this.server.child.terminate("SIGTERM", 20_000);
    if (this.recordings) {
      for await (const room of Deno.readDir(this.recordings)) {
        for await (const f of Deno.readDir(`${this.recordings}/${room.name}`)) {
          const size = (await Deno.stat(`${this.recordings}/${room.name}/${f.name}`)).size;
          console.log(`recording: ${f.name}, ${(size / 1e6).toFixed(1)} MB`);
        }
      }
      await Deno.remove(this.recordings, { recursive: true }).catch(() => {});
    }
  }

  /** Grows to `n` players and measures a hold (again while it fails during noise). */
  async step(n: number, pub: Child): Promise<{ r: StepResult; window: [number, number] }> {
    const t0 = performance.now();
    const joins = await this.growTo(n);
    let r: StepResult;
    let window: [number, number];
    for (let attempt = 1;; attempt++) {
      await sleep(this.config.settleS * 1000);
      const waited = await this.untilQuiet(this.config.waitQuietS);
      if (waited > 1.5) {
        console.log(`  waited ${waited.toFixed(0)} s for other processes to calm down`);
      }
      const a = await this.snapshot(pub);
      await sleep(this.config.holdS * 1000);
      const b = await this.snapshot(pub);
      window = [a.uptime, b.uptime];
      r = measure(
        {
          serverPid: this.serverPid(),
          serverCpus: this.config.pin ? this.config.args["server-cpus"] : undefined,
          loadCpus: this.config.loadCpus,
        },
        n,
        joins,
        a,
        b,
      );
      r.attempts = attempt;
      r.waitedSeconds = Math.round(waited);
      const noise = noisy(r);
      if (r.holds || !noise || attempt > this.config.retries || this.interrupted) break;
      console.log(`N=${n}: fails (${r.failed.join(", ")}) while ${noise}: measuring again`);
    }
    console.log(
      `N=${n}: ${r.holds ? "holds" : "fails (" + r.failed.join(", ") + ")"}; server CPU ` +
        `${fmt(r.server.cpuPct)} %, delivered ${fmt(r.delivery.deliveredPct, 2)} %, loss ` +
        `${fmt(r.delivery.lossPct, 3)} %, delay p50/p99 ${fmt(r.delay.p50, 2)}/${
          fmt(r.delay.p99, 2)
        } ms, load core ${fmt(r.load.corePct, 0)} % (${
          ((performance.now() - t0) / 1000).toFixed(0)
        } s)`,
    );
    if (r.loadBound) {
      console.log(
        `  the load used ${fmt(r.load.processesCpuPct, 0)} % of its core (player loop lag p99 ` +
          `${fmt(r.load.playerLagP99Ms)} ms): the load may be what limits here`,
      );
    }
    return { r, window };
  }
}
