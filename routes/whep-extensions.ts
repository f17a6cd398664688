/**
 * The WHEP core extensions of a session: server-sent events (`POST …/events` creates a stream,
 * `GET` reads it, `DELETE` destroys it) and video layer selection (`POST …/layer`).
 * The stream URL is unguessable (128 bits), so `EventSource` can read it without headers.
 *
 * @module
 */
import { Hono } from "hono";
import { type SseMessage, sseResponse } from "../src/http/sse.ts";
import { z } from "zod";
import type { AppDeps } from "../src/http/deps.ts";
import { methodNotAllowed, principal, readJson } from "../src/http/request.ts";
import type { WhepEvent } from "../src/sessions/event-streams.ts";
import { limitKey } from "../src/http/client-address.ts";

/** Link relations of the extensions. */
export const SSE_REL = "urn:ietf:params:whep:ext:core:server-sent-events";
/** Link relation of layer selection. */
export const LAYER_REL = "urn:ietf:params:whep:ext:core:layer";

/** The `Link` values a WHEP 201 carries for session `id`. */
export function extensionLinks(id: string): string[] {
  return [
    `</sessions/${id}/events>; rel="${SSE_REL}"; events="active,inactive,layers,viewercount,reconnect"`,
    `</sessions/${id}/layer>; rel="${LAYER_REL}"`,
  ];
}

const LayerRequest = z.object({
  mediaId: z.union([z.string(), z.number()]).optional(),
  rid: z.string().min(1).max(64).optional(),
  encodingId: z.string().min(1).max(64).optional(), // what Broadcast Box's player sends
});

/** The extension resources. */
export function whepExtensionRoutes(deps: AppDeps): Hono {
  const r = new Hono();
  r.post("/sessions/:id/events", async (c) => {
    const who = await principal(c, deps);
    const wanted = await readJson(c);
    const stream = deps.whep.open(who, c.req.param("id"), wanted);
    c.header("Location", `/sessions/${c.req.param("id")}/events/${stream.id}`);
    return c.body(null, 201);
  });
  r.get("/sessions/:id/events/:stream", (c) => {
    const stream = deps.whep.stream(c.req.param("id"), c.req.param("stream"));
    const owner = deps.rooms.sessions.get(stream.sessionId);
    const release = deps.streams.acquire(
      limitKey(c.get("clientAddress") ?? "unknown"),
      owner === undefined || owner.role === "viewer" ? undefined : `${owner.role}\0${owner.owner}`,
    );
    const toMessage = (e: WhepEvent): SseMessage => ({ event: e.type, data: e.data });
    return sseResponse(
      c,
      stream.drain().map(toMessage),
      (push) => {
        const offEvents = stream.events.on((e) => push(toMessage(e)));
        const offClosed = stream.closed.on(() => push("end"));
        return () => {
          offEvents();
          offClosed();
        };
      },
      release,
    );
  });
  r.delete("/sessions/:id/events/:stream", async (c) => {
    const who = await principal(c, deps);
    deps.whep.close(who, c.req.param("id"), c.req.param("stream"));
    return c.body(null, 200);
  });
  r.all("/sessions/:id/events/:stream", methodNotAllowed("GET, DELETE, OPTIONS"));
  r.all("/sessions/:id/events", methodNotAllowed("POST, OPTIONS"));
  r.post("/sessions/:id/layer", async (c) => {
    const who = await principal(c, deps);
    const body = LayerRequest.parse((await readJson(c)) ?? {});
    deps.whep.selectLayer(who, c.req.param("id"), body.rid ?? body.encodingId);
    return c.body(null, 200);
  });
  r.all("/sessions/:id/layer", methodNotAllowed("POST, OPTIONS"));
  return r;
}
