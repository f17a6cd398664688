/**
 * Sessions: one WebRTC connection each, created by one POST and addressed by its URL.
 * A session has an unguessable id (128 bits), an ETag for its current ICE session, an owner
 * and a kind; its media is a publication (WHIP) or a subscription (WHEP).
 *
 * @module
 */
import { encodeBase64Url } from "../util/base64.ts";
import type { Publication } from "../media/publication.ts";
import type { Subscription } from "../media/subscription.ts";

/** `whip` (ingest) or `whep` (egress). */
export type SessionKind = "whip" | "whep";

/** Fields shared by both kinds. */
interface SessionBase {
  /** URL-safe id, 128 random bits. */
  readonly id: string;
  /** The room's name. */
  readonly room: string;
  /** The identity (`sub`) that created it. */
  readonly owner: string;
  /** The role of the token that created it. */
  readonly role: "host" | "participant" | "viewer";
  /** Current ETag value (quoted), renewed by each ICE restart. */
  etag: string;
  /** When it was created (ms since epoch). */
  readonly createdAt: number;
}

/** A WHIP session. */
export interface IngestSession extends SessionBase {
  /** Discriminant. */
  readonly kind: "whip";
  /** Its media. */
  readonly media: Publication;
}

/** A WHEP session. */
export interface EgressSession extends SessionBase {
  /** Discriminant. */
  readonly kind: "whep";
  /** Its media. */
  readonly media: Subscription;
  /** The identity whose publication it plays. */
  readonly publisher: string;
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

  /** Every live session. */
  all(): Session[] {
    return [...this.#sessions.values()];
  }
}
