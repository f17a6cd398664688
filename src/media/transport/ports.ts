/**
 * The server's media ports, opened once at start: the shared UDP port (`UDP_PORT`, one socket
 * per local IPv4 address) and the ICE-TCP port (`TCP_PORT`), as `ICE_TRANSPORTS` asks. Their
 * host candidates carry the machine's IPv4 addresses (and loopback when asked, or when the
 * machine has no other).
 *
 * @module
 */
import os from "node:os";
import { lookup } from "node:dns/promises";
import type { Reflexive } from "../../sdp/candidates.ts";
import { UdpMux } from "./udp-mux.ts";
import { TcpMux } from "./tcp-mux.ts";
import { openNative } from "../native/libs.ts";

/** What to open. */
export interface MediaPortsOptions {
  /** The shared UDP port (0: any free one); undefined: no shared UDP port. */
  udpPort?: number;
  /** The ICE-TCP port (0: any free one); undefined: no ICE-TCP. */
  tcpPort?: number;
  /** Also offer 127.0.0.1 (tests, one machine). */
  loopback: boolean;
  /**
   * STUN servers (`host`, `port`) asked once, in order until one answers, for the shared UDP
   * port's public address; none: no server-reflexive candidates.
   */
  stunServers?: [string, number][];
  /** How long a STUN server may take to answer, ms. */
  stunTimeoutMs?: number;
}

/** The opened ports. */
export interface MediaPorts {
  /** The shared UDP sockets, when opened. */
  udpMux?: UdpMux;
  /** The ICE-TCP listener and its candidates' addresses, when opened. */
  tcp?: { mux: TcpMux; addresses: string[] };
  /** The addresses of the host candidates. */
  addresses: string[];
  /** The shared UDP port's server-reflexive addresses (from the first STUN server that answered). */
  reflexive: Reflexive[];
  /** Closes what was opened. */
  close(): Promise<void>;
}

/** The counters of the shared ports (absent: that port is not open). */
export interface MediaPortStats {
  /** The shared UDP port: datagrams routed and dropped, sessions with routes. */
  udp?: { routed: number; unroutable: number; sessions: number };
  /** The ICE-TCP port: connections handed to a session or refused, and waiting now. */
  tcp?: { routed: number; refused: number; pending: number };
}

/** The counters of `ports` now. */
export function mediaPortStats(ports: MediaPorts): MediaPortStats {
  const { udpMux, tcp } = ports;
  return {
    udp: udpMux && { ...udpMux.stats, sessions: udpMux.sessions },
    tcp: tcp && { ...tcp.mux.stats, pending: tcp.mux.pending },
  };
}

/** A port that could not be opened: which one, and the system's reason. */
export class MediaPortError extends Error {
  /**
   * @param transport "UDP" or "TCP"
   * @param port the port asked for
   * @param code the system's error code (EADDRINUSE, EACCES, …)
   */
  constructor(readonly transport: "UDP" | "TCP", readonly port: number, readonly code: string) {
    super(`${transport} port ${port}: ${code}`);
    this.name = "MediaPortError";
  }
}

/**
 * The machine's IPv4 addresses for host candidates: every non-internal, non-link-local one,
 * plus 127.0.0.1 when `loopback` is asked or there is no other.
 */
export function hostAddresses(loopback: boolean): string[] {
  const found: string[] = [];
  for (const list of Object.values(os.networkInterfaces())) {
    for (const info of list ?? []) {
      if (info.family !== "IPv4" || info.internal || info.address.startsWith("169.254.")) continue;
      if (!found.includes(info.address)) found.push(info.address);
    }
  }
  if (loopback || found.length === 0) found.push("127.0.0.1");
  return found;
}

/** Opens the ports of `options`; throws a {@link MediaPortError} for the first that fails. */
export async function openMediaPorts(options: MediaPortsOptions): Promise<MediaPorts> {
  const addresses = hostAddresses(options.loopback);
  let udpMux: UdpMux | undefined;
  if (options.udpPort !== undefined) {
    try {
      const native = openNative();
      udpMux = await UdpMux.open(addresses, options.udpPort, native.ok ? native.libc : undefined);
    } catch (e) {
      throw new MediaPortError("UDP", options.udpPort, codeOf(e));
    }
  }
  let tcp: MediaPorts["tcp"];
  if (options.tcpPort !== undefined) {
    try {
      tcp = { mux: await TcpMux.open(options.tcpPort), addresses };
    } catch (e) {
      await udpMux?.close();
      throw new MediaPortError("TCP", options.tcpPort, codeOf(e));
    }
  }
  const reflexive: Reflexive[] = [];
  for (const [host, port] of udpMux ? options.stunServers ?? [] : []) {
    const address = await resolve4(host);
    if (!address) continue;
    reflexive.push(...await udpMux!.reflexive([address, port], options.stunTimeoutMs ?? 2000));
    if (reflexive.length > 0) break;
  }
  return {
    udpMux,
    tcp,
    addresses,
    reflexive,
    async close() {
      await Promise.all([udpMux?.close(), tcp?.mux.close()]);
    },
  };
}

/** The first IPv4 address of `host` (itself when it is one), or undefined. */
async function resolve4(host: string): Promise<string | undefined> {
  if (/^\d+\.\d+\.\d+\.\d+$/.test(host)) return host;
  try {
    return (await lookup(host, { family: 4 })).address;
  } catch {
    return undefined;
  }
}

function codeOf(e: unknown): string {
  return (e as { code?: string }).code ?? (e instanceof Error ? e.message : String(e));
}
