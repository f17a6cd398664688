/**
 * The media ports of a configuration, opened at start (src/media/transport/ports.ts), with the
 * mistakes a user can make — a port in use, a port that needs privileges — in one sentence that
 * names the variable.
 *
 * @module
 */
import { type Config, ConfigError } from "./config.ts";
import { MediaPortError, type MediaPorts, openMediaPorts } from "./media/transport/ports.ts";

/** `host` and port of each `stun:` entry of ICE_SERVERS (3478 when no port is given). */
function stunServers(servers: Config["iceServers"]): [string, number][] {
  return servers.filter((s) => s.url.startsWith("stun:")).map((s) => {
    const m = /^stun:(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(s.url);
    return [m?.[1] ?? "", Number(m?.[2] ?? 3478)] as [string, number];
  }).filter(([host]) => host !== "");
}

/** Opens the media ports the configuration asks for, or one sentence naming the variable. */
export async function openPorts(config: Config): Promise<MediaPorts> {
  try {
    return await openMediaPorts({
      udpPort: config.iceTransports.udp ? config.udpPort : undefined,
      tcpPort: config.iceTransports.tcp ? config.tcpPort : undefined,
      loopback: config.iceLoopback,
      // the shared port's public address, unless ANNOUNCED_IPS says it
      stunServers: config.announcedIps.length > 0 ? [] : stunServers(config.iceServers),
      stunTimeoutMs: config.iceGatherTimeout * 1000,
    });
  } catch (e) {
    if (!(e instanceof MediaPortError)) throw e;
    const name = e.transport === "UDP" ? "UDP_PORT" : "TCP_PORT";
    const why = e.code === "EADDRINUSE"
      ? "is already in use (another server, or another copy of this one)"
      : e.code === "EACCES"
      ? "needs privileges this process does not have"
      : `cannot be opened (${e.code})`;
    throw new ConfigError(
      `${name}: ${e.transport} port ${e.port} ${why}; stop the other program or choose ` +
        `another port with ${name}=…`,
    );
  }
}
