/**
 * The cluster bench's output: each hold, the medians per configuration (the origin's cost), and
 * the delay of players on an edge against players on the origin.
 *
 * @module
 */
import { fmt } from "../ramp/report.ts";
import { percentile } from "../load/common.ts";
import type { StepResult } from "../ramp/types.ts";

/** One measured hold. */
export interface Hold {
  round: number;
  /** `direct`: N players on the origin; `edges`: 0 on the origin, N on each edge. */
  config: string;
  /** Players on the origin and on each edge. */
  players: { origin: number; perEdge: number };
  /** Sessions the origin served on the publication (players and relays). */
  originServes?: number;
  /** The origin's CPU and /metrics, with the delivery and delay of every player of the hold. */
  origin: StepResult;
  /** Each edge's CPU and /metrics with its own players. */
  edges: StepResult[];
  /** What other processes used of core 0 (the origin's) and core 1 (edges and load), %. */
  others: { core0?: number; core1?: number };
  /** Holds measured for this one (again while other processes were busy on our cores). */
  attempts: number;
}

/** The median of the defined values. */
export function median(xs: (number | undefined)[]): number | undefined {
  const v = xs.filter((x): x is number => x !== undefined && Number.isFinite(x)).sort((a, b) =>
    a - b
  );
  return percentile(v, 50);
}

function markdown(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    "| " + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join(" | ") +
    " |";
  const rule = "|" + widths.map((w, i) => "-".repeat(w + 1) + (i === 0 ? "-" : ":")).join("|") +
    "|";
  return [line(header), rule, ...rows.map(line)].join("\n");
}

const HEADER = [
  "configuration",
  "origin serves",
  "origin CPU %",
  "origin µs / packet",
  "origin packets/s sent",
  "origin loop lag p99 ms",
  "edge CPU % (each)",
  "delivered %",
  "loss %",
  "delay p50 ms",
  "delay p99 ms",
  "load core %",
  "others on core 0 / 1 %",
];

function describe(h: { config: string; players: Hold["players"] }): string {
  return h.players.perEdge === 0
    ? `${h.players.origin} players on the origin`
    : `${h.players.origin} on the origin, 2 edges × ${h.players.perEdge}`;
}

function row(label: string, hs: Hold[]): string[] {
  const m = (f: (h: Hold) => number | undefined) => median(hs.map(f));
  const edgeCpu = hs.some((h) => h.players.perEdge > 0)
    ? fmt(median(hs.flatMap((h) => h.edges.map((e) => e.server.cpuPct))))
    : "–";
  return [
    label,
    fmt(m((h) => h.originServes), 0),
    fmt(m((h) => h.origin.server.cpuPct)),
    fmt(m((h) => h.origin.server.usPerPacket), 1),
    fmt(m((h) => (h.origin.server.sentPackets ?? NaN) / h.origin.holdSeconds), 0),
    fmt(m((h) => h.origin.server.lagP99Ms)),
    edgeCpu,
    fmt(m((h) => h.origin.delivery.deliveredPct), 2),
    fmt(m((h) => h.origin.delivery.lossPct), 3),
    fmt(m((h) => h.origin.delay.p50), 2),
    fmt(m((h) => h.origin.delay.p99), 2),
    fmt(m((h) => h.origin.load.corePct), 0),
    `${fmt(m((h) => h.others.core0), 0)} / ${fmt(m((h) => h.others.core1), 0)}`,
  ];
}

/** Every hold, one row each. */
export function holdsTable(holds: Hold[]): string {
  return markdown(
    ["round", ...HEADER],
    holds.map((h) => {
      const [label, ...rest] = row(describe(h), [h]);
      return [String(h.round), label, ...rest];
    }),
  );
}

/** The median of each configuration over its rounds. */
export function mediansTable(holds: Hold[]): string {
  const configs = [...new Set(holds.map((h) => h.config))];
  return markdown(
    HEADER,
    configs.map((c) => {
      const hs = holds.filter((h) => h.config === c);
      return row(`${describe(hs[0])} (${hs.length} holds)`, hs);
    }),
  );
}

/** The one-way delay of players on an edge against players on the origin. */
export function hopTable(holds: Hold[], direct: string, edges: string): string {
  const d = holds.filter((h) => h.config === direct);
  const e = holds.filter((h) => h.config === edges);
  const p50d = median(d.map((h) => h.origin.delay.p50)),
    p99d = median(d.map((h) => h.origin.delay.p99));
  const p50e = median(e.map((h) => h.origin.delay.p50)),
    p99e = median(e.map((h) => h.origin.delay.p99));
  const samples = (hs: Hold[]) => String(hs.reduce((a, h) => a + h.origin.delay.samples, 0));
  const diff = (x?: number, y?: number) =>
    x === undefined || y === undefined ? "–" : `${x - y >= 0 ? "+" : ""}${(x - y).toFixed(2)}`;
  return markdown(["players (median of the holds)", "delay p50 ms", "delay p99 ms", "samples"], [
    [
      `on the origin (${describe(d[0] ?? { config: "", players: { origin: 0, perEdge: 0 } })})`,
      fmt(p50d, 2),
      fmt(p99d, 2),
      samples(d),
    ],
    [
      `on an edge (${describe(e[0] ?? { config: "", players: { origin: 0, perEdge: 0 } })})`,
      fmt(p50e, 2),
      fmt(p99e, 2),
      samples(e),
    ],
    ["added by the origin → edge hop", diff(p50e, p50d), diff(p99e, p99d), ""],
  ]);
}
