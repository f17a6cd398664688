/**
 * The rooms service: every operation a route performs on rooms and sessions, with rights
 * checked and media set up. It knows nothing of HTTP; routes map its results and errors.
 *
 * @module
 */
import { DomainError, NotFoundError } from "../errors.ts";
import {
  isOwner,
  type Principal,
  requireHost,
  requireOwnerOrHost,
  requirePublisher,
  requireRoom,
} from "../auth/rights.ts";
import type { MediaOptions } from "../media/peer.ts";
import { Publication } from "../media/publication.ts";
import { Subscription } from "../media/subscription.ts";
import { egressCodecs, serverOfferCodecs } from "../media/egress-codecs.ts";
import { parseSdp } from "../sdp/offer.ts";
import { isUsableCandidate, type SdpFrag } from "../sdp/sdpfrag.ts";
import type { IceParameters } from "../sdp/candidates.ts";
import {
  type EgressSession,
  type IngestSession,
  newEtag,
  newSessionId,
  type Session,
  SessionStore,
} from "../sessions/session.ts";
import { Room, type RoomView } from "./room.ts";
import { Emitter } from "../events.ts";
import { metrics } from "../metrics/counters.ts";

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

/**
 * A WHIP session whose media has not started this long after its POST — not connected, or
 * connected but no video keyframe (no audio packet for an audio-only publication) — is ended
 * with the reason `not-connected` or `no-media`, ms. Until its media starts it does not feed
 * the players: a session of the same identity that does keeps doing so. 15 s covers ICE and
 * DTLS on a slow path (a few seconds) plus an encoder that ignores keyframe requests and keeps
 * a 10 s keyframe interval (OBS can be set so); a silent peer is ended sooner by the session
 * timeout (`SESSION_TIMEOUT`, 10 s).
 */
export const MEDIA_START_TIMEOUT_MS = 15_000;

/** Limits and defaults of the service. */
export interface RoomsOptions {
  /** ICE and codec options for every connection. */
  media: MediaOptions;
  /** Default participants per room. */
  maxParticipants: number;
  /** Most live sessions on the server. */
  maxSessions: number;
  /** Most open rooms. */
  maxRooms: number;
  /** Most sessions in one room. */
  maxRoomSessions: number;
  /**
   * Most sessions of one host or participant identity (role and `sub`) in a room; viewers, who
   * share tokens, are bounded by the room's and the server's limits only. Unset: no cap.
   */
  maxIdentitySessions?: number;
  /** A session whose peer is silent this long (no consent check, no media) is ended, ms. */
  sessionTimeoutMs: number;
}

/** The result of a POST: the session and the SDP to return (answer, or offer in server-offer mode). */
export interface Created {
  /** The new session. */
  session: Session;
  /** Answer (client offer) or offer (server-offer mode). */
  sdp: string;
}

/** Result of a PATCH. */
export type Patched =
  | { kind: "trickle" }
  | { kind: "restart"; ice: IceParameters; etag: string; mid: string }
  | { kind: "answer" };

/** Rooms, sessions and the operations on them. */
export class Rooms {
  #rooms = new Map<string, Room>();
  /** Every live session. */
  readonly sessions: SessionStore = new SessionStore();
  /** Sessions starting and ending (for the WHEP extensions and metrics). */
  readonly changes: Emitter<SessionChange> = new Emitter();
  #options: RoomsOptions;
  #sweeper?: ReturnType<typeof setInterval>;
  /** Per WHIP session whose media has not started: the timer that ends it. */
  #mediaDeadlines = new Map<string, ReturnType<typeof setTimeout>>();
  /** Sessions admitted and still negotiating, per capacity key (see {@link Rooms.#reserve}). */
  #held = new Map<string, number>();
  /** Participant identities admitted and still negotiating, per room. */
  #arriving = new Map<string, Map<string, number>>();

  /** Creates an empty service. */
  constructor(options: RoomsOptions) {
    this.#options = options;
  }

  /** The room with that name, if open. */
  get(name: string): Room | undefined {
    return this.#rooms.get(name);
  }

  /** Number of open rooms. */
  get size(): number {
    return this.#rooms.size;
  }

  /**
   * Opens `name` for the host `who` (idempotent for the same host; 409 for another host).
   * Returns the room and whether it was created.
   */
  open(who: Principal, name: string, maxParticipants?: number): { room: Room; created: boolean } {
    requireHost(who, name, "open the room");
    const existing = this.#rooms.get(name);
    if (existing) {
      if (existing.host !== who.sub) {
        throw new DomainError(
          "room-owned",
          `the room "${name}" is already open by another host`,
        );
      }
      if (maxParticipants !== undefined) existing.maxParticipants = maxParticipants;
      return { room: existing, created: false };
    }
    if (this.#rooms.size >= this.#options.maxRooms) {
      throw new DomainError(
        "unavailable",
        `the server is at its limit of ${this.#options.maxRooms} rooms`,
        { retryAfter: 30 },
      );
    }
    const room = new Room(name, who.sub, maxParticipants ?? this.#options.maxParticipants);
    this.#rooms.set(name, room);
    return { room, created: true };
  }

  /** JSON view of a room for a member. */
  describe(who: Principal, name: string): RoomView | { room: string; open: false } {
    requireRoom(who, name);
    return this.#rooms.get(name)?.view() ?? { room: name, open: false };
  }

  /** The open room `name` that `who` may join, or 404. */
  member(who: Principal, name: string): Room {
    requireRoom(who, name);
    const room = this.#rooms.get(name);
    if (!room) throw new NotFoundError(`the room "${name}" is not open`);
    return room;
  }

  /**
   * WHIP: publishes `who`'s media in `name`. Make-before-break: the session feeds the players
   * only once its media starts (first video keyframe; first audio packet when audio-only), and
   * then ends `who`'s session that fed them until then (`replaced`); one whose media does not
   * start within {@link MEDIA_START_TIMEOUT_MS} is ended and the players lose nothing.
   */
  async publish(who: Principal, name: string, offer: string): Promise<Created> {
    const parsed = parseSdp(offer);
    requirePublisher(who, name, this.#rooms.get(name)?.host);
    this.#checkCapacity();
    const room = who.role === "host" ? this.open(who, name).room : this.member(who, name);
    using _slot = this.#reserve(who, room); // held until the session is registered or refused
    const media = new Publication(this.#options.media, parsed);
    let sdp: string;
    try {
      sdp = await media.answer(offer);
    } catch (e) {
      await media.close();
      throw e;
    }
    const session: IngestSession = {
      kind: "whip",
      id: newSessionId(),
      room: name,
      owner: who.sub,
      role: who.role,
      etag: newEtag(),
      createdAt: Date.now(),
      media,
    };
    if (!this.#rooms.has(name)) { // closed while we negotiated
      await media.close();
      throw new NotFoundError(`the room "${name}" was closed`);
    }
    this.#register(room, session);
    this.#awaitMedia(room, session);
    return { session, sdp };
  }

  /**
   * WHEP: plays `publisher`'s publication (the host's by default) in `name` for `who`.
   * With no offer (server-offer mode) the server offers and the answer comes by PATCH.
   */
  async play(
    who: Principal,
    name: string,
    offer: string | undefined,
    publisher?: string,
  ): Promise<Created> {
    const parsed = offer === undefined ? undefined : parseSdp(offer);
    this.#checkCapacity();
    const room = this.member(who, name);
    using _slot = this.#reserve(who, room); // held until the session is registered or refused
    const target = publisher ?? room.host;
    const live = room.publicationCodecs(target);
    const codecs = parsed ? egressCodecs(parsed, live) : serverOfferCodecs();
    const media = new Subscription(this.#options.media, codecs, parsed === undefined);
    let sdp: string;
    try {
      sdp = offer === undefined ? await media.offer() : await media.answer(offer);
    } catch (e) {
      await media.close();
      throw e;
    }
    const session: EgressSession = {
      kind: "whep",
      id: newSessionId(),
      room: name,
      owner: who.sub,
      role: who.role,
      etag: newEtag(),
      createdAt: Date.now(),
      media,
      publisher: target,
    };
    if (!this.#rooms.has(name)) {
      await media.close();
      throw new NotFoundError(`the room "${name}" was closed`);
    }
    this.#register(room, session);
    return { session, sdp };
  }

  /** The session `id` if `who` may change it (owner or the room's host), else 404 / 403. */
  session(who: Principal, id: string): Session {
    const session = this.sessions.get(id);
    if (!session) throw new NotFoundError("no such session");
    requireOwnerOrHost(who, session, this.#rooms.get(session.room)?.host);
    return session;
  }

  /**
   * PATCH with an sdpfrag: trickled candidates, or an ICE restart when the frag carries new
   * credentials or `If-Match: *` asked for one. `ifMatch` is the raw header value.
   */
  async patchIce(who: Principal, id: string, ifMatch: string, frag: SdpFrag): Promise<Patched> {
    const session = this.session(who, id);
    const restartAsked = ifMatch === "*" || ifMatch === '"*"';
    if (!restartAsked && ifMatch !== session.etag) {
      throw new DomainError("precondition-failed", "If-Match does not match the session's ETag");
    }
    const peer = session.media.peer;
    const ufrag = frag.iceUfrag ?? frag.media.find((m) => m.iceUfrag)?.iceUfrag;
    const pwd = frag.icePwd ?? frag.media.find((m) => m.icePwd)?.icePwd;
    const newCredentials = ufrag !== undefined && ufrag !== peer.remoteUfrag();
    if (restartAsked || newCredentials) {
      if (!ufrag || !pwd) {
        throw new DomainError("bad-request", "an ICE restart needs a=ice-ufrag and a=ice-pwd");
      }
      const ice = await peer.restartIce(ufrag, pwd);
      await this.#addCandidates(session, frag);
      session.etag = newEtag();
      return { kind: "restart", ice, etag: session.etag, mid: peer.firstMid() };
    }
    await this.#addCandidates(session, frag);
    return { kind: "trickle" };
  }

  /** PATCH with `application/sdp` in server-offer mode: the client's answer. */
  async acceptAnswer(who: Principal, id: string, answer: string): Promise<Patched> {
    const session = this.session(who, id);
    parseSdp(answer);
    if (session.kind !== "whep") {
      throw new DomainError("unprocessable", "only server-offer WHEP sessions take an SDP answer");
    }
    await session.media.peer.acceptAnswer(answer);
    return { kind: "answer" };
  }

  /** DELETE on a session. */
  async endSession(who: Principal, id: string): Promise<void> {
    await this.#end(this.session(who, id), "deleted");
  }

  /** DELETE on a room: every session in it ends. */
  async close(who: Principal, name: string): Promise<void> {
    requireHost(who, name, "close the room");
    const room = this.#rooms.get(name);
    if (!room) throw new NotFoundError(`the room "${name}" is not open`);
    if (room.host !== who.sub) {
      throw new DomainError("forbidden", "only the host who opened the room may close it");
    }
    this.#rooms.delete(name);
    await Promise.all(room.sessions().map((s) => this.#end(s, "room-closed", room)));
    room.close();
  }

  /** Ends every session and closes every room (shutdown). */
  async closeAll(): Promise<void> {
    const rooms = [...this.#rooms.values()];
    this.#rooms.clear();
    await Promise.all(
      rooms.flatMap((room) => room.sessions().map((s) => this.#end(s, "shutdown", room))),
    );
    await Promise.all(this.sessions.all().map((s) => this.#end(s, "shutdown")));
    for (const room of rooms) room.close("shutdown");
  }

  async #addCandidates(session: Session, frag: SdpFrag): Promise<void> {
    for (const m of frag.media) {
      if (m.mid !== undefined && !session.media.peer.hasMid(m.mid)) {
        throw new DomainError("unprocessable", `the session has no m-line with mid "${m.mid}"`);
      }
    }
    for (const m of frag.media) {
      for (const c of m.candidates) {
        if (isUsableCandidate(c)) await session.media.peer.addCandidate(c);
      }
    }
  }

  /**
   * Throws 503 with `Retry-After` when the server (or `room`) has no room for one more session,
   * counting the sessions still negotiating.
   */
  #checkCapacity(room?: Room): void {
    const held = (key: string) => this.#held.get(key) ?? 0;
    if (room && room.sessionCount + held(`room\0${room.name}`) >= this.#options.maxRoomSessions) {
      throw new DomainError(
        "unavailable",
        `the room "${room.name}" is at its limit of ${this.#options.maxRoomSessions} sessions`,
        { retryAfter: 10 },
      );
    }
    if (this.sessions.size + held("server") >= this.#options.maxSessions) {
      throw new DomainError(
        "unavailable",
        `the server is at its limit of ${this.#options.maxSessions} sessions`,
        { retryAfter: 10 },
      );
    }
  }

  /**
   * Admits `who` to `room` and reserves one session of capacity (server, room, identity, and a
   * participant slot) before the negotiation's `await`, so concurrent POSTs cannot overshoot the
   * limits. Disposing of the result (`using`) releases it: the session is registered by then (and
   * counted as a session), or it was refused.
   */
  #reserve(who: Principal, room: Room): Disposable {
    this.#checkCapacity(room);
    const identityKey = `identity\0${room.name}\0${who.role}\0${who.sub}`;
    const cap = this.#options.maxIdentitySessions;
    if (who.role !== "viewer" && cap !== undefined) {
      const live = room.sessions().filter((s) => isOwner(who, s)).length;
      if (live + (this.#held.get(identityKey) ?? 0) >= cap) {
        throw new DomainError(
          "too-many-requests",
          `${who.sub} already holds ${cap} sessions in the room "${room.name}"; end some first`,
          { retryAfter: 10 },
        );
      }
    }
    const arriving = this.#arriving.get(room.name) ?? new Map<string, number>();
    room.admit(who.sub, who.role, new Set(arriving.keys()));
    const keys = ["server", `room\0${room.name}`, identityKey];
    const add = (map: Map<string, number>, key: string, by: number) => {
      const n = (map.get(key) ?? 0) + by;
      if (n > 0) map.set(key, n);
      else map.delete(key);
    };
    for (const key of keys) add(this.#held, key, 1);
    const participant = who.role === "participant";
    if (participant) {
      add(arriving, who.sub, 1);
      this.#arriving.set(room.name, arriving);
    }
    let released = false;
    return {
      [Symbol.dispose]: () => {
        if (released) return;
        released = true;
        for (const key of keys) add(this.#held, key, -1);
        if (participant) {
          add(arriving, who.sub, -1);
          if (arriving.size === 0 && this.#arriving.get(room.name) === arriving) {
            this.#arriving.delete(room.name);
          }
        }
      },
    };
  }

  /** Sessions admitted and still negotiating, on the whole server (for tests and metrics). */
  get negotiating(): number {
    return this.#held.get("server") ?? 0;
  }

  /**
   * Ends the sessions whose peer went silent (vanished without DELETE): `not-connected` when it
   * never connected, else `timeout`. Reports publications whose media stalled (room.ts).
   */
  #sweep(): void {
    const now = performance.now();
    for (const session of this.sessions.all()) {
      if (now - session.media.peer.lastHeardAt > this.#options.sessionTimeoutMs) {
        void this.#end(session, neverConnected(session) ? "not-connected" : "timeout");
      }
    }
    for (const room of this.#rooms.values()) room.checkMedia(now);
  }

  /**
   * A new WHIP session takes over its identity's feed when its media starts (the old session,
   * if any, ends then: `replaced`), or is ended after {@link MEDIA_START_TIMEOUT_MS}.
   */
  #awaitMedia(room: Room, session: IngestSession): void {
    const deadline = setTimeout(() => {
      this.#mediaDeadlines.delete(session.id);
      void this.#end(session, neverConnected(session) ? "not-connected" : "no-media");
    }, MEDIA_START_TIMEOUT_MS);
    this.#mediaDeadlines.set(session.id, deadline);
    session.media.onMediaStart(() => {
      clearTimeout(this.#mediaDeadlines.get(session.id));
      this.#mediaDeadlines.delete(session.id);
      if (this.sessions.get(session.id) !== session) return;
      const previous = room.startPublication(session);
      if (previous) void this.#end(previous, "replaced");
    });
    // a keyframe as soon as its first video packets arrive (if they are not one)
    session.media.requestKeyframe();
  }

  #register(room: Room, session: Session): void {
    this.#sweeper ??= setInterval(
      () => this.#sweep(),
      Math.min(1000, this.#options.sessionTimeoutMs / 2),
    );
    this.sessions.add(session);
    room.addSession(session);
    this.changes.emit({ type: "started", session, room });
    session.media.peer.onEnded(() => {
      void this.#end(session, "connection-closed");
    });
  }

  async #end(
    session: Session,
    reason: string,
    room = this.#rooms.get(session.room),
  ): Promise<void> {
    if (!this.sessions.delete(session.id)) return;
    clearTimeout(this.#mediaDeadlines.get(session.id));
    this.#mediaDeadlines.delete(session.id);
    metrics.sessionsEnded.inc(reason);
    room?.removeSession(session);
    if (room) this.changes.emit({ type: "ended", session, room, reason });
    if (this.sessions.size === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
    await session.media.close().catch(() => {});
  }
}

/** True when the session's connection never came up (still `new` or `connecting`). */
function neverConnected(session: Session): boolean {
  const state = session.media.peer.pc.connectionState;
  return state === "new" || state === "connecting";
}
