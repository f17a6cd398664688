/**
 * Cluster mode: any node answers any request for a room. Before the room routes run, the room's
 * origin is looked up in the directory:
 *
 * - `POST /whip/{room}`, `PUT /rooms/{room}`: the origin answers; a room nobody holds is claimed
 *   for this node (it becomes the origin);
 * - `GET` / `DELETE /rooms/{room}`, `GET /rooms/{room}/events`: the origin answers;
 * - `POST /whep/{room}`: played here — on a node that is not the origin, this node first becomes
 *   an edge for the publication (cluster/edge.ts).
 *
 * "The origin answers" on another node means the request is relayed to it (forward.ts). A
 * request already relayed by a node is served where it lands (no loops). Session URLs
 * (`/sessions/…`) need no routing: `Location` names the node that holds the session.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { forward } from "./forward.ts";

/** What the routing needs from the cluster (src/cluster/node.ts). */
export interface ClusterRouting {
  /** The room's origin; with `claim`, a room nobody holds becomes this node's. */
  origin(room: string, claim: boolean): Promise<{ mine: boolean; url?: string }>;
  /** Makes this node an edge for the publication (resolves when players can join). */
  edge(origin: string, room: string, publisher?: string): Promise<void>;
}

const ROOM_PATH = /^\/(whip|whep|rooms)\/([^/]+)(\/events)?$/;

/** The middleware (mounted before the room routes when `REDIS_URL` is set). */
export function clusterRouting(cluster: ClusterRouting): MiddlewareHandler {
  return async (c, next) => {
    const m = ROOM_PATH.exec(c.req.path);
    if (!m || c.req.header("x-sfu-relayed")) return await next();
    const [, kind, encoded, events] = m;
    let room: string;
    try {
      room = decodeURIComponent(encoded);
    } catch {
      return await next(); // the route answers 400
    }
    const method = c.req.method;
    const claims = (kind === "whip" && method === "POST") ||
      (kind === "rooms" && !events && method === "PUT");
    const relayed = claims || (kind === "rooms" && (method === "GET" || method === "DELETE"));
    const plays = kind === "whep" && method === "POST";
    if (!relayed && !plays) return await next();
    const origin = await cluster.origin(room, claims);
    if (origin.mine || !origin.url) return await next();
    if (plays) {
      await cluster.edge(origin.url, room, c.req.query("publisher"));
      return await next();
    }
    return await forward(c.req.raw, origin.url, c.get("clientAddress"));
  };
}
