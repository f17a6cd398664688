/**
 * The rooms service: the one object routes call. Each operation is a use case of
 * `use-cases/` (rights checked, media set up) over a {@link RoomStore}; it knows nothing of
 * HTTP, and routes map its results and errors.
 *
 * @module
 */
import type { Principal } from "../auth/rights.ts";
import type { SdpFrag } from "../sdp/sdpfrag.ts";
import type { Session, SessionStore } from "../sessions/session.ts";
import type { Emitter } from "../events.ts";
import type { Room, RoomView } from "./room.ts";
import { type RoomsOptions, RoomStore, type SessionChange } from "./store.ts";
import { describeRoom, memberRoom, openRoom, ownedSession } from "./use-cases/membership.ts";
import { publish } from "./use-cases/publish.ts";
import { play } from "./use-cases/play.ts";
import { pull, type PullExchange } from "./use-cases/pull.ts";
import { acceptAnswer, type Patched, patchIce } from "./use-cases/patch.ts";
import { closeAll, closeRoom, endSession } from "./use-cases/end.ts";
import type { Created as CreatedOf } from "./use-cases/negotiate.ts";

export type { RoomsOptions, SessionChange } from "./store.ts";
export type { Patched } from "./use-cases/patch.ts";
export type { PullExchange } from "./use-cases/pull.ts";
export { MEDIA_START_TIMEOUT_MS } from "./use-cases/publish.ts";

/** The result of a POST: the session and the SDP to return (answer, or offer in server-offer mode). */
export type Created = CreatedOf<Session>;

/** Rooms, sessions and the operations on them. */
export class Rooms {
  #store: RoomStore;

  /** Creates an empty service. */
  constructor(options: RoomsOptions) {
    this.#store = new RoomStore(options);
  }

  /** Every live session. */
  get sessions(): SessionStore {
    return this.#store.sessions;
  }

  /** Sessions starting and ending (for the WHEP extensions and metrics). */
  get changes(): Emitter<SessionChange> {
    return this.#store.changes;
  }

  /** The room with that name, if open. */
  get(name: string): Room | undefined {
    return this.#store.rooms.get(name);
  }

  /** The names of the open rooms. */
  names(): string[] {
    return [...this.#store.rooms.keys()];
  }

  /** Number of open rooms. */
  get size(): number {
    return this.#store.rooms.size;
  }

  /** Sessions admitted and still negotiating, on the whole server (for tests and metrics). */
  get negotiating(): number {
    return this.#store.capacity.negotiating;
  }

  /**
   * Opens `name` for the host `who` (idempotent for the same host; 409 for another host).
   * Returns the room and whether it was created.
   */
  open(who: Principal, name: string, maxParticipants?: number): { room: Room; created: boolean } {
    return openRoom(this.#store, who, name, maxParticipants);
  }

  /** JSON view of a room for a member. */
  describe(who: Principal, name: string): RoomView | { room: string; open: false } {
    return describeRoom(this.#store, who, name);
  }

  /** The open room `name` that `who` may join, or 404. */
  member(who: Principal, name: string): Room {
    return memberRoom(this.#store, who, name);
  }

  /** WHIP: publishes `who`'s media in `name` (see `use-cases/publish.ts`). */
  publish(who: Principal, name: string, offer: string): Promise<Created> {
    return publish(this.#store, who, name, offer);
  }

  /**
   * WHEP: plays `publisher`'s publication (the host's by default) in `name` for `who`; with
   * `layer`, that simulcast layer only.
   */
  play(
    who: Principal,
    name: string,
    offer: string | undefined,
    publisher?: string,
    layer?: string,
  ): Promise<Created> {
    return play(this.#store, who, name, offer, publisher, layer);
  }

  /**
   * Publishes `who`'s media in `name` from another server (a cluster edge's mirror): see
   * `use-cases/pull.ts`.
   */
  pull(who: Principal, name: string, exchange: PullExchange, rids?: string[]): Promise<Session> {
    return pull(this.#store, who, name, exchange, rids);
  }

  /** The session `id` if `who` may change it (owner or the room's host), else 404 / 403. */
  session(who: Principal, id: string): Session {
    return ownedSession(this.#store, who, id);
  }

  /** PATCH with an sdpfrag: trickle, or an ICE restart. `ifMatch` is the raw header value. */
  patchIce(who: Principal, id: string, ifMatch: string, frag: SdpFrag): Promise<Patched> {
    return patchIce(this.#store, who, id, ifMatch, frag);
  }

  /** PATCH with `application/sdp` in server-offer mode: the client's answer. */
  acceptAnswer(
    who: Principal,
    id: string,
    ifMatch: string | undefined,
    answer: string,
  ): Promise<Patched> {
    return acceptAnswer(this.#store, who, id, ifMatch, answer);
  }

  /** DELETE on a session. */
  endSession(who: Principal, id: string): Promise<void> {
    return endSession(this.#store, who, id);
  }

  /** DELETE on a room: every session in it ends. */
  close(who: Principal, name: string): Promise<void> {
    return closeRoom(this.#store, who, name);
  }

  /** Ends every session and closes every room (shutdown). */
  closeAll(): Promise<void> {
    return closeAll(this.#store);
  }
}
