/**
 * Pumps events from an emitter into a Server-Sent Events response: events are queued while a
 * write is in flight, a comment line keeps idle connections alive, and the listener and timer
 * are released when the client goes away or the source says it is done.
 *
 * @module
 */
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import { DomainError } from "../errors.ts";

/** Idle connections get a `: keep-alive` comment this often, ms. */
export const KEEP_ALIVE_MS = 15_000;

/** One SSE message, or `"end"` to finish the response. */
export type SseMessage = { event: string; data: unknown } | "end";

/**
 * Streams to the client: `initial` first, then whatever `subscribe` pushes, until the client
 * disconnects or an `"end"` arrives. `subscribe` returns its unsubscribe function.
 */
export function sseResponse(
  c: Context,
  initial: SseMessage[],
  subscribe: (push: (message: SseMessage) => void) => () => void,
  release: () => void = () => {},
): Response {
  return streamSSE(c, async (stream) => {
    const queue = [...initial];
    let wake: (() => void) | undefined;
    const off = subscribe((message) => {
      queue.push(message);
      wake?.();
    });
    stream.onAbort(() => wake?.());
    try {
      while (!stream.aborted) {
        const next = queue.shift();
        if (next === "end") break;
        if (next) {
          await stream.writeSSE({ event: next.event, data: JSON.stringify(next.data) });
          continue;
        }
        let timer: ReturnType<typeof setTimeout> | undefined;
        await new Promise<void>((resolve) => {
          wake = resolve;
          timer = setTimeout(resolve, KEEP_ALIVE_MS);
        });
        clearTimeout(timer);
        wake = undefined;
        if (queue.length === 0 && !stream.aborted) await stream.write(": keep-alive\n\n");
      }
    } finally {
      off();
      release();
    }
  });
}

/** The caps of {@link StreamSlots}. */
export interface StreamCaps {
  /** Most open streams on the server. */
  server: number;
  /** Most open streams per client address (IPv6: per /64). */
  perAddress: number;
  /** Most open streams per host or participant identity. */
  perIdentity: number;
}

/**
 * Counts open event streams (each holds an HTTP connection for as long as the client likes) per
 * server, per client address and per identity. {@link StreamSlots.acquire} refuses a stream past
 * a cap: 429 with `Retry-After` for an address or an identity, 503 for the server.
 */
export class StreamSlots {
  #open = 0;
  #byAddress = new Map<string, number>();
  #byIdentity = new Map<string, number>();

  /** @param caps the limits. */
  constructor(readonly caps: StreamCaps) {}

  /** Streams open now. */
  get open(): number {
    return this.#open;
  }

  /**
   * Takes a slot for a stream of `address` and `identity` (none for viewers, whose tokens are
   * shared by crowds: their address and the server cap bound them); returns its release (idempotent).
   */
  acquire(address: string, identity?: string): () => void {
    if (this.#open >= this.caps.server) {
      throw new DomainError(
        "unavailable",
        `the server has ${this.caps.server} event streams open, its limit`,
        { retryAfter: 10 },
      );
    }
    if ((this.#byAddress.get(address) ?? 0) >= this.caps.perAddress) {
      throw new DomainError(
        "too-many-requests",
        `${address} has ${this.caps.perAddress} event streams open, the limit per address`,
        { retryAfter: 10 },
      );
    }
    if (identity !== undefined && (this.#byIdentity.get(identity) ?? 0) >= this.caps.perIdentity) {
      throw new DomainError(
        "too-many-requests",
        `this identity has ${this.caps.perIdentity} event streams open, its limit`,
        { retryAfter: 10 },
      );
    }
    this.#open++;
    bump(this.#byAddress, address, 1);
    if (identity !== undefined) bump(this.#byIdentity, identity, 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#open--;
      bump(this.#byAddress, address, -1);
      if (identity !== undefined) bump(this.#byIdentity, identity, -1);
    };
  }
}

function bump(map: Map<string, number>, key: string, by: number): void {
  const next = (map.get(key) ?? 0) + by;
  if (next <= 0) map.delete(key);
  else map.set(key, next);
}
