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
import type { IngestSession, Session } from "../sessions/session.ts";

/** What a room tells its members (the `/rooms/{room}/events` stream). */
export type RoomEvent =
  | { type: "publication-started"; publisher: string }
  | { type: "publication-ended"; publisher: string }
  | { type: "participant-joined"; identity: string }
  | { type: "participant-left"; identity: string }
  | { type: "room-closed" };

/** The JSON view of a room (`GET /rooms/{room}`). */
export interface RoomView {
  /** Name. */
  room: string;
  /** Always true for an existing room. */
  open: boolean;
  /** The host's identity. */
  host: string;
  /** Whether the host is publishing. */
  hostLive: boolean;
  /** Live publications. */
  publications: { publisher: string; codecs: Partial<Record<Kind, string>>; players: number }[];
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

  /** Throws 409 `room-full` unless `identity` may have one more session here. */
  admit(identity: string, role: "host" | "participant"): void {
    if (role === "host") return;
    const present = this.participants();
    if (!present.has(identity) && present.size >= this.maxParticipants) {
      throw new DomainError(
        "room-full",
        `the room "${this.name}" is full (${this.maxParticipants} participant${
          this.maxParticipants === 1 ? "" : "s"
        })`,
      );
    }
  }

  /** The feed of a publishing identity (created on first use, so players may come first). */
  feed(publisher: string): Feed {
    let feed = this.#feeds.get(publisher);
    if (!feed) {
      feed = new Feed();
      this.#feeds.set(publisher, feed);
    }
    return feed;
  }

  /** The live WHIP session of `publisher`, if any. */
  publishingSession(publisher: string): IngestSession | undefined {
    return this.#publishing.get(publisher);
  }

  /** Registers a session (after its media is set up). */
  addSession(session: Session): void {
    const newcomer = session.role === "participant" && !this.participants().has(session.owner);
    this.#sessions.add(session);
    if (newcomer) this.events.emit({ type: "participant-joined", identity: session.owner });
    if (session.kind === "whip") {
      this.#publishing.set(session.owner, session);
      this.feed(session.owner).setSource(session.media);
      this.events.emit({ type: "publication-started", publisher: session.owner });
    } else {
      this.feed(session.publisher).subscribe(session.media);
    }
  }

  /** Unregisters a session (its media is closed by the caller). */
  removeSession(session: Session): void {
    if (!this.#sessions.delete(session)) return;
    if (session.kind === "whip") {
      const feed = this.#feeds.get(session.owner);
      feed?.clearSource(session.media);
      if (this.#publishing.get(session.owner) === session) {
        this.#publishing.delete(session.owner);
        this.events.emit({ type: "publication-ended", publisher: session.owner });
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

  /** Stops the feeds and tells members; the caller ends the sessions first. */
  close(): void {
    for (const feed of this.#feeds.values()) feed.close();
    this.#feeds.clear();
    this.events.emit({ type: "room-closed" });
    this.events.clear();
  }

  /** The JSON view. */
  view(): RoomView {
    const publications = [...this.#publishing.values()].map((s) => ({
      publisher: s.owner,
      codecs: Object.fromEntries(
        Object.entries(s.media.codecs).map(([k, c]) => [k, c?.name]),
      ) as Partial<Record<Kind, string>>,
      players: this.#feeds.get(s.owner)?.subscriberCount ?? 0,
    }));
    return {
      room: this.name,
      open: true,
      host: this.host,
      hostLive: this.#publishing.has(this.host),
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
