/**
 * Small, documented patches to werift 0.25 behaviour that an SFU cannot live with. Each one is
 * applied by our code (no fork) and covered by an integration test named in its comment.
 *
 * @module
 */
import { Connection, RTCDtlsTransport, type RTCPeerConnection, UdpTransport } from "werift";

/**
 * Bounded gathering (tests/integration/ice_test.ts, "never answers"): werift bounds STUN
 * queries by `iceStunGatherTimeout`, but a TURN/UDP allocation that gets no answer retries for
 * about 6 s, then falls back to TCP, and `setLocalDescription` waits for all of it. Each
 * candidate source is raced against the same deadline; a late relay candidate is simply not
 * in the answer.
 */
function boundGathering(): void {
  type Gatherer = { getCandidatePromises(a: string[], timeout?: number): Promise<unknown>[] };
  const proto = Connection.prototype as unknown as Gatherer & { __sfuBounded?: boolean };
  if (proto.__sfuBounded) return;
  proto.__sfuBounded = true;
  const original = proto.getCandidatePromises;
  proto.getCandidatePromises = function (addresses, timeout = 5) {
    return original.call(this, addresses, timeout).map((p) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeout * 1000);
      });
      return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
    });
  };
}

boundGathering();

/**
 * No hidden STUN server (tests/integration/ice_test.ts, "no STUN"): with `iceServers: []`
 * werift's ICE connection still falls back to stun.l.google.com:19302, so every gathering
 * resolved that name and sent it binding requests, and now and then waited for the whole
 * gather timeout on it (seen as one POST in ~35 taking 2 s). The fallback is removed: no
 * STUN server configured means no server-reflexive query at all.
 */
function noDefaultStunServer(): void {
  type Servers = {
    applyStunTurnServersFromOptions(): void;
    options: { stunServer?: unknown };
    stunServer?: unknown;
    __sfuNoDefaultStun?: boolean;
  };
  const proto = Connection.prototype as unknown as Servers;
  if (proto.__sfuNoDefaultStun) return;
  proto.__sfuNoDefaultStun = true;
  const original = proto.applyStunTurnServersFromOptions;
  proto.applyStunTurnServersFromOptions = function (this: Servers) {
    original.call(this);
    if (!this.options.stunServer) this.stunServer = undefined;
  };
}

noDefaultStunServer();

/** Bytes Deno's `node:dgram` allocates to read one datagram, after {@link smallReceiveBuffers}. */
export const RECEIVE_ALLOCATION = 8192;

/**
 * Receive allocation (bench: scavenges of 8–16 ms every second at 200 players): Deno's
 * `node:dgram` allocates and zeroes a new buffer of the socket's "receive buffer size" — 64 KiB
 * unless set — for every datagram it reads, so the publisher's media and every player's RTCP
 * made tens of MB/s of garbage. In Deno `setRecvBufferSize(n)` sets that allocation (2n on
 * Linux, as the kernel doubles SO_RCVBUF), not the kernel's buffer. 8 KiB still holds any
 * datagram of a WebRTC client, which stay under the path MTU (1,500 bytes at most in
 * practice); a longer one would be cut short and fail DTLS or SRTP authentication.
 */
function smallReceiveBuffers(): void {
  const proto = UdpTransport.prototype as unknown as {
    init(): Promise<void>;
    socket: { setRecvBufferSize(n: number): void };
    __sfuSmallReceive?: boolean;
  };
  if (proto.__sfuSmallReceive) return;
  proto.__sfuSmallReceive = true;
  const original = proto.init;
  const halved = Deno.build.os === "linux" ? RECEIVE_ALLOCATION / 2 : RECEIVE_ALLOCATION;
  proto.init = async function (this: typeof proto) {
    await original.call(this);
    try {
      this.socket.setRecvBufferSize(halved);
    } catch {
      // not bound after all: keep Deno's default
    }
  };
}

smallReceiveBuffers();

/**
 * DTLS retransmissions (tests/browser/late_joiner_test.ts; found under CPU load): the SFU is
 * the DTLS client. When it answers slowly, the browser resends its flight 4 (ServerHello …
 * ServerHelloDone); werift took the copy for a new handshake, built a new Flight5 and fed it
 * the hello again, which changed the keys after its first flight 5 had gone out. Both ends then
 * said "connected" while every SRTP packet failed authentication: a black picture, no error.
 * Once flight 5 is sent, a repeated flight 4 is ignored; werift's own timer resends flight 5
 * until the server's Finished arrives.
 */
function ignoreRepeatedServerFlight(): void {
  type Client = {
    connected?: boolean;
    dtls: { flight: number };
    onHandleHandshakes: (assembled: { msg_type: number }[]) => Promise<void>;
    handleHandshakes?: unknown;
  };
  const proto = RTCDtlsTransport.prototype as unknown as {
    start(...args: unknown[]): Promise<void>;
    __sfuRepeatedFlight?: boolean;
  };
  if (proto.__sfuRepeatedFlight) return;
  proto.__sfuRepeatedFlight = true;
  const original = proto.start;
  proto.start = function (this: { dtls?: Client; role?: string }, ...args: unknown[]) {
    const started = original.apply(this, args); // creates this.dtls before its first await
    const client = this.dtls;
    if (client && this.role === "client") {
      const handle = client.onHandleHandshakes;
      const FLIGHT4 = new Set([2, 11, 12, 13, 14]);
      client.onHandleHandshakes = (assembled) => {
        const repeat = client.dtls.flight >= 5 && !client.connected &&
          assembled.some((h) => FLIGHT4.has(h.msg_type));
        return repeat ? Promise.resolve() : handle(assembled);
      };
    }
    return started;
  };
}

ignoreRepeatedServerFlight();

/**
 * ICE restart (tests/integration/sessions_test.ts, "ICE restart"): after a restart,
 * `RTCPeerConnection.connect()` returns early because DTLS is still connected, so no
 * connectivity checks run on the new credentials and media stops. Starting every transport
 * that has no nominated pair runs them; DTLS keeps its state.
 */
export function resumeIceAfterRestart(pc: RTCPeerConnection): void {
  for (const transport of pc.iceTransports) {
    const connection = (transport as unknown as { connection: { nominated?: unknown } }).connection;
    if (!connection.nominated) transport.start().catch(() => {});
  }
}

/** The parts of werift's ICE connection the datagram guard reads. */
interface GuardedConnection {
  protocols: { datagramReceived(data: Uint8Array, addr: [string, number]): void }[];
  checkList: { state: number; remoteAddr: [string, number] }[];
  nominated?: { remoteAddr: [string, number] };
}

/** werift's `CandidatePairState.SUCCEEDED`. */
const SUCCEEDED = 3;

/**
 * Datagram guard (tests/hostile/packets_test.ts): werift hands every non-STUN datagram that
 * reaches a media socket to DTLS, from any address, and its DTLS layer closes the transport on
 * any record it parses as an alert, even an unauthenticated one. A single forged datagram from
 * anywhere then stopped a player's media for good. RFC 8445 §11 / RFC 7983: media and DTLS are
 * only taken from the remote address of a validated candidate pair, and only in the DTLS
 * (20–23 in use) and RTP/RTCP (128–191) ranges; STUN (0–3) goes to ICE as before.
 */
export function guardDatagrams(connection: unknown): void {
  const c = connection as GuardedConnection;
  const validated = (addr: [string, number]) => {
    const same = (a: [string, number]) => a[0] === addr[0] && a[1] === addr[1];
    if (c.nominated && same(c.nominated.remoteAddr)) return true;
    return c.checkList.some((pair) => pair.state === SUCCEEDED && same(pair.remoteAddr));
  };
  for (const protocol of c.protocols) {
    const original = protocol.datagramReceived.bind(protocol);
    protocol.datagramReceived = (data, addr) => {
      const first = data[0];
      if (first <= 3) return original(data, addr); // STUN: authenticated by ICE itself
      const dtls = first >= 20 && first <= 23;
      const rtp = first >= 128 && first <= 191;
      if ((dtls || rtp) && validated(addr)) original(data, addr);
    };
  }
}

/**
 * DTLS after the handshake (tests/hostile/packets_test.ts, "own 5-tuples"): werift's DTLS
 * socket closes the transport on any record it reads as an alert — unknown content types
 * count as alerts, and a plaintext alert is accepted — so one datagram spoofing the peer's
 * address ended its media. Once the handshake is done, every datagram is checked record by
 * record: only handshake (retransmissions), change-cipher-spec and application data pass.
 * A genuine close_notify is dropped too; the session then ends by DELETE, ICE consent or
 * SESSION_TIMEOUT, as for a peer that vanishes.
 */
export function dropDtlsAlertsAfterHandshake(transport: unknown): void {
  const socket =
    (transport as { dtls?: { transport?: { socket?: { onData: (b: Uint8Array) => void } } } })
      .dtls?.transport?.socket;
  if (!socket) return;
  const original = socket.onData;
  socket.onData = (buf: Uint8Array) => {
    let i = 0;
    while (i + 13 <= buf.length) {
      const type = buf[i];
      if (type !== 20 && type !== 22 && type !== 23) return;
      i += 13 + ((buf[i + 11] << 8) | buf[i + 12]);
    }
    if (i === buf.length) original(buf);
  };
}
