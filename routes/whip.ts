/**
 * WHIP (RFC 9725): `POST /whip/{room}` publishes; GET/HEAD answer 204; other methods 405.
 *
 * @module
 */
import { Hono } from "hono";
import type { AppDeps } from "../src/http/deps.ts";
import { metrics } from "../src/metrics/counters.ts";
import {
  createdResponse,
  methodNotAllowed,
  pathRoom,
  principal,
  readSdp,
  refuseWhileDraining,
} from "../src/http/request.ts";

/** The WHIP endpoint. */
export function whipRoutes(deps: AppDeps): Hono {
  const r = new Hono();
  r.post("/whip/:room", async (c) => {
    const started = performance.now();
    refuseWhileDraining(deps.lifecycle);
    const room = pathRoom(c);
    const who = await principal(c, deps);
    const offer = (await readSdp(c))!;
    const { session, sdp } = await deps.rooms.publish(who, room, offer);
    deps.log.info("publish", { room, identity: who.sub, session: session.id });
    metrics.postSeconds.observe((performance.now() - started) / 1000);
    return createdResponse(session, sdp, deps.config.iceServers);
  });
  r.get("/whip/:room", (c) => {
    pathRoom(c);
    return c.body(null, 204);
  });
  r.all("/whip/:room", methodNotAllowed("GET, HEAD, OPTIONS, POST"));
  return r;
}
