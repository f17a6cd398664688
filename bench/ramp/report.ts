/**
 * The ramp's output: the steps as a Markdown table, a comparison with an earlier result file,
 * and why a hold was noisy.
 *
 * @module
 */
import { NOISE_LOAD_CORE, NOISE_SERVER_CORE } from "./config.ts";
import type { StepResult } from "./types.ts";

/** A number with `digits` decimals, "–" when missing, "∞" when infinite. */
export function fmt(x: number | undefined, digits = 1): string {
  if (x === undefined || Number.isNaN(x)) return "–";
  if (!Number.isFinite(x)) return "∞";
  return x.toFixed(digits);
}

/** The steps as a Markdown table. */
export function table(steps: StepResult[]): string {
  const header = [
    "players",
    "joined",
    "join p50/p95 ms",
    "server CPU %",
    "of which ksoftirqd %",
    "µs / packet",
    "dgrams / call",
    "others on its core %",
    "RSS MiB",
    "loop lag p99 ms",
    "delivered %",
    "loss %",
    "reordered %",
    "load drops",
    "delay p50 ms",
    "delay p99 ms",
    "in-order p99 ms",
    "NACKs",
    "load CPU %",
    "load core %",
    "holds",
  ];
  const rows = steps.map((s) => [
    `${s.n}${s.refinement ? "*" : ""}`,
    String(s.joined),
    `${fmt(s.joinMs.p50, 0)} / ${fmt(s.joinMs.p95, 0)}`,
    fmt(s.server.cpuPct),
    fmt(s.server.ksoftirqdPct),
    fmt(s.server.usPerPacket, 1),
    fmt(s.server.datagramsPerCall, 1),
    fmt(s.server.othersOnCorePct, 0),
    fmt(s.server.rssMiB, 0),
    fmt(s.server.lagP99Ms),
    fmt(s.delivery.deliveredPct, 2),
    fmt(s.delivery.lossPct, 3),
    fmt(s.delivery.receivedPackets ? (100 * s.delivery.late) / s.delivery.receivedPackets : 0, 2),
    String(s.delivery.loadDrops),
    fmt(s.delay.p50, 2),
    fmt(s.delay.p99, 2),
    fmt(s.delay.inOrder?.p99, 2),
    String(s.delivery.nackPackets),
    fmt(s.load.processesCpuPct, 0) + (s.loadBound ? " (!)" : ""),
    fmt(s.load.corePct, 0),
    s.holds ? "yes" : `no: ${s.failed.join(", ")}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    "| " +
    cells.map((c, i) => (i === cells.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join(" | ") +
    " |";
  const rule = "|" + widths.map((w, i) => "-".repeat(w + 1) + (i === widths.length - 1 ? "-" : ":"))
    .join("|") +
    "|";
  const notes = steps.some((s) => s.refinement)
    ? ["* bisection after the ramp, on a fresh server"]
    : [];
  return [line(header), rule, ...rows.map(line), ...notes].join("\n");
}

/** The change of each step against the result file at `path`. */
export function compare(steps: StepResult[], path: string): string {
  const old = JSON.parse(Deno.readTextFileSync(path)) as { steps?: StepResult[]; date?: string };
  const lines = [`compared with ${path} (${old.date ?? "?"}):`];
  for (const s of steps) {
    const o = old.steps?.find((x) => x.n === s.n);
    if (!o) continue;
    const delta = (a?: number, b?: number) =>
      a === undefined || b === undefined ? "–" : `${fmt(b)} → ${fmt(a)}`;
    lines.push(
      `  N=${s.n}: server CPU ${delta(s.server.cpuPct, o.server.cpuPct)} %, ` +
        `delay p99 ${delta(s.delay.p99, o.delay.p99)} ms, ` +
        `delivered ${delta(s.delivery.deliveredPct, o.delivery.deliveredPct)} %`,
    );
  }
  return lines.join("\n");
}

/** Why a hold was noisy (other processes on our cores), or undefined. */
export function noisy(r: StepResult): string | undefined {
  const reasons: string[] = [];
  if ((r.server.othersOnCorePct ?? 0) > NOISE_SERVER_CORE) {
    reasons.push(`other processes used ${fmt(r.server.othersOnCorePct, 0)} % of the server's core`);
  }
  if ((r.load.othersOnCorePct ?? 0) > NOISE_LOAD_CORE) {
    reasons.push(`other processes used ${fmt(r.load.othersOnCorePct, 0)} % of the load core`);
  }
  return reasons.length ? reasons.join(" and ") : undefined;
}
