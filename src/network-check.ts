/**
 * The start-up network check: which media candidates every answer will carry (address, port,
 * transport, type), and a warning in words when none of them can be reached from outside this
 * machine's network — only private, loopback or reserved addresses, nothing in ANNOUNCED_IPS and
 * no STUN answer — the case that fails for every user outside the LAN, silently, after the 201;
 * and one when the kernel gave the shared UDP port a smaller receive buffer than asked.
 *
 * @module
 */

import type { Config } from "./config.ts";
import type { MediaPorts } from "./media/transport/ports.ts";
import { KERNEL_BUFFER_BYTES } from "./media/transport/udp-mux.ts";

/** What the check looks at (from the configuration and the opened media ports). */
export interface NetworkFacts {
  /** The machine's addresses used for host candidates. */
  addresses: string[];
  /** The shared UDP port, a port range (a port per session), or none (ICE_TRANSPORTS=tcp). */
  udp?: { port: number } | { range: [number, number] };
  /** The ICE-TCP port, when TCP candidates are offered. */
  tcpPort?: number;
  /** ANNOUNCED_IPS. */
  announcedIps: string[];
  /** The STUN servers configured (`stun:` URLs of ICE_SERVERS). */
  stunUrls: string[];
  /** The shared UDP port's public addresses a STUN server reported. */
  reflexive: { local: string; mapped: [string, number] }[];
  /** Whether a TURN server is configured (clients get it in `Link` headers). */
  turn: boolean;
  /** The shared UDP port's kernel receive buffer, bytes, when it is known. */
  receiveBuffer?: number;
}

/** The check's result: the candidates, one line each, and the warnings. */
export interface NetworkReport {
  /** `udp 192.0.2.10:8189 host`, … */
  candidates: string[];
  /** Sentences; empty when the candidates can be reached from outside. */
  warnings: string[];
}

const NOT_PUBLIC: [number, number][] = [
  [0x0a000000, 8], // 10/8
  [0xac100000, 12], // 172.16/12
  [0xc0a80000, 16], // 192.168/16
  [0x64400000, 10], // 100.64/10, carrier-grade NAT
  [0x7f000000, 8], // loopback
  [0xa9fe0000, 16], // link-local
  [0xc0000200, 24], // TEST-NET-1
  [0xc6336400, 24], // TEST-NET-2
  [0xcb007100, 24], // TEST-NET-3
  [0xc6120000, 15], // benchmarking
];

/** Whether an IPv4 address can be reached from the internet (not private, loopback, reserved). */
export function isPublicIpv4(address: string): boolean {
  const parts = address.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !(p >= 0 && p <= 255))) return false;
  const value = ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
  return !NOT_PUBLIC.some(([net, bits]) => (value >>> (32 - bits)) === (net >>> (32 - bits)));
}

/** Lists the candidates an answer carries and warns when none is reachable from outside. */
export function checkNetwork(facts: NetworkFacts): NetworkReport {
  const hosts = facts.announcedIps.length > 0 ? facts.announcedIps : facts.addresses;
  const candidates: string[] = [];
  const udp = facts.udp;
  if (udp) {
    const port = "port" in udp ? String(udp.port) : `${udp.range[0]}-${udp.range[1]}`;
    const note = "port" in udp ? "" : " (a port per session)";
    for (const host of hosts) candidates.push(`udp ${host}:${port} host${note}`);
    if ("port" in udp && facts.announcedIps.length === 0) {
      for (const r of facts.reflexive) {
        if (r.mapped[0] !== r.local) {
          candidates.push(`udp ${r.mapped[0]}:${r.mapped[1]} srflx (STUN, for ${r.local})`);
        }
      }
    }
  }
  if (facts.tcpPort !== undefined) {
    for (const host of hosts) candidates.push(`tcp ${host}:${facts.tcpPort} host (passive)`);
  }
  const warnings: string[] = [];
  const perSessionStun = udp !== undefined && "range" in udp && facts.stunUrls.length > 0;
  const reachable = facts.announcedIps.some(isPublicIpv4) ||
    facts.addresses.some(isPublicIpv4) ||
    facts.reflexive.some((r) => isPublicIpv4(r.mapped[0])) || perSessionStun;
  if (!reachable) {
    const ports = [
      udp && "port" in udp ? `UDP ${udp.port}` : undefined,
      facts.tcpPort !== undefined ? `TCP ${facts.tcpPort}` : undefined,
    ].filter(Boolean).join(" and ");
    const stunSilent = facts.stunUrls.length > 0 && udp !== undefined && "port" in udp
      ? ` (the STUN server ${facts.stunUrls[0]} did not answer)`
      : "";
    warnings.push(
      `every media candidate is a private, loopback or reserved address${stunSilent}: ` +
        `browsers on this machine and its network can connect, clients elsewhere cannot. ` +
        `For them, set ANNOUNCED_IPS to this machine's public address and forward ` +
        `${ports || "the media ports"} to it, or add a STUN server to ICE_SERVERS ` +
        `(e.g. stun:stun.l.google.com:19302)` +
        (facts.turn ? "." : ", or give clients a TURN server (ICE_SERVERS=turn:…)."),
    );
  }
  if (facts.receiveBuffer !== undefined && facts.receiveBuffer < KERNEL_BUFFER_BYTES) {
    const kib = (n: number) => `${Math.round(n / 1024)} KiB`;
    warnings.push(
      `the shared UDP port's kernel receive buffer is ${kib(facts.receiveBuffer)}, not the ` +
        `${kib(KERNEL_BUFFER_BYTES)} asked (net.core.rmem_max caps it): a keyframe that arrives ` +
        `while a large fan-out runs may be dropped. Raise the cap (sysctl -w ` +
        `net.core.rmem_max=${KERNEL_BUFFER_BYTES} net.core.wmem_max=${KERNEL_BUFFER_BYTES}) ` +
        `or give the server CAP_NET_ADMIN.`,
    );
  }
  if (facts.stunUrls.length > 0 && udp === undefined) {
    warnings.push("ICE_SERVERS has a STUN server but ICE_TRANSPORTS=tcp: it is not asked.");
  }
  return { candidates, warnings };
}

/** The facts of a started server: its configuration and the media ports it opened. */
export function networkFacts(config: Config, ports: MediaPorts): NetworkFacts {
  const udp = ports.udpMux
    ? { port: ports.udpMux.port }
    : config.iceTransports.udp
    ? { range: config.udpPortRange ?? [1024, 65535] as [number, number] }
    : undefined;
  return {
    addresses: ports.addresses,
    udp,
    tcpPort: ports.tcp?.mux.port,
    announcedIps: config.announcedIps,
    stunUrls: config.iceServers.filter((s) => s.url.startsWith("stun:")).map((s) => s.url),
    reflexive: ports.reflexive,
    turn: config.iceServers.some((s) => s.url.startsWith("turn")),
    receiveBuffer: ports.udpMux?.receiveBuffer,
  };
}

/** The check as the lines printed at start. */
export function networkBanner(report: NetworkReport): string {
  return [
    "media candidates in every answer:",
    ...report.candidates.map((c) => `  ${c}`),
    ...report.warnings.map((w) => `warning: ${w}`),
  ].join("\n");
}
