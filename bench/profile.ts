/**
 * Summarises a V8 CPU profile (`deno run --cpu-prof`) of the server: self time by function and
 * by area (SRTP/crypto, UDP send/recv, RTP parse/serialize, werift sender JS, …), restricted to a
 * time window, and per forwarded packet.
 *
 * werift ships as one bundled file (`lib/index.mjs`); its `// ../rtp/src/srtp/…` comments say
 * which original source each line comes from, and that is how a werift frame gets its area.
 *
 * ```sh
 * deno run -A bench/profile.ts server.cpuprofile [--from S --to S] [--packets N] [--cpu S] [--top 25]
 * ```
 * (`--from`/`--to` in seconds since boot, as `/proc/uptime`: V8's profile clock on Linux.)
 *
 * @module
 */
import { parseArgs } from "node:util";

/** A V8 `.cpuprofile`. */
export interface CpuProfile {
  nodes: {
    id: number;
    callFrame: {
      functionName: string;
      url: string;
      lineNumber: number;
      columnNumber: number;
      scriptId?: string | number;
    };
    children?: number[];
  }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Options of {@link summarise}. */
export interface SummaryOptions {
  /** Only samples in [from, to], seconds on the profile's clock (Linux: `/proc/uptime`). */
  windowSeconds?: [number, number];
  /** Packets forwarded in that window (for µs per packet). */
  packets?: number;
  /** CPU seconds the whole process used in that window (all threads, from `/proc`). */
  processCpuSeconds?: number;
  /** How many functions to list. */
  top?: number;
}

/** One row of the summary. */
export interface Row {
  name: string;
  area: string;
  selfMs: number;
  pct: number;
  usPerPacket?: number;
}

/** What {@link summarise} returns. */
export interface ProfileSummary {
  /** The profile it summarises. */
  file?: string;
  windowMs: number;
  sampledMs: number;
  busyMs: number;
  idleMs: number;
  packets?: number;
  processCpuMs?: number;
  /** Process CPU per packet (all threads), µs. */
  usPerPacket?: number;
  /** Sampled main-thread busy time per packet, µs. */
  mainThreadUsPerPacket?: number;
  areas: Row[];
  functions: Row[];
}

/** Areas, in the order the report lists them. */
export const AREAS = [
  "SRTP / crypto",
  "UDP send / receive",
  "RTP / RTCP parse + serialize",
  "werift sender JS",
  "werift ICE / DTLS transport JS",
  "werift receive, router, RTCP JS",
  "werift other (events, helpers, peer connection)",
  "our code (src/, routes/)",
  "HTTP, JWT libraries",
  "handshakes (DTLS keys, certificates: joins)",
  "runtime (event loop, streams, promises, Buffer)",
  "GC",
  "native, not attributed (program)",
  "other",
] as const;

const bundleMaps = new Map<string, { lines: number[]; paths: string[] }>();

/** Original source path of a line of a bundled werift file, from its `// ../pkg/src/…` comments. */
function bundleSource(url: string, line: number): string | undefined {
  let map = bundleMaps.get(url);
  if (!map) {
    map = { lines: [], paths: [] };
    try {
      const text = Deno.readTextFileSync(new URL(url));
      text.split("\n").forEach((l, i) => {
        // `// ../rtp/src/srtp/srtp.ts` (another werift package) or `// src/media/rtpSender.ts` (webrtc)
        const m = /^\/\/ ((?:\.\.\/)*)([\w\-/.]+\.[jt]s)$/.exec(l);
        if (m) {
          map!.lines.push(i);
          map!.paths.push(m[1] ? m[2] : `webrtc/${m[2]}`);
        }
      });
    } catch {
      // not readable: areas by URL only
    }
    bundleMaps.set(url, map);
  }
  let lo = 0, hi = map.lines.length - 1, found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (map.lines[mid] <= line) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found >= 0 ? map.paths[found] : undefined;
}

/** Area of frames that belong to no area of their own: charged to their caller's. */
const GENERIC = "runtime (event loop, streams, promises, Buffer)";

/**
 * The area of one call frame, and a readable location. Runtime helpers that serve whoever calls
 * them (Buffer, events, timers, promises, most ops) get {@link GENERIC}; {@link summarise}
 * charges their time to the nearest caller with an area of its own.
 */
export function classifyFrame(
  frame: CpuProfile["nodes"][number]["callFrame"],
): { area: string; where: string } {
  const { functionName: fn, url, lineNumber } = frame;
  if (fn === "(garbage collector)") return { area: "GC", where: "" };
  if (fn === "(program)") return { area: "native, not attributed (program)", where: "" };
  if (/werift/.test(url)) {
    const src = bundleSource(url, lineNumber) ?? "";
    const where = `werift ${src}:${lineNumber + 1}`;
    if (/^rtp\/src\/srtp\/|^dtls\/src\/cipher\//.test(src)) return { area: "SRTP / crypto", where };
    if (/^common\/src\/transport/.test(src)) return { area: "UDP send / receive", where };
    if (/^rtp\/src\//.test(src)) return { area: "RTP / RTCP parse + serialize", where };
    if (/^webrtc\/src\/media\/(rtpSender|sender\/)|^webrtc\/src\/utils/.test(src)) {
      return { area: "werift sender JS", where };
    }
    if (/^(webrtc\/src\/transport\/|ice\/|ice-server\/|dtls\/|webrtc\/src\/secure)/.test(src)) {
      return { area: "werift ICE / DTLS transport JS", where };
    }
    if (/^webrtc\/src\/media\//.test(src)) {
      return { area: "werift receive, router, RTCP JS", where };
    }
    return { area: "werift other (events, helpers, peer connection)", where };
  }
  const short = url.replace(/^file:\/\/.*?\/(src|routes|bench|tests)\//, "$1/")
    .replace(/^file:\/\/.*\/node_modules\/\.deno\/([^/]+)\/.*$/, "$1");
  const where = url ? `${short}:${lineNumber + 1}` : "(native)";
  if (
    /internal\/crypto|deno_crypto/.test(url) ||
    /^op_node_(cipheriv|decipheriv|create_(de)?cipheriv|hmac)/.test(fn)
  ) {
    return { area: "SRTP / crypto", where };
  }
  if (/dgram|udp_wrap|deno_net/.test(url) || /^op_node_udp|^op_net_(send|recv)/.test(fn)) {
    return { area: "UDP send / receive", where };
  }
  if (/^file:\/\/.*\/(src|routes)\//.test(url)) return { area: "our code (src/, routes/)", where };
  if (/node_modules\/.*(hono|jose|zod)/.test(url)) return { area: "HTTP, JWT libraries", where };
  if (
    /node_modules\/.*(tweetnacl|@noble|@peculiar|asn1|@fidm|pvtsutils)/.test(url) ||
    /^op_node_(sign|create_private_key|generate|ecdh|x25519)/.test(fn)
  ) {
    return { area: "handshakes (DTLS keys, certificates: joins)", where };
  }
  if (/^(ext:|node:)/.test(url) || url === "") return { area: GENERIC, where };
  return { area: "other", where };
}

/** Self time by function and by area within the window. */
export function summarise(profile: CpuProfile, options: SummaryOptions = {}): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  /** The area of a node: its own, or for a generic runtime frame its nearest caller's. */
  const areaOf = (id: number): string => {
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const node = byId.get(at);
      if (!node) break;
      const fn = node.callFrame.functionName;
      if (fn === "(root)") break;
      const { area } = classifyFrame(node.callFrame);
      if (area !== GENERIC) return area;
    }
    return GENERIC;
  };
  const [from, to] = options.windowSeconds
    ? [options.windowSeconds[0] * 1e6, options.windowSeconds[1] * 1e6]
    : [profile.startTime, profile.endTime];
  const selfUs = new Map<number, number>();
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i];
    // a sample stands for the interval up to the next one
    const dt = profile.timeDeltas[i + 1] ?? 0;
    if (t < from || t > to) continue;
    selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + dt);
  }
  const functions = new Map<string, Row>();
  const areas = new Map<string, number>();
  let idle = 0, sampled = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    sampled += us;
    const fn = node.callFrame.functionName;
    if (fn === "(idle)" || fn === "(root)") {
      idle += us;
      continue;
    }
    const { where } = classifyFrame(node.callFrame);
    const area = areaOf(id);
    const name = `${fn || "(anonymous)"}${where ? " " + where : ""}`;
    // a helper (Buffer, events) is listed once per area it worked for
    const key = `${name}\u0000${area}`;
    const row = functions.get(key) ?? { name, area, selfMs: 0, pct: 0 };
    row.selfMs += us / 1000;
    functions.set(key, row);
    areas.set(area, (areas.get(area) ?? 0) + us / 1000);
  }
  const busyMs = (sampled - idle) / 1000;
  const packets = options.packets;
  const per = (msValue: number) =>
    packets ? Math.round((msValue * 1000 * 1000) / packets) / 1000 : undefined;
  const finish = (r: Row): Row => ({
    ...r,
    selfMs: Math.round(r.selfMs * 10) / 10,
    pct: busyMs ? Math.round((1000 * r.selfMs) / busyMs) / 10 : 0,
    usPerPacket: per(r.selfMs),
  });
  const areaRows = [...areas].map(([area, selfMs]) => finish({ name: area, area, selfMs, pct: 0 }))
    .sort((a, b) => b.selfMs - a.selfMs);
  const fnRows = [...functions.values()].map(finish).sort((a, b) => b.selfMs - a.selfMs)
    .slice(0, options.top ?? 25);
  const processCpuMs = options.processCpuSeconds === undefined
    ? undefined
    : options.processCpuSeconds * 1000;
  return {
    windowMs: Math.round((to - from) / 1000),
    sampledMs: Math.round(sampled / 1000),
    busyMs: Math.round(busyMs),
    idleMs: Math.round(idle / 1000),
    packets,
    processCpuMs: processCpuMs === undefined ? undefined : Math.round(processCpuMs),
    usPerPacket: processCpuMs !== undefined ? per(processCpuMs) : undefined,
    mainThreadUsPerPacket: per(busyMs),
    areas: areaRows,
    functions: fnRows,
  };
}

/** The summary as text (two Markdown tables and a few lines). */
export function formatSummary(s: ProfileSummary): string {
  const lines: string[] = [];
  lines.push(
    `window ${(s.windowMs / 1000).toFixed(1)} s: main thread busy ${
      (s.busyMs / 1000).toFixed(2)
    } s ` +
      `(${((100 * s.busyMs) / Math.max(1, s.windowMs)).toFixed(0)} %), idle ${
        (s.idleMs / 1000).toFixed(2)
      } s` +
      (s.processCpuMs !== undefined
        ? `; whole process (all threads, /proc) ${(s.processCpuMs / 1000).toFixed(2)} s`
        : ""),
  );
  if (s.packets) {
    lines.push(
      `${s.packets} packets forwarded: ${s.mainThreadUsPerPacket} µs of main-thread time per packet` +
        (s.usPerPacket !== undefined ? `, ${s.usPerPacket} µs of process CPU per packet` : ""),
    );
  }
  const tableOf = (rows: Row[], first: string, withArea: boolean) => {
    const out = [
      `| ${first} |${withArea ? " area |" : ""} self ms | % of busy | µs / packet |`,
      `| --- |${withArea ? " --- |" : ""} ---: | ---: | ---: |`,
    ];
    for (const r of rows) {
      out.push(
        `| ${r.name} |${withArea ? ` ${r.area} |` : ""} ${r.selfMs.toFixed(0)} | ${
          r.pct.toFixed(1)
        } | ${r.usPerPacket?.toFixed(2) ?? "–"} |`,
      );
    }
    return out.join("\n");
  };
  lines.push(
    "",
    tableOf(s.areas, "area", false),
    "",
    tableOf(s.functions, "function (self time)", true),
  );
  return lines.join("\n");
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args.filter((a) => a !== "--"),
    allowPositionals: true,
    options: {
      from: { type: "string" },
      to: { type: "string" },
      packets: { type: "string" },
      cpu: { type: "string" },
      top: { type: "string", default: "25" },
      json: { type: "boolean", default: false },
    },
  });
  if (positionals.length !== 1) {
    console.error(
      "usage: deno run -A bench/profile.ts FILE.cpuprofile [--from S --to S] [--packets N] [--cpu S] [--top N] [--json]",
    );
    Deno.exit(2);
  }
  const profile = JSON.parse(await Deno.readTextFile(positionals[0])) as CpuProfile;
  const summary = summarise(profile, {
    windowSeconds: values.from && values.to ? [Number(values.from), Number(values.to)] : undefined,
    packets: values.packets ? Number(values.packets) : undefined,
    processCpuSeconds: values.cpu ? Number(values.cpu) : undefined,
    top: Number(values.top),
  });
  console.log(values.json ? JSON.stringify(summary, null, 2) : formatSummary(summary));
}
