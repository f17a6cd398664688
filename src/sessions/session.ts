/**
 * Sessions: one WebRTC connection each, created by one POST and addressed by its URL.
 * A session has an unguessable id (128 bits), an ETag for its current ICE session, an owner
 * and a kind; its media is a publication (WHIP) or a subscription (WHEP). A session owns its
 * media: closing it closes them.
 *
 * @module
 */
import { encodeBase64Url } from "../util/base64.ts";
import type { Publication } from "../media/publication.ts";
import type { Subscription } from "../media/subscription.ts";
import { Emitter } from "../events.ts";

/** `whip` (ingest) or `whep` (egress). */
export type SessionKind = "whip" | "whep";

/** The one event of a session: it ended, and why (`deleted`, `replaced`, `timeout`, …). */
export interface SessionClosed {
  /** Why it ended, as counted in metrics and logged. */
  reason: string;
}

/** Who created a session and where: the fields both kinds are built from. */
export interface SessionInit {
  /** The room's name. */
  room: string;
  /** The identity (`sub`) that created it. */
  owner: string;
  /** The role of the token that created it. */
  role: "host" | "participant" | "viewer";
}

/**
 * What both kinds share, and their life: {@link SessionBase.close} ends a session once —
 * `closed` listeners run first, in the order they were added (the session store, then the
 * room, then whoever watches the store), then its media closes.
 */
abstract class SessionBase {
  /** URL-safe id, 128 random bits. */
  readonly id: string = newSessionId();
  /** The room's name. */
  readonly room: string;
  /** The identity (`sub`) that created it. */
  readonly owner: string;
  /** The role of the token that created it. */
  readonly role: "host" | "participant" | "viewer";
  /** Current ETag value (quoted), renewed by each ICE restart. */
  etag: string = newEtag();
  /** When it was created (ms since epoch). */
  readonly createdAt: number = Date.now();
  /** Emitted once, when the session ends; listeners are dropped after it. */
  readonly closed: Emitter<SessionClosed> = new Emitter();
  #closed = false;

  /** A live session of `init`'s owner in its room. */
  constructor(init: SessionInit) {
    this.room = init.room;
    this.owner = init.owner;
    this.role = init.role;
  }

  /** Its media (a publication or a subscription). */
  abstract readonly media: { close(): Promise<void> };

  /** True once {@link SessionBase.close} was called. */
  get isClosed(): boolean {
    return this.#closed;
  }

  /**
   * Ends the session for `reason`: tells `closed` listeners, then closes its media. A second
   * call does nothing (and resolves at once).
   */
  async close(reason: string): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.closed.emit({ reason });
    this.closed.clear();
    await this.media.close().catch(() => {});
  }
}

/** A WHIP session. */
export class IngestSession extends SessionBase {
  /** Discriminant. */
  readonly kind = "whip" as const;
  /** Its media. */
  readonly media: Publication;

  /** A WHIP session publishing `media`. */
  constructor(init: SessionInit, media: Publication) {
    super(init);
    this.media = media;
  }
}

/** A WHEP session. */
export class EgressSession extends SessionBase {
  /** Discriminant. */
  readonly kind = "whep" as const;
  /** Its media. */
  readonly media: Subscription;
  /** The identity whose publication it plays. */
  readonly publisher: string;

  /** A WHEP session playing `publisher`'s publication through `media`. */
  constructor(init: SessionInit, media: Subscription, publisher: string) {
    super(init);
    this.media = media;
    this.publisher = publisher;
  }
}

/** Either kind. */
export type Session = IngestSession | EgressSession;

/** 128 random bits, base64url (22 characters). */
export function newSessionId(): string {
  return encodeBase64Url(crypto.getRandomValues(new Uint8Array(16)));
}

/** A fresh strong ETag value for an ICE session. */
export function newEtag(): string {
  return `"${encodeBase64Url(crypto.getRandomValues(new Uint8Array(9)))}"`;
}

/** Every live session by id. */
export class SessionStore {
  #sessions = new Map<string, Session>();

  /** Adds a session. */
  add(session: Session): void {
    this.#sessions.set(session.id, session);
  }

  /** The session with that id, if live. */
  get(id: string): Session | undefined {
    return this.#sessions.get(id);
  }

  /** Removes a session; true if it was there. */
  delete(id: string): boolean {
    return this.#sessions.delete(id);
  }

  /** Number of live sessions. */
  get size(): number {
    return this.#sessions.size;
  }

  /** Number of live sessions of each kind. */
  counts(): Record<SessionKind, number> {
    const counts = { whip: 0, whep: 0 };
    for (const s of this.#sessions.values()) counts[s.kind]++;
    return counts;
  }

  /** Number of live sessions by the transport of their selected ICE pair (none yet: connecting). */
  transports(): { udp: number; tcp: number; connecting: number } {
    const counts = { udp: 0, tcp: 0, connecting: 0 };
    for (const s of this.#sessions.values()) {
      counts[s.media.peer.selectedTransport() ?? "connecting"]++;
    }
    return counts;
  }

  /** Every live session. */
  all(): Session[] {
    return [...this.#sessions.values()];
  }
}
