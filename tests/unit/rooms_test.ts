/**
 * Ownership in the rooms service (issue 16): a session closes once, telling its `closed`
 * listeners before its media closes; a room owns its sessions, and closing it closes them
 * (`room-closed`, or `shutdown`) before members hear `room-closed`; the store counts and
 * reports each end once, after the room has let the session go.
 */
import assert from "node:assert/strict";
import { IngestSession } from "../../src/sessions/session.ts";
import type { Publication } from "../../src/media/publication.ts";
import { Room } from "../../src/rooms/room.ts";
import { RoomStore } from "../../src/rooms/store.ts";
import type { MediaOptions } from "../../src/media/peer.ts";
import { Emitter } from "../../src/events.ts";

/** A stand-in for a publication: records its close; its peer never ends by itself. */
function fakeMedia(log: string[], name: string): Publication {
  return {
    close: () => {
      log.push(`${name} media closed`);
      return Promise.resolve();
    },
    peer: {
      ended: new Emitter<void>(),
      lastHeardAt: performance.now(),
      pc: { connectionState: "new" },
    },
  } as unknown as Publication;
}

function session(log: string[], name: string, owner = name): IngestSession {
  const s = new IngestSession(
    { room: "r", owner, role: "participant" },
    fakeMedia(log, name),
  );
  s.closed.on(({ reason }) => log.push(`${name} closed: ${reason}`));
  return s;
}

Deno.test("a session closes once: listeners first, then its media", async () => {
  const log: string[] = [];
  const s = session(log, "a");
  assert.equal(s.isClosed, false);
  await Promise.all([s.close("deleted"), s.close("timeout")]);
  assert.deepEqual(log, ["a closed: deleted", "a media closed"]);
  assert.equal(s.isClosed, true);
  assert.equal(s.closed.size, 0, "listeners are dropped after the event");
});

Deno.test("closing a room closes its sessions, then tells members", async (t) => {
  for (const reason of [undefined, "shutdown" as const]) {
    await t.step(reason ?? "by the host", async () => {
      const log: string[] = [];
      const room = new Room("r", "host", 10);
      room.events.on((e) => log.push(`room: ${e.type}${"reason" in e ? ` ${e.reason}` : ""}`));
      const a = session(log, "a");
      const b = session(log, "b");
      room.addSession(a);
      room.addSession(b);
      assert.equal(room.sessionCount, 2);
      await room.close(reason);
      const why = reason ?? "room-closed";
      assert.deepEqual(log, [
        "room: participant-joined",
        "room: participant-joined",
        `a closed: ${why}`,
        "room: participant-left",
        "a media closed",
        `b closed: ${why}`,
        "room: participant-left",
        "b media closed",
        `room: room-closed${reason ? " shutdown" : ""}`,
      ]);
      assert.equal(room.sessionCount, 0);
    });
  }
});

Deno.test("the store: an ended session leaves the store, then its room, then `changes` says so", async () => {
  const store = new RoomStore({
    media: {} as MediaOptions,
    maxParticipants: 10,
    maxSessions: 10,
    maxRooms: 10,
    maxRoomSessions: 10,
    sessionTimeoutMs: 60_000,
  });
  const log: string[] = [];
  const room = new Room("r", "host", 10);
  store.rooms.set("r", room);
  room.events.on((e) => log.push(`room: ${e.type} (store has ${store.sessions.size})`));
  store.changes.on((c) => log.push(`${c.type}${c.reason ? `: ${c.reason}` : ""}`));
  const a = session(log, "a");
  store.register(room, a);
  assert.equal(store.sessions.get(a.id), a);
  await a.close("replaced");
  await a.close("deleted");
  assert.deepEqual(log, [
    "room: participant-joined (store has 1)",
    "started",
    "a closed: replaced",
    "room: participant-left (store has 0)",
    "ended: replaced",
    "a media closed",
  ]);
  assert.equal(store.sessions.size, 0);
  assert.equal(room.sessionCount, 0);
});
