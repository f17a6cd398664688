/**
 * WHIP / WHEP signalling for the load clients: one POST with the complete offer, the answer
 * (optionally cut down to its 127.0.0.1 candidates) applied, and a DELETE at the end.
 *
 * @module
 */
import type { RTCPeerConnection } from "werift";
import { loopbackCandidatesOnly } from "./common.ts";

/** Resolves when `pc` has gathered all its candidates. */
export function gathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const { unSubscribe } = pc.iceGatheringStateChange.subscribe((s) => {
      if (s === "complete") {
        unSubscribe();
        resolve();
      }
    });
  });
}

/** Resolves when `pc` is connected; rejects when it fails or after `ms`. */
export function connected(pc: RTCPeerConnection, ms: number): Promise<void> {
  if (pc.connectionState === "connected") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      unSubscribe();
      reject(new Error(`not connected in ${ms} ms (${pc.connectionState})`));
    }, ms);
    const { unSubscribe } = pc.connectionStateChange.subscribe((s) => {
      if (s === "connected" || s === "failed" || s === "closed") {
        clearTimeout(timer);
        unSubscribe();
        if (s === "connected") resolve();
        else reject(new Error(`connection ${s}`));
      }
    });
  });
}

/** The result of a POST. */
export interface Posted {
  /** Absolute session URL (for DELETE), when the server gave a `Location`. */
  sessionUrl?: string;
  /** The answer as received. */
  answer: string;
  /** `performance.now()` when the request was sent and when the 201's body was read. */
  sentAt: number;
  answeredAt: number;
}

/** Creates the offer (complete), POSTs it, applies the answer. Throws on anything but 201. */
export async function post(
  pc: RTCPeerConnection,
  endpoint: string,
  token: string | undefined,
  options: { anyAddress: boolean; timeoutMs: number; beforePost?: () => void },
): Promise<Posted> {
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  options.beforePost?.();
  const headers: Record<string, string> = { "Content-Type": "application/sdp" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const sentAt = performance.now();
  const response = await fetch(endpoint, {
    method: "POST",
    headers,
    body: pc.localDescription!.sdp,
    signal: AbortSignal.timeout(options.timeoutMs),
  });
  const body = await response.text();
  const answeredAt = performance.now();
  if (response.status !== 201) {
    throw new Error(`POST ${endpoint} → ${response.status} ${body.slice(0, 200)}`);
  }
  const answer = options.anyAddress ? body : loopbackCandidatesOnly(body);
  if (!options.anyAddress && !/^a=candidate:/m.test(answer)) {
    throw new Error(
      "the answer has no 127.0.0.1 candidate (start the server with ICE_LOOPBACK=true, " +
        "or pass --any-address to let the load talk to other addresses)",
    );
  }
  await pc.setRemoteDescription({ type: "answer", sdp: answer });
  const location = response.headers.get("Location");
  return {
    sessionUrl: location ? new URL(location, endpoint).href : undefined,
    answer,
    sentAt,
    answeredAt,
  };
}

/** DELETEs a session, bounded; errors are ignored (the server may be gone). */
export async function del(url: string | undefined, token: string | undefined): Promise<void> {
  if (!url) return;
  try {
    const res = await fetch(url, {
      method: "DELETE",
      headers: token ? { Authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(3000),
    });
    await res.body?.cancel();
  } catch {
    // gone already
  }
}

/** The UDP sockets werift opened for the connection `pc`. */
export function weriftSockets(pc: RTCPeerConnection): object[] {
  const out: object[] = [];
  for (const transport of pc.iceTransports) {
    const connection = (transport as unknown as {
      connection: { protocols: { transport?: { socket?: object } }[] };
    }).connection;
    for (const protocol of connection.protocols) {
      if (protocol.transport?.socket) out.push(protocol.transport.socket);
    }
  }
  return out;
}
