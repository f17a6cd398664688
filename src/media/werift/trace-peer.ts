/**
 * The first-frame trace's hooks into one werift connection (see ../trace.ts): STUN checks
 * received until ICE is connected, the ICE and DTLS state changes, and each DTLS handshake
 * datagram in and out. Installed only when tracing is on (peer.ts), and each hook goes quiet
 * once the DTLS handshake is done, so media never passes through them while they say anything.
 *
 * @module
 */
import type { RTCPeerConnection } from "werift";
import { dtlsRecords, trace } from "../trace.ts";

/** The members of werift's ICE `Connection` the trace wraps or reads. */
interface TracedConnection {
  protocols: {
    onRequestReceived?: { subscribe(f: (msg: { attributesKeys: string[] }) => void): unknown };
  }[];
  onData: { subscribe(f: (data: Uint8Array) => void): unknown };
  send(data: Uint8Array): Promise<void>;
  nominated?: {
    remoteAddr: [string, number];
    localCandidate?: { transport?: string; type?: string };
  };
}

const isDtls = (b: Uint8Array) => b.length > 0 && b[0] >= 20 && b[0] <= 63;

/**
 * Traces the start of `pc`, tagged `whep` when it only sends, `whip` when it only receives, else
 * `peer`. Call once, after the local description, before the answer is sent.
 */
export function tracePeer(pc: RTCPeerConnection): void {
  const directions = new Set(pc.getTransceivers().map((t) => t.direction));
  const only = directions.size === 1 ? [...directions][0] : undefined;
  const tag = only === "sendonly" ? "whep" : only === "recvonly" ? "whip" : "peer";
  let handshaking = true;
  let checks = 0;
  trace("answer.ready", { tag });
  for (const transport of pc.iceTransports) {
    const c = transport.connection as unknown as TracedConnection;
    for (const protocol of c.protocols) {
      protocol.onRequestReceived?.subscribe((msg) => {
        if (!handshaking || checks >= 20) return;
        const useCandidate = msg.attributesKeys.includes("USE-CANDIDATE");
        trace("stun.check", { tag, n: ++checks, useCandidate });
      });
    }
    c.onData.subscribe((data) => {
      if (handshaking && isDtls(data)) trace("dtls.in", { tag, records: dtlsRecords(data) });
    });
    const send = c.send;
    c.send = (data) => {
      if (handshaking && isDtls(data)) trace("dtls.out", { tag, records: dtlsRecords(data) });
      return send.call(c, data);
    };
    transport.onStateChange.subscribe((state) => {
      const local = c.nominated?.localCandidate;
      trace(`ice.${state}`, {
        tag,
        pair: state === "connected" ? { local: local?.type, transport: local?.transport } : {},
      });
    });
  }
  for (const dtls of pc.dtlsTransports) {
    dtls.onStateChange.subscribe((state) => {
      trace(`dtls.${state}`, { tag }); // "connected": SRTP keys derived, sessions started
      if (state !== "connecting") handshaking = false;
    });
  }
  pc.connectionStateChange.subscribe((state) => trace(`pc.${state}`, { tag }));
}
