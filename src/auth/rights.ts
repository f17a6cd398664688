/**
 * What a verified token allows in a room. The rules of the API page, in one place.
 *
 * @module
 */
import { ForbiddenError } from "../errors.ts";

/** The claims the rights depend on (a subset of the verified token's). */
export interface Principal {
  /** Identity (`sub`). */
  sub: string;
  /** The one room the token is valid for. */
  room: string;
  /** `host` or `participant`. */
  role: "host" | "participant";
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
 * Throws 403 unless `who` may act on a session owned by `owner` in `room` with host `host`:
 * its owner, or the room's host.
 */
export function requireOwnerOrHost(
  who: Principal,
  session: { room: string; owner: string },
  host: string | undefined,
): void {
  requireRoom(who, session.room);
  if (who.sub === session.owner) return;
  if (who.role === "host" && who.sub === host) return;
  throw new ForbiddenError("only the session's owner or the room's host may change this session");
}
