/**
 * `GET /healthz`: liveness, with the counts an operator glances at.
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
    }));
  return r;
}
