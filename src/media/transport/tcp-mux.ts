/**
 * ICE over TCP on one port (`TCP_PORT`; RFC 6544 passive candidates, RFC 4571 framing), for
 * clients whose network blocks UDP. One listening socket for every session: a new connection's
 * first frame must be a STUN Binding request whose USERNAME names a session's local ufrag and
 * whose MESSAGE-INTEGRITY is right for its password; the connection is then handed to that
 * session (werift's passive TCP protocol, through werift/shared-transport.ts) with the bytes read
 * so far. Anything else — no frame within {@link FIRST_FRAME_TIMEOUT_MS}, a frame too large to
 * be a Binding request, an unknown ufrag, bad integrity — closes the connection, and at most
 * {@link MAX_PENDING} connections may wait for their first frame (a flood of idle connections
 * costs descriptors only up to that bound).
 *
 * @module
 */
import net from "node:net";
import { requestUfrag } from "./stun.ts";
import { UfragTable } from "./ufrag-table.ts";

/** Time a new connection has to send its first framed Binding request. */
export const FIRST_FRAME_TIMEOUT_MS = 5_000;
/** Connections waiting for their first frame, at most. */
export const MAX_PENDING = 256;
/** Largest first frame accepted (a Binding request is a few hundred bytes). */
const MAX_FIRST_FRAME = 2048;

/** Counters of the ICE-TCP listener (served by `/metrics`). */
export interface TcpMuxStats {
  /** Connections handed to a session. */
  routed: number;
  /** Connections closed before reaching a session (timeout, garbage, unknown or bad STUN, full). */
  refused: number;
}

/** Gives an accepted connection to its session (werift/shared-transport.ts `attachTcp`). */
export type Handover = (
  socket: net.Socket,
  remote: [string, number],
  firstBytes: Uint8Array,
) => void;

/** The ICE-TCP listener of a server. */
export class TcpMux {
  readonly #server: net.Server;
  readonly #ufrags = new UfragTable<TcpEndpoint>();
  readonly #pending = new Set<net.Socket>();
  /** The counters. */
  readonly stats: TcpMuxStats = { routed: 0, refused: 0 };
  /** The listening port. */
  readonly port: number;

  private constructor(server: net.Server, port: number) {
    this.#server = server;
    this.port = port;
    server.on("connection", (socket) => this.#accept(socket));
    server.on("error", () => {}); // accept errors (EMFILE): the listener keeps listening
  }

  /** Listens on `port` (0: one the system picks) on every address of `host`. */
  static open(port: number, host = "0.0.0.0"): Promise<TcpMux> {
    return new Promise((resolve, reject) => {
      const server = net.createServer({ noDelay: true });
      server.once("error", reject);
      server.listen({ port, host, exclusive: true }, () => {
        server.removeAllListeners("error");
        resolve(new TcpMux(server, (server.address() as net.AddressInfo).port));
      });
    });
  }

  /** A new session's place on the listener. */
  endpoint(handover: Handover): TcpEndpoint {
    return new TcpEndpoint(this, handover);
  }

  /** Connections waiting for their first frame now. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Ufrags registered now (for tests: zero once every session ended). */
  get routeCount(): number {
    return this.#ufrags.size;
  }

  /** Stops listening and closes the connections still waiting (handed ones are the sessions'). */
  close(): Promise<void> {
    for (const socket of this.#pending) socket.destroy();
    this.#pending.clear();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  /** @internal */
  register(endpoint: TcpEndpoint, ufrag: string, password: string): void {
    this.#ufrags.register(endpoint, ufrag, password);
  }

  /** @internal */
  forget(endpoint: TcpEndpoint): void {
    this.#ufrags.forget(endpoint);
  }

  #accept(socket: net.Socket): void {
    socket.on("error", () => socket.destroy());
    if (this.#pending.size >= MAX_PENDING) {
      this.stats.refused++;
      socket.destroy();
      return;
    }
    this.#pending.add(socket);
    let buffered = new Uint8Array(0);
    const refuse = () => {
      done();
      this.stats.refused++;
      socket.destroy();
    };
    const timer = setTimeout(refuse, FIRST_FRAME_TIMEOUT_MS);
    const done = () => {
      clearTimeout(timer);
      this.#pending.delete(socket);
      socket.off("data", onData);
      socket.off("close", done);
    };
    const onData = (chunk: Uint8Array) => {
      const joined = new Uint8Array(buffered.length + chunk.length);
      joined.set(buffered);
      joined.set(chunk, buffered.length);
      buffered = joined;
      if (buffered.length < 2) return;
      const length = (buffered[0] << 8) | buffered[1];
      if (length > MAX_FIRST_FRAME) return refuse();
      if (buffered.length < 2 + length) return;
      const frame = buffered.subarray(2, 2 + length);
      const ufrag = requestUfrag(frame);
      const endpoint = ufrag === undefined ? undefined : this.#ufrags.match(ufrag, frame);
      const remote = socket.remoteAddress?.replace(/^::ffff:/, "");
      if (!endpoint || !remote || !socket.remotePort) return refuse();
      done();
      socket.pause();
      this.stats.routed++;
      endpoint.handover(socket, [remote, socket.remotePort], buffered);
      socket.resume();
    };
    socket.on("data", onData);
    socket.on("close", done);
  }
}

/** One session's registration on the ICE-TCP listener. */
export class TcpEndpoint {
  readonly #mux: TcpMux;
  readonly #handover: Handover;
  #closed = false;

  /** @internal created by {@link TcpMux.endpoint}. */
  constructor(mux: TcpMux, handover: Handover) {
    this.#mux = mux;
    this.#handover = handover;
  }

  /** Routes connections whose first request names `ufrag` (checked against `password`). */
  register(ufrag: string, password: string): void {
    if (!this.#closed) this.#mux.register(this, ufrag, password);
  }

  /** @internal gives an accepted connection to the session. */
  handover(socket: net.Socket, remote: [string, number], firstBytes: Uint8Array): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    this.#handover(socket, remote, firstBytes);
  }

  /** Removes the session's ufrags. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#mux.forget(this);
  }
}
