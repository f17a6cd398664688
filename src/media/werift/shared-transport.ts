/**
 * Puts a werift peer connection on the server's shared media ports (transport/udp-mux.ts,
 * transport/tcp-mux.ts). werift has no mux and no transport injection point; what it does have
 * (checked at start by check.ts): an ICE `Connection` keeps its local protocols in `protocols`,
 * `ensureProtocol` subscribes it to a protocol's STUN requests and data, `pairLocalProtocol`
 * pairs a protocol with the remote candidates, and `gatherCandidates` re-advertises every
 * protocol that already has a local candidate (what it does for ICE restarts). So, after the
 * remote description and before the local one, each shared socket becomes a `StunProtocol`
 * whose transport is the session's {@link MuxTransport}, and the TCP listener a
 * `TcpPassiveProtocol` that never listens itself; werift's own sockets are off
 * (`iceUseIpv4: false`).
 *
 * @module
 */
import {
  Candidate,
  candidateFoundation,
  candidatePriority,
  type RTCPeerConnection,
  StunProtocol,
  TcpPassiveProtocol,
} from "werift";
import type { MuxTransport } from "../transport/udp-mux.ts";
import type { Handover } from "../transport/tcp-mux.ts";

/** werift's ICE `Connection` as this module drives it (its members verified by check.ts). */
interface SharedConnection {
  protocols: unknown[];
  generation: number;
  localUsername: string;
  localPassword: string;
  ensureProtocol(protocol: unknown): void;
  pairLocalProtocol(protocol: unknown): void;
}

/** `StunProtocol`'s private input (what its own UDP transport calls per datagram). */
interface StunInternals {
  datagramReceived(data: Uint8Array, addr: [string, number]): void;
}

/** `TcpPassiveProtocol`'s protected registration of an accepted socket. */
interface TcpInternals {
  registerSocket(socket: import("node:net").Socket, remote: [string, number]): void;
}

function connectionsOf(pc: RTCPeerConnection): SharedConnection[] {
  return pc.iceTransports.map((t) => (t as unknown as { connection: SharedConnection }).connection);
}

/**
 * Adds a host UDP candidate per shared transport to every ICE connection of `pc` (call between
 * the remote and the local description).
 */
export function attachUdp(
  pc: RTCPeerConnection,
  transports: MuxTransport[],
): void {
  for (const connection of connectionsOf(pc)) {
    for (const transport of transports) {
      const protocol = new StunProtocol();
      connection.ensureProtocol(protocol);
      protocol.transport = transport as unknown as StunProtocol["transport"];
      const receive = (protocol as unknown as StunInternals).datagramReceived.bind(protocol);
      transport.onData = (data, addr) => receive(data, addr);
      protocol.localIp = transport.localAddress;
      const ip = transport.localAddress;
      protocol.localCandidate = new Candidate(
        candidateFoundation("host", "udp", ip),
        1,
        "udp",
        candidatePriority("host", { transport: "udp" }),
        ip,
        transport.address.port,
        "host",
        undefined,
        undefined,
        undefined,
        connection.generation,
        connection.localUsername,
      );
      connection.protocols.push(protocol);
      connection.pairLocalProtocol(protocol);
    }
  }
}

/**
 * Adds a passive TCP host candidate (RFC 6544) per address on `port` to every ICE connection
 * of `pc`, and returns the function that gives an accepted socket to this session.
 */
export function attachTcp(
  pc: RTCPeerConnection,
  addresses: string[],
  port: number,
): Handover {
  const protocols: { protocol: TcpPassiveProtocol; ip: string }[] = [];
  for (const connection of connectionsOf(pc)) {
    for (const ip of addresses) {
      const protocol = new TcpPassiveProtocol();
      connection.ensureProtocol(protocol);
      // no `localIp`: werift gathers no UDP socket for an address a protocol already has
      protocol.localCandidate = new Candidate(
        candidateFoundation("host", "tcp", ip),
        1,
        "tcp",
        candidatePriority("host", { transport: "tcp", tcptype: "passive" }),
        ip,
        port,
        "host",
        undefined,
        undefined,
        "passive",
        connection.generation,
        connection.localUsername,
      );
      connection.protocols.push(protocol);
      protocols.push({ protocol, ip });
    }
  }
  return (socket, remote, firstBytes) => {
    const local = socket.localAddress?.replace(/^::ffff:/, "");
    const entry = protocols.find((p) => p.ip === local) ?? protocols[0];
    if (!entry) {
      socket.destroy();
      return;
    }
    (entry.protocol as unknown as TcpInternals).registerSocket(socket, remote);
    socket.emit("data", Buffer.from(firstBytes));
  };
}

/** The ICE credentials of `pc`'s connections now (after each local description). */
export function iceCredentials(pc: RTCPeerConnection): { ufrag: string; password: string }[] {
  return connectionsOf(pc).map((c) => ({ ufrag: c.localUsername, password: c.localPassword }));
}
