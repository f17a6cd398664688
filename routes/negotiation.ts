/**
 * What the WHIP and WHEP endpoints share: the POST that negotiates a session (drain check,
 * room, token, the rooms service, the log line, the timing metric, the 201), GET 204, and 405
 * for other methods.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import type { Claims } from "../src/auth/tokens.ts";
import type { AppDeps } from "../src/http/deps.ts";
import { metrics } from "../src/metrics/counters.ts";
import {
  createdResponse,
  methodNotAllowed,
  pathRoom,
  principal,
  refuseWhileDraining,
} from "../src/http/request.ts";

/** What one endpoint's POST did: the session, the SDP to return, and how to log it. */
export interface Negotiated {
  /** The new session. */
  session: { id: string; etag: string };
  /** Answer or offer. */
  sdp: string;
  /** Extra fields of the log line. */
  log?: Record<string, unknown>;
  /** Extra `Link` header values of the 201. */
  links?: string[];
}

/** One endpoint: its path, log message, POST step and HEAD answer. */
export interface EndpointSpec {
  /** `/whip/:room` or `/whep/:room`. */
  path: string;
  /** The log message of a created session (`publish`, `play`). */
  message: string;
  /** Negotiates the session for `who` in `room` (the body is still unread). */
  negotiate(c: Context, who: Claims, room: string): Promise<Negotiated>;
  /** The answer to HEAD; GET's 204 when unset. */
  head?: () => Response;
}

/** The WHIP or WHEP endpoint described by `spec`. */
export function negotiationEndpoint(deps: AppDeps, spec: EndpointSpec): Hono {
  const r = new Hono();
  r.post(spec.path, async (c) => {
    const started = performance.now();
    refuseWhileDraining(deps.lifecycle);
    const room = pathRoom(c);
    const who = await principal(c, deps);
    const { session, sdp, log, links } = await spec.negotiate(c, who, room);
    deps.log.info(spec.message, { room, identity: who.sub, session: session.id, ...log });
    metrics.postSeconds.observe((performance.now() - started) / 1000);
    return createdResponse(session, sdp, deps.config.iceServers, links);
  });
  r.get(spec.path, (c) => {
    pathRoom(c);
    if (spec.head && c.req.method === "HEAD") return spec.head();
    return c.body(null, 204);
  });
  r.all(spec.path, methodNotAllowed("GET, HEAD, OPTIONS, POST"));
  return r;
}
