/**
 * A session's URL (the `Location` of its POST): `PATCH` for trickle ICE, ICE restart, or the
 * client's answer in server-offer mode; `DELETE` ends it (200, as OBS expects).
 *
 * @module
 */
import { Hono } from "hono";
import type { AppDeps } from "../src/http/deps.ts";
import { methodNotAllowed, principal, requireMediaType } from "../src/http/request.ts";
import { parseSdpFrag, serializeSdpFrag } from "../src/sdp/sdpfrag.ts";
import { DomainError } from "../src/errors.ts";

const SDPFRAG = "application/trickle-ice-sdpfrag";

/** The session resource. */
export function sessionRoutes(deps: AppDeps): Hono {
  const r = new Hono();
  r.patch("/sessions/:id", async (c) => {
    const who = await principal(c, deps);
    const id = c.req.param("id");
    deps.rooms.session(who, id); // 404 / 403 before 415
    const type = requireMediaType(c, SDPFRAG, "application/sdp");
    const body = await c.req.text();
    const ifMatch = c.req.header("If-Match")?.trim();
    if (type === "application/sdp") {
      await deps.rooms.acceptAnswer(who, id, ifMatch, body);
      return c.body(null, 204);
    }
    if (ifMatch === undefined) {
      throw new DomainError(
        "precondition-required",
        "a PATCH needs If-Match with the session's ETag",
      );
    }
    const result = await deps.rooms.patchIce(who, id, ifMatch, parseSdpFrag(body));
    if (result.kind !== "restart") return c.body(null, 204);
    const frag = serializeSdpFrag({
      iceUfrag: result.ice.ufrag,
      icePwd: result.ice.pwd,
      endOfCandidates: false,
      media: [{
        mid: result.mid,
        mLineIndex: 0,
        candidates: result.ice.candidates,
        endOfCandidates: true,
      }],
    });
    return new Response(frag, {
      status: 200,
      headers: { "Content-Type": SDPFRAG, "ETag": result.etag },
    });
  });
  r.delete("/sessions/:id", async (c) => {
    const who = await principal(c, deps);
    await deps.rooms.endSession(who, c.req.param("id"));
    return c.body(null, 200);
  });
  r.get("/sessions/:id", (c) => c.body(null, 204));
  r.all("/sessions/:id", methodNotAllowed("GET, HEAD, OPTIONS, PATCH, DELETE"));
  return r;
}
