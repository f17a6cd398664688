/**
 * Pumps events from an emitter into a Server-Sent Events response: events are queued while a
 * write is in flight, a comment line keeps idle connections alive, and the listener and timer
 * are released when the client goes away or the source says it is done.
 *
 * @module
 */
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";

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
    }
  });
}
