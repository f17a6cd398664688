/**
 * The one way this project patches werift's `RTCDtlsTransport.prototype.start`: werift creates
 * the transport's DTLS endpoint (`this.dtls`, client or server) synchronously, before the first
 * `await` of `start`, so a hook run right after the original call can wrap that endpoint's
 * methods before any handshake message is sent or read. Each patch installs its hook once per
 * process (a flag on the prototype); a missing `start` is named at start-up by check.ts.
 *
 * @module
 */
import { RTCDtlsTransport } from "werift";

/** A transport whose `start` has just created its DTLS endpoint. */
export interface DtlsStarting {
  /** werift's DTLS client or server (its members as each patch needs them). */
  dtls?: unknown;
  /** `"client"` or `"server"`. */
  role?: string;
}

/**
 * Runs `hook` on every `RTCDtlsTransport` right after werift's `start` created its DTLS endpoint;
 * installed once per `flag` (a later call with the same flag does nothing).
 */
export function afterDtlsStart(flag: string, hook: (transport: DtlsStarting) => void): void {
  const proto = RTCDtlsTransport.prototype as unknown as Record<string, unknown> & {
    start(...args: unknown[]): Promise<void>;
  };
  if (proto[flag]) return;
  proto[flag] = true;
  const original = proto.start;
  if (typeof original !== "function") return; // named by check.ts
  proto.start = function (this: DtlsStarting, ...args: unknown[]) {
    const started = original.apply(this, args); // creates this.dtls before its first await
    hook(this);
    return started;
  };
}
