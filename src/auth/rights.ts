/**
 * What a verified token allows in a room. The rules of the API page, in one place.
 *
 * An identity is its role and its `sub` together: a participant or viewer token whose `sub`
 * equals the host's is not the host, may not touch the host's sessions, and may not publish
 * under the host's publisher id.
 *
 * @module
 */
import { ForbiddenError } from "../errors.ts";
import type { Role } from "./tokens.ts";

/** The claims the rights depend on (a subset of the verified token's). */
export interface Principal {
  /** Identity (`sub`). */
  sub: string;
  /** The one room the token is valid for. */
  room: string;
  /** `host`, `participant` or `viewer`. */
  role: Role;
}

/** Throws 403 unless the token was issued for `room`. */
export function requireRoom(who: Principal, room: string): void {
  if (who.room !== room) {
    throw new ForbiddenError(`this token is for the room "${who.room}", not "${room}"`);
  }
}

/** Throws 403 unless the token is a host token of `room`. */
export function requireHost(who: Principal, room: string, action: string): void {
  requireRoom(who, room);
  if (who.role !== "host") throw new ForbiddenError(`only the room's host may ${action}`);
}

/**
 * Throws 403 unless `who` may publish in `room`, whose host is `host` (undefined when the room
 * is not open yet): host and participant tokens may, viewer tokens may not, and a participant
 * whose `sub` is the host's may not (its publication would carry the host's publisher id).
 */
export function requirePublisher(who: Principal, room: string, host: string | undefined): void {
  requireRoom(who, room);
  if (who.role === "viewer") throw new ForbiddenError("a viewer token may not publish");
  if (who.role === "participant" && who.sub === host) {
    throw new ForbiddenError(
      `the publisher id "${who.sub}" is the host's in this room; ` +
        "a participant token may not publish under it",
    );
  }
}

/** Whether `who` is the identity (role and `sub`) that owns `session`. */
export function isOwner(who: Principal, session: { owner: string; role: Role }): boolean {
  return who.sub === session.owner && who.role === session.role;
}

/**
 * Throws 403 unless `who` may act on a session owned by (`role`, `owner`) in `room` with host
 * `host`: its owner (same role and `sub`), or the room's host.
 */
export function requireOwnerOrHost(
  who: Principal,
  session: { room: string; owner: string; role: Role },
  host: string | undefined,
): void {
  requireRoom(who, session.room);
  if (isOwner(who, session)) return;
  if (who.role === "host" && who.sub === host) return;
  throw new ForbiddenError("only the session's owner or the room's host may change this session");
}
