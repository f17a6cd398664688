/**
 * The WHEP core extensions (draft-ietf-wish-whep): server-sent events (`active`, `inactive`,
 * `layers`, `viewercount`, `reconnect`) and video layer selection, on top of the rooms service.
 *
 * @module
 */
import { DomainError } from "../errors.ts";
import type { Principal } from "../auth/rights.ts";
import type { LayerInfo } from "../media/layer.ts";
import type { FeedEvent } from "../media/feed.ts";
import {
  type EventStream,
  EventStreams,
  WHEP_EVENTS,
  type WhepEventType,
} from "../sessions/event-streams.ts";
import type { EgressSession } from "../sessions/session.ts";
import type { Rooms } from "./registry.ts";

/** How often layer information is refreshed for the streams that want it, ms. */
export const LAYERS_INTERVAL_MS = 2000;

/** The `layers` event data: layers per video m-line index. */
export type LayersData = Record<string, LayerInfo[]>;

/** Event streams and layer selection of WHEP sessions. */
export class WhepExtensions {
  /** Every open event stream. */
  readonly streams: EventStreams = new EventStreams();
  #rooms: Rooms;
  #offFeed = new Map<string, () => void>();
  #lastLayers = new Map<string, string>();
  #timer?: ReturnType<typeof setInterval>;

  /** Follows `rooms`' sessions. */
  constructor(rooms: Rooms) {
    this.#rooms = rooms;
    rooms.changes.on(({ type, session, room }) => {
      if (session.kind !== "whep") return;
      if (type === "started") {
        const off = room.feed(session.publisher).events.on((e) => this.#fromFeed(session, e));
        this.#offFeed.set(session.id, off);
        return;
      }
      this.#offFeed.get(session.id)?.();
      this.#offFeed.delete(session.id);
      this.#lastLayers.delete(session.id);
      for (const stream of this.streams.ofSession(session.id)) this.streams.delete(stream.id);
      this.#updateTimer();
    });
  }

  /**
   * Opens an event stream for the WHEP session `id` with the event types `wanted` (all when
   * undefined); the current state (active, layers, viewercount) is queued at once. `active`
   * means the publication's media reaches the players: not before its first media, not while
   * it is stalled (feed.ts).
   */
  open(who: Principal, id: string, wanted?: unknown): EventStream {
    const session = this.#egress(who, id);
    const types = parseWanted(wanted);
    const stream = this.streams.create(session.id, types);
    const feed = this.#rooms.get(session.room)?.feed(session.publisher);
    if (feed?.active) stream.push({ type: "active", data: {} }); // media flowing, not just a session
    stream.push({ type: "layers", data: this.layers(session) });
    stream.push({ type: "viewercount", data: { viewercount: feed?.subscriberCount ?? 0 } });
    this.#updateTimer();
    return stream;
  }

  /** The stream `streamId` of session `id`, or 404. */
  stream(id: string, streamId: string): EventStream {
    const stream = this.streams.get(streamId);
    if (!stream || stream.sessionId !== id) {
      throw new DomainError("not-found", "no such event stream");
    }
    return stream;
  }

  /** Destroys an event stream (DELETE), after checking `who` may. */
  close(who: Principal, id: string, streamId: string): void {
    this.#egress(who, id);
    this.stream(id, streamId);
    this.streams.delete(streamId);
    this.#updateTimer();
  }

  /** The `layers` data of a session. */
  layers(session: EgressSession): LayersData {
    const layers = session.media.layers();
    return layers.length ? { [session.media.videoMediaId]: layers } : {};
  }

  /**
   * Layer selection: pins `rid` for the session's video, or returns to automatic choice when
   * `rid` is undefined. 422 when the publication has no such layer.
   */
  selectLayer(who: Principal, id: string, rid: string | undefined): void {
    const session = this.#egress(who, id);
    if (!session.media.selectLayer(rid)) {
      throw new DomainError("unprocessable", `the publication has no layer "${rid}"`);
    }
  }

  /** Tells every player to reconnect (the server is going away). */
  reconnectAll(): void {
    for (const stream of this.streams.all()) stream.push({ type: "reconnect", data: {} });
  }

  /** Stops the layers timer and destroys every stream. */
  dispose(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    for (const stream of this.streams.all()) this.streams.delete(stream.id);
  }

  #egress(who: Principal, id: string): EgressSession {
    const session = this.#rooms.session(who, id);
    if (session.kind !== "whep") {
      throw new DomainError("not-found", "the WHEP extensions belong to WHEP sessions");
    }
    return session;
  }

  #fromFeed(session: EgressSession, event: FeedEvent): void {
    const { type, ...data } = event;
    for (const stream of this.streams.ofSession(session.id)) stream.push({ type, data });
    if (type === "active") this.#pushLayers(session, true);
  }

  #pushLayers(session: EgressSession, force = false): void {
    const data = this.layers(session);
    const json = JSON.stringify(data);
    if (!force && this.#lastLayers.get(session.id) === json) return;
    this.#lastLayers.set(session.id, json);
    for (const stream of this.streams.ofSession(session.id)) stream.push({ type: "layers", data });
  }

  #updateTimer(): void {
    const needed = this.streams.all().some((s) => s.wanted.has("layers"));
    if (needed && !this.#timer) {
      this.#timer = setInterval(() => {
        const ids = new Set(this.streams.all().map((s) => s.sessionId));
        for (const id of ids) {
          const session = this.#rooms.sessions.get(id);
          if (session?.kind === "whep") this.#pushLayers(session);
        }
      }, LAYERS_INTERVAL_MS);
    } else if (!needed && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}

function parseWanted(wanted: unknown): WhepEventType[] {
  if (wanted === undefined) return [...WHEP_EVENTS];
  if (!Array.isArray(wanted) || !wanted.every((w) => typeof w === "string")) {
    throw new DomainError("bad-request", "the body must be a JSON array of event names");
  }
  const unknown = wanted.filter((w) => !(WHEP_EVENTS as readonly string[]).includes(w));
  if (unknown.length) {
    throw new DomainError(
      "unprocessable",
      `unsupported events: ${unknown.join(", ")} (this server sends ${WHEP_EVENTS.join(", ")})`,
    );
  }
  return wanted as WhepEventType[];
}
