/**
 * Small, documented patches to werift 0.25 behaviour that an SFU cannot live with. Each one is
 * applied by our code (no fork) and covered by an integration test named in its comment.
 *
 * @module
 */
import { Connection, type RTCPeerConnection } from "werift";

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
