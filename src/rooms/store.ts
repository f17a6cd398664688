/**
 * The room store: open rooms by name, every live session, the capacity they use, and the
 * sweeper that ends silent sessions. The use cases (`use-cases/`) work on it; it checks no
 * rights.
 *
 * @module
 */
import { Emitter } from "../events.ts";
import { metrics } from "../metrics/counters.ts";
import type { MediaOptions } from "../media/peer.ts";
import { type Session, SessionStore } from "../sessions/session.ts";
import { Capacity, type CapacityLimits } from "./capacity.ts";
import type { Room } from "./room.ts";
import { LiveClock } from "./live-clock.ts";

/** A session started (registered in its room) or ended. */
export interface SessionChange {
  /** What happened. */
  type: "started" | "ended";
  /** The session. */
  session: Session;
  /** Its room. */
  room: Room;
  /** Why it ended (`deleted`, `replaced`, `timeout`, `no-media`, …), as counted in metrics. */
  reason?: string;
}

/** Limits and defaults of the service. */
export interface RoomsOptions extends CapacityLimits {
  /** ICE and codec options for every connection. */
  media: MediaOptions;
  /** Default participants per room. */
  maxParticipants: number;
  /** Most open rooms. */
  maxRooms: number;
  /** A session whose peer is silent this long (no consent check, no media) is ended, ms. */
  sessionTimeoutMs: number;
}

/** Open rooms, live sessions and their capacity. */
export class RoomStore {
  /** Limits and defaults. */
  readonly options: RoomsOptions;
  /** Open rooms by name. */
  readonly rooms: Map<string, Room> = new Map();
  /** Every live session. */
  readonly sessions: SessionStore = new SessionStore();
  /** Sessions starting and ending (for the WHEP extensions, logs and metrics). */
  readonly changes: Emitter<SessionChange> = new Emitter();
  /** Limits on sessions, counting those still negotiating. */
  readonly capacity: Capacity;
  #sweeper?: ReturnType<typeof setInterval>;
  /** The sweep's clock (silence does not count the event loop's own stalls). */
  #clock?: LiveClock;

  /** An empty store. */
  constructor(options: RoomsOptions) {
    this.options = options;
    this.capacity = new Capacity(options, this.sessions);
  }

  /**
   * Registers a negotiated session in `room`, which owns it from now on. When it closes, for
   * whatever reason: it leaves the store and is counted (metrics), then leaves its room (feed
   * and participant events), then `changes` says `ended` — the `closed` listeners run in the
   * order they are added here. A connection that ends closes it (`connection-closed`).
   */
  register(room: Room, session: Session): void {
    if (!this.#sweeper) {
      const interval = Math.min(1000, this.options.sessionTimeoutMs / 2);
      this.#clock = new LiveClock(interval, performance.now());
      this.#sweeper = setInterval(() => this.#sweep(), interval);
    }
    this.sessions.add(session);
    session.closed.on(({ reason }) => {
      this.sessions.delete(session.id);
      metrics.sessionsEnded.inc(reason);
    });
    room.addSession(session);
    session.closed.on(({ reason }) => {
      this.changes.emit({ type: "ended", session, room, reason });
      if (this.sessions.size === 0) {
        clearInterval(this.#sweeper);
        this.#sweeper = undefined;
      }
    });
    this.changes.emit({ type: "started", session, room });
    session.media.peer.ended.on(() => {
      void session.close("connection-closed");
    });
  }

  /**
   * Ends the sessions whose peer went silent (vanished without DELETE): `not-connected` when it
   * never connected, else `timeout`. Silence is counted in the time the event loop ran
   * (live-clock.ts): after a stall of the server itself, its peers get the time to be heard.
   * Reports publications whose media stalled (room.ts).
   */
  #sweep(): void {
    const now = performance.now();
    const clock = this.#clock!;
    clock.tick(now);
    for (const session of this.sessions.all()) {
      if (clock.silentFor(session.media.peer.lastHeardAt, now) > this.options.sessionTimeoutMs) {
        void session.close(neverConnected(session) ? "not-connected" : "timeout");
      }
    }
    for (const room of this.rooms.values()) room.checkMedia(now);
  }
}

/** True when the session's connection never came up (still `new` or `connecting`). */
export function neverConnected(session: Session): boolean {
  const state = session.media.peer.pc.connectionState;
  return state === "new" || state === "connecting";
}
