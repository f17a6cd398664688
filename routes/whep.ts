/**
 * WHEP (draft-ietf-wish-whep): `POST /whep/{room}[?publisher=id][&layer=rid]` plays a
 * publication (with `layer`: that simulcast layer only, as cluster edges pull each layer), with
 * a client offer or, with an empty body, in server-offer mode. `HEAD` answers 200 with
 * `Content-Type: application/sdp` (discovery); GET 204; other methods 405.
 *
 * @module
 */
import type { Hono } from "hono";
import type { AppDeps } from "../src/http/deps.ts";
import { readSdp } from "../src/http/request.ts";
import { DomainError } from "../src/errors.ts";
import { extensionLinks } from "./whep-extensions.ts";
import { negotiationEndpoint } from "./negotiation.ts";

/** The WHEP endpoint. */
export function whepRoutes(deps: AppDeps): Hono {
  return negotiationEndpoint(deps, {
    path: "/whep/:room",
    message: "play",
    async negotiate(c, who, room) {
      const publisher = c.req.query("publisher");
      if (publisher !== undefined && (publisher === "" || publisher.length > 256)) {
        throw new DomainError(
          "bad-request",
          "publisher must be an identity of 1 to 256 characters",
        );
      }
      const layer = c.req.query("layer");
      if (layer !== undefined && (layer === "" || layer.length > 64)) {
        throw new DomainError("bad-request", "layer must be a rid of 1 to 64 characters");
      }
      const offer = await readSdp(c, true);
      const { session, sdp } = await deps.rooms.play(who, room, offer, publisher, layer);
      return { session, sdp, log: { offer: !!offer }, links: extensionLinks(session.id) };
    },
    head: () => new Response(null, { status: 200, headers: { "Content-Type": "application/sdp" } }),
  });
}
