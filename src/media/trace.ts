/**
 * The opt-in first-frame trace: one JSON line per step of a session's start (first STUN check,
 * nominated pair, each DTLS flight, SRTP keys, first RTP sent), stamped with wall-clock ms
 * aligned on `performance.timeOrigin` so a browser's `performance.timeOrigin + now()` on the
 * same machine compares with it. Off unless `FIRST_FRAME_TRACE=1` (then lines go to stderr) or
 * a sink is set with {@link traceTo} (the bench, in-process). When off, each call site costs
 * one check of {@link tracing} and is only reached once per session, never per packet.
 *
 * @module
 */

/** One trace line. `t`: wall-clock ms (performance.timeOrigin + performance.now()). */
export interface TraceEvent {
  /** Wall-clock ms. */
  t: number;
  /** What happened, e.g. `stun.first`, `dtls.out`, `rtp.first`. */
  event: string;
  /** Which session: `whip`, `whep` or `peer`, and the local ICE ufrag when known. */
  tag?: string;
  /** Anything else the step says. */
  [field: string]: unknown;
}

function fromEnv(): ((e: TraceEvent) => void) | undefined {
  try {
    if (Deno.env.get("FIRST_FRAME_TRACE") !== "1") return undefined;
  } catch {
    return undefined; // no env permission: off
  }
  return (e) => console.error(JSON.stringify(e));
}

let sink = fromEnv();

/** True when tracing is on: call sites check it before building anything. */
export function tracing(): boolean {
  return sink !== undefined;
}

/** Sends the trace to `to` (undefined: off, or back to stderr with `FIRST_FRAME_TRACE=1`). */
export function traceTo(to: ((e: TraceEvent) => void) | undefined): void {
  sink = to ?? fromEnv();
}

/** Records one step, if tracing. */
export function trace(event: string, fields: Record<string, unknown> = {}): void {
  if (!sink) return;
  sink({ t: performance.timeOrigin + performance.now(), event, ...fields });
}

/**
 * The records of a DTLS datagram in words: `hs:1` (a plaintext handshake message and its type,
 * 1 ClientHello, 2 ServerHello, 11 Certificate, 14 ServerHelloDone, 16 ClientKeyExchange…),
 * `hs*` (an encrypted one: Finished), `ccs`, `alert`, `app`.
 */
export function dtlsRecords(buf: Uint8Array): string[] {
  const out: string[] = [];
  for (let i = 0; i + 13 <= buf.length; i += 13 + ((buf[i + 11] << 8) | buf[i + 12])) {
    const type = buf[i];
    const epoch = (buf[i + 3] << 8) | buf[i + 4];
    if (type === 22) out.push(epoch === 0 && i + 13 < buf.length ? `hs:${buf[i + 13]}` : "hs*");
    else out.push(type === 20 ? "ccs" : type === 21 ? "alert" : type === 23 ? "app" : `${type}`);
  }
  return out;
}
