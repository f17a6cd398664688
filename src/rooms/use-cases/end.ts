/**
 * Ending sessions and rooms: DELETE on a session, DELETE on a room, and shutdown. Each is a
 * `close` on what owns the rest: a room closes its sessions, a session its media.
 *
 * @module
 */
import { DomainError, NotFoundError } from "../../errors.ts";
import { type Principal, requireHost } from "../../auth/rights.ts";
import type { RoomStore } from "../store.ts";
import { ownedSession } from "./membership.ts";

/** DELETE on a session (reason `deleted`). */
export async function endSession(store: RoomStore, who: Principal, id: string): Promise<void> {
  await ownedSession(store, who, id).close("deleted");
}

/** DELETE on a room by its host: every session in it ends (`room-closed`). */
export async function closeRoom(store: RoomStore, who: Principal, name: string): Promise<void> {
  requireHost(who, name, "close the room");
  const room = store.rooms.get(name);
  if (!room) throw new NotFoundError(`the room "${name}" is not open`);
  if (room.host !== who.sub) {
    throw new DomainError("forbidden", "only the host who opened the room may close it");
  }
  store.rooms.delete(name);
  await room.close();
}

/** Closes every room and ends every session (`shutdown`). */
export async function closeAll(store: RoomStore): Promise<void> {
  const rooms = [...store.rooms.values()];
  store.rooms.clear();
  await Promise.all(rooms.map((room) => room.close("shutdown")));
  await Promise.all(store.sessions.all().map((s) => s.close("shutdown")));
}
