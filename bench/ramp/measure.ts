/**
 * One step's figures from the two snapshots around its hold: the server's CPU, lag and packets
 * (from /proc and its /metrics page), delivery, loss and delay at the players, the load.
 *
 * @module
 */
import { lagQuantile, type LagSnapshot } from "../../src/metrics/loop-lag.ts";
import { percentile } from "../load/common.ts";
import { coreBusy, rssBytes, threadCount } from "../load/proc.ts";
import { CRITERIA, LOAD_BOUND, LOAD_BOUND_LAG_MS } from "./config.ts";
import type { Snapshot, StepResult } from "./types.ts";

/** Rounds to two decimals (undefined stays undefined). */
export const ms = (x: number | undefined): number | undefined =>
  x === undefined ? undefined : Math.round(x * 100) / 100;

/** Datagrams per system call, when the native path made calls. */
export function perCall(datagrams?: number, calls?: number): number | undefined {
  return datagrams !== undefined && calls ? ms(datagrams / calls) : undefined;
}

/** The `sfu_event_loop_lag_seconds` histogram of a /metrics page, in ms. */
export function parseLag(text: string | undefined): LagSnapshot | undefined {
  if (!text) return undefined;
  const bounds: number[] = [];
  const cumulative: number[] = [];
  let inf = 0, sum = 0, count = 0, max = 0;
  for (const line of text.split("\n")) {
    let m = /^sfu_event_loop_lag_seconds_bucket\{le="([^"]+)"\} (\S+)$/.exec(line);
    if (m) {
      if (m[1] === "+Inf") inf = Number(m[2]);
      else {
        bounds.push(Number(m[1]) * 1000);
        cumulative.push(Number(m[2]));
      }
      continue;
    }
    if ((m = /^sfu_event_loop_lag_seconds_sum (\S+)$/.exec(line))) sum = Number(m[1]) * 1000;
    if ((m = /^sfu_event_loop_lag_seconds_count (\S+)$/.exec(line))) count = Number(m[1]);
    if ((m = /^sfu_event_loop_lag_max_seconds (\S+)$/.exec(line))) max = Number(m[1]) * 1000;
  }
  if (bounds.length === 0) return undefined;
  const counts = cumulative.map((c, i) => c - (i === 0 ? 0 : cumulative[i - 1]));
  counts.push(inf - (cumulative[cumulative.length - 1] ?? 0));
  return { bucketsMs: bounds, counts, sumMs: sum, count, maxMs: max };
}

/** The sum of every sample of metric `name` (all label sets) on a /metrics page. */
export function metricSum(text: string | undefined, name: string): number | undefined {
  if (!text) return undefined;
  let sum: number | undefined;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && m[1] === name) sum = (sum ?? 0) + Number(m[3]);
  }
  return sum;
}

/** Where the server and the load run, for {@link measure}. */
export interface MeasureContext {
  /** The server's process id, when known. */
  serverPid?: number;
  /** The server's core (when pinned). */
  serverCpus?: string;
  /** The load's core (when pinned). */
  loadCpus?: string;
}

/** The figures of a step with `n` players from the snapshots `a` and `b` around its hold. */
export function measure(
  where: MeasureContext,
  n: number,
  joins: Record<string, unknown>[],
  a: Snapshot,
  b: Snapshot,
): StepResult {
  const holdSeconds = b.uptime - a.uptime;
  const pid = where.serverPid;
  // publisher
  const pa = a.publisher, pb = b.publisher;
  const pubDt = (pb.at - pa.at) / 1000;
  const d = (k: string) => (pb.counters[k] ?? 0) - (pa.counters[k] ?? 0);
  const pubPps = (d("video") + d("audio")) / pubDt;
  // players: per process, the players present at both ends
  let expectedWindow = 0,
    receivedWindow = 0,
    late = 0,
    keyframes = 0,
    nackPackets = 0,
    nackSeqs = 0,
    rateSum = 0,
    notConnected = 0,
    counted = 0,
    loadDrops = 0,
    authFailures = 0,
    duplicates = 0;
  const lostPlayers: Record<string, unknown>[] = [];
  const delays: number[] = [];
  const inOrder: number[] = [];
  const outOfOrder: number[] = [];
  b.procs.forEach((pb2, i) => {
    const pa2 = a.procs[i];
    const before = new Map((pa2?.players ?? []).map((p) => [p.id, p]));
    const dt = pa2 ? (pb2.at - pa2.at) / 1000 : holdSeconds;
    for (const p of pb2.players) {
      const q = before.get(p.id);
      if (p.state !== 2) {
        notConnected++;
        if (lostPlayers.length < 5) lostPlayers.push({ ...p, hadCounters: q !== undefined });
      }
      if (!q) continue;
      counted++;
      expectedWindow += p.expected - q.expected;
      const dups = (p.duplicates ?? 0) - (q.duplicates ?? 0);
      receivedWindow += p.received - q.received - dups;
      duplicates += dups;
      late += p.late - q.late;
      keyframes += p.keyframes - q.keyframes;
      nackPackets += p.nackPackets - q.nackPackets;
      nackSeqs += p.nackSeqs - q.nackSeqs;
      loadDrops += (p.kernelDrops ?? 0) - (q.kernelDrops ?? 0);
      authFailures += (p.authFailures ?? 0) - (q.authFailures ?? 0);
      rateSum += (p.received - q.received - dups) / dt;
    }
    for (const x of pb2.delays) inOrder.push(x);
    for (const x of pb2.lateDelays ?? []) outOfOrder.push(x);
  });
  inOrder.sort((x, y) => x - y);
  outOfOrder.sort((x, y) => x - y);
  // (not push(...spread): a long hold gathers more samples than a call takes arguments)
  for (const x of inOrder) delays.push(x);
  for (const x of outOfOrder) delays.push(x);
  delays.sort((x, y) => x - y);
  const deliveredPct = pubPps > 0 ? (100 * rateSum) / (n * pubPps) : 0;
  const lossPct = expectedWindow > 0
    ? (100 * (expectedWindow - receivedWindow)) / expectedWindow
    : 0;
  // server
  const processCpuPct = a.serverCpu !== undefined && b.serverCpu !== undefined
    ? (100 * (b.serverCpu - a.serverCpu)) / holdSeconds
    : undefined;
  const ksoftirqdPct = a.softirqdCpu !== undefined && b.softirqdCpu !== undefined
    ? (100 * (b.softirqdCpu - a.softirqdCpu)) / holdSeconds
    : undefined;
  // the server's work includes the receive work of its sends that its core's ksoftirqd took
  const serverCpuPct = processCpuPct === undefined
    ? undefined
    : processCpuPct + (ksoftirqdPct ?? 0);
  const busy = coreBusy(a.cores, b.cores);
  const coreOf = (list: string | undefined, part: "busy" | "softirq" = "busy") => {
    if (!list || list.includes(",") || list.includes("-")) return undefined;
    const v = busy[`cpu${list}`];
    return v === undefined ? undefined : 100 * v[part];
  };
  const lagA = parseLag(a.metrics), lagB = parseLag(b.metrics);
  const delta = (name: string) => {
    const x = metricSum(a.metrics, name), y = metricSum(b.metrics, name);
    return x === undefined || y === undefined ? undefined : y - x;
  };
  const sentPackets = delta("sfu_rtp_packets_sent_total");
  const packetsForCpu = sentPackets ?? receivedWindow;
  const lagMean = lagA && lagB && lagB.count > lagA.count
    ? (lagB.sumMs - lagA.sumMs) / (lagB.count - lagA.count)
    : undefined;
  // load processes' own event loops (the worst process)
  let playerLagP99: number | undefined;
  b.procs.forEach((pb2, i) => {
    const pa2 = a.procs[i];
    if (!pa2) return;
    const q = lagQuantile(pa2.lag, pb2.lag, 0.99);
    if (q !== undefined) playerLagP99 = Math.max(playerLagP99 ?? 0, q);
  });
  const joined = b.procs.reduce((x, p) => x + p.players.filter((q) => q.state === 2).length, 0);
  const joinTimes = joins.filter((j) => j.ok).map((j) => j.firstRtpMs as number).sort((x, y) =>
    x - y
  );
  const postTimes = joins.filter((j) => j.postMs !== undefined).map((j) => j.postMs as number)
    .sort((x, y) => x - y);
  const loadCorePct = coreOf(where.loadCpus);
  const serverCorePct = where.serverCpus !== undefined ? coreOf(where.serverCpus) : undefined;
  const serverSoftirqPct = where.serverCpus !== undefined
    ? coreOf(where.serverCpus, "softirq")
    : undefined;
  const loadProcessesPct = (100 * (b.loadCpu - a.loadCpu)) / holdSeconds;
  const others = (core?: number, own?: number) =>
    core === undefined || own === undefined ? undefined : ms(Math.max(0, core - own));
  const result: StepResult = {
    n,
    joined,
    joinFailures: joins.filter((j) => !j.ok).length,
    joinErrors: [...new Set(joins.filter((j) => !j.ok).map((j) => String(j.error)))].slice(0, 5),
    joinMs: {
      p50: ms(percentile(joinTimes, 50)),
      p95: ms(percentile(joinTimes, 95)),
      max: ms(joinTimes[joinTimes.length - 1]),
    },
    postMs: { p50: ms(percentile(postTimes, 50)), p95: ms(percentile(postTimes, 95)) },
    holdSeconds: ms(holdSeconds)!,
    server: {
      cpuPct: ms(serverCpuPct),
      processCpuPct: ms(processCpuPct),
      ksoftirqdPct: ms(ksoftirqdPct),
      rssMiB: pid === undefined ? undefined : ms((rssBytes(pid) ?? 0) / 2 ** 20),
      threads: pid === undefined ? undefined : threadCount(pid),
      lagP50Ms: lagA && lagB ? ms(lagQuantile(lagA, lagB, 0.5)) : undefined,
      lagP99Ms: lagA && lagB ? ms(lagQuantile(lagA, lagB, 0.99)) : undefined,
      lagMeanMs: ms(lagMean),
      corePct: ms(serverCorePct),
      sentPackets,
      retransmissions: delta("sfu_retransmissions_total"),
      datagramsPerCall: perCall(
        delta("sfu_egress_packets_total"),
        delta("sfu_egress_send_calls_total"),
      ),
      usPerPacket: serverCpuPct !== undefined && packetsForCpu > 0
        ? ms((serverCpuPct / 100) * holdSeconds * 1e6 / packetsForCpu)
        : undefined,
      softirqPct: ms(serverSoftirqPct),
      othersOnCorePct: others(serverCorePct, (processCpuPct ?? 0) + (serverSoftirqPct ?? 0)),
    },
    load: {
      corePct: ms(loadCorePct),
      processesCpuPct: ms(loadProcessesPct)!,
      ffiPlayers: b.procs.reduce((x, p) => x + p.players.filter((q) => q.ffi).length, 0),
      ffiWakeupsPerSecond: ms(
        b.procs.reduce((x, p, i) => x + (p.rx?.wakeups ?? 0) - (a.procs[i]?.rx?.wakeups ?? 0), 0) /
          holdSeconds,
      ),
      playersUsPerPacket: receivedWindow > 0
        ? ms(((b.playersCpu - a.playersCpu) * 1e6) / receivedWindow)
        : undefined,
      othersOnCorePct: others(loadCorePct, loadProcessesPct),
      playerLagP99Ms: ms(playerLagP99),
    },
    publisher: {
      pps: ms(pubPps)!,
      videoPps: ms(d("video") / pubDt)!,
      audioPps: ms(d("audio") / pubDt)!,
      mbps: ms((d("bytes") * 8) / pubDt / 1e6)!,
      plis: d("plis") + d("firs"),
      keyframes: d("keyframes"),
      keyframesOnRequest: d("keyframesOnRequest"),
      lateFrames: d("lateFrames"),
      lagP99Ms: ms(lagQuantile(pa.lag, pb.lag, 0.99)),
    },
    delivery: {
      expectedPackets: Math.round(n * pubPps * holdSeconds),
      receivedPackets: receivedWindow,
      deliveredPct: ms(deliveredPct)!,
      lossPct: Math.round(lossPct * 1000) / 1000,
      late,
      duplicates,
      keyframesPerPlayer: counted ? ms(keyframes / counted)! : 0,
      nackPackets,
      nackSeqs,
      loadDrops,
      authFailures,
      ppsPerPlayer: counted ? ms(rateSum / counted)! : 0,
      notConnected,
      notConnectedPlayers: lostPlayers.length ? lostPlayers : undefined,
    },
    delay: {
      samples: delays.length,
      p50: ms(percentile(delays, 50)),
      p90: ms(percentile(delays, 90)),
      p99: ms(percentile(delays, 99)),
      max: ms(delays[delays.length - 1]),
      inOrder: {
        samples: inOrder.length,
        p50: ms(percentile(inOrder, 50)),
        p99: ms(percentile(inOrder, 99)),
      },
      outOfOrder: {
        samples: outOfOrder.length,
        p50: ms(percentile(outOfOrder, 50)),
        p99: ms(percentile(outOfOrder, 99)),
      },
    },
    holds: false,
    failed: [],
    loadBound: false,
  };
  const failed = result.failed;
  if (joined < n) failed.push(`${n - joined} players not connected`);
  if (!(lossPct < CRITERIA.lossPct)) failed.push(`loss ${lossPct.toFixed(2)} %`);
  if (result.delivery.authFailures > 0) {
    failed.push(`${result.delivery.authFailures} sampled packets failed SRTP authentication`);
  }
  if (result.delay.p99 === undefined) failed.push("no delay samples");
  else if (!(result.delay.p99 < CRITERIA.delayP99Ms)) failed.push(`p99 ${result.delay.p99} ms`);
  if (serverCpuPct !== undefined && !(serverCpuPct < CRITERIA.serverCpuPct)) {
    failed.push(`server CPU ${serverCpuPct.toFixed(0)} %`);
  }
  result.holds = failed.length === 0;
  result.loadBound = loadProcessesPct / 100 > LOAD_BOUND ||
    (playerLagP99 ?? 0) > LOAD_BOUND_LAG_MS;
  return result;
}
