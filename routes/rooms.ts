/**
 * Rooms: `PUT` opens (host), `GET` describes (members), `DELETE` closes (host), and
 * `GET /rooms/{room}/events` streams the room's events as Server-Sent Events.
 *
 * @module
 */
import { Hono } from "hono";
import { z } from "zod";
import type { AppDeps } from "../src/http/deps.ts";
import {
  mediaType,
  methodNotAllowed,
  pathRoom,
  principal,
  readJson,
  refuseWhileDraining,
  requireMediaType,
} from "../src/http/request.ts";
import { sseResponse } from "../src/http/sse.ts";
import { limitKey } from "../src/http/client-address.ts";

const RoomSettings = z.strictObject({
  maxParticipants: z.number().int().min(0).max(10_000).optional(),
});

/** The room resource. */
export function roomRoutes(deps: AppDeps): Hono {
  const r = new Hono();
  r.put("/rooms/:room", async (c) => {
    refuseWhileDraining(deps.lifecycle);
    const name = pathRoom(c);
    const who = await principal(c, deps);
    const json = await readJson(c); // 415 / 400; zod's errors are mapped by the app
    if (json === undefined && mediaType(c) && mediaType(c) !== "application/json") {
      requireMediaType(c, "application/json");
    }
    const settings = json === undefined ? {} : RoomSettings.parse(json);
    const { room, created } = deps.rooms.open(who, name, settings.maxParticipants);
    return c.json(room.view(), created ? 201 : 200);
  });
  r.get("/rooms/:room", async (c) => {
    const name = pathRoom(c);
    const who = await principal(c, deps);
    return c.json(deps.rooms.describe(who, name));
  });
  r.delete("/rooms/:room", async (c) => {
    const name = pathRoom(c);
    const who = await principal(c, deps);
    await deps.rooms.close(who, name);
    deps.log.info("room closed", { room: name, by: who.sub });
    return c.body(null, 200);
  });
  r.get("/rooms/:room/events", async (c) => {
    const name = pathRoom(c);
    const who = await principal(c, deps);
    const room = deps.rooms.member(who, name);
    const release = deps.streams.acquire(
      limitKey(c.get("clientAddress") ?? "unknown"),
      who.role === "viewer" ? undefined : `${who.role}\0${who.sub}`,
    );
    return sseResponse(
      c,
      [{ event: "room", data: room.view() }],
      (push) =>
        room.events.on(({ type, ...data }) => {
          push({ event: type, data });
          if (type === "room-closed") push("end");
        }),
      release,
    );
  });
  r.all("/rooms/:room", methodNotAllowed("GET, HEAD, OPTIONS, PUT, DELETE"));
  return r;
}
