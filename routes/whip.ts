/**
 * WHIP (RFC 9725): `POST /whip/{room}` publishes; GET/HEAD answer 204; other methods 405.
 *
 * @module
 */
import type { Hono } from "hono";
import type { AppDeps } from "../src/http/deps.ts";
import { readSdp } from "../src/http/request.ts";
import { negotiationEndpoint } from "./negotiation.ts";

/** The WHIP endpoint. */
export function whipRoutes(deps: AppDeps): Hono {
  return negotiationEndpoint(deps, {
    path: "/whip/:room",
    message: "publish",
    async negotiate(c, who, room) {
      const offer = (await readSdp(c))!;
      return await deps.rooms.publish(who, room, offer);
    },
  });
}
