/**
 * `GET /healthz`: liveness, with the counts an operator glances at (and, in cluster mode, the
 * node that answered).
 *
 * @module
 */
import { Hono } from "hono";
import type { AppDeps } from "../src/http/deps.ts";

/** The health endpoint. */
export function healthRoutes(deps: AppDeps): Hono {
  const r = new Hono();
  r.get("/healthz", (c) =>
    c.json({
      status: deps.lifecycle.draining ? "draining" : "ok",
      rooms: deps.rooms.size,
      sessions: deps.rooms.sessions.counts(),
      ...(deps.cluster ? { node: deps.cluster.id } : {}),
    }));
  return r;
}
