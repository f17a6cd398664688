/**
 * The local UDP descriptor behind a werift ICE candidate pair, for the native paths (egress
 * sends on it, the ingress probe asks it how much is waiting). werift keeps its sockets inside
 * `node:dgram`; the descriptor is found by its bound address (native/udp-socket.ts).
 *
 * @module
 */
import type { Libc } from "./native/libs.ts";
import { descriptorOfUdpSocket, sockaddrIn } from "./native/udp-socket.ts";
import type { IcePair } from "./werift/internals.ts";

/** A pair's local descriptor and its remote address as a `sockaddr_in`. */
export interface PairSocket {
  fd: number;
  name: Uint8Array;
}

/**
 * The descriptor of `pair`'s local UDP socket and the remote `sockaddr_in`, or undefined when
 * there is none (TURN, TCP, IPv6, a socket not found); `known` caches descriptors found.
 */
export function pairSocket(
  libc: Libc,
  known: Map<string, number>,
  pair: IcePair | undefined,
): PairSocket | undefined {
  const socket = pair?.protocol.transport?.socket;
  if (!pair || !socket) return undefined;
  const name = sockaddrIn(pair.remoteAddr[0], pair.remoteAddr[1]);
  if (!name) return undefined;
  let local: { address: string; port: number };
  try {
    local = socket.address();
  } catch {
    return undefined;
  }
  const fd = descriptorOfUdpSocket(libc, local.address, local.port, known);
  return fd === undefined ? undefined : { fd, name };
}
