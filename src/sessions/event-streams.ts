/**
 * WHEP server-sent-events streams (draft-ietf-wish-whep, "Server Sent Events extension"):
 * a player POSTs the events it wants and gets a stream URL; events for its session are queued
 * per stream until the stream is read, and a DELETE (or the session's end) destroys it.
 *
 * @module
 */
import { Emitter } from "../events.ts";
import { DomainError } from "../errors.ts";
import { encodeBase64Url } from "../util/base64.ts";

/** The event types this server sends. */
export const WHEP_EVENTS = ["active", "inactive", "layers", "viewercount", "reconnect"] as const;

/** One of {@link WHEP_EVENTS}. */
export type WhepEventType = typeof WHEP_EVENTS[number];

/** An event: its type and its JSON data. */
export interface WhepEvent {
  /** Event type. */
  type: WhepEventType;
  /** Serialised as the single `data:` line. */
  data: unknown;
}

/** One event stream of one session. */
export class EventStream {
  /** Unguessable id (128 bits). */
  readonly id: string = encodeBase64Url(crypto.getRandomValues(new Uint8Array(16)));
  /** Events delivered to the reader (queued while it has none). */
  readonly events: Emitter<WhepEvent> = new Emitter();
  /** Emitted once, when the stream is destroyed: a reader finishes. */
  readonly closed: Emitter<void> = new Emitter();
  #queue: WhepEvent[] = [];
  #closed = false;

  /** @param sessionId the WHEP session; @param wanted the event types it asked for. */
  constructor(readonly sessionId: string, readonly wanted: ReadonlySet<WhepEventType>) {}

  /** Queues `event` if the stream asked for its type. */
  push(event: WhepEvent): void {
    if (this.#closed || !this.wanted.has(event.type)) return;
    if (this.events.size > 0) this.events.emit(event);
    else if (this.#queue.length < 100) this.#queue.push(event);
  }

  /** Takes the events queued while nobody was reading. */
  drain(): WhepEvent[] {
    return this.#queue.splice(0);
  }

  /** Destroys the stream; a reader is told to finish. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = [];
    this.closed.emit();
    this.closed.clear();
    this.events.clear();
  }
}

/**
 * Most event streams one WHEP session may have (created by POST and not yet deleted): a player
 * needs one, a reconnecting `EventSource` briefly two. Each is state kept until the session ends.
 */
export const MAX_STREAMS_PER_SESSION = 4;

/** Every event stream, by id. */
export class EventStreams {
  #streams = new Map<string, EventStream>();

  /** Creates a stream for a session; 429 when it has {@link MAX_STREAMS_PER_SESSION} already. */
  create(sessionId: string, wanted: Iterable<WhepEventType>): EventStream {
    if (this.ofSession(sessionId).length >= MAX_STREAMS_PER_SESSION) {
      throw new DomainError(
        "too-many-requests",
        `the session has ${MAX_STREAMS_PER_SESSION} event streams, its limit: DELETE one first`,
        { retryAfter: 10 },
      );
    }
    const stream = new EventStream(sessionId, new Set(wanted));
    this.#streams.set(stream.id, stream);
    return stream;
  }

  /** The live stream with that id. */
  get(id: string): EventStream | undefined {
    return this.#streams.get(id);
  }

  /** Destroys a stream. */
  delete(id: string): boolean {
    const stream = this.#streams.get(id);
    stream?.close();
    return this.#streams.delete(id);
  }

  /** The streams of a session. */
  ofSession(sessionId: string): EventStream[] {
    return [...this.#streams.values()].filter((s) => s.sessionId === sessionId);
  }

  /** Every stream. */
  all(): EventStream[] {
    return [...this.#streams.values()];
  }
}
