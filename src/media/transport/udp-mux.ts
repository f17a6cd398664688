/**
 * One UDP port for every session (`UDP_PORT`): a socket per local IPv4 address, all on the same
 * port (as Pion's `MultiUDPMux` and LiveKit do: a reply leaves from the address the client
 * sent to, which one socket on `0.0.0.0` cannot promise on a machine with several addresses),
 * and a demultiplexer that hands each datagram to its session.
 *
 * Routing, as mediasoup's `WebRtcServer` and Pion's `UDPMuxDefault` do it: a STUN Binding
 * request goes to the session whose local ufrag its USERNAME names, and only when its
 * MESSAGE-INTEGRITY is right for that session's password; that request also routes the
 * sender's address (socket and remote 5-tuple) to the session. Every other datagram (DTLS,
 * SRTP, SRTCP, STUN responses) goes by that route. A session's own sends add a route only where
 * none exists (its ICE checks towards the client's candidates), so an offer that lists another
 * client's address cannot take that client's route. Anything else is dropped and counted:
 * garbage, unknown ufrags, bad integrity, unknown addresses.
 *
 * The sessions see a {@link MuxTransport} per socket, shaped like the transport werift's STUN
 * protocol reads (werift/shared-transport.ts attaches them). A session's routes and ufrags go
 * when it closes.
 *
 * @module
 */
import dgram from "node:dgram";
import { bindingRequest, isStun, mappedAddress, requestUfrag } from "./stun.ts";
import { UfragTable } from "./ufrag-table.ts";
import type { Libc } from "../native/libs.ts";
import { descriptorOfUdpSocket, setKernelBuffer } from "../native/udp-socket.ts";
import { RecvBatch } from "../native/recv-batch.ts";
import { Buffer } from "node:buffer";

/**
 * Kernel buffers asked for each shared socket (past `net.core.rmem_max` / `wmem_max` when the
 * server may, else capped at them: native/udp-socket.ts `setKernelBuffer`): every session's
 * datagrams queue in one socket now, and the default (208 KiB, ≈ 90 full-size datagrams) would
 * drop a publisher's keyframe burst that arrives while the fan-out of the previous one runs.
 */
export const KERNEL_BUFFER_BYTES = 8 * 1024 * 1024;
/**
 * What Deno's `node:dgram` allocates to read each datagram is its "receive buffer size" (see
 * werift/patches.ts, `smallReceiveBuffers`): 8 KiB (4 KiB asked, doubled on Linux) holds any
 * datagram of a WebRTC client; the kernel buffer is set through libc instead.
 */
const READ_ALLOCATION_ASKED = 4096;
const SOL_SOCKET = 1;
const SO_RCVBUF = 8;

const RESOLVED = Promise.resolve();

/** Counters of the demultiplexer (served by `/metrics`). */
export interface MuxStats {
  /** Datagrams handed to a session. */
  routed: number;
  /** Datagrams dropped: not for any session (unknown ufrag or address, bad integrity, garbage). */
  unroutable: number;
}

/** One bound socket of the mux. */
interface Shared {
  socket: dgram.Socket;
  address: string;
  /** Its descriptor, when libc is there (kernel buffers, batch reads). */
  fd?: number;
  /** `ip:port` of a remote → the session it belongs to. */
  routes: Map<string, MuxEndpoint>;
}

/** The shared UDP sockets of a server and their routing tables. */
export class UdpMux {
  readonly #sockets: Shared[];
  readonly #ufrags = new UfragTable<MuxEndpoint>();
  readonly #endpoints = new Set<MuxEndpoint>();
  readonly #batch?: RecvBatch;
  /** STUN server queries waiting for their response, by transaction ID (hex). */
  readonly #queries = new Map<string, (data: Uint8Array) => void>();
  /** The counters. */
  readonly stats: MuxStats = { routed: 0, unroutable: 0 };
  /** The shared port. */
  readonly port: number;
  /**
   * The kernel receive buffer the sockets got, bytes (the smallest; undefined without libc):
   * below {@link KERNEL_BUFFER_BYTES} when `net.core.rmem_max` capped it and the server could not
   * go past it (no `CAP_NET_ADMIN`).
   */
  readonly receiveBuffer?: number;

  private constructor(sockets: Shared[], port: number, libc?: Libc, receiveBuffer?: number) {
    this.#sockets = sockets;
    this.port = port;
    this.receiveBuffer = receiveBuffer;
    const batch = libc ? new RecvBatch(libc) : undefined;
    this.#batch = batch;
    for (const shared of sockets) {
      const drained = (data: Uint8Array, address: string, port: number) =>
        this.#receive(shared, copy(data), address, port);
      shared.socket.on("message", (data, info) => {
        this.#receive(shared, data, info.address, info.port);
        // what else waits is read now, not one datagram per turn of the event loop
        if (batch && shared.fd !== undefined) batch.drain(shared.fd, drained);
      });
      shared.socket.on("error", () => {}); // ICMP errors of sends: the session's consent decides
    }
  }

  /** Whether datagrams already read wait to be handled (for the egress scheduler). */
  get pending(): boolean {
    return (this.#batch?.remaining ?? 0) > 0;
  }

  /**
   * Binds `port` (0: one the system picks, then the same on every address) on each of
   * `addresses`; throws the socket error (EADDRINUSE, EADDRNOTAVAIL) of the first that fails.
   */
  static async open(addresses: string[], port: number, libc?: Libc): Promise<UdpMux> {
    for (let attempt = 0;; attempt++) {
      const sockets: Shared[] = [];
      let chosen = port;
      let granted: number | undefined;
      try {
        for (const address of addresses) {
          const socket = await bind(address, chosen);
          chosen = socket.address().port;
          const fd = libc ? descriptorOfUdpSocket(libc, address, chosen, new Map()) : undefined;
          sockets.push({ socket, address, routes: new Map(), fd });
          if (libc && fd !== undefined) {
            const got = kernelBuffers(libc, fd);
            granted = Math.min(granted ?? got, got);
          }
        }
        return new UdpMux(sockets, chosen, libc, granted);
      } catch (e) {
        for (const s of sockets) s.socket.close();
        // a port the system picked for the first address may be taken on another: pick again
        if (port !== 0 || attempt >= 5 || (e as { code?: string }).code !== "EADDRINUSE") throw e;
      }
    }
  }

  /** The local addresses the sockets are bound to (the host candidates' addresses). */
  get addresses(): string[] {
    return this.#sockets.map((s) => s.address);
  }

  /** Sessions with routes now (for tests and `/metrics`). */
  get sessions(): number {
    return this.#endpoints.size;
  }

  /** Routes held now, all sockets together (for tests: zero once every session ended). */
  get routeCount(): number {
    return this.#sockets.reduce((n, s) => n + s.routes.size, 0) + this.#ufrags.size;
  }

  /** A new session's place on the mux: one transport per socket. */
  endpoint(): MuxEndpoint {
    const endpoint = new MuxEndpoint(this, this.#sockets);
    this.#endpoints.add(endpoint);
    return endpoint;
  }

  /** Closes every socket (the sessions are closed before). */
  async close(): Promise<void> {
    for (const endpoint of [...this.#endpoints]) endpoint.close();
    await Promise.all(
      this.#sockets.map((s) => new Promise<void>((resolve) => s.socket.close(() => resolve()))),
    );
  }

  /** @internal registers a session's ufrag and password. */
  register(endpoint: MuxEndpoint, ufrag: string, password: string): void {
    this.#ufrags.register(endpoint, ufrag, password);
  }

  /** @internal a session sent to `key` on `shared`: route the replies if nobody else has it. */
  learn(shared: Shared, key: string, endpoint: MuxEndpoint): void {
    if (!shared.routes.has(key)) shared.routes.set(key, endpoint);
  }

  /** @internal removes everything of a closed session. */
  forget(endpoint: MuxEndpoint): void {
    if (!this.#endpoints.delete(endpoint)) return;
    this.#ufrags.forget(endpoint);
    for (const shared of this.#sockets) {
      for (const [key, owner] of shared.routes) if (owner === endpoint) shared.routes.delete(key);
    }
  }

  /**
   * Asks the STUN server at `server` which address each shared socket has from outside (its
   * server-reflexive address, RFC 8489 Binding), waiting `timeoutMs` at most; sockets without an
   * answer are left out.
   */
  async reflexive(
    server: [string, number],
    timeoutMs: number,
  ): Promise<{ local: string; mapped: [string, number] }[]> {
    const asks = this.#sockets.map((shared) =>
      new Promise<{ local: string; mapped: [string, number] } | undefined>((resolve) => {
        const { bytes, transactionId } = bindingRequest();
        const key = Array.from(transactionId, (b) => b.toString(16).padStart(2, "0")).join("");
        const finish = (mapped?: [string, number]) => {
          clearTimeout(timer);
          this.#queries.delete(key);
          resolve(mapped ? { local: shared.address, mapped } : undefined);
        };
        const timer = setTimeout(() => finish(), timeoutMs);
        this.#queries.set(key, (data) => {
          const mapped = mappedAddress(data, transactionId);
          if (mapped) finish(mapped);
        });
        shared.socket.send(bytes, server[1], server[0]);
      })
    );
    return (await Promise.all(asks)).filter((r) => r !== undefined);
  }

  #receive(shared: Shared, data: Uint8Array, address: string, port: number): void {
    const key = `${address}:${port}`;
    let endpoint: MuxEndpoint | undefined;
    if (data.length >= 20 && data[0] <= 3 && isStun(data)) {
      if (this.#queries.size > 0 && data[0] === 1) { // a response: to one of our queries?
        const id = Array.from(data.subarray(8, 20), (b) => b.toString(16).padStart(2, "0"));
        const query = this.#queries.get(id.join(""));
        if (query) return query(data);
      }
      const ufrag = requestUfrag(data);
      if (ufrag !== undefined) {
        endpoint = this.#ufrags.match(ufrag, data);
        if (!endpoint) {
          this.stats.unroutable++;
          return;
        }
        shared.routes.set(key, endpoint); // the client is here now (a new port after a NAT rebind)
      }
    }
    endpoint ??= shared.routes.get(key);
    const transport = endpoint?.transportOn(shared);
    if (!transport) {
      this.stats.unroutable++;
      return;
    }
    this.stats.routed++;
    transport.deliver(data, [address, port]);
  }
}

function bind(address: string, port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket("udp4");
    socket.once("error", (e) => {
      socket.close();
      reject(e);
    });
    socket.bind({ address, port, exclusive: true }, () => {
      socket.removeAllListeners("error");
      socket.setRecvBufferSize(READ_ALLOCATION_ASKED);
      resolve(socket);
    });
  });
}

/**
 * Sets the kernel buffers of a shared socket (best effort: past `net.core.rmem_max` / `wmem_max`
 * with `CAP_NET_ADMIN`, else up to them); returns the receive buffer granted, bytes (the kernel
 * reports twice what it grants, for its bookkeeping).
 */
function kernelBuffers(libc: Libc, fd: number): number {
  setKernelBuffer(libc.setsockopt, fd, KERNEL_BUFFER_BYTES, "receive");
  setKernelBuffer(libc.setsockopt, fd, KERNEL_BUFFER_BYTES, "send");
  const value = new Int32Array(1);
  const length = new Uint32Array([4]);
  const read = libc.getsockopt(
    fd,
    SOL_SOCKET,
    SO_RCVBUF,
    new Uint8Array(value.buffer),
    new Uint8Array(length.buffer),
  );
  return read === 0 ? value[0] / 2 : 0;
}

/** One session's routes on the mux and its transports (one per shared socket). */
export class MuxEndpoint {
  readonly #mux: UdpMux;
  readonly #transports = new Map<Shared, MuxTransport>();
  #closed = false;

  /** @internal created by {@link UdpMux.endpoint}. */
  constructor(mux: UdpMux, sockets: Shared[]) {
    this.#mux = mux;
    for (const shared of sockets) this.#transports.set(shared, new MuxTransport(mux, shared, this));
  }

  /** The session's transports, one per local address. */
  get transports(): MuxTransport[] {
    return [...this.#transports.values()];
  }

  /** Routes Binding requests for `ufrag` (checked against `password`) to this session. */
  register(ufrag: string, password: string): void {
    if (!this.#closed) this.#mux.register(this, ufrag, password);
  }

  /** @internal the transport on `shared`. */
  transportOn(shared: Shared): MuxTransport | undefined {
    return this.#closed ? undefined : this.#transports.get(shared);
  }

  /** Removes the session's routes; its transports send nothing more. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#transports.values()) t.closed = true;
    this.#mux.forget(this);
  }
}

/**
 * A session's view of one shared socket, with the members werift's `StunProtocol` and the
 * native paths read from a transport (`type`, `send`, `onData`, `closed`, `address`,
 * `addressFamily`, `socket.address()`, `close`).
 */
export class MuxTransport {
  /** werift's transport type. */
  readonly type = "udp";
  /** IPv4. */
  readonly addressFamily = 4;
  /** Set when the session ended. */
  closed = false;
  /** Where werift's protocol takes the datagrams routed to this session. */
  onData: (data: Uint8Array, addr: [string, number]) => void = () => {};
  readonly #mux: UdpMux;
  readonly #shared: Shared;
  readonly #endpoint: MuxEndpoint;
  #lastKey = "";

  /** @internal created by {@link MuxEndpoint}. */
  constructor(mux: UdpMux, shared: Shared, endpoint: MuxEndpoint) {
    this.#mux = mux;
    this.#shared = shared;
    this.#endpoint = endpoint;
  }

  /** The shared socket (the native egress path finds its descriptor by its address). */
  get socket(): { address(): { address: string; port: number } } {
    return this.#shared.socket;
  }

  /** The bound address and port. */
  get address(): { address: string; port: number } {
    return this.#shared.socket.address();
  }

  /** The local address this transport receives on. */
  get localAddress(): string {
    return this.#shared.address;
  }

  /** Sends a datagram to `addr` from the shared socket (no callback: as werift's own transport). */
  send(data: Uint8Array, addr: [string, number]): Promise<void> {
    if (this.closed) return RESOLVED;
    const key = `${addr[0]}:${addr[1]}`;
    if (key !== this.#lastKey) {
      this.#lastKey = key;
      this.#mux.learn(this.#shared, key, this.#endpoint);
    }
    this.#shared.socket.send(data, addr[1], addr[0]);
    return RESOLVED;
  }

  /** @internal a datagram routed to this session. */
  deliver(data: Uint8Array, addr: [string, number]): void {
    try {
      this.onData(data, addr);
    } catch { /* a session's parse error stays in that session */ }
  }

  /** werift closes its protocols' transports when the connection closes: ends the session's routes. */
  close(): Promise<void> {
    this.#endpoint.close();
    return Promise.resolve();
  }
}

/**
 * A datagram read into the batch's reused memory, as a Buffer of its own: `Buffer.from` of a
 * typed array copies it byte by byte in JavaScript (0.7 µs for 120 bytes here), `set` is a
 * `memcpy` (0.1 µs).
 */
function copy(data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(data.length);
  out.set(data);
  return out;
}
