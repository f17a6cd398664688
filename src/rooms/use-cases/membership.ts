/**
 * Opening, describing and joining rooms, and finding a session a caller may change.
 *
 * @module
 */
import { DomainError, NotFoundError } from "../../errors.ts";
import { type Principal, requireHost, requireOwnerOrHost, requireRoom } from "../../auth/rights.ts";
import type { Session } from "../../sessions/session.ts";
import { Room, type RoomView } from "../room.ts";
import type { RoomStore } from "../store.ts";

/**
 * Opens `name` for the host `who` (idempotent for the same host; 409 for another host).
 * Returns the room and whether it was created.
 */
export function openRoom(
  store: RoomStore,
  who: Principal,
  name: string,
  maxParticipants?: number,
): { room: Room; created: boolean } {
  requireHost(who, name, "open the room");
  const existing = store.rooms.get(name);
  if (existing) {
    if (existing.host !== who.sub) {
      throw new DomainError("room-owned", `the room "${name}" is already open by another host`);
    }
    if (maxParticipants !== undefined) existing.maxParticipants = maxParticipants;
    return { room: existing, created: false };
  }
  const { maxRooms } = store.options;
  if (store.rooms.size >= maxRooms) {
    throw new DomainError("unavailable", `the server is at its limit of ${maxRooms} rooms`, {
      retryAfter: 30,
    });
  }
  const room = new Room(name, who.sub, maxParticipants ?? store.options.maxParticipants);
  store.rooms.set(name, room);
  return { room, created: true };
}

/** JSON view of a room for a member. */
export function describeRoom(
  store: RoomStore,
  who: Principal,
  name: string,
): RoomView | { room: string; open: false } {
  requireRoom(who, name);
  return store.rooms.get(name)?.view() ?? { room: name, open: false };
}

/** The open room `name` that `who` may join, or 404. */
export function memberRoom(store: RoomStore, who: Principal, name: string): Room {
  requireRoom(who, name);
  const room = store.rooms.get(name);
  if (!room) throw new NotFoundError(`the room "${name}" is not open`);
  return room;
}

/** The session `id` if `who` may change it (owner or the room's host), else 404 / 403. */
export function ownedSession(store: RoomStore, who: Principal, id: string): Session {
  const session = store.sessions.get(id);
  if (!session) throw new NotFoundError("no such session");
  requireOwnerOrHost(who, session, store.rooms.get(session.room)?.host);
  return session;
}
