/**
 * A room: one host, up to `maxParticipants` participant identities, their sessions, and one
 * {@link Feed} per publishing identity. Rooms never share feeds, so media cannot cross them.
 *
 * @module
 */
import { DomainError } from "../errors.ts";
import { Emitter } from "../events.ts";
import { Feed } from "../media/feed.ts";
import type { Kind } from "../media/publication.ts";
import type { Codec } from "../sdp/offer.ts";
import type { IngestSession, Session } from "../sessions/session.ts";

/** What a room tells its members (the `/rooms/{room}/events` stream). */
export type RoomEvent =
  | { type: "publication-started"; publisher: string }
  | { type: "publication-ended"; publisher: string }
  | { type: "participant-joined"; identity: string }
  | { type: "participant-left"; identity: string }
  | { type: "room-closed"; reason?: "shutdown" }
  | { type: "recording-started"; id: string; publisher: string; name: string }
  | {
    type: "recording-stopped";
    id: string;
    publisher: string;
    name: string;
    reason: string;
    error?: string;
  };

/** The JSON view of a room (`GET /rooms/{room}`). */
export interface RoomView {
  /** Name. */
  room: string;
  /** Always true for an existing room. */
  open: boolean;
  /** The host's identity. */
  host: string;
  /** Whether the host's media is reaching the room now (started, not stalled). */
  hostLive: boolean;
  /**
   * Live publications (media started and not stalled); `layers`: the simulcast rids, highest
   * bitrate first, when it has several.
   */
  publications: {
    publisher: string;
    codecs: Partial<Record<Kind, string>>;
    players: number;
    layers?: string[];
  }[];
  /** Participant identities with at least one session. */
  participants: number;
  /** The limit on participants. */
  maxParticipants: number;
  /** Live sessions. */
  sessions: number;
}

/** One room's state. */
export class Room {
  /** NFC name. */
  readonly name: string;
  /** The identity that opened it. */
  readonly host: string;
  /** Participants limit. */
  maxParticipants: number;
  /** Events for members. */
  readonly events: Emitter<RoomEvent> = new Emitter();
  #sessions = new Set<Session>();
  #feeds = new Map<string, Feed>();
  #publishing = new Map<string, IngestSession>();

  /** Opens a room owned by `host`. */
  constructor(name: string, host: string, maxParticipants: number) {
    this.name = name;
    this.host = host;
    this.maxParticipants = maxParticipants;
  }

  /** Participant identities that have a session. */
  participants(): Set<string> {
    const ids = new Set<string>();
    for (const s of this.#sessions) if (s.role === "participant") ids.add(s.owner);
    return ids;
  }

  /**
   * Throws 409 `room-full` unless `identity` may have one more session here. Only participants
   * count against `maxParticipants`; the host and viewers are bounded by the session limits.
   * `arriving` are participant identities admitted whose sessions are still being set up.
   */
  admit(
    identity: string,
    role: "host" | "participant" | "viewer",
    arriving: ReadonlySet<string> = new Set(),
  ): void {
    if (role !== "participant") return;
    const present = this.participants();
    for (const id of arriving) present.add(id);
    if (!present.has(identity) && present.size >= this.maxParticipants) {
      throw new DomainError(
        "room-full",
        `the room "${this.name}" is full (${this.maxParticipants} participant${
          this.maxParticipants === 1 ? "" : "s"
        })`,
      );
    }
  }

  /** How many players `publisher`'s feed has (live or waiting for its media). */
  players(publisher: string): number {
    return this.#feeds.get(publisher)?.subscriberCount ?? 0;
  }

  /** The feed of a publishing identity (created on first use, so players may come first). */
  feed(publisher: string): Feed {
    let feed = this.#feeds.get(publisher);
    if (!feed) {
      feed = new Feed();
      this.#feeds.set(publisher, feed);
      // the room's publication events say what the feed's players get, when they get it
      feed.events.on((e) => {
        if (e.type === "viewercount") return;
        const type = e.type === "active" ? "publication-started" : "publication-ended";
        this.events.emit({ type, publisher });
      });
    }
    return feed;
  }

  /**
   * The WHIP session of `publisher` that feeds its players (its media started), if any. A newer
   * session of the same identity whose media has not started yet is not it.
   */
  publishingSession(publisher: string): IngestSession | undefined {
    return this.#publishing.get(publisher);
  }

  /**
   * The codecs `publisher`'s players are answered with: those of the session that feeds them,
   * else of its newest WHIP session still starting (a player that cannot receive them gets 406
   * at once, as it would a moment later), else undefined (players may come first).
   */
  publicationCodecs(publisher: string): Partial<Record<Kind, Codec>> | undefined {
    const feeding = this.#publishing.get(publisher);
    if (feeding) return feeding.media.codecs;
    let newest: IngestSession | undefined;
    for (const s of this.#sessions) if (s.kind === "whip" && s.owner === publisher) newest = s;
    return newest?.media.codecs;
  }

  /**
   * Makes `session` (registered, its media just started) the source of its identity's feed:
   * players continue from it. Returns the session it replaces, which the caller ends; undefined
   * when there was none (or `session` is no longer in the room).
   */
  startPublication(session: IngestSession): IngestSession | undefined {
    if (!this.#sessions.has(session)) return undefined;
    const previous = this.#publishing.get(session.owner);
    if (previous === session) return undefined;
    this.#publishing.set(session.owner, session);
    this.feed(session.owner).setSource(session.media);
    return previous;
  }

  /**
   * Reports the feeds whose source sent nothing for `MEDIA_STALL_MS` (feed.ts) as inactive
   * (`publication-ended`); `now` is `performance.now()`. Called about once a second.
   */
  checkMedia(now: number): void {
    for (const feed of this.#feeds.values()) feed.checkStall(now);
  }

  /**
   * Takes in a session (its media set up): the room owns it from now on, and lets it go when it
   * closes ({@link Room.close} closes every session it owns).
   */
  addSession(session: Session): void {
    const newcomer = session.role === "participant" && !this.participants().has(session.owner);
    this.#sessions.add(session);
    session.closed.on(() => this.#removeSession(session));
    if (newcomer) this.events.emit({ type: "participant-joined", identity: session.owner });
    // a WHIP session feeds players from startPublication on, once its media arrives
    if (session.kind === "whep") this.feed(session.publisher).subscribe(session.media);
  }

  /** Lets a closing session go: its feed loses its source or a player. */
  #removeSession(session: Session): void {
    if (!this.#sessions.delete(session)) return;
    if (session.kind === "whip") {
      if (this.#publishing.get(session.owner) === session) {
        this.#publishing.delete(session.owner);
        this.#feeds.get(session.owner)?.clearSource(session.media); // publication-ended
      }
    } else {
      this.#feeds.get(session.publisher)?.unsubscribe(session.media);
    }
    this.#dropIdleFeeds();
    if (session.role === "participant" && !this.participants().has(session.owner)) {
      this.events.emit({ type: "participant-left", identity: session.owner });
    }
  }

  /** Number of live sessions. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** Every session of the room. */
  sessions(): Session[] {
    return [...this.#sessions];
  }

  /**
   * Closes the room: every session it owns closes (reason `room-closed`, or `shutdown` when the
   * server is stopping rather than the host closing) and their media with them; then the feeds
   * stop and members are told (`room-closed`, with `reason: "shutdown"` on shutdown).
   */
  async close(reason?: "shutdown"): Promise<void> {
    await Promise.all(this.sessions().map((s) => s.close(reason ?? "room-closed")));
    for (const feed of this.#feeds.values()) feed.close();
    this.#feeds.clear();
    this.events.emit(reason ? { type: "room-closed", reason } : { type: "room-closed" });
    this.events.clear();
  }

  /** The JSON view. */
  view(): RoomView {
    const live = (s: IngestSession) => this.#feeds.get(s.owner)?.active === true;
    const publications = [...this.#publishing.values()].filter(live).map((s) => ({
      publisher: s.owner,
      codecs: Object.fromEntries(
        Object.entries(s.media.codecs).map(([k, c]) => [k, c?.name]),
      ) as Partial<Record<Kind, string>>,
      players: this.#feeds.get(s.owner)?.viewerCount ?? 0, // a recorder is not a player
      ...(s.media.simulcast ? { layers: s.media.layerInfo().map((l) => l.rid) } : {}),
    }));
    return {
      room: this.name,
      open: true,
      host: this.host,
      hostLive: this.#publishing.has(this.host) && this.#feeds.get(this.host)?.active === true,
      publications,
      participants: this.participants().size,
      maxParticipants: this.maxParticipants,
      sessions: this.#sessions.size,
    };
  }

  #dropIdleFeeds(): void {
    for (const [id, feed] of this.#feeds) {
      if (!feed.live && feed.subscriberCount === 0) {
        feed.close();
        this.#feeds.delete(id);
      }
    }
  }
}
