/**
 * werift patches of the DTLS handshake that werift peers need to connect for sure (issue 19: the
 * fan-out ramp lost about one werift player in 300 for good): each handshake flight in one
 * datagram, and werift's DTLS server hashing the handshake only up to the ClientKeyExchange
 * (RFC 7627). Loaded by patches.ts with the others; each is checked at start by check.ts
 * (`RTCDtlsTransport.prototype.start`) and by its own test.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { afterDtlsStart } from "./dtls-start.ts";

/** Bytes at most in one coalesced handshake datagram (under IPv6's minimum MTU, 1,280). */
export const DTLS_FLIGHT_DATAGRAM_BYTES = 1200;

/**
 * One datagram per DTLS flight (tests/integration/dtls_lost_flight5_test.ts; the fan-out ramp
 * lost about one werift player in 300 for good, "connecting" until its join timed out): werift
 * sends each handshake message of a flight as a datagram of its own, and a werift peer's DTLS
 * server (every werift player: the SFU is the DTLS client) derives the extended master secret
 * when it reads the ClientKeyExchange, from every handshake message it holds at that moment. So
 * when the datagram with the ClientKeyExchange of flight 5 was lost and the CertificateVerify
 * after it arrived, the retransmitted ClientKeyExchange was hashed together with that
 * CertificateVerify: a wrong master secret, every Finished dropped as undecryptable, no flight 6
 * ever, and no retransmission could help. The records a flight sends in one turn are now
 * packed into one datagram (RFC 6347 §4.1.1 allows several records per datagram; every DTLS
 * stack reads them), up to {@link DTLS_FLIGHT_DATAGRAM_BYTES}: a flight is lost whole and comes
 * again whole, in order. Only during the handshake; application data is sent as before.
 */
function oneDatagramPerFlight(): void {
  type Sender = { send(buf: Uint8Array): Promise<unknown> };
  afterDtlsStart("__sfuOneDatagram", (t) => {
    const socket = t.dtls as { connected?: boolean; transport?: Sender } | undefined;
    const transport = socket?.transport;
    if (!socket || !transport || typeof transport.send !== "function") return;
    const send = transport.send;
    let queued: Uint8Array[] = [];
    let flushed: Promise<unknown> | undefined;
    const flush = () => {
      const records = queued;
      queued = [];
      flushed = undefined;
      return Promise.all(packDatagrams(records).map((d) => send.call(transport, d)));
    };
    transport.send = (buf) => {
      if (socket.connected) return send.call(transport, buf);
      queued.push(buf); // a flight's messages are sent in one synchronous run
      return flushed ??= Promise.resolve().then(flush);
    };
  });
}

/** Concatenates consecutive datagrams while they fit in {@link DTLS_FLIGHT_DATAGRAM_BYTES}. */
export function packDatagrams(datagrams: Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let run: Uint8Array[] = [];
  let size = 0;
  const close = () => {
    if (run.length === 1) out.push(run[0]);
    else if (run.length > 1) {
      const joined = new Uint8Array(size);
      let at = 0;
      for (const d of run) {
        joined.set(d, at);
        at += d.length;
      }
      out.push(Buffer.from(joined.buffer));
    }
    run = [];
    size = 0;
  };
  for (const d of datagrams) {
    if (size > 0 && size + d.length > DTLS_FLIGHT_DATAGRAM_BYTES) close();
    run.push(d);
    size += d.length;
  }
  close();
  return out;
}

oneDatagramPerFlight();

/**
 * The DTLS server's extended master secret (tests/integration/dtls_server_ems_test.ts; the
 * fan-out ramp after the change above: a player that read the server's flight 5 and its
 * retransmission in one turn answered with a Finished the server could not decrypt). RFC 7627
 * §4: the session hash covers the handshake messages up to and including the ClientKeyExchange.
 * werift's DTLS server hashes every message it holds when it reads a ClientKeyExchange, so a
 * second one — a retransmitted flight 5, or the first after a lost datagram — was hashed with
 * the CertificateVerify (and Finished) already held: a wrong master secret from then on. While
 * a ClientKeyExchange is read, the later messages of flight 5 are set aside. This fixes werift
 * wherever this module is loaded: the server when it is the DTLS server, and the load players
 * (bench/load/players.ts), which are the DTLS servers of the SFU's sessions.
 */
function serverSessionHashUpToKeyExchange(): void {
  type Handshake = { msg_type: number };
  type Server = {
    connected?: boolean;
    dtls: { handshakeCache: Record<number, { data: Handshake[] } | undefined> };
    onHandleHandshakes: (assembled: Handshake[]) => Promise<void>;
  };
  const CLIENT_KEY_EXCHANGE = 16;
  const AFTER_KEY_EXCHANGE = new Set([15, 20]); // CertificateVerify, Finished
  const REMOTE_FLIGHT = 5; // where werift's Flight6 keeps the client's flight 5
  afterDtlsStart("__sfuServerEms", (t) => {
    const server = t.dtls as Server | undefined;
    if (!server || t.role !== "server" || typeof server.onHandleHandshakes !== "function") return;
    const handle = server.onHandleHandshakes;
    server.onHandleHandshakes = (assembled) => {
      const cache = server.dtls.handshakeCache?.[REMOTE_FLIGHT];
      if (
        server.connected || !cache || !assembled.some((h) => h.msg_type === CLIENT_KEY_EXCHANGE)
      ) {
        return handle(assembled);
      }
      const later = cache.data.filter((h) => AFTER_KEY_EXCHANGE.has(h.msg_type));
      if (later.length === 0) return handle(assembled);
      cache.data = cache.data.filter((h) => !AFTER_KEY_EXCHANGE.has(h.msg_type));
      try {
        return handle(assembled); // the key exchange is read before its first await
      } finally {
        const kept = server.dtls.handshakeCache[REMOTE_FLIGHT] ?? cache;
        kept.data = [...kept.data, ...later];
      }
    };
  });
}

serverSessionHashUpToKeyExchange();
