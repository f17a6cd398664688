/**
 * Small, documented patches to werift 0.25 behaviour that an SFU cannot live with: the
 * prototype patches (applied once, at import), and the per-object overrides the media plane
 * installs on one connection, transport or sender. Each one is applied by our code (no fork) and
 * covered by a test named in its comment. A prototype member a patch needs that is missing is
 * left alone here and named by the start-up check (check.ts), which refuses to start.
 *
 * @module
 */
import {
  Connection,
  GenericNack,
  type RTCPeerConnection,
  type RtcpPacket,
  RtcpTransportLayerFeedback,
  type RTCRtpCodecParameters,
  type RTCRtpSender,
  UdpTransport,
} from "werift";
import { metrics } from "../../metrics/counters.ts";
import { iceConnectionOf, type ListenedConnection, senderInternals } from "./internals.ts";
import "./dtls-handshake.ts";
import { afterDtlsStart } from "./dtls-start.ts";

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
  if (typeof original !== "function") return; // named by check.ts
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
  if (typeof original !== "function") return; // named by check.ts
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
  if (typeof original !== "function") return; // named by check.ts
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

/** Random ports of a `UDP_PORT_MIN/MAX` range tried before the range counts as used up. */
const RANGE_ATTEMPTS = 64;

/**
 * Per-session ports in a range (`UDP_PORT_MIN/MAX`; the fan-out ramp at 150 players: every player
 * of a step failed to connect): werift's `findPort` test-binds every port from the range's
 * start, closes the test socket and binds the real one later, so sessions negotiated at once
 * found the same port and all but one failed, and each search cost one bind per port already
 * taken. Here the socket itself is bound to random ports of the range until one is free;
 * `EADDRINUSE` after {@link RANGE_ATTEMPTS} tries is a used-up range (503 upstream).
 */
function randomPortsInRange(): void {
  const proto = UdpTransport.prototype as unknown as {
    init(): Promise<void>;
    options: { portRange?: [number, number]; port?: number };
    socket: {
      bind(o: { port: number; address?: string }): void;
      once(e: string, f: (e?: Error) => void): void;
      off(e: string, f: (e?: Error) => void): void;
    };
    __sfuRangePorts?: boolean;
  };
  if (proto.__sfuRangePorts) return;
  proto.__sfuRangePorts = true;
  const original = proto.init;
  if (typeof original !== "function") return; // named by check.ts
  proto.init = async function (this: typeof proto) {
    const range = this.options.portRange;
    if (!range || this.options.port) return await original.call(this);
    const [min, max] = range;
    let last: Error | undefined;
    for (let i = 0; i < RANGE_ATTEMPTS; i++) {
      const port = min + Math.floor(Math.random() * (max - min + 1));
      last = await new Promise<Error | undefined>((resolve) => {
        const onListening = () => {
          this.socket.off("error", onError);
          resolve(undefined);
        };
        const onError = (e?: Error) => {
          this.socket.off("listening", onListening);
          resolve(e ?? new Error("bind failed"));
        };
        this.socket.once("error", onError);
        this.socket.once("listening", onListening);
        this.socket.bind({ port });
      });
      if (!last) return;
    }
    throw last;
  };
}

randomPortsInRange(); // inside: the receive allocation below is set on the socket it binds
smallReceiveBuffers();

/**
 * DTLS retransmissions (tests/browser/late_joiner_test.ts; found under CPU load): the SFU is
 * the DTLS client. When it answers slowly, the browser resends its flight 4 (ServerHello …
 * ServerHelloDone); werift took the copy for a new handshake, built a new Flight5 and fed it
 * the hello again, which changed the keys after its first flight 5 had gone out. Both ends then
 * said "connected" while every SRTP packet failed authentication: a black picture, no error.
 * Once flight 5 is sent, a repeated flight 4 is ignored; werift's own timer resends flight 5
 * until the server's Finished arrives. Likewise a repeated HelloVerifyRequest (flight 2, the
 * answer to a resent ClientHello: cluster bench, an edge's werift players under load) once
 * flight 3 is out: werift's `Flight3` throws on a second one and the handshake failed
 * (tests/integration/dtls_slow_peer_test.ts); werift's timer resends flight 3 instead.
 */
function ignoreRepeatedServerFlight(): void {
  type Client = {
    connected?: boolean;
    dtls: { flight: number };
    onHandleHandshakes: (assembled: { msg_type: number }[]) => Promise<void>;
    handleHandshakes?: unknown;
  };
  afterDtlsStart("__sfuRepeatedFlight", (t) => {
    const client = t.dtls as Client | undefined;
    if (client && t.role === "client") {
      const handle = client.onHandleHandshakes;
      const FLIGHT4 = new Set([2, 11, 12, 13, 14]);
      const HELLO_VERIFY_REQUEST = 3;
      client.onHandleHandshakes = (assembled) => {
        const flight = client.dtls.flight;
        const repeat = !client.connected && (
          (flight >= 5 && assembled.some((h) => FLIGHT4.has(h.msg_type))) ||
          (flight >= 3 && assembled.some((h) => h.msg_type === HELLO_VERIFY_REQUEST))
        );
        return repeat ? Promise.resolve() : handle(assembled);
      };
    }
  });
}

ignoreRepeatedServerFlight();

/**
 * DTLS client start (tests/integration/first_frame_test.ts; bench/first-frame.ts: 100–105 ms
 * between ICE connected and the ClientHello in every run): werift's `RTCDtlsTransport.start`
 * waits on a fixed 100 ms timer before its DTLS client sends flight 1, and the SFU is the DTLS
 * client of every browser session (a browser offers `actpass`, the answer says `active`). A
 * browser is ready for it at once: it nominated the pair (so its side is writable) and knows our
 * fingerprint before its first check, and Chromium keeps a ClientHello that comes early. A peer
 * whose DTLS starts only when its own ICE is done (werift: tests/integration/media_test.ts,
 * reconnect) drops it, and werift's first retransmission comes 500 ms later. So flight 1 leaves
 * at once, and again when werift's timer ends (its 100 ms) if nothing came back by then — one
 * early retransmission, as libwebrtc's timer starts at 50 ms; werift's own retransmissions stay.
 */
function dtlsClientStartsAtOnce(): void {
  type Client = {
    connect(): Promise<void>;
    dtls: { flight: number };
    transport: { send(buf: Uint8Array): unknown };
  };
  // werift's start creates this.dtls, then waits on its timer
  afterDtlsStart("__sfuDtlsAtOnce", (t) => {
    const client = t.dtls as Client | undefined;
    if (!client || t.role !== "client" || typeof client.connect !== "function") return;
    const { transport } = client;
    const send = transport.send;
    let hello: Uint8Array | undefined;
    transport.send = (buf) => { // flight 1 is sent synchronously inside connect()
      hello ??= buf;
      return send.call(transport, buf);
    };
    const once = client.connect();
    transport.send = send;
    once.catch(() => {}); // werift's own call (after its timer) gets the failure
    client.connect = () => {
      if (client.dtls.flight === 1 && hello) send.call(transport, hello); // no answer yet
      return once;
    };
  });
}

dtlsClientStartsAtOnce();

/**
 * ICE restart (tests/integration/sessions_test.ts, "ICE restart"): after a restart,
 * `RTCPeerConnection.connect()` returns early because DTLS is still connected, so no
 * connectivity checks run on the new credentials and media stops. Starting every transport
 * that has no nominated pair runs them; DTLS keeps its state.
 */
export function resumeIceAfterRestart(pc: RTCPeerConnection): void {
  for (const transport of pc.iceTransports) {
    if (!iceConnectionOf(transport).nominated) transport.start().catch(() => {});
  }
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
export function guardDatagrams(c: ListenedConnection): void {
  const validated = (addr: [string, number]) => {
    const same = (a: [string, number]) => a[0] === addr[0] && a[1] === addr[1];
    if (c.nominated && same(c.nominated.remoteAddr)) return true;
    return c.checkList.some((pair) => pair.state === SUCCEEDED && same(pair.remoteAddr));
  };
  for (const protocol of c.protocols) {
    // TCP protocols have no datagram input: a TCP connection reaches a session only after an
    // authenticated Binding request (transport/tcp-mux.ts)
    if (typeof protocol.datagramReceived !== "function") continue;
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

/**
 * NACKs (tests/integration/media_test.ts, NACK repair): makes `sender` answer NACKs with
 * `resend(seq)` (true when the packet was resent) instead of werift's own 128-packet cache
 * (under half a second of a 2.5 Mbit/s stream); other RTCP goes to werift as before.
 */
export function answerNacks(sender: RTCRtpSender, resend: (seq: number) => boolean): void {
  const s = senderInternals(sender);
  const original = s.handleRtcpPacket.bind(s);
  s.handleRtcpPacket = (packet: RtcpPacket) => {
    if (
      packet.type !== RtcpTransportLayerFeedback.type ||
      (packet as RtcpTransportLayerFeedback).feedback.count !== GenericNack.count
    ) {
      return original(packet);
    }
    const nack = (packet as RtcpTransportLayerFeedback).feedback as GenericNack;
    s.nackCount++;
    metrics.nacksReceived.inc();
    for (const seq of nack.lost) {
      if (resend(seq)) metrics.retransmissions.inc();
    }
    sender.onGenericNack.execute(nack);
    sender.onRtcp.execute(packet);
  };
}

/**
 * Codec switch (tests/integration/media_test.ts, republish with another codec): points werift's
 * sender at another negotiated codec and its RTX (`rtx`, if negotiated) of the same m-line;
 * werift sets them once at negotiation.
 */
export function setSendCodec(
  sender: RTCRtpSender,
  codec: RTCRtpCodecParameters,
  rtx: RTCRtpCodecParameters | undefined,
): void {
  const s = senderInternals(sender);
  if (s.codec === codec) return;
  s.codec = codec;
  s.sendPrimaryCodec = codec;
  s.rtxPayloadType = rtx?.payloadType;
}
