/**
 * WHEP (draft-ietf-wish-whep): `POST /whep/{room}[?publisher=id]` plays a publication, with a
 * client offer or, with an empty body, in server-offer mode. `HEAD` answers 200 with
 * `Content-Type: application/sdp` (discovery); GET 204; other methods 405.
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
import { DomainError } from "../src/errors.ts";
import { extensionLinks } from "./whep-extensions.ts";

/** The WHEP endpoint. */
export function whepRoutes(deps: AppDeps): Hono {
  const r = new Hono();
  r.post("/whep/:room", async (c) => {
    const started = performance.now();
    refuseWhileDraining(deps.lifecycle);
    const room = pathRoom(c);
    const who = await principal(c, deps);
    const publisher = c.req.query("publisher");
    if (publisher !== undefined && (publisher === "" || publisher.length > 256)) {
      throw new DomainError("bad-request", "publisher must be an identity of 1 to 256 characters");
    }
    const offer = await readSdp(c, true);
    const { session, sdp } = await deps.rooms.play(who, room, offer, publisher);
    deps.log.info("play", { room, identity: who.sub, session: session.id, offer: !!offer });
    metrics.postSeconds.observe((performance.now() - started) / 1000);
    return createdResponse(session, sdp, deps.config.iceServers, extensionLinks(session.id));
  });
  r.get("/whep/:room", (c) => {
    pathRoom(c);
    if (c.req.method === "HEAD") {
      return new Response(null, { status: 200, headers: { "Content-Type": "application/sdp" } });
    }
    return c.body(null, 204);
  });
  r.all("/whep/:room", methodNotAllowed("GET, HEAD, OPTIONS, POST"));
  return r;
}
